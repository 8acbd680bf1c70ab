package keeper

import (
	"testing"

	"github.com/keeper-go/keeper/internal/wire"
)

// TestCheckEntryRoundTrip: consistency entries decode to what was encoded,
// and damaged ones are refused.
func TestCheckEntryRoundTrip(t *testing.T) {
	for _, c := range []checkEntry{
		{kind: checkKindCheck, prevZxid: 42, prevDigest: 1<<63 | 7, members: 5, reachable: 4, consistent: 3},
		{kind: checkKindCheck},
		{kind: checkKindReport, member: 3, zxid: 99, corrupt: true},
		{kind: checkKindReport, member: 3, zxid: 100},
	} {
		b := c.encode()
		if !isCheckEntry(b) {
			t.Fatalf("%+v: not recognised", c)
		}
		got, err := decodeCheckEntry(b)
		if err != nil || got != c {
			t.Fatalf("round trip of %+v: %+v %v", c, got, err)
		}
		if _, err := decodeCheckEntry(b[:len(b)-1]); err == nil {
			t.Fatalf("%+v: truncated entry accepted", c)
		}
	}
	if isCheckEntry(wire.EncodeEnvelope(1, 2, []byte("x"))) {
		t.Fatal("a client envelope taken for a consistency entry")
	}
	if filterCheckProposal(2, (&checkEntry{kind: checkKindReport, member: 3, corrupt: true}).encode()) {
		t.Fatal("a report about another member accepted")
	}
	if filterCheckProposal(2, (&checkEntry{kind: checkKindCheck}).encode()) {
		t.Fatal("a check proposed by a follower accepted")
	}
}
