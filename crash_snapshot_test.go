//go:build unix

package keeper_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// The snapshot crash test: the child of crash_test.go runs a three-member
// cluster with a tiny KeepEntries while crashChurn stops and restarts one
// follower after another, so the log is released every few writes, the
// leader streams raft snapshots continuously and the restarted followers
// install them (some are stopped again mid-install). The parent SIGKILLs the
// whole child at a seeded moment, so the kill lands during writes, during a
// snapshot being built or streamed, during an install or its recovery, and
// during log compaction; then every member must reopen with every
// acknowledged write and equal digests.

const (
	crashEnvChurn = "KEEPER_CRASH_CHURN" // "1": the child runs crashChurn
	crashSnapKeep = 8                    // KeepEntries of the snapshot crash test
)

// crashChurn runs in the child beside the writers until the child is killed.
// It prints "SNAP <id> <count>" each time a restarted member reports a raft
// snapshot installed, and "ERR churn ..." if a stop or restart failed (the
// keepertest helper then called t.Fatal in this goroutine).
func crashChurn(t *testing.T, c *keepertest.Cluster, seed int64, keep uint64, emit func(string)) {
	done := false
	defer func() {
		if !done {
			emit("ERR churn: member stop/restart failed\n")
		}
	}()
	if keep == 0 {
		keep = 100
	}
	r := rand.New(rand.NewPCG(uint64(seed), 0xc4a2))
	maxApplied := func() uint64 {
		var a keeper.Zxid
		for _, n := range c.Nodes() {
			a = max(a, n.Status().Applied)
		}
		return uint64(a)
	}
	for round := 0; ; round++ {
		leader := c.WaitLeader().ID()
		others := c.Others(leader)
		f := others[r.IntN(len(others))]
		c.Stop(f)
		// Enough writes that the log the member needs is released: past
		// what the leader may keep for a catching-up follower.
		from := maxApplied()
		need := (keeper.CatchUpFactor+1)*keep + uint64(r.IntN(int(4*keep)))
		deadline := time.Now().Add(3 * time.Second)
		for maxApplied() < from+need && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		c.Restart(f)
		n := c.Node(f)
		if r.IntN(4) == 0 {
			// Stop it again at once or a little later: often mid-install.
			time.Sleep(time.Duration(r.IntN(20_000)) * time.Microsecond)
		} else {
			deadline := time.Now().Add(5 * time.Second)
			for n.Status().SnapshotsInstalled == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		}
		if k := n.Status().SnapshotsInstalled; k > 0 {
			emit(fmt.Sprintf("SNAP %d %d\n", f, k))
		}
		time.Sleep(time.Duration(r.IntN(10_000)) * time.Microsecond)
	}
}

// TestCrashSIGKILLSnapshot kills the child at seeded random points while
// followers catch up by raft snapshot and the log is compacted every
// crashSnapKeep entries. It fails unless most iterations saw a snapshot
// installed before the kill.
//
//	go test -short -run TestCrashSIGKILLSnapshot .
//	KEEPER_CRASH_ITERS=200 go test -run TestCrashSIGKILLSnapshot -timeout 60m .
//	KEEPER_CRASH_BASE=<seed> KEEPER_CRASH_ITERS=1 go test -run TestCrashSIGKILLSnapshot -v .
func TestCrashSIGKILLSnapshot(t *testing.T) {
	if os.Getenv(crashEnvChild) == "1" {
		t.Skip("in the crash child")
	}
	iters := crashIters(t, 10, 40)
	base := crashBaseSeed(t)
	start := time.Now()
	var acks, withSnap, snaps int
	for i := range iters {
		seed := base + int64(i)
		ok := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(seed), 0x5a4b))
			killAfter := 150 + r.IntN(450)
			jitter := time.Duration(r.IntN(3000)) * time.Microsecond
			root := t.TempDir()
			run := runCrashChild(t, root, 3, crashSnapKeep, seed, killAfter, jitter, crashEnvChurn+"=1")
			t.Logf("seed %d: %d snapshot installs reported before the kill", seed, run.snaps)
			n, _ := crashVerify(t, root, 3, crashSnapKeep, seed, killAfter, jitter, run)
			acks += n
			snaps += run.snaps
			if run.snaps > 0 {
				withSnap++
			}
		})
		if !ok {
			t.Fatalf("iteration %d failed; replay with %s=%d %s=1", i, crashEnvBase, seed, crashEnvIters)
		}
	}
	t.Logf("%d SIGKILL iterations, %d with a snapshot installed before the kill (%d installs), %d acknowledged writes checked, %v",
		iters, withSnap, snaps, acks, time.Since(start).Round(time.Millisecond))
	if 2*withSnap < iters {
		t.Fatalf("only %d of %d iterations installed a raft snapshot before the kill: the test does not exercise install", withSnap, iters)
	}
}
