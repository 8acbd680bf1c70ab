// Package keepertest starts in-process keeper clusters for the host's own
// tests, in the manner of net/http/httptest: one call gives n members on an
// in-memory network in t.TempDir(), shut down by t.Cleanup, with the
// network's fault injection at hand.
//
//	c := keepertest.NewCluster(t, 3)
//	leader := c.Leader()
//	c.Partition([]uint64{leader.ID()}, c.Others(leader.ID()))
//
// Randomness (the network's faults) comes from a seed taken from the
// -keepertest.seed flag or the KEEPERTEST_SEED environment variable, else the
// clock; it is printed when the test fails, so a failing run can be replayed.
// Cleanup fails the test if goroutines started by keeper outlive the cluster.
//
// TestTarget checks a host's own keeper.Target against the rules an
// archive relies on.
package keepertest

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/crashtest"
	"github.com/keeper-go/keeper/internal/leakcheck"
	"github.com/keeper-go/keeper/transport"
)

var seedFlag = flag.Int64("keepertest.seed", 0, "seed for keepertest clusters (0: KEEPERTEST_SEED or the clock)")

// DefaultWait bounds how long helpers wait for a leader or convergence.
const DefaultWait = 10 * time.Second

// Option adjusts NewCluster.
type Option func(*options)

type options struct {
	seed       int64
	config     func(*keeper.Config)
	waitLeader bool
	transport  func(id uint64) (keeper.Transport, error)
}

// WithSeed fixes the network's seed, overriding the flag and environment.
func WithSeed(seed int64) Option { return func(o *options) { o.seed = seed } }

// WithConfig lets f adjust every member's Config before Open (ID, Dir, Peers
// and Transport are already set). Several WithConfig options run in the
// order given.
func WithConfig(f func(*keeper.Config)) Option {
	return func(o *options) {
		if prev := o.config; prev != nil {
			o.config = func(c *keeper.Config) { prev(c); f(c) }
			return
		}
		o.config = f
	}
}

// WithoutLeader makes NewCluster return without waiting for a leader.
func WithoutLeader() Option { return func(o *options) { o.waitLeader = false } }

// WithTransport opens every member over a transport that newTransport makes
// for it, at NewCluster and at every Restart, instead of over the cluster's
// in-memory network: to test over the host's own network transport. A
// transport that implements io.Closer is closed once its member is stopped
// or killed, and at cleanup before the goroutine-leak check. Network,
// Partition and Heal act on the in-memory network, which such members do
// not use.
func WithTransport(newTransport func(id uint64) (keeper.Transport, error)) Option {
	return func(o *options) { o.transport = newTransport }
}

// Cluster is a set of members in one process. Its methods fail the test
// that created it on error; they are safe for concurrent use.
type Cluster struct {
	t    testing.TB
	seed int64
	net  *transport.Memory
	ids  []uint64
	dirs map[uint64]string
	cfg  func(*keeper.Config)
	newT func(id uint64) (keeper.Transport, error) // nil: the in-memory network

	mu    sync.Mutex
	nodes map[uint64]*keeper.Node
	trs   map[uint64]keeper.Transport // running members' transports, with newT
	kills map[uint64]*crashtest.Hook  // running members' crash paths, for Kill
}

