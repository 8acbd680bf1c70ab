package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, e := range []Envelope{
		{Member: 7, Seq: 1 << 40, Payload: []byte("x")},
		{Member: 1},
		{Member: ^uint64(0), Seq: ^uint64(0), Payload: []byte{EnvelopeVersion, 0xC4}},
	} {
		got, err := DecodeEnvelope(EncodeEnvelope(e.Member, e.Seq, e.Payload))
		if err != nil || got.Member != e.Member || got.Seq != e.Seq || !bytes.Equal(got.Payload, e.Payload) {
			t.Fatalf("envelope %+v: got %+v, %v", e, got, err)
		}
	}
	for _, b := range [][]byte{nil, {9}, {1}, {1, 0x80}, {1, 5}, {0xC4, 1, 1}} {
		if _, err := DecodeEnvelope(b); !errors.Is(err, ErrCorruptEntry) || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("DecodeEnvelope(%v) = %v, want ErrCorruptEntry", b, err)
		}
	}
}

// FuzzEnvelope: decoding never panics, refuses with ErrCorruptEntry, and
// what it accepts encodes back to the same envelope (and to the same bytes
// unless a uvarint was not minimal, which only makes the input longer).
func FuzzEnvelope(f *testing.F) {
	f.Add(EncodeEnvelope(1, 0, nil))
	f.Add(EncodeEnvelope(3, 1<<63+5, []byte("payload")))
	f.Add([]byte{1, 0x80, 0x00, 0x01})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEnvelope(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptEntry) {
				t.Fatalf("error %v does not match ErrCorruptEntry", err)
			}
			return
		}
		again := EncodeEnvelope(e.Member, e.Seq, e.Payload)
		e2, err := DecodeEnvelope(again)
		if err != nil || e2.Member != e.Member || e2.Seq != e.Seq || !bytes.Equal(e2.Payload, e.Payload) {
			t.Fatalf("re-encoded %x decodes to %+v, %v; first %+v", again, e2, err, e)
		}
		if len(again) == len(b) && !bytes.Equal(again, b) {
			t.Fatalf("%x re-encodes to %x", b, again)
		}
		if len(again) > len(b) {
			t.Fatalf("%x re-encodes longer: %x", b, again)
		}
	})
}
