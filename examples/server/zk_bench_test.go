package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/benchreport"
	"github.com/keeper-go/keeper/internal/jute"
	"github.com/keeper-go/keeper/internal/realzk"
)

// zkRaw is a bare ZooKeeper client connection: one session, requests and
// replies packet by packet.
type zkRaw struct {
	nc  net.Conn
	br  *bufio.Reader
	mu  sync.Mutex // writes
	xid int32
}

// dialZK opens a connection to addr and a session with a timeout of ms.
func dialZK(addr string, ms int32) (*zkRaw, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c := &zkRaw{nc: nc, br: bufio.NewReader(nc)}
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := nc.Write(jute.AppendPacket(nil, &jute.ConnectRequest{TimeOut: ms, Passwd: make([]byte, 16)})); err != nil {
		nc.Close()
		return nil, err
	}
	pkt, err := jute.ReadPacket(c.br, nil, 0)
	var resp jute.ConnectResponse
	if err == nil {
		err = jute.Unmarshal(pkt, &resp)
	}
	if err == nil && resp.SessionID == 0 {
		err = fmt.Errorf("no session")
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// send writes one request without waiting for its reply.
func (c *zkRaw) send(op jute.OpCode, req jute.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.xid++
	hdr := jute.RequestHeader{Xid: c.xid, Type: op}
	var pkt []byte
	if req != nil {
		pkt = jute.AppendPacket(nil, &hdr, req)
	} else {
		pkt = jute.AppendPacket(nil, &hdr)
	}
	_, err := c.nc.Write(pkt)
	return err
}

// next reads the next packet's reply header.
func (c *zkRaw) next() (jute.ReplyHeader, error) {
	pkt, err := jute.ReadPacket(c.br, nil, 0)
	if err != nil {
		return jute.ReplyHeader{}, err
	}
	var h jute.ReplyHeader
	err = jute.NewDecoder(pkt).Decode(&h)
	return h, err
}

// call sends a request and waits for its reply, skipping notifications and
// the replies to pings sent before it.
func (c *zkRaw) call(op jute.OpCode, req jute.Record) (jute.ReplyHeader, error) {
	if err := c.send(op, req); err != nil {
		return jute.ReplyHeader{}, err
	}
	for {
		h, err := c.next()
		if err != nil || h.Xid != jute.XidNotification && h.Xid != jute.XidPing {
			return h, err
		}
	}
}

// dialMany opens n sessions on addr, 64 handshakes at a time.
func dialMany(b *testing.B, addr string, n int, ms int32) []*zkRaw {
	b.Helper()
	conns := make([]*zkRaw, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dialZK(addr, ms)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("session %v", err)
	}
	b.Cleanup(func() {
		for _, c := range conns {
			c.nc.Close()
		}
	})
	return conns
}

// memInuse reads the Go heap and goroutine stacks in use
// (go_memstats_heap_inuse_bytes + go_memstats_stack_inuse_bytes) from member
// id's metrics right after a garbage collection (the heap profile's gc=1;
// the member runs with -pprof).
func memInuse(b *testing.B, c *procCluster, id uint64) float64 {
	b.Helper()
	if resp, err := c.http.Get(c.url(id, "/debug/pprof/heap?gc=1")); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := c.http.Get(c.url(id, "/metrics"))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	found := 0
	for _, l := range strings.Split(string(body), "\n") {
		for _, name := range []string{"go_memstats_heap_inuse_bytes ", "go_memstats_stack_inuse_bytes "} {
			if v, ok := strings.CutPrefix(l, name); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatal(err)
				}
				sum += f
				found++
			}
		}
	}
	if found != 2 {
		b.Fatal("no go_memstats_heap_inuse_bytes or go_memstats_stack_inuse_bytes in /metrics")
	}
	return sum
}

