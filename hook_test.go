package keeper

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper/transport"
)

var _ Transport = (*transport.Endpoint)(nil)

// TestHookOrder checks the crash-test hook points run in persist order:
// save before apply, and a release only after a sync of the state machine.
func TestHookOrder(t *testing.T) {
	var mu sync.Mutex
	var seen []hookPoint
	cl := newTestClusterWithHooks(t, 1, func(cfg *Config) { cfg.KeepEntries = 5 }, func(_ uint64, p hookPoint) {
		mu.Lock()
		seen = append(seen, p)
		mu.Unlock()
	})
	n := cl.waitLeader()
	for i := 0; i < 30; i++ {
		mustPropose(t, n, payload(1, i))
	}
	cl.stop(1)
	mu.Lock()
	defer mu.Unlock()
	last := hookAfterApply
	released := false
	for i, p := range seen {
		switch p {
		case hookBeforeSave:
			if last != hookAfterApply && last != hookAfterRelease {
				t.Fatalf("hook %d: BeforeSave after %d", i, last)
			}
		case hookAfterSave:
			if last != hookBeforeSave {
				t.Fatalf("hook %d: AfterSave after %d", i, last)
			}
		case hookAfterApply:
			if last != hookAfterSave {
				t.Fatalf("hook %d: AfterApply after %d", i, last)
			}
		case hookBeforeRelease:
			if last != hookAfterApply {
				t.Fatalf("hook %d: BeforeRelease after %d", i, last)
			}
		case hookAfterRelease:
			if last != hookBeforeRelease {
				t.Fatalf("hook %d: AfterRelease after %d", i, last)
			}
			released = true
		}
		last = p
	}
	if !released {
		t.Fatal("no WAL release with KeepEntries 5 after 30 writes")
	}
}

// TestLoggerBridge checks raft's records reach the host's logger.
func TestLoggerBridge(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	h := slog.NewTextHandler(&lockedWriter{mu: &mu, w: &buf}, &slog.HandlerOptions{Level: slog.LevelInfo})
	c := newTestCluster(t, 1, func(cfg *Config) { cfg.Logger = slog.New(h) })
	c.waitLeader()
	waitFor(t, 5*time.Second, "raft's log records", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(buf.String(), "became leader")
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// crashNow is panicked by a test hook to stop the loop at a hook point, as
// a crash there would; the loop recovers it and stops the member.
type crashNow struct{}

// TestCrashAtHookPoints crashes a member at each hook point and checks the
// restart keeps every acknowledged write and agrees with the others.
func TestCrashAtHookPoints(t *testing.T) {
	points := []hookPoint{hookBeforeSave, hookAfterSave, hookAfterApply, hookBeforeRelease, hookAfterRelease}
	for _, point := range points {
		t.Run(fmt.Sprint(point), func(t *testing.T) {
			var armed atomic.Uint64 // member id to crash, 0 = none
			var cl *testCluster
			cl = newTestClusterWithHooks(t, 3, func(cfg *Config) { cfg.KeepEntries = 5 }, nil)
			// Install a hook on member 1 by restarting it with one.
			cl.stop(1)
			cl.hooks[1] = func(p hookPoint) {
				if p == point && armed.Load() == 1 {
					armed.Store(0)
					panic(crashNow{})
				}
			}
			cl.start(1)
			leader := cl.waitLeader()
			var last uint64
			for i := 0; i < 20; i++ {
				last = mustPropose(t, leader, payload(leader.ID(), i))
			}
			armed.Store(1)
			// Writes go on until member 1 has crashed at the point.
			for i := 20; !isDone(cl.node(1).r.donec); i++ {
				res, err := cl.waitLeader().propose(ctxTimeout(t, 5*time.Second), createReq(payload(0, i)))
				if err == nil && res.Err == nil {
					last = uint64(res.Ops[0].Stat.Mzxid)
				}
				if i > 2000 {
					t.Fatal("member 1 never reached the hook point")
				}
			}
			cl.kill(1)
			cl.start(1)
			last = max(last, mustPropose(t, cl.waitLeader(), "after"))
			cl.waitConverged(last)
		})
	}
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
