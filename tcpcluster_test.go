package keeper_test

import (
	"context"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
	"github.com/keeper-go/keeper/transport"
	"github.com/keeper-go/keeper/transport/certs"
)

// tcpCluster is a keepertest cluster whose members run over their own
// transport.TCP with mutual TLS on loopback, as members on separate
// machines do, with the network in between. With proxied, every directed
// link goes through a linkProxy, and Partition and Heal act on those.
type tcpCluster struct {
	*keepertest.Cluster
	t         testing.TB
	clusterID uint64
	ids       []uint64
	opt       tcpOptions
	tls       map[uint64]transport.TLSPEM
	rng       *rand.Rand               // the nemesis's choices (stall or reset)
	proxies   map[[2]uint64]*linkProxy // (from, to)

	mu    sync.Mutex
	addrs map[uint64]string       // each member's listen address
	lns   map[uint64]net.Listener // opened before the first start
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

// newTCPCluster starts n members over TCP and waits until every one knows
// the leader.
func newTCPCluster(t testing.TB, n int, o tcpOptions) *tcpCluster {
	t.Helper()
	c := &tcpCluster{
		t: t, clusterID: 0x7c9, opt: o, rng: rand.New(rand.NewPCG(uint64(o.seed), 0x7c9)),
		tls: map[uint64]transport.TLSPEM{}, proxies: map[[2]uint64]*linkProxy{},
		addrs: map[uint64]string{}, lns: map[uint64]net.Listener{},
	}
	ca, err := certs.NewCA(c.clusterID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		id := uint64(i)
		c.ids = append(c.ids, id)
		cert, key, err := ca.Issue(id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
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
	c.Cluster = keepertest.NewCluster(t, n, keepertest.WithSeed(o.seed),
		keepertest.WithTransport(c.newTransport),
		keepertest.WithConfig(func(cfg *keeper.Config) {
			cfg.ClusterID = c.clusterID
			if o.config != nil {
				o.config(cfg)
			}
		}))
	// Runs before the cluster's cleanup and its goroutine-leak check.
	t.Cleanup(func() {
		for _, p := range c.proxies {
			p.Close()
		}
		c.mu.Lock()
		for _, ln := range c.lns {
			ln.Close()
		}
		c.mu.Unlock()
	})
	return c
}

func (c *tcpCluster) addr(id uint64) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addrs[id]
}

// newTransport makes member id's TCP: on its first listener, or on a new
// one on the same address (behind proxies, on any address).
func (c *tcpCluster) newTransport(id uint64) (keeper.Transport, error) {
	c.mu.Lock()
	ln := c.lns[id]
	delete(c.lns, id)
	where := c.addrs[id]
	c.mu.Unlock()
	if c.opt.proxied {
		where = "127.0.0.1:0"
	}
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", where); err != nil {
			return nil, err
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
		return nil, err
	}
	c.mu.Lock()
	c.addrs[id] = ln.Addr().String()
	c.mu.Unlock()
	if c.opt.wrap != nil {
		return c.opt.wrap(id, tr), nil
	}
	return tr, nil
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