// NewCluster starts n members with ids 1..n and waits for a leader. If this
// build's keeper.Open has no state machine, the test is skipped.
func NewCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	o := options{waitLeader: true}
	for _, f := range opts {
		f(&o)
	}
	if o.seed == 0 {
		o.seed = defaultSeed()
	}
	leaks := leakcheck.Start(t, "github.com/keeper-go/keeper/keepertest")
	c := &Cluster{
		t:     t,
		seed:  o.seed,
		net:   transport.NewMemory(o.seed),
		dirs:  make(map[uint64]string),
		cfg:   o.config,
		newT:  o.transport,
		nodes: make(map[uint64]*keeper.Node),
		kills: make(map[uint64]*crashtest.Hook),
		trs:   make(map[uint64]keeper.Transport),
	}
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, uint64(i))
		c.dirs[uint64(i)] = t.TempDir()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("keepertest seed: -keepertest.seed=%d", c.seed)
		}
		c.shutdown()
		c.net.Close()
		leaks()
	})
	for _, id := range c.ids {
		if err := c.open(id); err != nil {
			t.Fatalf("keepertest: open member %d: %v", id, err)
		}
	}
	if o.waitLeader {
		c.WaitLeader()
		// A new cluster has no partition: wait until every member knows the
		// leader, so a write through any of them is proposed at once.
		deadline := time.Now().Add(DefaultWait)
		for !c.allKnowLeader() {
			if time.Now().After(deadline) {
				t.Fatalf("keepertest: not every member knows the leader after %v", DefaultWait)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	return c
}

func defaultSeed() int64 {
	if *seedFlag != 0 {
		return *seedFlag
	}
	if s, err := strconv.ParseInt(os.Getenv("KEEPERTEST_SEED"), 10, 64); err == nil && s != 0 {
		return s
	}
	return time.Now().UnixNano()
}

// Seed returns the seed of the cluster's network.
func (c *Cluster) Seed() int64 { return c.seed }

// IDs returns the member ids, running or not.
func (c *Cluster) IDs() []uint64 { return slices.Clone(c.ids) }

// Others returns every member id except the given ones.
func (c *Cluster) Others(except ...uint64) []uint64 {
	var ids []uint64
	for _, id := range c.ids {
		if !slices.Contains(except, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// Network returns the in-memory network for fault injection.
func (c *Cluster) Network() *transport.Memory { return c.net }

// Dir returns member id's data dir.
func (c *Cluster) Dir(id uint64) string { return c.dirs[id] }

// Config returns the Config member id is opened with. With WithTransport,
// its Transport is the one the member runs over now (nil while stopped).
func (c *Cluster) Config(id uint64) keeper.Config {
	c.mu.Lock()
	tr := c.trs[id]
	c.mu.Unlock()
	if c.newT == nil {
		tr = c.net.Endpoint(id)
	}
	return c.config(id, tr)
}

func (c *Cluster) config(id uint64, tr keeper.Transport) keeper.Config {
	cfg := keeper.Config{ID: id, Dir: c.dirs[id], Peers: slices.Clone(c.ids), Transport: tr}
	if c.cfg != nil {
		c.cfg(&cfg)
	}
	return cfg
}

func (c *Cluster) open(id uint64) error {
	var tr keeper.Transport = c.net.Endpoint(id)
	if c.newT != nil {
		var err error
		if tr, err = c.newT(id); err != nil {
			return fmt.Errorf("transport: %w", err)
		}
	}
	kill := new(crashtest.Hook)
	n, err := keeper.Open(crashtest.WithHook(context.Background(), kill), c.config(id, tr))
	if err != nil {
		if c.newT != nil {
			closeTransport(tr)
		}
		return err
	}
	c.mu.Lock()
	c.nodes[id] = n
	c.kills[id] = kill
	if c.newT != nil {
		c.trs[id] = tr
	}
	c.mu.Unlock()
	return nil
}

// closeTransport closes a transport made by WithTransport's function, if it
// can be closed (nil is nothing to close).
func closeTransport(tr keeper.Transport) {
	if cl, ok := tr.(io.Closer); ok {
		_ = cl.Close()
	}
}

// Node returns member id, or nil while it is stopped.
func (c *Cluster) Node(id uint64) *keeper.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// Nodes returns the running members in id order.
func (c *Cluster) Nodes() []*keeper.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ns []*keeper.Node
	for _, id := range c.ids {
		if n := c.nodes[id]; n != nil {
			ns = append(ns, n)
		}
	}
	return ns
}

// WaitLeader waits up to DefaultWait until one running member leads and
// every running member it can reach agrees, and returns it.
func (c *Cluster) WaitLeader() *keeper.Node {
	c.t.Helper()
	deadline := time.Now().Add(DefaultWait)
	for {
		if n := c.agreedLeader(); n != nil {
			return n
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("keepertest: no leader after %v", DefaultWait)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// allKnowLeader reports whether every running member knows a leader.
func (c *Cluster) allKnowLeader() bool {
	for _, n := range c.Nodes() {
		if n.Status().Leader == 0 {
			return false
		}
	}
	return true
}

// Leader returns the current leader, waiting for one like WaitLeader.
func (c *Cluster) Leader() *keeper.Node {
	c.t.Helper()
	return c.WaitLeader()
}

// agreedLeader returns the member leading in the highest term if every
// running member that knows a leader in that term names it.
func (c *Cluster) agreedLeader() *keeper.Node {
	ns := c.Nodes()
	var leader *keeper.Node
	var term uint64
	for _, n := range ns {
		if st := n.Status(); st.Role == keeper.RoleLeader && st.Term >= term {
			leader, term = n, st.Term
		}
	}
	if leader == nil {
		return nil
	}
	for _, n := range ns {
		st := n.Status()
		if st.Term == term && st.Leader != leader.ID() {
			return nil
		}
	}
	return leader
}

// Stop closes member id gracefully.
func (c *Cluster) Stop(id uint64) {
	c.t.Helper()
	n, tr := c.take(id)
	defer closeTransport(tr)
	if err := n.Close(); err != nil {
		c.t.Fatalf("keepertest: close member %d: %v", id, err)
	}
}

// Kill stops member id as a crash would: its loop stops where it is and
// nothing more is synced, so Restart replays its WAL.
func (c *Cluster) Kill(id uint64) {
	c.t.Helper()
	c.mu.Lock()
	kill := c.kills[id]
	c.mu.Unlock()
	_, tr := c.take(id)
	if !kill.Crash() {
		c.t.Fatalf("keepertest: member %d has no crash path", id)
	}
	closeTransport(tr)
}

// take removes running member id from the cluster and returns it, with
// the transport WithTransport made for it (nil without).
func (c *Cluster) take(id uint64) (*keeper.Node, keeper.Transport) {
	c.t.Helper()
	c.mu.Lock()
	n, tr := c.nodes[id], c.trs[id]
	delete(c.nodes, id)
	delete(c.trs, id)
	delete(c.kills, id)
	c.mu.Unlock()
	if n == nil {
		c.t.Fatalf("keepertest: member %d is not running", id)
	}
	return n, tr
}

// Restart opens a stopped or killed member again from its data dir.
func (c *Cluster) Restart(id uint64) {
	c.t.Helper()
	if c.Node(id) != nil {
		c.t.Fatalf("keepertest: member %d is running; Stop or Kill it first", id)
	}
	if err := c.open(id); err != nil {
		c.t.Fatalf("keepertest: restart member %d: %v", id, err)
	}
}

// Partition splits the network into groups that cannot reach each other.
func (c *Cluster) Partition(groups ...[]uint64) { c.net.Partition(groups...) }

// Heal removes partitions and isolation.
func (c *Cluster) Heal() { c.net.Heal() }

// WaitConverged waits until every running member has applied the same
// zxid and fails the test unless their digests agree there. It returns
// that zxid.
func (c *Cluster) WaitConverged() keeper.Zxid {
	c.t.Helper()
	deadline := time.Now().Add(DefaultWait)
	for {
		ns := c.Nodes()
		sts := make([]keeper.Status, len(ns))
		same := true
		for i, n := range ns {
			sts[i] = n.Status()
			if sts[i].Applied != sts[0].Applied {
				same = false
			}
		}
		if same && len(sts) > 0 {
			for _, st := range sts[1:] {
				if st.Digest != sts[0].Digest {
					c.t.Fatalf("keepertest: member %d digest %x at %d, member %d has %x",
						st.ID, st.Digest, st.Applied, sts[0].ID, sts[0].Digest)
				}
			}
			return sts[0].Applied
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("keepertest: members did not converge within %v", DefaultWait)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (c *Cluster) shutdown() {
	for _, n := range c.Nodes() {
		if err := n.Close(); err != nil {
			c.t.Errorf("keepertest: close member %d: %v", n.ID(), err)
		}
	}
	c.mu.Lock()
	clear(c.nodes)
	clear(c.kills)
	trs := c.trs
	c.trs = make(map[uint64]keeper.Transport)
	c.mu.Unlock()
	for _, tr := range trs {
		closeTransport(tr)
	}
}

// String describes the cluster for logs.
func (c *Cluster) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "keepertest cluster (seed %d):", c.seed)
	for _, n := range c.Nodes() {
		st := n.Status()
		fmt.Fprintf(&b, " [%d %s term %d applied %d]", st.ID, st.Role, st.Term, st.Applied)
	}
	return b.String()
}
