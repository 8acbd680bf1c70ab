package keeper_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/transport"
)

// TestNotLeaderError: a NotLeaderError matches ErrNotLeader with errors.Is,
// also wrapped, errors.As reaches it for the leader's id, and its text is
// the one membership replies carry on the wire.
func TestNotLeaderError(t *testing.T) {
	for _, tc := range []struct {
		leader uint64
		text   string
	}{
		{3, "keeper: not the leader: member 3 leads"},
		{0, "keeper: not the leader: no leader known"},
	} {
		err := fmt.Errorf("call: %w", &keeper.NotLeaderError{Leader: tc.leader})
		if !errors.Is(err, keeper.ErrNotLeader) {
			t.Errorf("errors.Is(%v, ErrNotLeader) = false", err)
		}
		var nle *keeper.NotLeaderError
		if !errors.As(err, &nle) || nle.Leader != tc.leader {
			t.Errorf("errors.As(%v) = %v, want leader %d", err, nle, tc.leader)
		}
		if got := errors.Unwrap(err).Error(); got != tc.text {
			t.Errorf("text %q, want %q", got, tc.text)
		}
		if errors.Is(err, keeper.ErrNoLeader) {
			t.Errorf("%v matches ErrNoLeader", err)
		}
	}
}

// TestTransferLeadershipNoLeader: a member that knows no leader (one of three
// opened alone, so no election can succeed) refuses TransferLeadership with a
// *NotLeaderError naming no leader.
func TestTransferLeadershipNoLeader(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	net := transport.NewMemory(1)
	n, err := keeper.Open(ctx, keeper.Config{ID: 1, Dir: t.TempDir(), Peers: []uint64{1, 2, 3}, Transport: net.Endpoint(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	// The member learns its voters when it applies its initial membership.
	for len(n.Status().Members) != 3 {
		if ctx.Err() != nil {
			t.Fatalf("members never applied: %+v", n.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	err = n.TransferLeadership(ctx, 2)
	if !errors.Is(err, keeper.ErrNotLeader) {
		t.Fatalf("TransferLeadership with no leader: %v, want ErrNotLeader", err)
	}
	var nle *keeper.NotLeaderError
	if !errors.As(err, &nle) || nle.Leader != 0 {
		t.Fatalf("TransferLeadership with no leader: %#v, want a *NotLeaderError with Leader 0", err)
	}
}
