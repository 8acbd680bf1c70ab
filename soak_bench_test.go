package keeper_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// BenchmarkSoak writes KEEPER_SOAK_WRITES (default 1M) 100-byte sets over a
// fixed set of 10,000 znodes through a 3-member cluster, 64 writers, and
// reports the process's resident memory and the members' disk use after the
// first tenth and at the end: with log compaction both stay flat however
// long writes go on. It is skipped unless KEEPER_SOAK_WRITES is set.
//
//	KEEPER_SOAK_WRITES=10000000 go test -run '^$' -bench BenchmarkSoak -benchtime 1x -timeout 60m .
func BenchmarkSoak(b *testing.B) {
	total, _ := strconv.Atoi(os.Getenv("KEEPER_SOAK_WRITES"))
	if total <= 0 {
		b.Skip("set KEEPER_SOAK_WRITES to run the soak")
	}
	c := keepertest.NewCluster(b, 3)
	ctx := context.Background()
	leader := c.Leader()
	const keys = 10000
	for i := 0; i < keys; i++ {
		if _, err := leader.Create(ctx, fmt.Sprintf("/k%05d", i), nil, keeper.Persistent); err != nil {
			b.Fatal(err)
		}
	}
	data := bytes.Repeat([]byte("x"), 100)
	var done atomic.Int64
	var early [2]int64 // rss, disk after a tenth
	var once sync.Once
	var wg sync.WaitGroup
	nodes := c.Nodes()
	start := time.Now()
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := nodes[w%len(nodes)]
			for {
				i := done.Add(1)
				if i > int64(total) {
					return
				}
				if _, err := n.Set(ctx, fmt.Sprintf("/k%05d", i%keys), data, keeper.AnyVersion); err != nil {
					b.Error(err)
					return
				}
				if i == int64(total)/10 {
					once.Do(func() { early = [2]int64{rss(), diskUse(b, c)} })
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	c.WaitConverged()
	runtime.GC()
	b.ReportMetric(float64(total)/el.Seconds(), "writes/s")
	b.ReportMetric(float64(early[0])/(1<<20), "rss-MiB@10%")
	b.ReportMetric(float64(rss())/(1<<20), "rss-MiB@end")
	b.ReportMetric(float64(early[1])/(1<<20), "disk-MiB@10%")
	b.ReportMetric(float64(diskUse(b, c))/(1<<20), "disk-MiB@end")
}

// rss returns the process's resident set size in bytes.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if f := bytes.Fields(line); len(f) >= 2 && string(f[0]) == "VmRSS:" {
			kb, _ := strconv.ParseInt(string(f[1]), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// diskUse sums the sizes of the files in every member's data dir.
func diskUse(b *testing.B, c *keepertest.Cluster) int64 {
	var total int64
	for _, id := range c.IDs() {
		filepath.WalkDir(c.Dir(id), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if fi, err := d.Info(); err == nil {
					total += fi.Size()
				}
			}
			return nil
		})
	}
	return total
}
