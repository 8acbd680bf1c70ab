package keeper

import (
	"testing"

	"github.com/keeper-go/keeper/internal/wire"
)

// TestFilterCheckProposal: a consistency entry forwarded by a follower is
// proposed only if it is a report about that follower itself.
func TestFilterCheckProposal(t *testing.T) {
	if !filterCheckProposal(3, (&wire.Check{Kind: wire.CheckReport, Member: 3, Corrupt: true}).Encode()) {
		t.Fatal("a report about the sender refused")
	}
	if filterCheckProposal(2, (&wire.Check{Kind: wire.CheckReport, Member: 3, Corrupt: true}).Encode()) {
		t.Fatal("a report about another member accepted")
	}
	if filterCheckProposal(2, (&wire.Check{Kind: wire.CheckPeriodic}).Encode()) {
		t.Fatal("a check proposed by a follower accepted")
	}
}
