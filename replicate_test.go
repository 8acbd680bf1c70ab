package keeper

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper/storage"
	"github.com/keeper-go/keeper/transport"
)

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// mustPropose creates /name through member n (createReq) and checks the
// result came from applying that create; it returns the create's zxid.
func mustPropose(t testing.TB, n *Node, name string) uint64 {
	t.Helper()
	res, err := n.propose(ctxTimeout(t, 10*time.Second), createReq(name))
	if err != nil {
		t.Fatalf("propose through %d: %v", n.ID(), err)
	}
	if res == nil || res.Err != nil || len(res.Ops) != 1 || res.Ops[0].Path != "/"+name {
		t.Fatalf("propose %q: result %+v", name, res)
	}
	return uint64(res.Ops[0].Stat.Mzxid)
}

// treeChildren opens the tree of the stopped member's dir and returns the
// children of path and the tree's applied index.
func treeChildren(t testing.TB, dir, path string) ([]string, uint64) {
	t.Helper()
	id, _, err := storage.PeekClusterID(dir)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := openTreeDir(dir, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	kids, _, err := tr.children(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(kids)
	return kids, tr.applied()
}

func TestClusterIDIgnoresPeerOrder(t *testing.T) {
	if deriveClusterID([]uint64{3, 1, 2}) != deriveClusterID([]uint64{1, 2, 3}) {
		t.Fatal("cluster id depends on peer order")
	}
}

func TestSingleMember(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	n := c.waitLeader()
	i1 := mustPropose(t, n, "a")
	i2 := mustPropose(t, n, "b")
	if i2 != i1+1 {
		t.Fatalf("indexes %d then %d", i1, i2)
	}
	if err := n.barrier(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	st := n.Status()
	if uint64(st.Applied) < i2 || st.Members[0] != 1 || st.Role != RoleLeader {
		t.Fatalf("status %+v", st)
	}
}

func TestProposeThroughFollowerAndSync(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	leader := c.waitLeader()
	var follower *Node
	for _, n := range c.live() {
		if n != leader {
			follower = n
		}
	}
	idx := mustPropose(t, follower, "via-follower")
	mustPropose(t, leader, "via-leader")
	// A write through the leader is visible on the follower after Sync.
	idx2 := mustPropose(t, leader, "then")
	if err := follower.barrier(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := uint64(follower.Status().Applied); got < idx2 || idx2 <= idx {
		t.Fatalf("follower applied %d after Sync, write at %d", got, idx2)
	}
	st := follower.Status()
	if len(st.Members) != 3 || st.Leader != leader.ID() {
		t.Fatalf("follower status %+v", st)
	}
	c.waitConverged(idx2)
}

func testLeaderKilled(t *testing.T, n int) {
	c := newTestCluster(t, n, nil)
	old := c.waitLeader()
	mustPropose(t, old, "before")
	start := time.Now()
	c.kill(old.ID())
	leader := c.waitLeader()
	t.Logf("new leader %d after %v", leader.ID(), time.Since(start))
	last := mustPropose(t, leader, "after")
	c.start(old.ID())
	c.waitConverged(last)
}

func TestLeaderKilled3(t *testing.T) { testLeaderKilled(t, 3) }
func TestLeaderKilled5(t *testing.T) { testLeaderKilled(t, 5) }

func TestMinorityPartition(t *testing.T) {
	c := newTestCluster(t, 5, nil)
	leader := c.waitLeader()
	mustPropose(t, leader, "before")
	// The old leader and one follower form the minority.
	minority := []uint64{leader.ID()}
	var majority []uint64
	for _, id := range c.ids {
		if id != leader.ID() && len(minority) < 2 {
			minority = append(minority, id)
		} else if id != leader.ID() {
			majority = append(majority, id)
		}
	}
	c.net.Partition(minority, majority)
	for _, id := range minority {
		_, err := c.node(id).propose(ctxTimeout(t, 3*time.Second), createReq("lost"))
		if !errors.Is(err, ErrNoLeader) && !errors.Is(err, ErrIndeterminate) {
			t.Fatalf("write in minority through %d: %v, want ErrNoLeader or ErrIndeterminate", id, err)
		}
	}
	// A linearizable barrier cannot complete without the quorum.
	if err := c.node(minority[1]).barrier(ctxTimeout(t, 500*time.Millisecond)); err == nil {
		t.Fatal("Sync succeeded in the minority")
	}
	newLeader := c.waitLeader(majority...)
	var last uint64
	for i := 0; i < 20; i++ {
		last = mustPropose(t, newLeader, payload(newLeader.ID(), i))
	}
	c.net.Heal()
	c.waitConverged(last)
}

func TestRestartCatchesUp(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	leader := c.waitLeader()
	var down uint64
	for _, id := range c.ids {
		if id != leader.ID() {
			down = id
		}
	}
	mustPropose(t, leader, "x")
	c.stop(down)
	var last uint64
	for i := 0; i < 50; i++ {
		last = mustPropose(t, leader, payload(leader.ID(), i))
	}
	c.start(down)
	c.waitConverged(last)
}

func TestCrashReplaysWAL(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	leader := c.waitLeader()
	var last uint64
	for i := 0; i < 30; i++ {
		last = mustPropose(t, leader, payload(leader.ID(), i))
	}
	c.waitConverged(last)
	// Crash everyone and take their trees away, so the restart must rebuild
	// the same state from the WAL alone (nothing was released: KeepEntries
	// is far above the writes).
	var digests []uint64
	for _, n := range c.live() {
		digests = append(digests, n.Status().Digest)
	}
	for _, id := range c.ids {
		c.kill(id)
		if err := os.RemoveAll(filepath.Join(c.dirs[id], "tree")); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range c.ids {
		c.start(id)
	}
	leader = c.waitLeader()
	after := mustPropose(t, leader, "after")
	c.waitConverged(after)
	if digests[0] != digests[1] || digests[1] != digests[2] {
		t.Fatalf("digests before crash differ: %x", digests)
	}
	// The 30 writes, "after" and /zookeeper, on every member.
	for _, n := range c.live() {
		var kids []string
		if err := n.withTree(func(t *tree) (err error) {
			kids, _, err = t.children("/", nil)
			return err
		}); err != nil || len(kids) != 32 {
			t.Fatalf("member %d after the replay: %d znodes under / (%v)", n.ID(), len(kids), err)
		}
	}
}

func TestReleaseAndReopenAtMark(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.KeepEntries = 10 })
	leader := c.waitLeader()
	var last uint64
	for i := 0; i < 120; i++ {
		last = mustPropose(t, leader, payload(leader.ID(), i))
	}
	c.waitConverged(last)
	// Each member released past index 0: restart reopens at a later mark.
	for _, id := range c.ids {
		if id == leader.ID() {
			continue
		}
		c.kill(id)
		c.start(id)
	}
	last = mustPropose(t, c.waitLeader(), "after")
	c.waitConverged(last)
}

func TestClosedNodeReturnsErrClosed(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	n := c.waitLeader()
	c.stop(n.ID())
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := context.Background()
	if _, err := n.propose(ctx, createReq("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("propose after Close: %v", err)
	}
	if err := n.barrier(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after Close: %v", err)
	}
	if _, err := n.WaitLeader(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitLeader after Close: %v", err)
	}
	_ = n.Status() // still answers
}

func TestCloseFailsPendingAsIndeterminate(t *testing.T) {
	// The leader's loop is held right after it saved the proposal, until
	// Close has begun: the entry is proposed but cannot have committed.
	var gate atomic.Uint64 // member whose loop to hold, 0 = none
	var before atomic.Uint64
	var c *testCluster
	held := make(chan struct{})
	release := make(chan struct{})
	c = newTestClusterWithHooks(t, 3, nil, func(id uint64, p hookPoint) {
		if p != hookAfterSave || gate.Load() != id {
			return
		}
		// Hold the Ready that saved the new entry.
		if last, _ := c.node(id).r.ms.LastIndex(); last > before.Load() && gate.CompareAndSwap(id, 0) {
			close(held)
			<-release
		}
	})
	leader := c.waitLeader()
	mustPropose(t, leader, "x")
	last, _ := leader.r.ms.LastIndex()
	before.Store(last)
	gate.Store(leader.ID())
	errc := make(chan error, 1)
	go func() {
		_, err := leader.propose(context.Background(), createReq("stuck"))
		errc <- err
	}()
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the leader never saved the proposal")
	}
	closed := make(chan error, 1)
	go func() { closed <- leader.Close() }()
	waitFor(t, 5*time.Second, "Close to stop the loop", func() bool { return isDone(leader.r.stopc) })
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	delete(c.nodes, leader.ID())
	c.mu.Unlock()
	if err := <-errc; !errors.Is(err, ErrIndeterminate) || !errors.Is(err, ErrClosed) {
		t.Fatalf("pending write at Close: %v, want ErrIndeterminate and ErrClosed", err)
	}
}

func TestOpenTwiceLocked(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	c.waitLeader()
	cfg := c.config(1)
	cfg.Transport = transport.NewMemory(1).Endpoint(1)
	_, err := open(context.Background(), cfg, openOptions{})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open on one dir: %v, want ErrLocked", err)
	}
}

func TestOpenCorruptWAL(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	n := c.waitLeader()
	for i := 0; i < 5; i++ {
		mustPropose(t, n, payload(1, i))
	}
	c.kill(1)
	segs, _ := filepath.Glob(filepath.Join(c.dirs[1], "wal", "*.wal"))
	sort.Strings(segs)
	f, err := os.OpenFile(segs[len(segs)-1], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Damage the middle of the written records.
	if _, err := f.WriteAt([]byte("garbage-garbage-garbage"), 200); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = open(context.Background(), c.config(1), openOptions{})
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("open over a damaged WAL: %v, want ErrCorrupt", err)
	}
}

func TestOpenWrongCluster(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	c.waitLeader()
	c.stop(1)
	cfg := c.config(1)
	cfg.ClusterID = 12345
	_, err := open(context.Background(), cfg, openOptions{})
	if !errors.Is(err, ErrWrongCluster) {
		t.Fatalf("open with another cluster id: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tr := transport.NewMemory(1).Endpoint(1)
	ok := Config{ID: 1, Dir: "d", Peers: []uint64{1, 2, 3}, Transport: tr}
	cases := []struct {
		name   string
		mutate func(*Config)
		fields []string
	}{
		{"valid", func(*Config) {}, nil},
		{"zero id", func(c *Config) { c.ID = 0 }, []string{"ID"}},
		{"no dir", func(c *Config) { c.Dir = "" }, []string{"Dir"}},
		{"no transport", func(c *Config) { c.Transport = nil }, []string{"Transport"}},
		{"no peers", func(c *Config) { c.Peers = nil }, []string{"Peers"}},
		{"self not in peers", func(c *Config) { c.ID = 9 }, []string{"Peers must include"}},
		{"duplicate peer", func(c *Config) { c.Peers = []uint64{1, 2, 2} }, []string{"twice"}},
		{"zero peer", func(c *Config) { c.Peers = []uint64{1, 0} }, []string{"id 0"}},
		{"election <= heartbeat", func(c *Config) { c.ElectionTicks, c.HeartbeatTicks = 3, 3 }, []string{"ElectionTicks (3)"}},
		{"default election vs heartbeat", func(c *Config) { c.HeartbeatTicks = 20 }, []string{"ElectionTicks (10)"}},
		{"negative tick", func(c *Config) { c.TickInterval = -1 }, []string{"TickInterval"}},
		{"session min above max", func(c *Config) { c.MinSessionTimeout = time.Minute }, []string{"MinSessionTimeout (1m0s) exceeds MaxSessionTimeout (40s)"}},
		{"negative session timeouts", func(c *Config) { c.MinSessionTimeout, c.MaxSessionTimeout = -1, -1 }, []string{"MinSessionTimeout", "MaxSessionTimeout"}},
		{"negative reap interval", func(c *Config) { c.ReapInterval = -1 }, []string{"ReapInterval"}},
		{"all at once", func(c *Config) { *c = Config{} }, []string{"ID", "Dir", "Transport", "Peers"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			cfg.Peers = append([]uint64(nil), ok.Peers...)
			tc.mutate(&cfg)
			before := cfg
			err := cfg.Validate()
			if cfg.ID != before.ID || cfg.ElectionTicks != before.ElectionTicks || cfg.Dir != before.Dir {
				t.Fatal("Validate modified the config")
			}
			if tc.fields == nil {
				if err != nil {
					t.Fatalf("valid config: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			for _, f := range tc.fields {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %q does not name %q", err, f)
				}
			}
		})
	}
}

// TestRandomWorkloadWithFaults runs concurrent writers through random members
// while the network drops, duplicates, delays and reorders frames and one
// member at a time crashes and restarts; afterwards every member must hold
// the same digest at the same applied index, and no acknowledged write may
// be missing.
func TestRandomWorkloadWithFaults(t *testing.T) {
	dur := 2 * time.Second
	if testing.Short() {
		dur = 500 * time.Millisecond
	}
	c := newTestCluster(t, 5, nil)
	rng := rand.New(rand.NewPCG(uint64(c.seed), 1))
	c.waitLeader()
	c.net.DropAll(0.05)
	c.net.Duplicate(0.05)
	c.net.Delay(time.Millisecond, 3*time.Millisecond)

	var (
		ackMu  sync.Mutex
		acked  = []string{"final"} // every acknowledged create
		maxIdx atomic.Uint64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		seed := rng.Uint64()
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 2))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ns := c.live()
				n := ns[r.IntN(len(ns))]
				name := fmt.Sprintf("w%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				res, err := n.propose(ctx, createReq(name))
				cancel()
				switch {
				case err == nil && res.Err != nil:
					t.Errorf("create %s: %v", name, res.Err)
					return
				case err == nil:
					ackMu.Lock()
					acked = append(acked, "/"+name)
					ackMu.Unlock()
					for {
						cur := maxIdx.Load()
						idx := uint64(res.Ops[0].Stat.Mzxid)
						if idx <= cur || maxIdx.CompareAndSwap(cur, idx) {
							break
						}
					}
				case errors.Is(err, ErrNoLeader), errors.Is(err, ErrIndeterminate), errors.Is(err, ErrClosed):
					time.Sleep(time.Millisecond)
				default:
					t.Errorf("propose: unexpected error %v", err)
					return
				}
			}
		}()
	}
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		time.Sleep(time.Duration(100+rng.IntN(200)) * time.Millisecond)
		id := c.ids[rng.IntN(len(c.ids))]
		c.kill(id)
		time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
		c.start(id)
	}
	close(stop)
	wg.Wait()
	c.net.DropAll(0)
	c.net.Duplicate(0)
	c.net.Delay(0, 0)
	last := mustPropose(t, c.waitLeader(), "final")
	applied := c.waitConverged(max(last, maxIdx.Load()))
	c.closeAll()
	// Every member's tree, as Close left it on disk: at the converged index,
	// with the same znodes, among them every acknowledged one.
	var first []string
	for i, id := range c.ids {
		kids, treeApplied := treeChildren(t, c.dirs[id], "/")
		if treeApplied != applied {
			t.Fatalf("member %d synced at %d, converged at %d", id, treeApplied, applied)
		}
		if i == 0 {
			first = kids
		} else if !slices.Equal(kids, first) {
			t.Fatalf("member %d holds %d znodes, member %d %d", id, len(kids), c.ids[0], len(first))
		}
	}
	for _, p := range acked {
		if !slices.Contains(first, strings.TrimPrefix(p, "/")) {
			t.Fatalf("acknowledged create of %s is missing", p)
		}
	}
	ops := len(first) - 1 // "zookeeper"
	t.Logf("%d writes acknowledged, %d applied, index %d", len(acked), ops, applied)
}

// Session timeouts are clamped into [min, max], never refused.
func TestSessionTimeoutClamp(t *testing.T) {
	c := Config{MinSessionTimeout: time.Second, MaxSessionTimeout: 10 * time.Second}
	for _, tc := range []struct{ in, want time.Duration }{
		{0, time.Second}, {-time.Hour, time.Second}, {3 * time.Second, 3 * time.Second}, {time.Hour, 10 * time.Second},
	} {
		if got := c.clampSessionTimeout(tc.in); got != tc.want {
			t.Errorf("clamp(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := (Config{}).clampSessionTimeout(time.Hour); got != DefaultMaxSessionTimeout {
		t.Errorf("default max: %v", got)
	}
}
