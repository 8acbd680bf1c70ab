package keeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper/transport"
)

var _ StreamTransport = (*transport.Endpoint)(nil)

const installKeep = 50

// newTreeCluster is newTestClusterWithHooks with KeepEntries at
// installKeep, so a member that falls a little behind needs a raft
// snapshot.
func newTreeCluster(t *testing.T, n int, hook func(id uint64, p hookPoint)) *testCluster {
	t.Helper()
	return newTestClusterWithHooks(t, n, func(cfg *Config) { cfg.KeepEntries = installKeep }, hook)
}

// createMany creates n znodes under prefix through the current leader.
func createMany(t *testing.T, c *testCluster, prefix string, n int) {
	t.Helper()
	ctx := ctxTimeout(t, 60*time.Second)
	for i := 0; i < n; i++ {
		createRetry(ctx, t, c.leaderFunc(), fmt.Sprintf("%s-%05d", prefix, i))
	}
}

// leaderFunc returns c.waitLeader with no arguments.
func (c *testCluster) leaderFunc() func() *Node { return func() *Node { return c.waitLeader() } }

// createRetry creates p on the member leader returns, retrying until it
// exists or ctx ends.
func createRetry(ctx context.Context, t *testing.T, leader func() *Node, p string) {
	t.Helper()
	for {
		_, err := leader().Create(ctx, p, nil, Persistent)
		if err == nil || errors.Is(err, ErrNodeExists) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("create %s: %v", p, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// createPastLog creates znodes under prefix on the member leader returns
// until the leader's in-memory log starts beyond everything a member cut off
// before the call holds, so that member can be caught up by a raft snapshot
// only. It first creates one znode: the leader's applied index after it
// bounds the cut-off member's log.
func createPastLog(t *testing.T, leader func() *Node, prefix string) {
	t.Helper()
	ctx := ctxTimeout(t, 60*time.Second)
	createRetry(ctx, t, leader, prefix)
	behind := leader().Status().Applied
	for i := 0; leader().LogFirst() <= uint64(behind)+1; i++ {
		if ctx.Err() != nil {
			t.Fatalf("the leader's log still starts at %d, want beyond %d", leader().LogFirst(), behind+1)
		}
		createRetry(ctx, t, leader, fmt.Sprintf("%s-%05d", prefix, i))
	}
}

func follower(c *testCluster) uint64 {
	l := c.waitLeader().ID()
	for _, id := range c.ids {
		if id != l {
			return id
		}
	}
	return 0
}

// TestInstallWatchesResynced partitions a follower holding watches and a
// session while the leader releases its log, heals, and checks the install
// fires Resynced on every watch, ends one-shot watches, keeps persistent
// ones, and keeps the session (live in the new tree) usable.
func TestInstallWatchesResynced(t *testing.T) {
	c := newTreeCluster(t, 3, nil)
	ctx := ctxTimeout(t, 60*time.Second)
	f := follower(c)
	fn := c.node(f)
	s, err := fn.NewSession(ctx, SessionOptions{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "/w", nil, Persistent); err != nil {
		t.Fatal(err)
	}
	_, _, once, err := s.GetW(ctx, "/w")
	if err != nil {
		t.Fatal(err)
	}
	persist, err := s.AddWatch(ctx, "/", PersistentRecursive)
	if err != nil {
		t.Fatal(err)
	}
	c.net.Isolate(f)
	waitFor(t, 10*time.Second, "a leader without the isolated member", func() bool {
		for _, n := range c.live() {
			if n.ID() != f && n.Status().Role == RoleLeader {
				return true
			}
		}
		return false
	})
	var leader *Node
	for _, n := range c.live() {
		if n.ID() != f && n.Status().Role == RoleLeader {
			leader = n
		}
	}
	for i := 0; i < 10*installKeep; i++ {
		if _, err := leader.Create(ctx, fmt.Sprintf("/p-%04d", i), nil, Persistent); err != nil {
			t.Fatal(err)
		}
	}
	createPastLog(t, func() *Node { return leader }, "/past")
	c.net.Heal()
	waitFor(t, 30*time.Second, "the install", func() bool { return fn.Status().SnapshotsInstalled > 0 })
	c.waitConverged(0)

	sawResynced := func(w *Watch, closed bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case ev, ok := <-w.Events():
				if !ok {
					t.Fatalf("watch %s closed before Resynced", w.Path())
				}
				if ev.Type != Resynced {
					continue // events queued before the isolation
				}
				if closed {
					if _, ok := <-w.Events(); ok {
						t.Fatalf("one-shot watch %s still open after Resynced", w.Path())
					}
				}
				return
			case <-deadline:
				t.Fatalf("no Resynced on watch %s", w.Path())
			}
		}
	}
	sawResynced(once, true)
	sawResynced(persist, false)
	if _, err := s.Create(ctx, "/after", nil, Persistent); err != nil {
		t.Fatalf("session after install: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestInstallCrashMidSwap crashes a follower between moving its old tree
// aside and putting the new one in place; the restart finishes the install
// from the staged tree (writing the raft log's mark) and catches up.
func TestInstallCrashMidSwap(t *testing.T) {
	var armed atomic.Uint64
	var hit atomic.Bool
	c := newTreeCluster(t, 3, func(id uint64, p hookPoint) {
		if p == hookMidInstall && id == armed.Load() && hit.CompareAndSwap(false, true) {
			panic("crash test: stop mid-install")
		}
	})
	f := follower(c)
	c.stop(f)
	createMany(t, c, "/k", 10*installKeep)
	createPastLog(t, c.leaderFunc(), "/past")
	armed.Store(f)
	c.start(f)
	waitFor(t, 30*time.Second, "the crash mid-install", hit.Load)
	waitFor(t, 10*time.Second, "the member's loop to stop", c.node(f).loopStopped)
	// A read never sees a half-installed tree: it fails or sees a whole one.
	if _, _, err := c.node(f).Get(context.Background(), "/"); err == nil {
		t.Log("read after the stopped install succeeded (tree whole)")
	}
	c.kill(f)
	// The offline calls refuse the dir until Open has finished the install.
	if _, err := InspectDir(context.Background(), c.dirs[f]); !errors.Is(err, ErrInstallPending) {
		t.Fatalf("InspectDir mid-install = %v, want ErrInstallPending", err)
	}
	if _, err := RecoverQuorum(context.Background(), c.dirs[f], RecoverOptions{ID: f, Members: []uint64{f}, Force: true}); !errors.Is(err, ErrInstallPending) {
		t.Fatalf("RecoverQuorum mid-install = %v, want ErrInstallPending", err)
	}
	c.start(f)
	createMany(t, c, "/m", 10)
	c.waitConverged(0)
	if _, _, err := c.node(f).Get(context.Background(), fmt.Sprintf("/k-%05d", 10*installKeep-1)); err != nil {
		t.Fatalf("restarted member misses the snapshot's znodes: %v", err)
	}
}

// frameOnly hides an endpoint's StreamTransport methods.
type frameOnly struct{ Transport }

// TestNoStreamTransportStaysBehind checks the documented fallback: over a
// transport that cannot stream, a member behind the released log stays
// behind, the leader logs an error, and nothing breaks.
func TestNoStreamTransportStaysBehind(t *testing.T) {
	var logs lockedBuf
	c := newTreeCluster(t, 3, nil)
	c.cfg = func(cfg *Config) {
		cfg.KeepEntries = installKeep
		cfg.Transport = frameOnly{cfg.Transport}
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	// Restart every member over the frame-only transport.
	for _, id := range c.ids {
		c.stop(id)
	}
	for _, id := range c.ids {
		c.start(id)
	}
	f := follower(c)
	c.stop(f)
	createMany(t, c, "/q", 10*installKeep)
	createPastLog(t, c.leaderFunc(), "/past")
	c.start(f)
	waitFor(t, 10*time.Second, "the leader's error", func() bool {
		return strings.Contains(logs.String(), "cannot stream")
	})
	time.Sleep(200 * time.Millisecond)
	if st := c.node(f).Status(); st.SnapshotsInstalled != 0 || st.Applied >= c.waitLeader().Status().Applied {
		t.Fatalf("member %d caught up without streams: %+v", f, st)
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestInstallUnderLoadGoesOnFromLog holds a follower's install while more
// than KeepEntries writes land, and checks that, once installed, it catches
// up from the leader's log: one snapshot, not one per KeepEntries of writes
// made meanwhile (a member whose install is slower than the log moves would
// otherwise never catch up under steady writes).
func TestInstallUnderLoadGoesOnFromLog(t *testing.T) {
	var armed atomic.Uint64
	release := make(chan struct{})
	var held atomic.Bool
	c := newTreeCluster(t, 3, func(id uint64, p hookPoint) {
		if p == hookMidInstall && id == armed.Load() && held.CompareAndSwap(false, true) {
			<-release
		}
	})
	f := follower(c)
	c.stop(f)
	createMany(t, c, "/k", 10*installKeep)
	createPastLog(t, c.leaderFunc(), "/past")
	armed.Store(f)
	c.start(f)
	waitFor(t, 30*time.Second, "the install to start", held.Load)
	// The leader moves 4×KeepEntries past the snapshot while it installs.
	createMany(t, c, "/during", 4*installKeep)
	close(release)
	fn := c.node(f)
	waitFor(t, 30*time.Second, "the install", func() bool { return fn.Status().SnapshotsInstalled > 0 })
	c.waitConverged(0)
	createMany(t, c, "/after", 2*installKeep)
	c.waitConverged(0)
	if n := fn.Status().SnapshotsInstalled; n != 1 {
		t.Fatalf("follower installed %d snapshots, want 1 (then the log)", n)
	}
}
