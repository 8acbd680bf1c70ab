package keeper_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// fastSessions lets sessions time out in about a second.
func fastSessions(timeout time.Duration) keepertest.Option {
	return keepertest.WithConfig(func(c *keeper.Config) {
		c.MinSessionTimeout = timeout
		c.ReapInterval = 50 * time.Millisecond
	})
}

// waitFor polls cond every few milliseconds until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newSession retries NewSession while the cluster settles.
func newSession(ctx context.Context, t *testing.T, n *keeper.Node, timeout time.Duration) *keeper.Session {
	t.Helper()
	for {
		s, err := n.NewSession(ctx, keeper.SessionOptions{Timeout: timeout})
		if err == nil {
			return s
		}
		if !errors.Is(err, keeper.ErrConnectionLoss) && !errors.Is(err, keeper.ErrIndeterminate) || ctx.Err() != nil {
			t.Fatalf("member %d: NewSession: %v", n.ID(), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func exists(ctx context.Context, t *testing.T, c *keeper.Client, path string) bool {
	t.Helper()
	_, ok, err := c.Exists(ctx, path)
	if err != nil {
		t.Fatalf("exists %s: %v", path, err)
	}
	return ok
}

// Reference: "Ephemeral Nodes": znodes that exist as long as the session
// that created them is active; when the session ends they are deleted.
func TestSessionEphemeralsDieWithClose(t *testing.T) {
	c := keepertest.NewCluster(t, 3)
	ctx := ctxFor(t, 20*time.Second)
	n1, n2 := c.Node(1), c.Node(2)
	retry(ctx, t, func() error { _, err := n1.Create(ctx, "/locks", nil, keeper.Persistent); return err })
	s := newSession(ctx, t, n2, 0)
	if got := s.Timeout(); got != keeper.DefaultMinSessionTimeout {
		t.Fatalf("timeout 0 negotiated to %v, want the minimum %v", got, keeper.DefaultMinSessionTimeout)
	}
	if big := newSession(ctx, t, n2, time.Hour); big.Timeout() != keeper.DefaultMaxSessionTimeout {
		t.Fatalf("timeout 1h negotiated to %v, want the maximum", big.Timeout())
	} else if err := big.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s.State() != keeper.StateConnected {
		t.Fatalf("new session state %v", s.State())
	}
	p, err := s.Create(ctx, "/locks/job-", nil, keeper.EphemeralSequential)
	if err != nil {
		t.Fatal(err)
	}
	_, stat, err := s.Get(ctx, p)
	if err != nil || stat.EphemeralOwner != s.ID() {
		t.Fatalf("ephemeral %s: owner %#x, session %#x, %v", p, stat.EphemeralOwner, s.ID(), err)
	}
	if _, err := s.Create(ctx, p+"/child", nil, keeper.Persistent); !errors.Is(err, keeper.ErrNoChildrenForEphemerals) {
		t.Fatalf("child of an ephemeral: %v", err)
	}
	if eph, err := s.Ephemerals(ctx, "/locks"); err != nil || len(eph) != 1 || eph[0] != p {
		t.Fatalf("Ephemerals: %v %v", eph, err)
	}
	if _, err := n1.Create(ctx, "/e", nil, keeper.Ephemeral); !errors.Is(err, keeper.ErrBadArguments) {
		t.Fatalf("ephemeral without a session: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s.State() != keeper.StateClosed {
		t.Fatalf("state after Close: %v", s.State())
	}
	// Removed at once: the close is applied on n2 before Close returns.
	if exists(ctx, t, &n2.Client, p) {
		t.Fatalf("%s survived its session's Close", p)
	}
	if _, err := s.Create(ctx, "/locks/x", nil, keeper.Persistent); !errors.Is(err, keeper.ErrSessionClosed) {
		t.Fatalf("write after Close: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	c.WaitConverged()
}

// Reference: "Sessions": "Expirations happens when the cluster does not hear
// from the client within the specified session timeout period"; the client
// sees Disconnected when its server is cut off and Expired on reconnecting.
func TestSessionExpiryOnPartition(t *testing.T) {
	const timeout = 2 * time.Second
	c := keepertest.NewCluster(t, 3, fastSessions(timeout))
	ctx := ctxFor(t, 30*time.Second)
	leader := c.Leader()
	owner := c.Node(c.Others(leader.ID())[0])
	watcherNode := c.Node(c.Others(leader.ID(), owner.ID())[0])

	s, err := owner.NewSession(ctx, keeper.SessionOptions{Timeout: timeout, Events: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Create(ctx, "/member-", nil, keeper.EphemeralSequential)
	if err != nil {
		t.Fatal(err)
	}
	if err := watcherNode.Sync(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	ws := newSession(ctx, t, watcherNode, 10*time.Second)
	_, ok, w, err := ws.ExistsW(ctx, p)
	if err != nil || !ok {
		t.Fatalf("ExistsW %s: %v %v", p, ok, err)
	}
	_, _, sw, err := s.GetW(ctx, p)
	if err != nil {
		t.Fatal(err)
	}

	c.Partition([]uint64{owner.ID()}, c.Others(owner.ID()))
	cut := time.Now()
	// Disconnected within an election timeout (randomized up to 2x).
	waitFor(t, time.Second, "Disconnected", func() bool { return s.State() == keeper.StateDisconnected })
	if ev := next(t, sw); ev.Type != keeper.SessionStateChanged || ev.State != keeper.StateDisconnected {
		t.Fatalf("owner's watch got %+v, want Disconnected", ev)
	}
	if _, err := s.Set(ctx, p, nil, -1); !errors.Is(err, keeper.ErrConnectionLoss) {
		t.Fatalf("write while disconnected: %v", err)
	}
	// Not before the timeout (less the expiry check's precision) ...
	const precision = 200 * time.Millisecond
	for time.Since(cut) < timeout-precision {
		if !exists(ctx, t, &leader.Client, p) {
			t.Fatalf("%s deleted %v after the partition, before the %v timeout", p, time.Since(cut), timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// ... and soon after it.
	waitFor(t, timeout, "the ephemeral to vanish on the majority", func() bool { return !exists(ctx, t, &leader.Client, p) })
	if gone := time.Since(cut); gone > timeout+time.Second {
		t.Fatalf("ephemeral deleted %v after the partition; timeout %v", gone, timeout)
	}
	if ev := next(t, w); ev.Type != keeper.NodeDeleted || ev.Path != p {
		t.Fatalf("watcher on member %d got %+v, want NodeDeleted %s", watcherNode.ID(), ev, p)
	}
	if s.State() != keeper.StateDisconnected {
		t.Fatalf("partitioned session is %v before healing", s.State())
	}
	c.Heal()
	waitFor(t, 10*time.Second, "Expired after healing", func() bool { return s.State() == keeper.StateExpired })
	if _, err := s.Create(ctx, "/x", nil, keeper.Persistent); !errors.Is(err, keeper.ErrSessionExpired) {
		t.Fatalf("write on an expired session: %v", err)
	}
	// The session-wide channel saw the state changes in order, then closed.
	var states []keeper.SessionState
	for ev := range s.Events() {
		if ev.Type == keeper.SessionStateChanged {
			states = append(states, ev.State)
		}
	}
	if len(states) < 2 || states[0] != keeper.StateDisconnected || states[len(states)-1] != keeper.StateExpired {
		t.Fatalf("session states %v, want Disconnected ... Expired", states)
	}
	c.WaitConverged()
}

// Reference: "Sessions": a leader change must not expire sessions whose
// members stay healthy: the new leader gives every session a full timeout.
func TestLeaderChangeKeepsHealthySessions(t *testing.T) {
	const timeout = 1500 * time.Millisecond
	c := keepertest.NewCluster(t, 3, fastSessions(timeout))
	ctx := ctxFor(t, 30*time.Second)
	leader := c.Leader()
	var live []*keeper.Session
	var paths []string
	for _, id := range c.Others(leader.ID()) {
		s := newSession(ctx, t, c.Node(id), timeout)
		p, err := s.Create(ctx, "/m-", nil, keeper.EphemeralSequential)
		if err != nil {
			t.Fatal(err)
		}
		live, paths = append(live, s), append(paths, p)
	}
	doomed := newSession(ctx, t, leader, timeout)
	dp, err := doomed.Create(ctx, "/m-", nil, keeper.EphemeralSequential)
	if err != nil {
		t.Fatal(err)
	}
	old := leader.ID()
	c.Kill(old)
	nl := c.WaitLeader()
	// The killed member's session expires; the others' never do.
	waitFor(t, 10*time.Second, "the dead member's session to expire", func() bool {
		return !exists(ctx, t, &nl.Client, dp)
	})
	time.Sleep(2 * timeout) // well past every timeout: nothing else may expire
	for i, s := range live {
		if s.State() != keeper.StateConnected {
			t.Fatalf("session on member %d is %v after the leader change", s.ID(), s.State())
		}
		if !exists(ctx, t, &nl.Client, paths[i]) {
			t.Fatalf("%s of a healthy member vanished", paths[i])
		}
	}
	c.Restart(old)
	c.WaitConverged()
}

// A restarted member closes the sessions of its previous incarnation.
func TestRestartClosesOldSessions(t *testing.T) {
	c := keepertest.NewCluster(t, 3, fastSessions(30*time.Second))
	ctx := ctxFor(t, 30*time.Second)
	leader := c.Leader()
	id := c.Others(leader.ID())[0]
	s := newSession(ctx, t, c.Node(id), 0)
	p, err := s.Create(ctx, "/old-", nil, keeper.EphemeralSequential)
	if err != nil {
		t.Fatal(err)
	}
	c.Kill(id)
	c.Restart(id)
	waitFor(t, 10*time.Second, "the old incarnation's ephemeral to go", func() bool {
		return !exists(ctx, t, &leader.Client, p)
	})
	c.WaitConverged()
}

// next returns w's next event, failing the test after 10 s.
func next(t *testing.T, w *keeper.Watch) keeper.Event {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatalf("watch on %s closed", w.Path())
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("no event on the watch of %s within 10s", w.Path())
	}
	panic("unreachable")
}
