package keeper_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
)

// TestSnapshotInstallReleasesWaitingRead restarts a follower that must catch
// up by raft snapshot and at once issues a linearizable read on it, with no
// write after. The read's index is known before the install; the install
// brings the tree past it, so the read must return.
// (TestCrashSIGKILLSnapshot found reads hanging here: only an apply used to
// release them.)
func TestSnapshotInstallReleasesWaitingRead(t *testing.T) {
	hung := 0
	const rounds = 2
	for range rounds {
		c := snapCluster(t)
		leader := c.WaitLeader()
		f := c.Others(leader.ID())[0]
		c.Stop(f)
		writeMany(t, c, "/a", 6*snapKeep)
		c.Restart(f)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		var err error
		for {
			err = c.Node(f).Linearizable().Sync(ctx, "/")
			if !errors.Is(err, keeper.ErrNoLeader) || ctx.Err() != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		st := c.Node(f).Status()
		if err != nil {
			hung++
			t.Logf("Sync on restarted member %d: %v; it installed %d snapshots, applied %d (leader applied %d)",
				f, err, st.SnapshotsInstalled, st.Applied, c.WaitLeader().Status().Applied)
		}
	}
	if hung > 0 {
		t.Fatalf("%d of %d linearizable reads issued before a snapshot install hung", hung, rounds)
	}
}
