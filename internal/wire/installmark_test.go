package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestInstallMarkRoundTrip(t *testing.T) {
	for _, m := range [][2]uint64{{0, 0}, {500, 4}, {^uint64(0), 1}} {
		index, term, err := DecodeInstallMark(EncodeInstallMark(m[0], m[1]))
		if err != nil || index != m[0] || term != m[1] {
			t.Fatalf("round trip of %v: %d %d %v", m, index, term, err)
		}
	}
	for _, n := range []int{0, 8, 15, 17} {
		if _, _, err := DecodeInstallMark(make([]byte, n)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("mark of %d bytes: %v", n, err)
		}
	}
}

// FuzzInstallMark: decoding never panics, refuses with ErrCorrupt, and
// what it accepts encodes back to the same bytes.
func FuzzInstallMark(f *testing.F) {
	f.Add(EncodeInstallMark(500, 4))
	f.Add([]byte{1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		index, term, err := DecodeInstallMark(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		if again := EncodeInstallMark(index, term); !bytes.Equal(again, b) {
			t.Fatalf("%x re-encodes to %x", b, again)
		}
	})
}
