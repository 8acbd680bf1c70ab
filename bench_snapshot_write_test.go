package keeper_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// BenchmarkWriteDuringSnapshot measures the create rate of 64 writers on a
// three-member cluster holding N znodes (100k, or
// KEEPER_BENCH_SNAPWRITE_ZNODES), first undisturbed, then while a follower
// is stopped and restarted over and over, catching up each time by a raft
// snapshot of the whole tree (KeepEntries 10). It reports both rates, their
// ratio (target: at least 0.9) and the snapshots installed meanwhile. Each
// phase lasts 3s, or KEEPER_BENCH_SNAPWRITE_PHASE.
//
//	go test -run '^$' -bench WriteDuringSnapshot -benchtime 1x .
func BenchmarkWriteDuringSnapshot(b *testing.B) {
	n := 100_000
	if v := os.Getenv("KEEPER_BENCH_SNAPWRITE_ZNODES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	phase := 3 * time.Second
	if v := os.Getenv("KEEPER_BENCH_SNAPWRITE_PHASE"); v != "" {
		var err error
		if phase, err = time.ParseDuration(v); err != nil {
			b.Fatal(err)
		}
	}
	const writers = 64
	data := make([]byte, 64)
	var quiet, busy, installs float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := keepertest.NewCluster(b, 3, keepertest.WithConfig(func(cfg *keeper.Config) { cfg.KeepEntries = 10 }))
		load(b, c.WaitLeader(), n, data)
		c.WaitConverged()
		b.StartTimer()
		q, _ := writeFor(b, c, fmt.Sprintf("/q%d", i), writers, phase, nil)
		bz, k := writeFor(b, c, fmt.Sprintf("/b%d", i), writers, phase, func(stop <-chan struct{}) uint64 {
			return churnFollower(b, c, stop)
		})
		b.StopTimer()
		if k == 0 {
			b.Fatal("no raft snapshot installed while writing")
		}
		quiet += q
		busy += bz
		installs += float64(k)
		b.StartTimer()
	}
	b.ReportMetric(quiet/float64(b.N), "creates/s-quiet")
	b.ReportMetric(busy/float64(b.N), "creates/s-snapshot")
	b.ReportMetric(busy/quiet, "ratio")
	b.ReportMetric(installs/float64(b.N), "installs")
}

// writeFor runs writers creating znodes under prefix through the leader
// for d, with disturb (if not nil) running alongside until they stop, and
// returns the creates per second and what disturb returned.
func writeFor(b *testing.B, c *keepertest.Cluster, prefix string, writers int, d time.Duration, disturb func(stop <-chan struct{}) uint64) (float64, uint64) {
	b.Helper()
	ctx := context.Background()
	if _, err := c.WaitLeader().Create(ctx, prefix, nil, keeper.Persistent); err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	var k uint64
	disturbed := make(chan struct{})
	go func() {
		defer close(disturbed)
		if disturb != nil {
			k = disturb(stop)
		}
	}()
	var done atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; time.Now().Before(deadline); j++ {
				l := c.Leader()
				if l == nil {
					continue
				}
				if _, err := l.Create(ctx, fmt.Sprintf("%s/w%02d-%07d", prefix, w, j), []byte("x"), keeper.Persistent); err == nil {
					done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	close(stop)
	<-disturbed
	return float64(done.Load()) / el.Seconds(), k
}

// churnFollower stops a follower, lets the log move past KeepEntries,
// restarts it and waits for it to catch up, until stop; it returns the
// snapshots installed.
func churnFollower(b *testing.B, c *keepertest.Cluster, stop <-chan struct{}) uint64 {
	var installs uint64
	for {
		select {
		case <-stop:
			return installs
		default:
		}
		leader := c.WaitLeader()
		f := c.Others(leader.ID())[0]
		c.Stop(f)
		from := leader.Status().Applied
		for leader.Status().Applied < from+50 {
			select {
			case <-stop:
				c.Restart(f)
				return installs
			case <-time.After(time.Millisecond):
			}
		}
		c.Restart(f)
		fn := c.Node(f)
		for fn.Status().SnapshotsInstalled == 0 {
			select {
			case <-stop:
				return installs
			case <-time.After(time.Millisecond):
			}
		}
		installs += fn.Status().SnapshotsInstalled
	}
}
