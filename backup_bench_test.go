package keeper

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper/transport"
)

// benchSizes are the tree sizes the backup benchmarks run at; 1M only with
// KEEPER_BENCH_1M=1 (building it takes a few seconds).
func benchSizes() []int {
	if os.Getenv("KEEPER_BENCH_1M") != "" {
		return []int{100_000, 1_000_000}
	}
	return []int{100_000}
}

// benchTree builds a tree of n znodes of 100 bytes (1000 per parent), in apply
// groups of 1024, flushed to sstables.
func benchTree(b testing.TB, n int) *harness {
	h := newHarness(b)
	// Letters from a fixed-seed generator: compressible like text, not like zeros.
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	pool := make([]byte, 1<<16)
	for i := range pool {
		pool[i] = 'a' + byte(rng.IntN(26))
	}
	var g []committed
	flush := func() {
		if len(g) == 0 {
			return
		}
		for i := range g {
			g[i].Index = h.tr.applied() + 1 + uint64(i)
		}
		if _, err := h.tr.apply(g); err != nil {
			b.Fatal(err)
		}
		g = g[:0]
	}
	add := func(path string) {
		off := rng.IntN(len(pool) - 100)
		r := request{Time: 1, Ops: []Op{CreateOp(path, pool[off:off+100], Persistent)}}
		g = append(g, committed{Kind: entryOp, Data: appendRequest(nil, &r)})
		if len(g) == 1024 {
			flush()
		}
	}
	for i := 0; i < n; i++ {
		if i%1000 == 0 {
			add(fmt.Sprintf("/p%04d", i/1000))
			i++
			if i == n {
				break
			}
		}
		add(fmt.Sprintf("/p%04d/n%06d", i/1000, i))
	}
	flush()
	if err := h.st.Flush(); err != nil {
		b.Fatal(err)
	}
	return h
}

func benchName(n int) string {
	if n >= 1_000_000 {
		return fmt.Sprintf("%dM", n/1_000_000)
	}
	return fmt.Sprintf("%dk", n/1000)
}

