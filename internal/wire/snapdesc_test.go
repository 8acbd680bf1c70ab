package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestSnapDescRoundTrip(t *testing.T) {
	for _, d := range []SnapDesc{{Zxid: 1234, ClusterID: 0xabcdef, Digest: 1<<63 + 1}, {}} {
		b := EncodeSnapDesc(d)
		if got, err := DecodeSnapDesc(b); err != nil || got != d {
			t.Fatalf("round trip of %+v: %+v %v", d, got, err)
		}
		if _, err := DecodeSnapDesc(b[:len(b)-1]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut short: %v", err)
		}
		if _, err := DecodeSnapDesc(append(b, 0)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("one byte long: %v", err)
		}
	}
	for _, b := range [][]byte{nil, {2}, {0, 1, 2}} {
		if _, err := DecodeSnapDesc(b); !errors.Is(err, ErrFormatTooNew) {
			t.Fatalf("DecodeSnapDesc(%x) = %v, want ErrFormatTooNew", b, err)
		}
	}
}

// FuzzSnapDesc: decoding never panics, refuses with ErrFormatTooNew or
// ErrCorrupt, and what it accepts encodes back to the same bytes.
func FuzzSnapDesc(f *testing.F) {
	f.Add(EncodeSnapDesc(SnapDesc{Zxid: 1234, ClusterID: 0xabcdef, Digest: 1<<63 + 1}))
	f.Add([]byte{SnapDescVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeSnapDesc(b)
		if err != nil {
			if !errors.Is(err, ErrFormatTooNew) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v matches neither ErrFormatTooNew nor ErrCorrupt", err)
			}
			return
		}
		if again := EncodeSnapDesc(d); !bytes.Equal(again, b) {
			t.Fatalf("%x re-encodes to %x", b, again)
		}
	})
}
