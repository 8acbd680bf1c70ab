package keeper_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/crashtest"
	"github.com/keeper-go/keeper/internal/leakcheck"
	"github.com/keeper-go/keeper/transport"
	"github.com/keeper-go/keeper/transport/certs"
)

// tcpCluster runs members in this process, each over its own transport.TCP
// with mutual TLS on loopback: members as they run on separate machines,
// with the network in between. With proxied, every directed link goes
// through a linkProxy that partitions, delays and cuts connections.
type tcpCluster struct {
	t         testing.TB
	clusterID uint64
	ids       []uint64
	tls       map[uint64]transport.TLSPEM
	dirs      map[uint64]string
	opt       tcpOptions
	rng       *rand.Rand               // the nemesis's choices (stall or reset)
	proxies   map[[2]uint64]*linkProxy // (from, to)

	mu    sync.Mutex
	addrs map[uint64]string // each member's listen address
	lns   map[uint64]net.Listener
	nodes map[uint64]*keeper.Node
	trs   map[uint64]*transport.TCP
}

// tcpOptions configures newTCPCluster.
type tcpOptions struct {
	seed    int64
	config  func(*keeper.Config)
	proxied bool
	// dial, if set, wraps every connection member from dials to addr.
	dial func(from uint64, addr string, c net.Conn) net.Conn
	// wrap, if set, gives Open a transport wrapping member id's TCP.
	wrap func(id uint64, tr *transport.TCP) keeper.Transport
}

// newTCPCluster starts n members and waits until every one knows the
// leader. Cleanup closes members, transports and proxies, and fails the
// test if goroutines of keeper outlive them.
func newTCPCluster(t testing.TB, n int, o tcpOptions) *tcpCluster {
	t.Helper()
	leaks := leakcheck.Start(t)
	c := &tcpCluster{
		t: t, clusterID: 0x7c9, opt: o, rng: rand.New(rand.NewPCG(uint64(o.seed), 0x7c9)),
		tls: map[uint64]transport.TLSPEM{}, dirs: map[uint64]string{}, proxies: map[[2]uint64]*linkProxy{},
		addrs: map[uint64]string{}, lns: map[uint64]net.Listener{}, nodes: map[uint64]*keeper.Node{}, trs: map[uint64]*transport.TCP{},
	}
	for i := 1; i <= n; i++ {
		c.dirs[uint64(i)] = t.TempDir() // removed after the cleanup below ran
	}
	t.Cleanup(func() {
		c.shutdown()
		leaks()
	})
	ca, err := certs.NewCA(c.clusterID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		id := uint64(i)
		cert, key, err := ca.Issue(id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		c.ids = append(c.ids, id)
		c.tls[id] = transport.TLSPEM{CA: ca.CertPEM(), Cert: cert, Key: key}
		// Every address is known before the first member dials.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.lns[id], c.addrs[id] = ln, ln.Addr().String()
	}
	if o.proxied {
		for _, from := range c.ids {
			for _, to := range c.ids {
				if from == to {
					continue
				}
				p, err := newLinkProxy(c.rng.Uint64(), func() string { return c.addr(to) })
				if err != nil {
					t.Fatal(err)
				}
				c.proxies[[2]uint64{from, to}] = p
			}
		}
	}
	for _, id := range c.ids {
		c.open(id)
	}
	deadline := time.Now().Add(keepertestWait)
	for c.agreedLeader() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("tcp cluster: no leader known to every member after %v", keepertestWait)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return c
}

// keepertestWait bounds the waits for a leader and for convergence.
const keepertestWait = 20 * time.Second

func (c *tcpCluster) addr(id uint64) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addrs[id]
}

// open starts member id: a listener (its first one, or a new one on the
// same address, or on any address behind proxies), its TCP and its Node.
func (c *tcpCluster) open(id uint64) {
	c.t.Helper()
	c.mu.Lock()
	ln := c.lns[id]
	delete(c.lns, id)
	c.mu.Unlock()
	if ln == nil {
		where := c.addr(id)
		if c.opt.proxied {
			where = "127.0.0.1:0"
		}
		var err error
		if ln, err = net.Listen("tcp", where); err != nil {
			c.t.Fatalf("tcp cluster: member %d listen: %v", id, err)
		}
	}
	peers := map[uint64]string{}
	for _, o := range c.ids {
		switch {
		case o == id:
		case c.opt.proxied:
			peers[o] = c.proxies[[2]uint64{id, o}].Addr()
		default:
			peers[o] = c.addr(o)
		}
	}
	tr, err := transport.NewTCP(transport.TCPConfig{
		ID: id, ClusterID: c.clusterID, Listener: ln, Peers: peers, TLS: c.tls[id],
		Dial: func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", addr)
			if err == nil && c.opt.dial != nil {
				conn = c.opt.dial(id, addr, conn)
			}
			return conn, err
		},
	})
	if err != nil {
		ln.Close()
		c.t.Fatalf("tcp cluster: member %d transport: %v", id, err)
	}
	var kt keeper.Transport = tr
	if c.opt.wrap != nil {
		kt = c.opt.wrap(id, tr)
	}
	cfg := keeper.Config{ID: id, Dir: c.dirs[id], Peers: slices.Clone(c.ids), ClusterID: c.clusterID, Transport: kt}
	if c.opt.config != nil {
		c.opt.config(&cfg)
	}
	n, err := keeper.Open(context.Background(), cfg)
	if err != nil {
		tr.Close()
		c.t.Fatalf("tcp cluster: open member %d: %v", id, err)
	}
	c.mu.Lock()
	c.addrs[id], c.nodes[id], c.trs[id] = ln.Addr().String(), n, tr
	c.mu.Unlock()
}