func BenchmarkBackup(b *testing.B) {
	for _, n := range benchSizes() {
		h := benchTree(b, n)
		raw, err := h.tr.writeStream(context.Background(), io.Discard, streamHeaderInfo{}, BackupOptions{NoCompression: true}, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range []struct {
			name string
			o    BackupOptions
		}{{"zstd", BackupOptions{}}, {"raw", BackupOptions{NoCompression: true}}, {"zstd-aes", BackupOptions{Key: testKey}}} {
			b.Run(benchName(n)+"/"+c.name, func(b *testing.B) {
				var size int64
				for b.Loop() {
					info, err := h.tr.writeStream(context.Background(), io.Discard, streamHeaderInfo{}, c.o, nil)
					if err != nil {
						b.Fatal(err)
					}
					size = info.Bytes
				}
				b.SetBytes(raw.Bytes) // MB/s of tree, before compression
				b.ReportMetric(float64(size)/float64(n), "stream-B/znode")
			})
		}
	}
}

func BenchmarkVerifyBackup(b *testing.B) {
	for _, n := range benchSizes() {
		h := benchTree(b, n)
		data, _ := backupBytes(b, h, BackupOptions{})
		b.Run(benchName(n), func(b *testing.B) {
			b.SetBytes(int64(len(data))) // MB/s of compressed stream
			for b.Loop() {
				if _, err := VerifyBackup(context.Background(), bytes.NewReader(data), VerifyOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRestore(b *testing.B) {
	for _, n := range benchSizes() {
		h := benchTree(b, n)
		data, _ := backupBytes(b, h, BackupOptions{})
		h.close()
		b.Run(benchName(n), func(b *testing.B) {
			b.SetBytes(int64(len(data))) // MB/s of compressed stream
			parent := b.TempDir()
			i := 0
			for b.Loop() {
				dir := filepath.Join(parent, fmt.Sprint(i))
				i++
				if _, err := restoreTree(context.Background(), bytes.NewReader(data), dir, RestoreOptions{ClusterID: 1}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_ = os.RemoveAll(dir)
				b.StartTimer()
			}
		})
	}
}

// peakHeap runs fn while sampling HeapInuse every 2 ms and returns the peak
// above the heap in use before fn started, after a GC. GOGC is lowered to 10
// meanwhile, so the figure is close to live memory rather than garbage
// awaiting collection.
func peakHeap(fn func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	runtime.ReadMemStats(&ms)
	p := max(peak.Load(), ms.HeapInuse)
	if p < base {
		return 0
	}
	return p - base
}

// BenchmarkBackupMemory reports the peak Go heap growth of a backup, a
// verify and a restore (streams to and from a file) for each tree size: with
// KEEPER_BENCH_1M=1 the 100k and 1M figures show memory does not grow with
// the tree (DESIGN invariant 7).
func BenchmarkBackupMemory(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(benchName(n), func(b *testing.B) {
			h := benchTree(b, n)
			file := filepath.Join(b.TempDir(), "backup")
			var bk, vf, rs uint64
			for b.Loop() {
				bk = max(bk, peakHeap(func() {
					f, err := os.Create(file)
					if err != nil {
						b.Fatal(err)
					}
					defer f.Close()
					if _, err := h.tr.writeStream(context.Background(), f, streamHeaderInfo{}, BackupOptions{}, nil); err != nil {
						b.Fatal(err)
					}
				}))
				vf = max(vf, peakHeap(func() {
					f, err := os.Open(file)
					if err != nil {
						b.Fatal(err)
					}
					defer f.Close()
					if _, err := VerifyBackup(context.Background(), f, VerifyOptions{}); err != nil {
						b.Fatal(err)
					}
				}))
				dir := filepath.Join(b.TempDir(), "restored")
				rs = max(rs, peakHeap(func() {
					f, err := os.Open(file)
					if err != nil {
						b.Fatal(err)
					}
					defer f.Close()
					if _, err := restoreTree(context.Background(), f, dir, RestoreOptions{ClusterID: 1}); err != nil {
						b.Fatal(err)
					}
				}))
			}
			b.ReportMetric(float64(bk)/(1<<20), "backup-peak-MiB")
			b.ReportMetric(float64(vf)/(1<<20), "verify-peak-MiB")
			b.ReportMetric(float64(rs)/(1<<20), "restore-peak-MiB")
		})
	}
}

// BenchmarkRestoreServingCluster measures what an operator waits for after a
// disaster: from a backup file to a new 3-member cluster that serves a
// linearizable read of the restored tree. Each iteration restores the three
// members' dirs concurrently, opens them over the in-memory transport, and
// reads through a follower.
//
//	go test -run '^$' -bench BenchmarkRestoreServingCluster -benchtime 3x .
//	KEEPER_BENCH_1M=1 go test -run '^$' -bench BenchmarkRestoreServingCluster -benchtime 3x -timeout 20m .
func BenchmarkRestoreServingCluster(b *testing.B) {
	for _, n := range benchSizes() {
		h := benchTree(b, n)
		data, _ := backupBytes(b, h, BackupOptions{})
		h.close()
		b.Run(benchName(n), func(b *testing.B) {
			parent := b.TempDir()
			peers := []uint64{1, 2, 3}
			i := 0
			for b.Loop() {
				i++
				ctx := context.Background()
				var wg sync.WaitGroup
				errs := make([]error, len(peers))
				dirs := make([]string, len(peers))
				for k, id := range peers {
					dirs[k] = filepath.Join(parent, fmt.Sprint(i), fmt.Sprint(id))
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, errs[k] = Restore(ctx, bytes.NewReader(data), dirs[k], RestoreOptions{ID: id, Peers: peers})
					}()
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
				net, nodes := openMembers(b, peers, func(k int, _ uint64) string { return dirs[k] })
				if _, _, err := nodes[1].Linearizable().Get(ctx, "/"); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				for _, nd := range nodes {
					nd.Close()
				}
				net.Close()
				_ = os.RemoveAll(filepath.Join(parent, fmt.Sprint(i)))
				b.StartTimer()
			}
		})
	}
}

// openMembers opens a member for each of peers, the k-th on the data dir
// dir(k, id), over a new in-memory network; the caller closes the members
// and then the network.
func openMembers(b *testing.B, peers []uint64, dir func(k int, id uint64) string) (*transport.Memory, []*Node) {
	b.Helper()
	net := transport.NewMemory(1)
	var nodes []*Node
	for k, id := range peers {
		nd, err := Open(context.Background(), Config{ID: id, Dir: dir(k, id), Peers: peers, Transport: net.Endpoint(id)})
		if err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, nd)
	}
	return net, nodes
}
