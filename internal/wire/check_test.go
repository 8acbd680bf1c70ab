package wire

import (
	"bytes"
	"errors"
	"testing"
)

var checkSeeds = []Check{
	{Kind: CheckPeriodic, PrevZxid: 42, PrevDigest: 1<<63 | 7, Members: 5, Reachable: 4, Consistent: 3},
	{Kind: CheckPeriodic},
	{Kind: CheckReport, Member: 3, Zxid: 99, Corrupt: true},
	{Kind: CheckReport, Member: 3, Zxid: 99, Corrupt: true, Repair: true},
	{Kind: CheckReport, Member: 3, Zxid: 100},
}

// TestCheckRoundTrip: consistency entries decode to what was encoded, and
// damaged ones are refused.
func TestCheckRoundTrip(t *testing.T) {
	for _, c := range checkSeeds {
		b := c.Encode()
		if !IsCheck(b) {
			t.Fatalf("%+v: not recognised", c)
		}
		got, err := DecodeCheck(b)
		if err != nil || got != c {
			t.Fatalf("round trip of %+v: %+v %v", c, got, err)
		}
		if _, err := DecodeCheck(b[:len(b)-1]); !errors.Is(err, ErrCorruptEntry) {
			t.Fatalf("%+v: truncated entry: %v", c, err)
		}
	}
	if IsCheck(EncodeEnvelope(1, 2, []byte("x"))) || IsCheck(nil) {
		t.Fatal("a client envelope taken for a consistency entry")
	}
	for _, b := range [][]byte{nil, {CheckMarker}, {CheckMarker, 3}, {EnvelopeVersion, byte(CheckReport), 1, 1, 0}} {
		if _, err := DecodeCheck(b); !errors.Is(err, ErrCorruptEntry) {
			t.Fatalf("DecodeCheck(%x) = %v", b, err)
		}
	}
	// A report byte above 2 reads as corrupt without a repair.
	if c, err := DecodeCheck([]byte{CheckMarker, byte(CheckReport), 1, 2, 9}); err != nil || !c.Corrupt || c.Repair {
		t.Fatalf("report byte 9: %+v %v", c, err)
	}
}

// FuzzCheck: decoding never panics, refuses with ErrCorruptEntry, and what
// it accepts encodes back to the same entry; to the same bytes when the
// uvarints were minimal and a report's last byte is one the encoder writes.
func FuzzCheck(f *testing.F) {
	for _, c := range checkSeeds {
		f.Add(c.Encode())
	}
	f.Add([]byte{CheckMarker, byte(CheckReport), 1, 2, 9})
	f.Add([]byte{CheckMarker, byte(CheckPeriodic), 0x80, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCheck(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptEntry) {
				t.Fatalf("error %v does not match ErrCorruptEntry", err)
			}
			return
		}
		if !IsCheck(b) {
			t.Fatalf("%x decoded but IsCheck says no", b)
		}
		again := c.Encode()
		if c2, err := DecodeCheck(again); err != nil || c2 != c {
			t.Fatalf("re-encoded %x decodes to %+v, %v; first %+v", again, c2, err, c)
		}
		canonicalReport := c.Kind != CheckReport || b[len(b)-1] <= reportRepair
		if len(again) == len(b) && canonicalReport && !bytes.Equal(again, b) {
			t.Fatalf("%x re-encodes to %x", b, again)
		}
	})
}
