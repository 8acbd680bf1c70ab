package keeper_test

import (
	"context"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// Status.MembershipZxid is the zxid of the last membership change, the
// same on every member: a new cluster's bootstrap entries, then each
// change, higher each time; a member restarted with the change still in
// its raft log finds it again.
func TestMembershipZxid(t *testing.T) {
	c := keepertest.NewCluster(t, 3)
	if got := c.Node(1).Status().MembershipZxid; got != 3 {
		t.Fatalf("MembershipZxid of a new 3-member cluster: %d, want 3 (its bootstrap entries)", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Node(1).AddMember(ctx, 4, keeper.AsLearner); err != nil {
		t.Fatal(err)
	}
	at := c.WaitConverged()
	want := c.Node(1).Status().MembershipZxid
	if want <= 3 || want > at {
		t.Fatalf("MembershipZxid after AddMember: %d, want above 3 and at most %d", want, at)
	}
	for _, id := range c.IDs() {
		if got := c.Node(id).Status().MembershipZxid; got != want {
			t.Errorf("member %d: MembershipZxid %d, member 1 %d", id, got, want)
		}
	}
	c.Stop(2)
	c.Restart(2)
	// The restarted member finds the change in its retained log, or
	// applies it again from there.
	deadline := time.Now().Add(10 * time.Second)
	for c.Node(2).Status().MembershipZxid != want {
		if time.Now().After(deadline) {
			t.Fatalf("member 2 restarted: MembershipZxid %d, want %d", c.Node(2).Status().MembershipZxid, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