// take removes running member id and its transport from the cluster.
func (c *tcpCluster) take(id uint64) (*keeper.Node, *transport.TCP) {
	c.t.Helper()
	c.mu.Lock()
	n, tr := c.nodes[id], c.trs[id]
	delete(c.nodes, id)
	delete(c.trs, id)
	c.mu.Unlock()
	if n == nil {
		c.t.Fatalf("tcp cluster: member %d is not running", id)
	}
	return n, tr
}

// Stop closes member id and its transport.
func (c *tcpCluster) Stop(id uint64) {
	c.t.Helper()
	n, tr := c.take(id)
	if err := n.Close(); err != nil {
		c.t.Errorf("tcp cluster: close member %d: %v", id, err)
	}
	tr.Close()
}

// Kill stops member id as a crash would, and closes its transport.
func (c *tcpCluster) Kill(id uint64) {
	c.t.Helper()
	n, tr := c.take(id)
	n.Crash(crashtest.New())
	tr.Close()
}

// Restart opens a stopped or killed member again from its data dir.
func (c *tcpCluster) Restart(id uint64) {
	c.t.Helper()
	if c.Node(id) != nil {
		c.t.Fatalf("tcp cluster: member %d is running", id)
	}
	c.open(id)
}

// Transport returns running member id's TCP, or nil.
func (c *tcpCluster) Transport(id uint64) *transport.TCP {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.trs[id]
}

func (c *tcpCluster) IDs() []uint64 { return slices.Clone(c.ids) }

func (c *tcpCluster) Others(except ...uint64) []uint64 {
	return slices.DeleteFunc(c.IDs(), func(id uint64) bool { return slices.Contains(except, id) })
}

func (c *tcpCluster) Node(id uint64) *keeper.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// Nodes returns the running members in id order.
func (c *tcpCluster) Nodes() []*keeper.Node {
	var ns []*keeper.Node
	for _, id := range c.ids {
		if n := c.Node(id); n != nil {
			ns = append(ns, n)
		}
	}
	return ns
}

// WaitLeader waits until a running member leads and every running member
// names it, and returns it.
func (c *tcpCluster) WaitLeader() *keeper.Node {
	c.t.Helper()
	deadline := time.Now().Add(keepertestWait)
	for {
		if n := c.agreedLeader(); n != nil {
			return n
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("tcp cluster: no leader after %v", keepertestWait)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (c *tcpCluster) Leader() *keeper.Node { c.t.Helper(); return c.WaitLeader() }

func (c *tcpCluster) agreedLeader() *keeper.Node {
	ns := c.Nodes()
	var leader *keeper.Node
	var term uint64
	for _, n := range ns {
		if st := n.Status(); st.Role == keeper.RoleLeader && st.Term >= term {
			leader, term = n, st.Term
		}
	}
	for _, n := range ns {
		if leader == nil || n.Status().Leader != leader.ID() {
			return nil
		}
	}
	return leader
}

// WaitConverged waits until every running member has applied the same
// index with the same digest, and returns that index.
func (c *tcpCluster) WaitConverged() uint64 {
	c.t.Helper()
	deadline := time.Now().Add(keepertestWait)
	for {
		var sts []keeper.Status
		for _, n := range c.Nodes() {
			sts = append(sts, n.Status())
		}
		if len(sts) > 0 && !slices.ContainsFunc(sts, func(st keeper.Status) bool {
			return st.Applied != sts[0].Applied || st.Digest != sts[0].Digest
		}) {
			return sts[0].Applied
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("tcp cluster: members did not converge within %v: %s", keepertestWait, fmt.Sprint(sts))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Partition blocks every link between members of different groups (members
// named in no group form one more group), each blocked link stalling its
// connections or resetting them, as the seeded nemesis chooses. It replaces
// any earlier partition.
func (c *tcpCluster) Partition(groups ...[]uint64) {
	c.t.Helper()
	if !c.opt.proxied {
		c.t.Fatal("tcp cluster: Partition needs proxied links")
	}
	group := func(id uint64) int {
		for i, g := range groups {
			if slices.Contains(g, id) {
				return i + 1
			}
		}
		return 0
	}
	reset := c.rng.IntN(2) == 0
	for link, p := range c.proxies {
		if group(link[0]) != group(link[1]) {
			p.Block(reset)
		} else {
			p.Unblock()
		}
	}
}

// Heal unblocks every link; stalled connections go on where they stopped.
func (c *tcpCluster) Heal() {
	for _, p := range c.proxies {
		p.Unblock()
	}
}

// Weather sets every proxied link's chunk delay, jitter and cut fraction.
func (c *tcpCluster) Weather(delay, jitter time.Duration, cut float64) {
	for _, p := range c.proxies {
		p.Weather(delay, jitter, cut)
	}
}

func (c *tcpCluster) shutdown() {
	for _, n := range c.Nodes() {
		c.Stop(n.ID())
	}
	for _, p := range c.proxies {
		p.Close()
	}
	c.mu.Lock()
	for _, ln := range c.lns {
		ln.Close()
	}
	c.mu.Unlock()
}
