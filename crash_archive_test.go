//go:build unix

package keeper_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
)

// TestCrashSIGKILLArchive kills a three-member cluster that archives every
// 10 ms, all members at once, while it writes; the members reopen, the new
// archiver goes on from what the target holds, and then: the segments
// chain with neither a hole nor an overlap (no entry archived twice), the
// archive verifies, and a restore to the cluster's zxid has the cluster's
// digest, so every acknowledged write the cluster holds is in the archive.
func TestCrashSIGKILLArchive(t *testing.T) {
	if os.Getenv(crashEnvChild) == "1" {
		t.Skip("in the crash child")
	}
	base := crashBaseSeed(t)
	for i := range crashIters(t, 3, 30) {
		seed := base + int64(i)
		ok := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(seed), 0xa7c1))
			killAfter := 20 + r.IntN(300)
			jitter := time.Duration(r.IntN(5000)) * time.Microsecond
			root := t.TempDir()
			dir := filepath.Join(root, crashArchiveDir)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			run := runCrashChild(t, root, 3, 0, seed, killAfter, jitter)
			_, c := crashVerify(t, root, 3, 0, seed, killAfter, jitter, run)
			waitArchived(t, c, c.WaitLeader().Status().Applied)
			ctx := context.Background()
			arch, err := keeper.OpenArchive(ctx, keeper.DirTarget(dir), keeper.ArchiveOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := arch.Verify(ctx)
			if err != nil || len(rep.Missing) != 0 {
				t.Fatalf("seed %d: verify: %v %+v", seed, err, rep)
			}
			segs := assertSegmentsChain(t, keeper.DirTarget(dir))
			// A fresh Status: if the members died before the archive's
			// first base, it starts at a base taken after they reopened.
			d := assertDrillMatches(t, c, c.WaitLeader(), arch)
			t.Logf("%d acknowledged, archive %+v, %d segments, drill checked %d digests", len(run.acks), rep, segs, d.DigestsChecked)
		})
		if !ok {
			t.Fatalf("iteration %d failed; replay with %s=%d %s=1", i, crashEnvBase, seed, crashEnvIters)
		}
	}
}
