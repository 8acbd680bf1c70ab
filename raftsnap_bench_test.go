package keeper_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// BenchmarkSnapshotCatchUp measures how long a restarted member N znodes
// behind takes to catch up by raft snapshot (stream, verify, build, swap),
// and the transfer's throughput. N is 100k, or KEEPER_BENCH_CATCHUP_ZNODES
// (e.g. 1000000); KEEPER_BENCH_SNAPSHOT_RATE sets Config.SnapshotRate (-1:
// unpaced), as examples/server's -snapshot-rate does for
// BenchmarkProcessCatchUp, the same over TCP between processes.
//
//	go test -run '^$' -bench SnapshotCatchUp -benchtime 1x .
//	KEEPER_BENCH_CATCHUP_ZNODES=1000000 go test -run '^$' -bench SnapshotCatchUp -benchtime 1x -timeout 30m .
func BenchmarkSnapshotCatchUp(b *testing.B) {
	n := envInt(b, "KEEPER_BENCH_CATCHUP_ZNODES", 100_000)
	rate := int64(envInt(b, "KEEPER_BENCH_SNAPSHOT_RATE", 0))
	data := make([]byte, 64)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := keepertest.NewCluster(b, 3, keepertest.WithConfig(func(cfg *keeper.Config) { cfg.KeepEntries, cfg.SnapshotRate = 10, rate }))
		leader := c.WaitLeader()
		f := c.Others(leader.ID())[0]
		c.Stop(f)
		load(b, leader, n, data)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		peak := base
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			var ms runtime.MemStats
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}()
		b.StartTimer()
		start := time.Now()
		c.Restart(f)
		fn := c.Node(f)
		want := leader.Status().Applied
		for fn.Status().Applied < want {
			time.Sleep(time.Millisecond)
		}
		el := time.Since(start)
		b.StopTimer()
		close(stop)
		<-sampled
		if fn.Status().SnapshotsInstalled == 0 {
			b.Fatal("caught up without a snapshot")
		}
		if _, _, err := fn.Get(context.Background(), fmt.Sprintf("/n%08d", n-1)); err != nil {
			b.Fatalf("last znode missing after catch-up: %v", err)
		}
		size := diskSize(c.Dir(f) + "/tree")
		b.ReportMetric(el.Seconds(), "s/catchup")
		b.ReportMetric(float64(n)/el.Seconds(), "znodes/s")
		b.ReportMetric(float64(size)/(1<<20)/el.Seconds(), "treeMB/s")
		b.ReportMetric(float64(size)/(1<<20), "treeMB")
		// Heap growth over the catch-up, both sides in this process: flat
		// in N (the stores' caches and memtables, one chunk in flight).
		b.ReportMetric(float64(peak-base)/(1<<20), "peakHeapMB")
		c.Stop(f)
		b.StartTimer()
	}
}

// load creates n znodes through leader, 1000 a transaction, four at a time.
// A failed transaction fails the benchmark once the others are done (the
// workers drain the work, so the loop handing it out never waits forever).
func load(b *testing.B, leader *keeper.Node, n int, data []byte) {
	ctx := context.Background()
	const per = 1000
	var wg sync.WaitGroup
	var failed atomic.Bool
	work := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.NewChaCha8([32]byte{byte(len(data)), byte(w)}) // each worker its own bytes
			for start := range work {
				if failed.Load() {
					continue
				}
				ops := make([]keeper.Op, 0, per)
				for j := start; j < min(start+per, n); j++ {
					d := make([]byte, len(data)) // incompressible, distinct
					_, _ = rng.Read(d)
					ops = append(ops, keeper.CreateOp(fmt.Sprintf("/n%08d", j), d, keeper.Persistent))
				}
				if _, err := leader.Multi(ctx, ops...); err != nil {
					b.Errorf("load: znodes %d..: %v", start, err)
					failed.Store(true)
				}
			}
		}()
	}
	for s := 0; s < n; s += per {
		work <- s
	}
	close(work)
	wg.Wait()
	if failed.Load() {
		b.FailNow()
	}
}

func diskSize(dir string) int64 {
	var size int64
	_ = walkSize(dir, &size)
	return size
}

func walkSize(dir string, size *int64) error {
	es, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range es {
		p := dir + "/" + e.Name()
		if e.IsDir() {
			_ = walkSize(p, size)
			continue
		}
		if fi, err := e.Info(); err == nil {
			*size += fi.Size()
		}
	}
	return nil
}
