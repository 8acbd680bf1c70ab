package main

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkProcessFailover kills the leader process (SIGKILL) of a cluster of
// three member processes over TCP with mutual TLS while a caller writes
// through a surviving member's admin port, and reports the time from the
// kill to the next acknowledged write: p50 and max over b.N kills. Each
// write attempt has a 200 ms deadline and is retried at once. Extra member
// flags come from KEEPER_BENCH_FLAGS (e.g. "-tick 5ms").
//
//	go test -run '^$' -bench BenchmarkProcessFailover -benchtime 10x ./examples/server
func BenchmarkProcessFailover(b *testing.B) {
	c := startProcCluster(b, 3, benchFlags()...)
	var gaps []time.Duration
	for range b.N {
		lead := c.leader(20 * time.Second)
		writer := otherThan(c, lead)
		if err := c.put(writer, "/failover", "x", 5*time.Second); err != nil {
			b.Fatal(err)
		}
		killed := time.Now()
		c.kill(lead)
		for c.put(writer, "/failover", "x", 200*time.Millisecond) != nil {
			if time.Since(killed) > time.Minute {
				b.Fatalf("no write acknowledged through member %d for a minute after the leader's kill", writer)
			}
			time.Sleep(time.Millisecond)
		}
		gaps = append(gaps, time.Since(killed))
		c.restart(lead)
		c.converged(30 * time.Second)
	}
	slices.Sort(gaps)
	b.ReportMetric(float64(gaps[len(gaps)/2].Microseconds())/1000, "ms-to-write(p50)")
	b.ReportMetric(float64(gaps[len(gaps)-1].Microseconds())/1000, "ms-to-write(max)")
}

// BenchmarkProcessCatchUp measures how long a member process N znodes
// behind takes to catch up by a raft snapshot streamed over TCP with mutual
// TLS: from its restart (process start included) until it has applied the
// leader's index. N is 100k, or KEEPER_BENCH_CATCHUP_ZNODES; znodes carry
// 64 random bytes, as in the root package's BenchmarkSnapshotCatchUp, which
// measures the same over the in-memory transport. KEEPER_BENCH_FLAGS adds
// member flags (e.g. "-snapshot-rate -1" for an unpaced transfer).
//
//	KEEPER_BENCH_CATCHUP_ZNODES=1000000 go test -run '^$' -bench BenchmarkProcessCatchUp -benchtime 1x -timeout 30m ./examples/server
func BenchmarkProcessCatchUp(b *testing.B) {
	n := envInt(b, "KEEPER_BENCH_CATCHUP_ZNODES", 100_000)
	for range b.N {
		b.StopTimer()
		c := startProcCluster(b, 3, append([]string{"-keep-entries", "10"}, benchFlags()...)...)
		lead := c.leader(20 * time.Second)
		f := otherThan(c, lead)
		c.stop(f)
		var fill loadResult
		if err := c.do(lead, http.MethodPost, fmt.Sprintf("/load/fill?n=%d&size=64", n), nil, 30*time.Minute, &fill); err != nil {
			b.Fatal(err)
		}
		want, err := c.status(lead)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		c.restart(f)
		var installed time.Duration
		st := c.waitStatus(f, 30*time.Minute, func(st statusJSON) bool {
			if st.SnapshotsInstalled > 0 && installed == 0 {
				installed = time.Since(start)
			}
			return st.Applied >= want.Applied
		})
		el := time.Since(start)
		b.StopTimer()
		if st.SnapshotsInstalled == 0 {
			b.Fatal("caught up without a raft snapshot")
		}
		sent, err := c.status(lead)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.get(f, fmt.Sprintf("/fill/n%08d", n-1), false); err != nil {
			b.Fatalf("last znode missing after catch-up: %v", err)
		}
		b.ReportMetric(el.Seconds(), "s/catchup")
		b.ReportMetric(installed.Seconds(), "s/installed")
		b.ReportMetric(float64(sent.SnapshotsSent), "snapshots-sent")
		b.ReportMetric(float64(n)/el.Seconds(), "znodes/s")
		c.killAll()
		b.StartTimer()
	}
}

// otherThan returns a running member other than id.
func otherThan(c *procCluster, id uint64) uint64 {
	for _, o := range c.running() {
		if o != id {
			return o
		}
	}
	c.t.Fatalf("no running member besides %d", id)
	return 0
}

// benchFlags returns the member flags in KEEPER_BENCH_FLAGS.
func benchFlags() []string { return strings.Fields(os.Getenv("KEEPER_BENCH_FLAGS")) }

// envInt reads a positive integer from the environment, or def.
func envInt(tb testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		tb.Fatalf("bad %s=%q", name, s)
	}
	return v
}