// BenchmarkZooKeeperSessions holds KEEPER_BENCH_ZK_SESSIONS (10,000)
// ZooKeeper client sessions on one member of a three-process cluster, each
// pinging at a third of its 6 s timeout as ZooKeeper's clients do, for two
// timeouts, and reports the member's Go heap and stacks per session (the
// difference made by the sessions, measured after a collection) and the
// pings that failed (none may).
//
//	go test -run '^$' -bench BenchmarkZooKeeperSessions -benchtime 1x ./examples/server
func BenchmarkZooKeeperSessions(b *testing.B) {
	n := envInt(b, "KEEPER_BENCH_ZK_SESSIONS", 10000)
	const timeout = 6 * time.Second
	c := startZKCluster(b, 3, "-pprof")
	lead := c.leader(20 * time.Second)
	member := otherThan(c, lead)
	for range b.N {
		before := memInuse(b, c, member)
		start := time.Now()
		conns := dialMany(b, c.zkAddr(member), n, int32(timeout/time.Millisecond))
		opened := time.Since(start)
		var failed sync.WaitGroup
		var mu sync.Mutex
		fails := 0
		stop := time.Now().Add(2 * timeout)
		for _, zc := range conns {
			failed.Add(1)
			go func() {
				defer failed.Done()
				for time.Now().Before(stop) {
					if h, err := zc.call(jute.OpPing, nil); err != nil || h.Err != jute.CodeOK {
						mu.Lock()
						fails++
						mu.Unlock()
						return
					}
					time.Sleep(timeout / 3)
				}
			}()
		}
		failed.Wait()
		after := memInuse(b, c, member)
		b.ReportMetric(float64(n)/opened.Seconds(), "sessions-opened/s")
		b.ReportMetric((after-before)/float64(n), "mem-bytes/session")
		b.ReportMetric(float64(fails), "failed-pings")
		if fails > 0 {
			b.Errorf("%d of %d sessions failed a ping", fails, n)
		}
		for _, zc := range conns {
			zc.nc.Close()
		}
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkZooKeeperWatchFanout sets a one-shot data watch on one znode
// from each of KEEPER_BENCH_ZK_WATCHERS (10,000) client connections to one
// member of a three-member ensemble, changes the znode through another
// member, and reports the latency from the change's request to each
// watcher's notification: p50, p99, max; and the change's own round trip
// (ms-set-p50). "keeper" runs it against three examples/server processes,
// "zookeeper" against three of Apache ZooKeeper's (skipped where it is
// not installed), side by side in one run.
//
//	go test -run '^$' -bench BenchmarkZooKeeperWatchFanout -benchtime 3x ./examples/server
func BenchmarkZooKeeperWatchFanout(b *testing.B) {
	n := envInt(b, "KEEPER_BENCH_ZK_WATCHERS", 10000)
	b.Run("keeper", func(b *testing.B) {
		c := startZKCluster(b, 3, benchFlags()...)
		lead := c.leader(20 * time.Second)
		watchFanout(b, c.zkAddr(otherThan(c, lead)), c.zkAddr(lead), n)
	})
	b.Run("zookeeper", func(b *testing.B) {
		if err := realzk.Available(); err != nil {
			b.Skip(err)
		}
		e := realzk.StartEnsemble(b, 3, realzk.Options{Heap: "1g"})
		lead := e.Leader()
		for deadline := time.Now().Add(30 * time.Second); lead < 0; lead = e.Leader() {
			if time.Now().After(deadline) {
				b.Fatal("the ZooKeeper ensemble elected no leader")
			}
			time.Sleep(50 * time.Millisecond)
		}
		watchFanout(b, e.Addrs()[(lead+1)%3], e.Addrs()[lead], n)
	})
}

// watchFanout measures BenchmarkZooKeeperWatchFanout on an ensemble:
// n watchers on watchAddr, the change through writeAddr.
func watchFanout(b *testing.B, watchAddr, writeAddr string, n int) {
	watchers := dialMany(b, watchAddr, n, 40000)
	// As ZooKeeper's clients do, each watcher pings at a third of its
	// timeout, so that a long setup does not leave it silent.
	stopPings := make(chan struct{})
	var pingers sync.WaitGroup
	defer func() { close(stopPings); pingers.Wait() }()
	for _, w := range watchers {
		pingers.Add(1)
		go func() {
			defer pingers.Done()
			t := time.NewTicker(13 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-stopPings:
					return
				case <-t.C:
					_ = w.send(jute.OpPing, nil)
				}
			}
		}()
	}
	writer, err := dialZK(writeAddr, 40000)
	if err != nil {
		b.Fatal(err)
	}
	defer writer.nc.Close()
	acl := []jute.ACL{{Perms: jute.PermAll, Scheme: "world", ID: "anyone"}}
	if h, err := writer.call(jute.OpCreate, &jute.CreateRequest{Path: "/fan", ACL: acl}); err != nil || h.Err != jute.CodeOK {
		b.Fatalf("create: %+v %v", h, err)
	}
	// The create went through the leader: a sync from the watchers' member
	// makes every later read there see it.
	if h, err := watchers[0].call(jute.OpSync, &jute.SyncRequest{Path: "/fan"}); err != nil || h.Err != jute.CodeOK {
		b.Fatalf("sync: %+v %v", h, err)
	}
	var all, sets []time.Duration
	for range b.N {
		// Every watcher reads with a watch (its reply proves the watch is set).
		sem := make(chan struct{}, 256)
		var wg sync.WaitGroup
		for _, w := range watchers {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if h, err := w.call(jute.OpGetData, &jute.PathWatchRecord{Path: "/fan", Watch: true}); err != nil || h.Err != jute.CodeOK {
					b.Errorf("getData: %+v %v", h, err)
				}
			}()
		}
		wg.Wait()
		arrived := make([]time.Time, n)
		var got sync.WaitGroup
		for i, w := range watchers {
			got.Add(1)
			go func() {
				defer got.Done()
				h, err := w.next()
				for err == nil && h.Xid == jute.XidPing {
					h, err = w.next()
				}
				if err != nil || h.Xid != jute.XidNotification {
					b.Errorf("watcher %d: %+v %v", i, h, err)
					return
				}
				arrived[i] = time.Now()
			}()
		}
		t0 := time.Now()
		if h, err := writer.call(jute.OpSetData, &jute.SetDataRequest{Path: "/fan", Data: []byte("x"), Version: -1}); err != nil || h.Err != jute.CodeOK {
			b.Fatalf("setData: %+v %v", h, err)
		}
		sets = append(sets, time.Since(t0))
		got.Wait()
		for _, t := range arrived {
			all = append(all, t.Sub(t0))
		}
	}
	benchreport.Latencies(b, all)
	// Every latency above holds the change's commit; a slow commit shows
	// in the change's own round trip too, a slow fan-out does not.
	slices.Sort(sets)
	b.ReportMetric(benchreport.Millis(sets[len(sets)/2]), "ms-set-p50")
	b.ReportMetric(0, "ns/op")
}
