package keeper_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// followers returns the members of c that do not lead, in id order.
func followers(c *keepertest.Cluster) []*keeper.Node {
	var fs []*keeper.Node
	for _, id := range c.Others(c.Leader().ID()) {
		fs = append(fs, c.Node(id))
	}
	return fs
}

// waitMembersAgree waits until every node in ns shows voters and learners.
func waitMembersAgree(t *testing.T, ns []*keeper.Node, voters, learners []uint64) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("every member shows voters %v learners %v", voters, learners), func() bool {
		for _, n := range ns {
			v, l := memberIDs(n.Members())
			if !slices.Equal(v, voters) || !slices.Equal(l, learners) {
				return false
			}
		}
		return true
	})
}

// TestForwardLifecycle makes every membership change through a follower:
// add a learner, promote it through the other follower, move leadership
// between followers, and remove the old leader.
func TestForwardLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := keepertest.NewCluster(t, 3)
	t.Logf("seed %d", c.Seed())
	l := c.Leader()
	fs := followers(c)
	if _, err := l.Create(ctx, "/x", []byte("v"), keeper.Persistent); err != nil {
		t.Fatal(err)
	}

	n4 := joinMember(t, c, 4)
	retryUnsafe(t, "add learner through a follower", func() error { return fs[0].AddMember(ctx, 4, keeper.AsLearner) })
	// The call returns once the change applied on the leader and the caller.
	for _, n := range []*keeper.Node{l, fs[0]} {
		if v, ls := memberIDs(n.Members()); !slices.Equal(v, []uint64{1, 2, 3}) || !slices.Equal(ls, []uint64{4}) {
			t.Fatalf("member %d after AddMember: voters %v learners %v", n.ID(), v, ls)
		}
	}
	waitMembersAgree(t, []*keeper.Node{l, fs[0], fs[1], n4}, []uint64{1, 2, 3}, []uint64{4})

	waitFor(t, 10*time.Second, "learner catches up", func() bool { return n4.Status().Applied >= l.Status().Applied })
	retryUnsafe(t, "promote through the other follower", func() error { return fs[1].PromoteMember(ctx, 4) })
	if v, ls := memberIDs(fs[1].Members()); !slices.Equal(v, []uint64{1, 2, 3, 4}) || len(ls) != 0 {
		t.Fatalf("caller after PromoteMember: voters %v learners %v", v, ls)
	}
	all := []*keeper.Node{l, fs[0], fs[1], n4}
	waitMembersAgree(t, all, []uint64{1, 2, 3, 4}, nil)

	if err := fs[0].TransferLeadership(ctx, fs[1].ID()); err != nil {
		t.Fatalf("TransferLeadership through a follower: %v", err)
	}
	waitFor(t, 10*time.Second, "every member sees the new leader", func() bool {
		for _, n := range all {
			if n.Status().Leader != fs[1].ID() {
				return false
			}
		}
		return true
	})

	old := l.ID()
	retryUnsafe(t, "remove the old leader through a follower", func() error { return fs[0].RemoveMember(ctx, old) })
	rest := []uint64{fs[0].ID(), fs[1].ID(), 4}
	slices.Sort(rest)
	if v, _ := memberIDs(fs[0].Members()); !slices.Equal(v, rest) {
		t.Fatalf("caller after RemoveMember: voters %v, want %v", v, rest)
	}
	waitMembersAgree(t, []*keeper.Node{fs[0], fs[1], n4}, rest, nil)
	c.Stop(old)
	if _, err := n4.Create(ctx, "/after", nil, keeper.Persistent); err != nil {
		t.Fatalf("write after the changes: %v", err)
	}
}

// TestForwardRefusals: refusals through a follower or a learner match the
// same sentinels as on the leader, and none claims an unknown outcome.
func TestForwardRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := keepertest.NewCluster(t, 3)
	t.Logf("seed %d", c.Seed())
	l := c.Leader()
	f := followers(c)[0]
	cases := []struct {
		what string
		call func() error
		want error
	}{
		{"add a member", func() error { return f.AddMember(ctx, l.ID(), keeper.AsVoter) }, keeper.ErrMemberExists},
		{"remove a non-member", func() error { return f.RemoveMember(ctx, 9) }, keeper.ErrUnknownMember},
		{"promote a non-member", func() error { return f.PromoteMember(ctx, 9) }, keeper.ErrUnknownMember},
		{"promote a voter", func() error { return f.PromoteMember(ctx, f.ID()) }, keeper.ErrUnknownMember},
		{"remove the leader", func() error { return f.RemoveMember(ctx, l.ID()) }, keeper.ErrUnsafeConfChange},
		{"transfer to a non-member", func() error { return f.TransferLeadership(ctx, 7) }, keeper.ErrUnknownMember},
		{"member id 0", func() error { return f.AddMember(ctx, 0, keeper.AsLearner) }, keeper.ErrBadArguments},
	}
	for _, tc := range cases {
		err := tc.call()
		if !errors.Is(err, tc.want) || errors.Is(err, keeper.ErrIndeterminate) {
			t.Errorf("%s through a follower: %v, want %v", tc.what, err, tc.want)
		}
	}

	// A learner that was never opened is unreachable: promoting it is unsafe.
	retryUnsafe(t, "add a learner", func() error { return f.AddMember(ctx, 5, keeper.AsLearner) })
	if err := f.PromoteMember(ctx, 5); !errors.Is(err, keeper.ErrUnsafeConfChange) {
		t.Errorf("promote an unreachable learner through a follower: %v, want ErrUnsafeConfChange", err)
	}
}

