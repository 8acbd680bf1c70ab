package keeper_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// retryUnsafe retries f while it reports a transient refusal.
func retryUnsafe(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) || !(errors.Is(err, keeper.ErrUnsafeConfChange) || errors.Is(err, keeper.ErrConfChangeInProgress) || errors.Is(err, keeper.ErrNoLeader)) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// joinMember opens member id as a new member of c's cluster (Config.Join).
func joinMember(t *testing.T, c *keepertest.Cluster, id uint64) *keeper.Node {
	t.Helper()
	l := c.Leader()
	peers := append(c.IDs(), id)
	n, err := keeper.Open(context.Background(), keeper.Config{
		ID: id, Dir: t.TempDir(), Peers: peers, Join: true,
		ClusterID: l.Status().ClusterID, Transport: c.Network().Endpoint(id),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func memberIDs(ms []keeper.Member) (voters, learners []uint64) {
	for _, m := range ms {
		if m.Learner {
			learners = append(learners, m.ID)
		} else {
			voters = append(voters, m.ID)
		}
	}
	return voters, learners
}

// TestMembershipLifecycle adds a learner that catches up from the log,
// promotes it, moves leadership to it and removes the old leader, checking
// the refusals of unsafe requests on the way.
func TestMembershipLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := keepertest.NewCluster(t, 3)
	l := c.Leader()
	for i := range 20 {
		if _, err := l.Create(ctx, fmt.Sprintf("/k%d", i), []byte("v"), keeper.Persistent); err != nil {
			t.Fatal(err)
		}
	}
	follower := c.Node(c.Others(l.ID())[0])
	if err := follower.AddMember(ctx, 2, keeper.AsLearner); !errors.Is(err, keeper.ErrMemberExists) {
		t.Fatalf("AddMember of a member on a follower: %v, want ErrMemberExists", err)
	}
	if err := l.AddMember(ctx, 2, keeper.AsLearner); !errors.Is(err, keeper.ErrMemberExists) {
		t.Fatalf("AddMember of a member: %v, want ErrMemberExists", err)
	}
	if err := l.PromoteMember(ctx, 4); !errors.Is(err, keeper.ErrUnknownMember) {
		t.Fatalf("PromoteMember of a non-member: %v, want ErrUnknownMember", err)
	}
	if err := l.RemoveMember(ctx, 9); !errors.Is(err, keeper.ErrUnknownMember) {
		t.Fatalf("RemoveMember of a non-member: %v, want ErrUnknownMember", err)
	}
	if err := l.RemoveMember(ctx, l.ID()); !errors.Is(err, keeper.ErrUnsafeConfChange) {
		t.Fatalf("leader removing itself: %v, want ErrUnsafeConfChange", err)
	}

	n4 := joinMember(t, c, 4)
	retryUnsafe(t, "add learner", func() error { return l.AddMember(ctx, 4, keeper.AsLearner) })
	if v, ls := memberIDs(l.Members()); !slices.Equal(v, []uint64{1, 2, 3}) || !slices.Equal(ls, []uint64{4}) {
		t.Fatalf("after AddMember: voters %v learners %v", v, ls)
	}
	if err := l.AddMember(ctx, 4, keeper.AsVoter); !errors.Is(err, keeper.ErrMemberExists) {
		t.Fatalf("AddMember twice: %v, want ErrMemberExists", err)
	}
	waitFor(t, 10*time.Second, "learner catches up", func() bool {
		return n4.Status().Applied >= l.Status().Applied
	})
	if data, _, err := n4.Get(ctx, "/k19"); err != nil || string(data) != "v" {
		t.Fatalf("learner read: %q %v", data, err)
	}
	retryUnsafe(t, "promote", func() error { return l.PromoteMember(ctx, 4) })
	if v, ls := memberIDs(l.Members()); !slices.Equal(v, []uint64{1, 2, 3, 4}) || len(ls) != 0 {
		t.Fatalf("after PromoteMember: voters %v learners %v", v, ls)
	}
	if err := l.PromoteMember(ctx, 4); !errors.Is(err, keeper.ErrUnknownMember) {
		t.Fatalf("promoting a voter: %v, want ErrUnknownMember", err)
	}
	waitFor(t, 5*time.Second, "new member sees itself a voter", func() bool {
		return len(n4.Status().Members) == 4 && len(n4.Status().Learners) == 0
	})

	if err := l.TransferLeadership(ctx, 4); err != nil {
		t.Fatalf("TransferLeadership: %v", err)
	}
	waitFor(t, 5*time.Second, "member 4 leads", func() bool { return n4.Status().Role == keeper.RoleLeader })
	old := l.ID()
	retryUnsafe(t, "remove old leader", func() error { return n4.RemoveMember(ctx, old) })
	if v, _ := memberIDs(n4.Members()); slices.Contains(v, old) || len(v) != 3 {
		t.Fatalf("after RemoveMember: voters %v", v)
	}
	c.Stop(old)
	if _, err := n4.Create(ctx, "/after", nil, keeper.Persistent); err != nil {
		t.Fatalf("write after the changes: %v", err)
	}
	waitFor(t, 5*time.Second, "figures count three members", func() bool {
		st := n4.Status()
		return st.MemberCount == 3 && st.ReachableMembers == 3
	})
}

// TestMembershipSingleVoter: the only voter cannot be removed.
func TestMembershipSingleVoter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := keepertest.NewCluster(t, 1)
	l := c.Leader()
	if err := l.RemoveMember(ctx, 1); !errors.Is(err, keeper.ErrUnsafeConfChange) {
		t.Fatalf("removing the last voter: %v, want ErrUnsafeConfChange", err)
	}
	if err := l.TransferLeadership(ctx, 7); !errors.Is(err, keeper.ErrUnknownMember) {
		t.Fatalf("transfer to a non-member: %v, want ErrUnknownMember", err)
	}
}

// TestReplaceLostMember follows docs/RUNBOOK.md, "Disk lost": a member's
// data is gone; it is removed and a fresh member with a new id joins as a
// learner, catches up and is promoted.
func TestReplaceLostMember(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := keepertest.NewCluster(t, 3)
	l := c.Leader()
	lost := c.Others(l.ID())[0]
	for i := range 10 {
		if _, err := l.Create(ctx, fmt.Sprintf("/k%d", i), nil, keeper.Persistent); err != nil {
			t.Fatal(err)
		}
	}
	c.Kill(lost)
	if err := os.RemoveAll(c.Dir(lost)); err != nil {
		t.Fatal(err)
	}
	retryUnsafe(t, "remove the lost member", func() error { return c.Leader().RemoveMember(ctx, lost) })
	n4 := joinMember(t, c, 4)
	retryUnsafe(t, "add the replacement", func() error { return c.Leader().AddMember(ctx, 4, keeper.AsLearner) })
	waitFor(t, 10*time.Second, "replacement catches up", func() bool {
		return n4.Status().Applied >= c.Leader().Status().Applied
	})
	retryUnsafe(t, "promote the replacement", func() error { return c.Leader().PromoteMember(ctx, 4) })
	if _, err := c.Leader().Create(ctx, "/after", nil, keeper.Persistent); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n4.Linearizable().Get(ctx, "/after"); err != nil {
		t.Fatalf("replacement read: %v", err)
	}
	if v, ls := memberIDs(n4.Members()); len(ls) != 0 || slices.Contains(v, lost) || len(v) != 3 {
		t.Fatalf("members after replacement: voters %v learners %v", v, ls)
	}
}

// TestMembershipOneChangeAtATime: while a change waits to commit (the
// leader is cut off), another is refused with ErrConfChangeInProgress, and
// the waiting one ends ErrIndeterminate once the leader steps down.
func TestMembershipOneChangeAtATime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := keepertest.NewCluster(t, 3, keepertest.WithConfig(func(cfg *keeper.Config) { cfg.ElectionTicks = 50 }))
	l := c.Leader()
	if _, err := l.Create(ctx, "/x", nil, keeper.Persistent); err != nil {
		t.Fatal(err)
	}
	c.Partition([]uint64{l.ID()}, c.Others(l.ID()))
	// Two changes at once: whichever the leader takes first waits, cut
	// off; the other is refused.
	results := make(chan error, 2)
	for _, id := range []uint64{4, 5} {
		go func() { results <- l.AddMember(ctx, id, keeper.AsLearner) }()
	}
	var refused, cut int
	for range 2 {
		switch err := <-results; {
		case errors.Is(err, keeper.ErrConfChangeInProgress):
			refused++
		case errors.Is(err, keeper.ErrIndeterminate):
			cut++
		default:
			t.Fatalf("concurrent change: %v, want ErrConfChangeInProgress or ErrIndeterminate", err)
		}
	}
	if refused != 1 || cut != 1 {
		t.Fatalf("%d changes refused and %d cut off, want one of each", refused, cut)
	}
	c.Heal()
}
