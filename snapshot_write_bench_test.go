package keeper_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// BenchmarkWriteDuringSnapshot measures the create rate of 64 writers on a
// three-member cluster holding N znodes (100k, or
// KEEPER_BENCH_SNAPWRITE_ZNODES) while a raft snapshot of the whole tree is
// sent to a follower and installed there, against the rate undisturbed. One
// phase writes undisturbed; the other stops a follower over and over, lets
// the leader's log move past what it keeps for it (KeepEntries 1000), and
// restarts it: the writes counted in that phase are those between the
// follower's reopening and its install, so the figure is the rate while the
// snapshot is in flight, not the rate with a member down. It reports both
// rates, their ratio (target: at least 0.9), the snapshots installed and
// the seconds they took. Each phase lasts 3s, or
// KEEPER_BENCH_SNAPWRITE_PHASE. Every member shares this machine's disk and
// CPUs, so the follower's install competes with the quorum's fsyncs as it
// would not on its own host.
//
//	go test -run '^$' -bench WriteDuringSnapshot -benchtime 1x .
func BenchmarkWriteDuringSnapshot(b *testing.B) {
	n := envInt(b, "KEEPER_BENCH_SNAPWRITE_ZNODES", 100_000)
	phase := 3 * time.Second
	if v := os.Getenv("KEEPER_BENCH_SNAPWRITE_PHASE"); v != "" {
		var err error
		if phase, err = time.ParseDuration(v); err != nil {
			b.Fatal(err)
		}
	}
	data := make([]byte, 64)
	var quiet, busy, installs, window float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := keepertest.NewCluster(b, 3, keepertest.WithConfig(func(cfg *keeper.Config) { cfg.KeepEntries = snapWriteKeep }))
		load(b, c.WaitLeader(), n, data)
		c.WaitConverged()
		b.StartTimer()
		w := startWriters(c, fmt.Sprintf("/w%d", i), 64)
		from := w.n.Load()
		time.Sleep(phase)
		quiet += float64(w.n.Load()-from) / phase.Seconds()
		k, writes, d := churnFollower(b, c, w, time.Now().Add(phase))
		w.halt()
		b.StopTimer()
		if k == 0 {
			b.Fatal("no raft snapshot installed while writing")
		}
		busy += float64(writes) / d.Seconds()
		installs += float64(k)
		window += d.Seconds()
		b.StartTimer()
	}
	b.ReportMetric(quiet/float64(b.N), "creates/s-quiet")
	b.ReportMetric(busy/float64(b.N), "creates/s-snapshot")
	b.ReportMetric(busy/quiet, "ratio")
	b.ReportMetric(installs/float64(b.N), "installs")
	b.ReportMetric(window/float64(b.N), "s-in-transfer")
}

// snapWriteKeep is BenchmarkWriteDuringSnapshot's KeepEntries.
const snapWriteKeep = 1000

// churnFollower, until the deadline, stops a follower, lets the log move
// past what the leader keeps for it, restarts it and waits for it to install
// a snapshot. It returns the snapshots installed, the writes w made between
// each reopening and its install, and the time those windows took.
func churnFollower(b *testing.B, c *keepertest.Cluster, w *writers, deadline time.Time) (installs uint64, writes int64, d time.Duration) {
	b.Helper()
	for time.Now().Before(deadline) {
		leader := c.WaitLeader()
		f := c.Others(leader.ID())[0]
		c.Stop(f)
		from := leader.Status().Applied
		// Past what the leader may keep for a catching-up follower.
		past := time.Now().Add(time.Minute)
		for leader.Status().Applied < from+(keeper.CatchUpFactor+1)*snapWriteKeep {
			if time.Now().After(past) {
				b.Fatalf("the log did not move past member %d's in a minute", f)
			}
			time.Sleep(time.Millisecond)
		}
		c.Restart(f)
		start, before := time.Now(), w.n.Load()
		fn := c.Node(f)
		for fn.Status().SnapshotsInstalled == 0 {
			if time.Since(start) > time.Minute {
				b.Fatalf("member %d installed no snapshot in a minute", f)
			}
			time.Sleep(time.Millisecond)
		}
		d += time.Since(start)
		writes += w.n.Load() - before
		installs++
	}
	return installs, writes, d
}
