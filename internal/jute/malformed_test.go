package jute_test

import (
	"errors"
	"testing"

	"github.com/keeper-go/keeper/internal/jute"
)

// decodeAll decodes b as a record like rec and requires it to end b.
func decodeAll(rec jute.Record, b []byte) error {
	return jute.Unmarshal(b, newLike(rec))
}

// TestTruncated: every record cut short anywhere is refused with
// ErrMalformed, but for the optional readOnly byte.
func TestTruncated(t *testing.T) {
	for _, s := range samples() {
		b := jute.AppendRecord(nil, s.rec)
		for i := range len(b) {
			err := decodeAll(s.rec, b[:i])
			if s.optionalTail && i == len(b)-1 {
				if err != nil {
					t.Errorf("%s without its optional last byte: %v", s.name, err)
				}
				continue
			}
			if !errors.Is(err, jute.ErrMalformed) {
				t.Fatalf("%s cut to %d of %d bytes: %v, want ErrMalformed", s.name, i, len(b), err)
			}
		}
	}
}

// TestTrailing: Unmarshal and End refuse bytes after a record; a plain
// Decode leaves them, as ZooKeeper does.
func TestTrailing(t *testing.T) {
	for _, s := range samples() {
		b := append(jute.AppendRecord(nil, s.rec), 0, 0)
		if err := decodeAll(s.rec, b); !errors.Is(err, jute.ErrMalformed) {
			t.Errorf("%s with 2 trailing bytes: %v, want ErrMalformed", s.name, err)
		}
		d := jute.NewDecoder(b)
		d.Decode(newLike(s.rec))
		if d.Err() != nil || d.Remaining() > 2 {
			t.Errorf("%s: Decode with trailing bytes: err %v, %d left", s.name, d.Err(), d.Remaining())
		}
	}
}

// TestBadLengths: negative lengths other than −1, and lengths or counts
// past the packet's end, are refused for every kind of field.
func TestBadLengths(t *testing.T) {
	for _, c := range []struct {
		name string
		rec  jute.Record
		hex  string
	}{
		{"ustring -2", &jute.SyncRequest{}, "fffffffe"},
		{"ustring min", &jute.SyncRequest{}, "80000000"},
		{"ustring past end", &jute.SyncRequest{}, "00000005 61626364"},
		{"ustring huge", &jute.SyncRequest{}, "7fffffff 6162636465666768696a6b6c6d6e6f70"},
		{"buffer -2", &jute.GetDataResponse{}, "fffffffe"},
		{"buffer past end", &jute.GetSASLRequest{}, "00000002 61"},
		{"buffer huge", &jute.GetSASLRequest{}, "7fffffff 6162636465666768696a6b6c6d6e6f70"},
		{"vector -2", &jute.GetChildrenResponse{}, "fffffffe"},
		{"vector items past end", &jute.GetChildrenResponse{}, "00000002 00000000"},
		{"vector huge", &jute.GetChildrenResponse{}, "7fffffff 00000000 00000000 00000000 00000000"},
		{"acl vector huge", &jute.GetACLResponse{}, "7fffffff 00000000 00000000 00000000"},
		{"clientInfo vector huge", &jute.WhoAmIResponse{}, "7fffffff 00000000 00000000"},
		{"short int", &jute.ErrorResponse{}, "000000"},
		{"short long", &jute.SetWatches{}, "00000000000000"},
		{"empty bool", &jute.ExistsRequest{}, "00000001 2f"},
		{"multi unknown op", &jute.MultiRequest{}, "00000004 00 ffffffff 00000001 2f 00"},
		{"multi op outside multi", &jute.MultiRequest{}, "00000003 00 ffffffff 00000001 2f 00"},
		{"multi mixes", &jute.MultiRequest{}, "00000002 00 ffffffff 00000001 2f ffffffff  00000004 00 ffffffff 00000001 2f 00  ffffffff 01 ffffffff"},
		{"multi no end", &jute.MultiRequest{}, "0000000d 00 ffffffff 00000001 2f 00000000"},
		{"multi result unknown", &jute.MultiResponse{}, "00000003 00 00000000"},
	} {
		err := decodeAll(c.rec, unhex(t, c.hex))
		if !errors.Is(err, jute.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", c.name, err)
		}
	}
}

// TestNullsAndBools: what ZooKeeper writes for null fields, and any
// nonzero boolean byte, decode as the package documents.
func TestNullsAndBools(t *testing.T) {
	var gd jute.GetDataResponse
	if err := jute.Unmarshal(unhex(t, "ffffffff"+zeroStat), &gd); err != nil || gd.Data != nil {
		t.Fatalf("null buffer: %v, %v", gd.Data, err)
	}
	var ch jute.GetChildrenResponse
	if err := jute.Unmarshal(unhex(t, "ffffffff"), &ch); err != nil || ch.Children != nil {
		t.Fatalf("null vector: %v, %v", ch.Children, err)
	}
	var eph jute.GetEphemeralsRequest
	if err := jute.Unmarshal(unhex(t, "ffffffff"), &eph); err != nil || eph.Path != "" {
		t.Fatalf("null ustring: %q, %v", eph.Path, err)
	}
	var ex jute.ExistsRequest
	if err := jute.Unmarshal(unhex(t, "00000001 2f 02"), &ex); err != nil || !ex.Watch {
		t.Fatalf("boolean byte 2: %v, %v", ex.Watch, err)
	}
}

const zeroStat = "0000000000000000 0000000000000000 0000000000000000 0000000000000000 00000000 00000000 00000000 0000000000000000 00000000 00000000 0000000000000000"

// TestStickyError: after the first error every read returns a zero value
// and the error stays the first one.
func TestStickyError(t *testing.T) {
	d := jute.NewDecoder(unhex(t, "00000001 fffffffe 00000007"))
	if v := d.Int32(); v != 1 {
		t.Fatalf("first int %d", v)
	}
	if s := d.UString(); s != "" || !errors.Is(d.Err(), jute.ErrMalformed) {
		t.Fatalf("bad length: %q, %v", s, d.Err())
	}
	first := d.Err()
	if v := d.Int32(); v != 0 || d.Err() != first || d.End() != first {
		t.Fatalf("after the error: %d, %v", v, d.Err())
	}
	d.Reset([]byte{0, 0, 0, 9})
	if v := d.Int32(); v != 9 || d.Err() != nil || d.Offset() != 4 || d.End() != nil {
		t.Fatalf("after Reset: %d, %v", v, d.Err())
	}
}
