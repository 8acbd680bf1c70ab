package keeper_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// none fails if w has an event queued now. After a write returns, every
// event it caused on its own member is already queued (the events of a
// group are queued before the group becomes visible), so no waiting is
// needed to see that nothing fired.
func none(t *testing.T, what string, w *keeper.Watch) {
	t.Helper()
	select {
	case ev := <-w.Events():
		t.Fatalf("%s: unexpected %v on %s (zxid %d)", what, ev.Type, ev.Path, ev.Zxid)
	default:
	}
}

// expect fails unless w's next event is typ on path.
func expect(t *testing.T, what string, w *keeper.Watch, typ keeper.EventType, path string) keeper.Event {
	t.Helper()
	ev := next(t, w)
	if ev.Type != typ || ev.Path != path {
		t.Fatalf("%s: got %v on %s, want %v on %s", what, ev.Type, ev.Path, typ, path)
	}
	return ev
}

// closed fails unless w's channel is closed (a one-shot watch after firing).
func closed(t *testing.T, what string, w *keeper.Watch) {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if ok {
			t.Fatalf("%s: watch still open, got %+v", what, ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: watch not closed", what)
	}
}

// The firing table: for each operation, which watches fire with which
// event. Each row cites the Programmer's Guide ("Semantics of Watches",
// "Persistent, Recursive Watches", "Remove Watches") or ZooKeeper's server
// (DataTree: setACL triggers nothing).
func TestWatchFiringTable(t *testing.T) {
	c := keepertest.NewCluster(t, 1, fastSessions(time.Second))
	ctx := ctxFor(t, 30*time.Second)
	n := c.Node(1)
	s := newSession(ctx, t, n, 0)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustCreate := func(path string, mode keeper.CreateMode, opts ...keeper.CreateOption) {
		t.Helper()
		_, err := n.Create(ctx, path, nil, mode, opts...)
		must(err)
	}
	existsW := func(path string) *keeper.Watch {
		t.Helper()
		_, _, w, err := s.ExistsW(ctx, path)
		must(err)
		return w
	}
	getW := func(path string) *keeper.Watch {
		t.Helper()
		_, _, w, err := s.GetW(ctx, path)
		must(err)
		return w
	}
	childrenW := func(path string) *keeper.Watch {
		t.Helper()
		_, _, w, err := s.ChildrenW(ctx, path)
		must(err)
		return w
	}

	t.Run("create", func(t *testing.T) {
		// "Created event: Enabled with a call to exists." "Child event:
		// Enabled with a call to getChildren." A create triggers the new
		// node's data watches and its parent's child watches.
		if _, _, _, err := s.GetW(ctx, "/a"); !errors.Is(err, keeper.ErrNoNode) {
			t.Fatalf("GetW on a missing node: %v", err)
		}
		ex, ch := existsW("/a"), childrenW("/")
		mustCreate("/a", keeper.Persistent)
		ev := expect(t, "exists", ex, keeper.NodeCreated, "/a")
		expect(t, "parent children", ch, keeper.NodeChildrenChanged, "/")
		closed(t, "one-shot exists", ex)
		closed(t, "one-shot children", ch)
		if _, stat, _ := n.Get(ctx, "/a"); stat.Czxid != ev.Zxid {
			t.Fatalf("event zxid %d, node czxid %d", ev.Zxid, stat.Czxid)
		}
	})
	t.Run("set", func(t *testing.T) {
		// "Changed event: Enabled with a call to exists and getData."
		g, ex, ch := getW("/a"), existsW("/a"), childrenW("/a")
		_, err := n.Set(ctx, "/a", []byte("v"), -1)
		must(err)
		expect(t, "getData", g, keeper.NodeDataChanged, "/a")
		expect(t, "exists", ex, keeper.NodeDataChanged, "/a")
		none(t, "getChildren is not told of data", ch)
		must(s.RemoveWatches(ctx, "/a", keeper.ChildWatch))
		expect(t, "removed", ch, keeper.WatchRemoved, "/a")
		closed(t, "removed", ch)
	})
	t.Run("setACL", func(t *testing.T) {
		// ZooKeeper's DataTree.setACL triggers no watch.
		g, ex := getW("/a"), existsW("/a")
		_, err := n.SetACL(ctx, "/a", keeper.OpenACL(), -1)
		must(err)
		none(t, "getData after setACL", g)
		none(t, "exists after setACL", ex)
		must(s.RemoveAllWatches(ctx, "/a"))
	})
	t.Run("delete", func(t *testing.T) {
		// "Deleted event: Enabled with a call to exists, getData, and
		// getChildren." plus the parent's child event.
		g, ex, ch, pch := getW("/a"), existsW("/a"), childrenW("/a"), childrenW("/")
		must(n.Delete(ctx, "/a", -1))
		expect(t, "getData", g, keeper.NodeDeleted, "/a")
		expect(t, "exists", ex, keeper.NodeDeleted, "/a")
		expect(t, "getChildren", ch, keeper.NodeDeleted, "/a")
		expect(t, "parent", pch, keeper.NodeChildrenChanged, "/")
	})
	t.Run("multi", func(t *testing.T) {
		// A multi fires each op's events, all at the multi's one zxid.
		mustCreate("/m", keeper.Persistent)
		ex, g, ch := existsW("/m/x"), getW("/m"), childrenW("/m")
		res, err := n.Multi(ctx, keeper.CreateOp("/m/x", nil, keeper.Persistent), keeper.SetOp("/m", []byte("1"), -1))
		must(err)
		e1 := expect(t, "exists", ex, keeper.NodeCreated, "/m/x")
		e2 := expect(t, "getData", g, keeper.NodeDataChanged, "/m")
		e3 := expect(t, "children", ch, keeper.NodeChildrenChanged, "/m")
		if e1.Zxid != e2.Zxid || e2.Zxid != e3.Zxid || e1.Zxid != res[0].Stat.Czxid {
			t.Fatalf("multi events at zxids %d %d %d, multi at %d", e1.Zxid, e2.Zxid, e3.Zxid, res[0].Stat.Czxid)
		}
		// A failed multi fires nothing.
		g = getW("/m")
		if _, err := n.Multi(ctx, keeper.SetOp("/m", nil, -1), keeper.CheckOp("/nope", -1)); err == nil {
			t.Fatal("multi with a failing check succeeded")
		}
		none(t, "failed multi", g)
	})
	t.Run("session close", func(t *testing.T) {
		// "Ephemeral Nodes": deleted when the session ends; that delete
		// fires like any other.
		o := newSession(ctx, t, n, 0)
		p, err := o.Create(ctx, "/m/e-", nil, keeper.EphemeralSequential)
		must(err)
		ex, ch := existsW(p), childrenW("/m")
		mine := existsW("/m/x")
		_, _, ownW, err := o.GetW(ctx, p)
		must(err)
		must(o.Close(ctx))
		expect(t, "exists", ex, keeper.NodeDeleted, p)
		expect(t, "parent", ch, keeper.NodeChildrenChanged, "/m")
		none(t, "unrelated", mine)
		// The closing session's own watch sees its node go, then Closed.
		expect(t, "own", ownW, keeper.NodeDeleted, p)
	})
	// Session expiry: the expiry's deletes fire like a close's; see
	// TestSessionExpiryOnPartition (a watcher on another member gets
	// NodeDeleted, the expired session's own watches get Expired).
	t.Run("container removal", func(t *testing.T) {
		// "Container Nodes": deleted by the server once their last child
		// is gone.
		mustCreate("/c", keeper.Container)
		mustCreate("/c/x", keeper.Persistent)
		ex := existsW("/c")
		must(n.Delete(ctx, "/c/x", -1))
		expect(t, "exists", ex, keeper.NodeDeleted, "/c")
		if exists(ctx, t, &n.Client, "/c") {
			t.Fatal("container still there after NodeDeleted")
		}
	})
	t.Run("TTL removal", func(t *testing.T) {
		// "TTL Nodes": deleted when unmodified for the TTL and childless.
		const ttl = 300 * time.Millisecond
		start := time.Now()
		mustCreate("/ttl", keeper.PersistentWithTTL, keeper.WithTTL(ttl))
		ex := existsW("/ttl")
		expect(t, "exists", ex, keeper.NodeDeleted, "/ttl")
		if d := time.Since(start); d < ttl {
			t.Fatalf("TTL node removed after %v, TTL %v", d, ttl)
		}
	})
	t.Run("persistent", func(t *testing.T) {
		// "Persistent, Recursive Watches": a persistent watch is not
		// removed when triggered; non-recursive, it gets the events of
		// its path, child changes included.
		pw, err := s.AddWatch(ctx, "/p", keeper.PersistentWatch)
		must(err)
		mustCreate("/p", keeper.Persistent)
		expect(t, "create", pw, keeper.NodeCreated, "/p")
		mustCreate("/p/x", keeper.Persistent)
		expect(t, "child", pw, keeper.NodeChildrenChanged, "/p")
		_, err = n.Set(ctx, "/p/x", nil, -1)
		must(err)
		none(t, "grandchild data", pw)
		_, err = n.Set(ctx, "/p", nil, -1)
		must(err)
		expect(t, "data", pw, keeper.NodeDataChanged, "/p")
	})
	t.Run("persistent recursive", func(t *testing.T) {
		// "these watches trigger the event types NodeCreated, NodeDeleted,
		// and NodeDataChanged and, optionally, recursively ... Note that
		// NodeChildrenChanged events are not triggered for persistent
		// recursive watches".
		rw, err := s.AddWatch(ctx, "/r", keeper.PersistentRecursive)
		must(err)
		mustCreate("/r", keeper.Persistent)
		mustCreate("/r/x", keeper.Persistent)
		mustCreate("/r/x/y", keeper.Persistent)
		_, err = n.Set(ctx, "/r/x/y", nil, -1)
		must(err)
		must(n.Delete(ctx, "/r/x/y", -1))
		mustCreate("/rr", keeper.Persistent) // a sibling with a common prefix
		for _, want := range []struct {
			typ  keeper.EventType
			path string
		}{
			{keeper.NodeCreated, "/r"}, {keeper.NodeCreated, "/r/x"}, {keeper.NodeCreated, "/r/x/y"},
			{keeper.NodeDataChanged, "/r/x/y"}, {keeper.NodeDeleted, "/r/x/y"},
		} {
			expect(t, "recursive", rw, want.typ, want.path)
		}
		none(t, "recursive", rw)
	})
	t.Run("remove watches", func(t *testing.T) {
		// "Remove Watches": removal triggers the watch's removed event;
		// none to remove is an error (NoWatcher).
		if err := s.RemoveWatches(ctx, "/nothing", keeper.AnyWatch); !errors.Is(err, keeper.ErrNoWatcher) {
			t.Fatalf("RemoveWatches with none: %v", err)
		}
		must(s.RemoveWatches(ctx, "/r", keeper.PersistentRecursive))
		expect(t, "removed", mustWatch(t, s, ctx), keeper.WatchRemoved, "/q")
	})
	t.Run("session-wide channel", func(t *testing.T) {
		// One event per change for the session however many of its
		// watches fire, in zxid order, state changes included.
		o, err := n.NewSession(ctx, keeper.SessionOptions{Events: true})
		must(err)
		mustCreate("/sc", keeper.Persistent)
		_, _, _, err = o.GetW(ctx, "/sc")
		must(err)
		_, _, _, err = o.ExistsW(ctx, "/sc")
		must(err)
		_, err = o.AddWatch(ctx, "/sc", keeper.PersistentWatch)
		must(err)
		_, err = n.Multi(ctx, keeper.CreateOp("/sc/a", nil, keeper.Persistent), keeper.CreateOp("/sc/b", nil, keeper.Persistent))
		must(err)
		_, err = n.Set(ctx, "/sc", nil, -1)
		must(err)
		must(o.Close(ctx))
		var got []string
		var last keeper.Zxid
		for ev := range o.Events() {
			if ev.Zxid < last {
				t.Fatalf("session events out of zxid order: %d after %d", ev.Zxid, last)
			}
			last = ev.Zxid
			got = append(got, fmt.Sprint(ev.Type, " ", ev.Path, " ", ev.State))
		}
		want := []string{
			"NodeChildrenChanged /sc Connected", "NodeChildrenChanged /sc Connected",
			"NodeDataChanged /sc Connected", "SessionStateChanged  Closed",
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("session channel %q, want %q", got, want)
		}
	})
	t.Run("session expiry and close end watches", func(t *testing.T) {
		// The watches of a session end with its state change.
		o := newSession(ctx, t, n, 0)
		w, err := o.AddWatch(ctx, "/", keeper.PersistentRecursive)
		must(err)
		must(o.Close(ctx))
		ev := next(t, w)
		if ev.Type != keeper.SessionStateChanged || ev.State != keeper.StateClosed {
			t.Fatalf("got %+v, want Closed", ev)
		}
		closed(t, "closed session", w)
	})
}

// mustWatch sets a persistent watch on /q and removes it, returning it.
func mustWatch(t *testing.T, s *keeper.Session, ctx context.Context) *keeper.Watch {
	t.Helper()
	w, err := s.AddWatch(ctx, "/q", keeper.PersistentWatch)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveAllWatches(ctx, "/q"); err != nil {
		t.Fatal(err)
	}
	return w
}

// DESIGN invariant 6 / "What ZooKeeper Guarantees about Watches": "a client
// will never see a change for which it has set a watch until it first sees
// the watch event". Writers on two members change /x concurrently; a
// session on one of them reads /x again and again, and every value it reads
// must have its event already queued on the session's watch.
func TestWatchOrderingUnderConcurrentWriters(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	c := keepertest.NewCluster(t, 3)
	ctx := ctxFor(t, 60*time.Second)
	retry(ctx, t, func() error { _, err := c.Node(1).Create(ctx, "/x", nil, keeper.Persistent); return err })
	reader := c.Node(uint64(1 + rng.IntN(3)))
	if err := reader.Sync(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	s := newSession(ctx, t, reader, 0)
	w, err := s.AddWatch(ctx, "/x", keeper.PersistentWatch)
	if err != nil {
		t.Fatal(err)
	}
	_, base, err := s.Get(ctx, "/x")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes atomic.Int64
	for _, id := range []uint64{reader.ID(), 1 + (reader.ID() % 3)} {
		n := c.Node(id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := n.Set(ctx, "/x", []byte(fmt.Sprint(id, ":", i)), -1); err == nil {
					writes.Add(1)
				}
			}
		}()
	}
	seen := base.Mzxid
	deadline := time.Now().Add(3 * time.Second)
	reads := 0
	for time.Now().Before(deadline) || writes.Load() < 50 {
		_, stat, err := s.Get(ctx, "/x")
		if errors.Is(err, keeper.ErrConnectionLoss) {
			continue // no leader for a moment; the session is told (below)
		}
		if err != nil {
			t.Fatal(err)
		}
		reads++
	drain:
		for {
			select {
			case ev := <-w.Events():
				if ev.Type == keeper.SessionStateChanged && (ev.State == keeper.StateDisconnected || ev.State == keeper.StateConnected) {
					// A busy machine can cost the cluster its leader for a
					// moment; the session is told, and the order of data
					// events must hold across it.
					t.Logf("session %v", ev.State)
					continue
				}
				if ev.Type != keeper.NodeDataChanged || ev.Zxid <= seen {
					t.Fatalf("event %+v after zxid %d", ev, seen)
				}
				seen = ev.Zxid
			default:
				break drain
			}
		}
		if stat.Mzxid > seen {
			t.Fatalf("read /x at mzxid %d before its event (last event %d)", stat.Mzxid, seen)
		}
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d reads, %d writes, last event zxid %d", reads, writes.Load(), seen)
}

// A consumer that never reads its events does not stall writes on its
// member: its watch overflows, it is told so, and other watches go on.
func TestWatchSlowConsumerOverflows(t *testing.T) {
	c := keepertest.NewCluster(t, 1)
	ctx := ctxFor(t, 30*time.Second)
	n := c.Node(1)
	if _, err := n.Create(ctx, "/s", nil, keeper.Persistent); err != nil {
		t.Fatal(err)
	}
	slow, err := n.NewSession(ctx, keeper.SessionOptions{WatchBuffer: 8})
	if err != nil {
		t.Fatal(err)
	}
	sw, err := slow.AddWatch(ctx, "/s", keeper.PersistentRecursive)
	if err != nil {
		t.Fatal(err)
	}
	fast := newSession(ctx, t, n, 0)
	fw, err := fast.AddWatch(ctx, "/s", keeper.PersistentWatch)
	if err != nil {
		t.Fatal(err)
	}
	const writes = 500
	start := time.Now()
	got := 0
	for i := range writes {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := n.Set(wctx, "/s", []byte(fmt.Sprint(i)), -1)
		cancel()
		if err != nil {
			t.Fatalf("write %d stalled behind a slow consumer: %v", i, err)
		}
		expect(t, "fast watch", fw, keeper.NodeDataChanged, "/s")
		got++
	}
	t.Logf("%d writes in %v with a stuck consumer", writes, time.Since(start))
	for i := 0; i < 8; i++ {
		expect(t, "slow watch", sw, keeper.NodeDataChanged, "/s")
	}
	ev := next(t, sw)
	if ev.Type != keeper.WatchOverflowed || !errors.Is(ev.Err, keeper.ErrWatchOverflow) {
		t.Fatalf("after its buffer the slow watch got %+v, want WatchOverflowed", ev)
	}
	closed(t, "overflowed", sw)
	if slow.State() != keeper.StateConnected {
		t.Fatalf("slow session is %v", slow.State())
	}
}
