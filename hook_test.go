package keeper

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
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
	cl := newTestClusterWithHooks(t, 1, func(cfg *Config) { cfg.KeepEntries = 5 }, func(p hookPoint) {
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
