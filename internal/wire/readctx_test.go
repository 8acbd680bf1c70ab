package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestReadContextRoundTrip(t *testing.T) {
	for _, id := range []uint64{0, 1, 0x0102030405060708, ^uint64(0)} {
		if got, err := DecodeReadContext(EncodeReadContext(id)); err != nil || got != id {
			t.Fatalf("round trip of %d: %d %v", id, got, err)
		}
	}
	for _, n := range []int{0, 7, 9} {
		if _, err := DecodeReadContext(make([]byte, n)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("context of %d bytes: %v", n, err)
		}
	}
}

// FuzzReadContext: decoding never panics, refuses with ErrCorrupt, and
// what it accepts encodes back to the same bytes.
func FuzzReadContext(f *testing.F) {
	f.Add(EncodeReadContext(77))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := DecodeReadContext(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		if again := EncodeReadContext(id); !bytes.Equal(again, b) {
			t.Fatalf("%x re-encodes to %x", b, again)
		}
	})
}
