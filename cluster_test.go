package keeper

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/leakcheck"
	"github.com/keeper-go/keeper/transport"
)

var seedFlag = flag.Int64("keeper.seed", 0, "seed for the in-memory network's faults and the workloads (0: time)")

// testCluster runs n members in one process over transport.Memory, each on
// its real tree in a temp dir; unlike keepertest, it reaches the members'
// internals (crash hooks, the loop, the tree).
type testCluster struct {
	t     testing.TB
	seed  int64
	net   *transport.Memory
	ids   []uint64
	dirs  map[uint64]string
	cfg   func(*Config)
	hooks map[uint64]func(hookPoint)

	mu    sync.Mutex
	nodes map[uint64]*Node
}

func testSeed(t testing.TB) int64 {
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed: -keeper.seed=%d", seed)
		}
	})
	return seed
}

// newTestCluster starts n members (ids 1..n) and registers their shutdown
// and a goroutine-leak check with t.Cleanup. cfg, if not nil, adjusts each
// member's Config.
func newTestCluster(t testing.TB, n int, cfg func(*Config)) *testCluster {
	t.Helper()
	return newTestClusterWithHooks(t, n, cfg, nil)
}

// newTestClusterWithHooks is newTestCluster with hook installed as every
// member's crash-test hook; it learns which member calls it.
func newTestClusterWithHooks(t testing.TB, n int, cfg func(*Config), hook func(id uint64, p hookPoint)) *testCluster {
	t.Helper()
	leak := leakcheck.Start(t)
	seed := testSeed(t)
	c := &testCluster{
		t:     t,
		seed:  seed,
		net:   transport.NewMemory(seed),
		dirs:  make(map[uint64]string),
		nodes: make(map[uint64]*Node),
		hooks: make(map[uint64]func(hookPoint)),
		cfg:   cfg,
	}
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, uint64(i))
		c.dirs[uint64(i)] = t.TempDir()
		if hook != nil {
			id := uint64(i)
			c.hooks[id] = func(p hookPoint) { hook(id, p) }
		}
	}
	t.Cleanup(func() {
		c.closeAll()
		c.net.Close()
		leak()
	})
	for _, id := range c.ids {
		c.start(id)
	}
	return c
}

func (c *testCluster) config(id uint64) Config {
	cfg := Config{
		ID:        id,
		Dir:       c.dirs[id],
		Peers:     c.ids,
		Transport: c.net.Endpoint(id),
	}
	if c.cfg != nil {
		c.cfg(&cfg)
	}
	return cfg
}

// start opens member id on its dir.
func (c *testCluster) start(id uint64) {
	c.t.Helper()
	n, err := open(context.Background(), c.config(id), openOptions{hook: c.hooks[id]})
	if err != nil {
		c.t.Fatalf("open member %d: %v", id, err)
	}
	c.mu.Lock()
	c.nodes[id] = n
	c.mu.Unlock()
}

func (c *testCluster) node(id uint64) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// live returns the running members.
func (c *testCluster) live() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ns []*Node
	for _, id := range c.ids {
		if n := c.nodes[id]; n != nil {
			ns = append(ns, n)
		}
	}
	return ns
}

// stop closes member id gracefully.
func (c *testCluster) stop(id uint64) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[id]
	delete(c.nodes, id)
	c.mu.Unlock()
	if err := n.Close(); err != nil {
		c.t.Fatalf("close member %d: %v", id, err)
	}
}

// kill stops member id as a crash would.
func (c *testCluster) kill(id uint64) {
	c.mu.Lock()
	n := c.nodes[id]
	delete(c.nodes, id)
	c.mu.Unlock()
	n.crash()
}

func (c *testCluster) closeAll() {
	for _, n := range c.live() {
		c.stop(n.ID())
	}
}

// waitFor polls cond until it holds or d passes.
// loopStopped reports whether n's raft loop has stopped (a crash hook ended
// it, or Close).
func (n *Node) loopStopped() bool {
	select {
	case <-n.r.donec:
		return true
	default:
		return false
	}
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitLeader waits until one live member leads and every live member in
// its partition agrees, and returns it.
func (c *testCluster) waitLeader(among ...uint64) *Node {
	c.t.Helper()
	var leader *Node
	waitFor(c.t, 10*time.Second, "a leader", func() bool {
		leader = nil
		var term uint64
		ns := c.live()
		for _, n := range ns {
			if len(among) > 0 && !slices.Contains(among, n.ID()) {
				continue
			}
			st := n.Status()
			if st.Role == RoleLeader && st.Term >= term {
				leader, term = n, st.Term
			}
		}
		if leader == nil {
			return false
		}
		for _, n := range ns {
			if len(among) > 0 && !slices.Contains(among, n.ID()) {
				continue
			}
			if st := n.Status(); st.Leader != leader.ID() || st.Term != term {
				return false
			}
		}
		return true
	})
	return leader
}

// waitConverged waits until every live member has applied the same index,
// at least min, and checks their digests agree there. The deadline is long:
// a restarted member may need a raft snapshot first, on a busy machine.
func (c *testCluster) waitConverged(min uint64) uint64 {
	c.t.Helper()
	var applied uint64
	waitFor(c.t, 60*time.Second, "members to converge", func() bool {
		ns := c.live()
		applied = uint64(ns[0].Status().Applied)
		for _, n := range ns[1:] {
			if uint64(n.Status().Applied) != applied {
				return false
			}
		}
		return applied >= min
	})
	var want uint64
	for i, n := range c.live() {
		st := n.Status()
		if i == 0 {
			want = st.Digest
		} else if uint64(st.Applied) == applied && st.Digest != want {
			c.t.Fatalf("member %d digest %x at %d, member %d has %x", n.ID(), st.Digest, applied, c.live()[0].ID(), want)
		}
	}
	return applied
}

// payload returns a distinct name for a test write (see createReq).
func payload(member uint64, i int) string {
	return fmt.Sprintf("m%d-w%d", member, i)
}

// createReq is the proposal payload of a test write: the creation of the
// znode /name, with name as its data.
func createReq(name string) []byte {
	return opReq(CreateOp("/"+name, []byte(name), Persistent))
}

// opReq is the proposal payload of a request running op, with no session.
func opReq(op Op) []byte {
	b, err := encodeRequest(nil, &request{Time: time.Now().UnixMilli(), Ops: []Op{op}})
	if err != nil {
		panic(err)
	}
	return b
}
