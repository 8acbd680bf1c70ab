package keeper

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/realzk"
	"github.com/keeper-go/keeper/internal/zkfile/zkgen"
)

// BenchmarkImportZooKeeper imports a generated ZooKeeper data dir: a
// snapshot of KEEPER_ZKIMPORT_ZNODES znodes (default 20,000; 100-byte data,
// 1,000 per parent) and KEEPER_ZKIMPORT_TXNS logged transactions after it
// (default 2,000, every kind), into a compressed backup stream;
// KEEPER_ZKIMPORT_DIR keeps the generated dir there for later runs. It reports
// the peak Go heap of one more import, and, with KEEPER_ZKIMPORT_ZK=1,
// ZooKeeper 3.8's own time to load the same dir: its "Snapshot loaded" time
// (snapshot and log replay) and the time from its start to serving.
//
//	go test -run '^$' -bench BenchmarkImportZooKeeper -benchtime 3x .
//	KEEPER_ZKIMPORT_ZNODES=1000000 KEEPER_ZKIMPORT_TXNS=100000 KEEPER_ZKIMPORT_ZK=1 \
//	  go test -run '^$' -bench BenchmarkImportZooKeeper -benchtime 3x -timeout 60m .
func BenchmarkImportZooKeeper(b *testing.B) {
	znodes, txns := envInt(b, "KEEPER_ZKIMPORT_ZNODES", 20_000), envInt(b, "KEEPER_ZKIMPORT_TXNS", 2_000)
	ctx := context.Background()
	dir := os.Getenv("KEEPER_ZKIMPORT_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	d, err := benchZooKeeperDir(ctx, dir, znodes, txns)
	if err != nil {
		b.Fatal(err)
	}
	tmp := b.TempDir()
	var info ImportInfo
	cpu0 := processCPU()
	for b.Loop() {
		info, err = ImportZooKeeper(ctx, ZooKeeperDirs{Data: d.Path}, io.Discard, ImportOptions{TempDir: tmp})
		if err != nil {
			b.Fatal(err)
		}
	}
	// The machine is shared: CPU time (this process, every goroutine,
	// Pebble's included) says more than the wall clock when it is busy.
	b.ReportMetric((processCPU()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(info.Backup.Znodes), "znodes")
	b.ReportMetric(float64(info.Txns), "txns")
	peak := peakHeap(func() {
		if _, err := ImportZooKeeper(ctx, ZooKeeperDirs{Data: d.Path}, io.Discard, ImportOptions{TempDir: tmp}); err != nil {
			b.Fatal(err)
		}
	})
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	if os.Getenv("KEEPER_ZKIMPORT_ZK") != "1" {
		return
	}
	// ZooKeeper on the same files. It writes a snapshot of its own once
	// loaded, so it runs last, and the dir is not reused after it.
	if err := os.Remove(filepath.Join(dir, fmt.Sprintf("generated-%d-%d", znodes, txns))); err != nil {
		b.Fatal(err)
	}
	begin := time.Now()
	srv := realzk.Start(b, realzk.Options{DataDir: d.Path, ExtendedTypes: true, Heap: "4g",
		Properties: map[string]string{"org.slf4j.simpleLogger.defaultLogLevel": "info"}})
	serving := time.Since(begin)
	log, _ := srv.Log()
	m := regexp.MustCompile(`Snapshot loaded in (\d+) ms`).FindStringSubmatch(log)
	if m == nil {
		b.Fatalf("no load time in ZooKeeper's log")
	}
	ms, _ := strconv.Atoi(m[1])
	b.ReportMetric(float64(ms)/1000, "zk-load-s")
	b.ReportMetric(serving.Seconds(), "zk-serving-s")
	if mt, err := srv.Metrics(); err != nil || mt["zk_digest_mismatches_count"] != "0" {
		b.Fatalf("ZooKeeper's digest check of the generated dir: %q (%v)", mt["zk_digest_mismatches_count"], err)
	}
	if err := srv.Stop(); err != nil {
		b.Fatal(err)
	}
}

// benchZooKeeperDir writes the benchmark's ZooKeeper data dir under dir,
// or reuses the one a former run left there (KEEPER_ZKIMPORT_DIR) when it
// has the same sizes.
func benchZooKeeperDir(ctx context.Context, dir string, znodes, txns int) (zkgen.Dir, error) {
	stamp := filepath.Join(dir, fmt.Sprintf("generated-%d-%d", znodes, txns))
	if _, err := os.Stat(stamp); err == nil {
		return zkgen.Dir{Path: dir}, nil
	}
	if err := os.RemoveAll(filepath.Join(dir, "version-2")); err != nil {
		return zkgen.Dir{}, err
	}
	g := zkgen.New(1)
	g.DataSize = 100
	data := make([]byte, 100)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	d, _, err := zkgen.WriteDir(ctx, dir, g, zkgen.DirOptions{Txns: txns, LogEvery: 50_000, Pad: 1 << 20, Populate: func(add func(string, []byte)) {
		add("/bench", nil)
		for p := 0; p*1000 < znodes; p++ {
			parent := fmt.Sprintf("/bench/p%04d", p)
			add(parent, nil)
			for i := p * 1000; i < min(znodes, (p+1)*1000); i++ {
				add(fmt.Sprintf("%s/n%07d", parent, i), data)
			}
		}
	}})
	if err != nil {
		return d, err
	}
	return d, os.WriteFile(stamp, nil, 0o644)
}

// processCPU returns the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		b.Fatalf("%s=%q: want a count", name, s)
	}
	return v
}
