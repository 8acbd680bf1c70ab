package keeper

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/bitrot"
)

// rotStored flips a byte of path's stored value in the stopped member's store at
// dir, leaving the stored digest alone, as bit rot would.
func rotStored(t *testing.T, dir, path string) {
	t.Helper()
	if err := bitrot.FlipZnode(dir, path); err != nil {
		t.Fatal(err)
	}
}

// TestRepairCrash kills a corrupt member in the middle of its repair: with
// its old tree moved aside (mid-repair), and with the leader's tree in place
// but its own entries not yet re-applied (repair-swapped). The restart finds
// a whole tree, and the repair completes: the leader's view returns to 3/3
// and the member agrees with the others.
func TestRepairCrash(t *testing.T) {
	for _, point := range []hookPoint{hookMidRepair, hookRepairSwapped} {
		t.Run(point.String(), func(t *testing.T) {
			var armed atomic.Uint64
			var hit atomic.Bool
			c := newTestClusterWithHooks(t, 3, func(cfg *Config) {
				cfg.CheckInterval = 100 * time.Millisecond
				cfg.OnCorrupt = RepairCorrupt
			}, func(id uint64, p hookPoint) {
				if p == point && id == armed.Load() && hit.CompareAndSwap(false, true) {
					panic("crash test: stop during repair")
				}
			})
			ctx := ctxTimeout(t, 60*time.Second)
			if _, err := c.waitLeader().Create(ctx, "/a", []byte("hello"), Persistent); err != nil {
				t.Fatal(err)
			}
			createMany(t, c, "/k", 100)
			c.waitConverged(0)
			f := follower(c)
			c.stop(f)
			rotStored(t, c.dirs[f], "/a")
			armed.Store(f)
			start := time.Now()
			c.start(f)
			waitFor(t, 20*time.Second, "the crash during the repair", hit.Load)
			waitFor(t, 10*time.Second, "the member's loop to stop", c.node(f).loopStopped)
			c.kill(f)
			c.start(f)
			createMany(t, c, "/m", 20)
			waitFor(t, 20*time.Second, "the leader's view back to 3 of 3", func() bool {
				l := c.waitLeader()
				st := l.Status()
				if st.ConsistentMembers != 3 || c.node(f).Status().Corrupt {
					return false
				}
				for _, m := range st.View {
					if m.Check != CheckMatch {
						return false
					}
				}
				return true
			})
			t.Logf("crash at %v; repaired after restart in %v (member repairs since restart: %d)", point, time.Since(start), c.node(f).Status().RepairsInstalled)
			c.waitConverged(0)
			data, _, err := c.node(f).Get(ctx, "/a")
			if err != nil || string(data) != "hello" {
				t.Fatalf("repaired member reads /a: %q %v", data, err)
			}
			if _, err := c.node(f).Create(ctx, "/after", nil, Persistent); err != nil {
				t.Fatalf("write on the repaired member: %v", err)
			}
			c.waitConverged(0)
		})
	}
}