// TestForwardLastVoter: a learner asking to remove the only voter is
// refused as on the leader.
func TestForwardLastVoter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := keepertest.NewCluster(t, 1)
	t.Logf("seed %d", c.Seed())
	l := c.Leader()
	n2 := joinMember(t, c, 2)
	retryUnsafe(t, "add a learner", func() error { return l.AddMember(ctx, 2, keeper.AsLearner) })
	waitFor(t, 10*time.Second, "learner knows the leader", func() bool {
		return n2.Status().Leader == l.ID() && slices.Contains(n2.Status().Learners, 2)
	})
	if err := n2.RemoveMember(ctx, l.ID()); !errors.Is(err, keeper.ErrUnsafeConfChange) {
		t.Fatalf("removing the last voter through a learner: %v, want ErrUnsafeConfChange", err)
	}
}

// TestForwardUnderFaults adds and removes a learner through followers, in
// turn, while the network drops 30% of frames, duplicates some and
// reorders them. Every call succeeds (or, if its context ended, reports
// ErrIndeterminate), and the membership ends as the calls say: a request
// that ran again late (a duplicate re-applied after the opposite change)
// would leave it otherwise.
func TestForwardUnderFaults(t *testing.T) {
	c := keepertest.NewCluster(t, 3)
	t.Logf("seed %d", c.Seed())
	ids := c.IDs()
	c.Network().DropAll(0.3)
	c.Network().Duplicate(0.3)
	c.Network().Delay(0, 5*time.Millisecond)
	present := false
	for round := range 6 {
		caller := c.Node(ids[round%len(ids)])
		if caller.Status().Role == keeper.RoleLeader {
			caller = c.Node(ids[(round+1)%len(ids)])
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var err error
		for {
			if present {
				err = caller.RemoveMember(ctx, 4)
			} else {
				err = caller.AddMember(ctx, 4, keeper.AsLearner)
			}
			// Refusals that say nothing happened may be retried.
			if errors.Is(err, keeper.ErrConfChangeInProgress) || errors.Is(err, keeper.ErrNoLeader) {
				if ctx.Err() == nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
			}
			break
		}
		ctxErr := ctx.Err()
		cancel()
		switch {
		case err == nil:
		case errors.Is(err, keeper.ErrIndeterminate) && ctxErr != nil:
			t.Fatalf("round %d: no outcome within 20s: %v", round, err)
		default:
			t.Fatalf("round %d (member 4 present: %v) through member %d: %v", round, present, caller.ID(), err)
		}
		present = !present
	}
	c.Network().DropAll(0)
	c.Network().Duplicate(0)
	var wantLearners []uint64
	if present {
		wantLearners = []uint64{4}
	}
	waitMembersAgree(t, c.Nodes(), ids, wantLearners)
	// Frames still in flight must not change it: a request runs once.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if _, ls := memberIDs(c.Leader().Members()); !slices.Equal(ls, wantLearners) {
			t.Fatalf("learners became %v after the calls, want %v", ls, wantLearners)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestForwardLeaderKilled kills the leader while a follower's AddMember is
// on its way: the call ends, before its context, with success or
// ErrIndeterminate, and the members agree on the outcome.
func TestForwardLeaderKilled(t *testing.T) {
	c := keepertest.NewCluster(t, 3)
	t.Logf("seed %d", c.Seed())
	l := c.Leader()
	f := followers(c)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.AddMember(ctx, 4, keeper.AsLearner) }()
	c.Kill(l.ID())
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("AddMember still waiting 5s past its context")
	}
	t.Logf("AddMember with the leader killed: %v", err)
	if err != nil && !errors.Is(err, keeper.ErrIndeterminate) {
		t.Fatalf("AddMember with the leader killed: %v, want nil or ErrIndeterminate", err)
	}
	c.WaitLeader()
	live := []*keeper.Node{}
	for _, id := range c.Others(l.ID()) {
		live = append(live, c.Node(id))
	}
	// The outcome is whatever the new leader holds; both live members agree.
	nl := c.Leader()
	if _, err := nl.Create(context.Background(), "/settle", nil, keeper.Persistent); err != nil {
		t.Fatal(err)
	}
	_, ls := memberIDs(nl.Members())
	if err == nil && !slices.Equal(ls, []uint64{4}) {
		t.Fatalf("AddMember succeeded but the leader shows learners %v", ls)
	}
	waitMembersAgree(t, live, []uint64{1, 2, 3}, ls)
}
