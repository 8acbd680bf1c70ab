package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestConfContextRoundTrip(t *testing.T) {
	for _, id := range []uint64{0, 1, 0x0a0b0c0d0e0f1011, ^uint64(0)} {
		if got, err := DecodeConfContext(EncodeConfContext(id)); err != nil || got != id {
			t.Fatalf("round trip of %d: %d %v", id, got, err)
		}
	}
	for _, n := range []int{0, 7, 9} {
		if _, err := DecodeConfContext(make([]byte, n)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("context of %d bytes: %v", n, err)
		}
	}
}

// FuzzConfContext: decoding never panics, refuses with ErrCorrupt, and
// what it accepts encodes back to the same bytes.
func FuzzConfContext(f *testing.F) {
	f.Add(EncodeConfContext(77))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := DecodeConfContext(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		if again := EncodeConfContext(id); !bytes.Equal(again, b) {
			t.Fatalf("%x re-encodes to %x", b, again)
		}
	})
}
