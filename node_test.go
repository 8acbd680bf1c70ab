package keeper_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
	"github.com/keeper-go/keeper/transport"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// retry runs a create until it succeeds or the deadline passes. It retries
// ErrNoLeader (nothing was proposed) and ErrIndeterminate (the write may have
// happened: a retry that then finds the node exists counts as success).
func retry(ctx context.Context, t *testing.T, fn func() error) {
	t.Helper()
	unsure := false
	for {
		err := fn()
		if err == nil || (unsure && errors.Is(err, keeper.ErrNodeExists)) {
			return
		}
		if errors.Is(err, keeper.ErrIndeterminate) {
			unsure = true
		} else if !errors.Is(err, keeper.ErrNoLeader) {
			t.Fatalf("write: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatalf("write: %v (%v)", err, ctx.Err())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A write through any member is applied on that member before the call
// returns, and a Sync makes it visible on another.
func TestWritesFromEveryMember(t *testing.T) {
	c := keepertest.NewCluster(t, 3)
	ctx := ctxFor(t, 20*time.Second)
	n1, n2, n3 := c.Node(1), c.Node(2), c.Node(3)
	retry(ctx, t, func() error { _, err := n1.Create(ctx, "/app", []byte("v1"), keeper.Persistent); return err })
	var paths []string
	for i, n := range []*keeper.Node{n1, n2, n3} {
		p, err := n.Create(ctx, "/app/job-", []byte(fmt.Sprint(i)), keeper.PersistentSequential)
		if err != nil {
			t.Fatalf("create through member %d: %v", n.ID(), err)
		}
		// Read-your-writes on the member that wrote.
		if data, _, err := n.Get(ctx, p); err != nil || string(data) != fmt.Sprint(i) {
			t.Fatalf("member %d reads its own write %s: %q %v", n.ID(), p, data, err)
		}
		paths = append(paths, p)
	}
	want := []string{"/app/job-0000000000", "/app/job-0000000001", "/app/job-0000000002"}
	if fmt.Sprint(paths) != fmt.Sprint(want) {
		t.Fatalf("sequential paths %v, want %v", paths, want)
	}
	if err := n3.Sync(ctx, "/app"); err != nil {
		t.Fatal(err)
	}
	names, stat, err := n3.Children(ctx, "/app")
	if err != nil || len(names) != 3 || stat.NumChildren != 3 || stat.Cversion != 3 {
		t.Fatalf("children after Sync: %v %+v %v", names, stat, err)
	}
	if _, err := n2.Set(ctx, "/app", []byte("v2"), 7); !errors.Is(err, keeper.ErrBadVersion) {
		t.Fatalf("set with a wrong version: %v", err)
	}
	res, err := n2.Multi(ctx, keeper.CheckOp("/app", 0), keeper.SetOp("/app", []byte("v2"), -1), keeper.DeleteOp("/missing", -1))
	var me *keeper.MultiError
	if !errors.As(err, &me) || me.Index != 2 || !errors.Is(err, keeper.ErrNoNode) || len(res) != 3 {
		t.Fatalf("failed multi: %v %+v", err, res)
	}
	if data, _, _ := n2.Get(ctx, "/app"); string(data) != "v1" {
		t.Fatalf("a failed multi changed /app to %q", data)
	}
	// A multi refused before it is proposed has a result per op too.
	res, err = n2.Multi(ctx, keeper.CreateOp("/app/c", nil, keeper.Persistent, keeper.WithACL()), keeper.CheckOp("/app", 0))
	if !errors.As(err, &me) || me.Index != 0 || !errors.Is(err, keeper.ErrInvalidACL) || len(res) != 2 ||
		!errors.Is(res[0].Err, keeper.ErrInvalidACL) || !errors.Is(res[1].Err, keeper.ErrRuntimeInconsistency) {
		t.Fatalf("multi refused by its proposer: %v %+v", err, res)
	}
	// Linearizable reads see every acknowledged write, on any member.
	st, err := n1.Set(ctx, "/app", []byte("v3"), keeper.AnyVersion)
	if err != nil {
		t.Fatal(err)
	}
	data, got, err := n2.Linearizable().Get(ctx, "/app")
	if err != nil || string(data) != "v3" || got.Mzxid != st.Mzxid {
		t.Fatalf("linearizable read on a follower: %q %+v %v", data, got, err)
	}
	c.WaitConverged()
}

// Killing the leader elects another and writes resume; the old leader
// restarts from its dir and catches up to the same digest.
func TestLeaderKilledWritesResume(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c := keepertest.NewCluster(t, size)
			ctx := ctxFor(t, 30*time.Second)
			old := c.Leader()
			retry(ctx, t, func() error { _, err := old.Create(ctx, "/a", nil, keeper.Persistent); return err })
			id := old.ID()
			c.Kill(id)
			other := c.Node(c.Others(id)[0])
			retry(ctx, t, func() error { _, err := other.Create(ctx, "/b", nil, keeper.Persistent); return err })
			if l := c.WaitLeader(); l.ID() == id {
				t.Fatalf("killed member %d still leads", id)
			}
			c.Restart(id)
			c.WaitConverged()
			if err := c.Node(id).Sync(ctx, "/"); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := c.Node(id).Exists(ctx, "/b"); !ok || err != nil {
				t.Fatalf("restarted member lacks /b: %v", err)
			}
		})
	}
}

// A partitioned minority cannot write; the majority goes on and the healed
// minority catches up.
func TestMinorityPartition(t *testing.T) {
	c := keepertest.NewCluster(t, 5)
	ctx := ctxFor(t, 30*time.Second)
	leader := c.Leader()
	retry(ctx, t, func() error { _, err := leader.Create(ctx, "/p", nil, keeper.Persistent); return err })
	minority := c.Others(leader.ID())[:2]
	c.Partition(minority, c.Others(minority...))
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	_, err := c.Node(minority[0]).Create(wctx, "/p/minority", nil, keeper.Persistent)
	cancel()
	if err == nil || !(errors.Is(err, keeper.ErrNoLeader) || errors.Is(err, keeper.ErrIndeterminate) || errors.Is(err, context.DeadlineExceeded)) {
		t.Fatalf("write in the minority: %v", err)
	}
	majority := c.Node(c.Others(minority...)[0])
	for i := 0; i < 20; i++ {
		retry(ctx, t, func() error {
			_, err := majority.Create(ctx, fmt.Sprintf("/p/m%d", i), nil, keeper.Persistent)
			return err
		})
	}
	c.Heal()
	c.WaitConverged()
	for _, id := range minority {
		if err := c.Node(id).Sync(ctx, "/"); err != nil {
			t.Fatal(err)
		}
		if n, err := c.Node(id).AllChildrenNumber(ctx, "/p"); err != nil || n < 20 {
			t.Fatalf("healed member %d holds %d of 20 children: %v", id, n, err)
		}
	}
}

// A random concurrent workload under drops, duplicates and delays leaves
// every member with the same digest at the same zxid.
func TestConvergenceUnderFaults(t *testing.T) {
	c := keepertest.NewCluster(t, 3)
	seed := c.Seed()
	ctx := ctxFor(t, 60*time.Second)
	retry(ctx, t, func() error { _, err := c.Leader().Create(ctx, "/w", nil, keeper.Persistent); return err })
	net := c.Network()
	net.DropAll(0.05)
	net.Duplicate(0.05)
	net.Delay(time.Millisecond, 2*time.Millisecond)
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(w)))
			for i := 0; i < 40 && ctx.Err() == nil; i++ {
				n := c.Node(uint64(1 + rng.IntN(3)))
				p := fmt.Sprintf("/w/k%d", rng.IntN(20))
				wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				switch rng.IntN(3) {
				case 0:
					n.Create(wctx, p, []byte{byte(i)}, keeper.Persistent)
				case 1:
					n.Set(wctx, p, []byte{byte(i)}, keeper.AnyVersion)
				case 2:
					n.Delete(wctx, p, keeper.AnyVersion)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	net.Heal()
	net.DropAll(0)
	net.Duplicate(0)
	net.Delay(0, 0)
	c.WaitConverged()
}

func TestClosedAndLocked(t *testing.T) {
	ctx := ctxFor(t, 10*time.Second)
	dir := t.TempDir()
	net := transport.NewMemory(1)
	defer net.Close()
	cfg := keeper.Config{ID: 1, Dir: dir, Peers: []uint64{1}, Transport: net.Endpoint(1)}
	n, err := keeper.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Create(ctx, "/x", []byte("1"), keeper.Persistent); err != nil {
		t.Fatal(err)
	}
	if _, err := keeper.Open(ctx, keeper.Config{ID: 1, Dir: dir, Peers: []uint64{1}, Transport: net.Endpoint(2)}); !errors.Is(err, keeper.ErrLocked) {
		t.Fatalf("second Open on one dir: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Get(ctx, "/x"); !errors.Is(err, keeper.ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if _, err := n.Create(ctx, "/y", nil, keeper.Persistent); !errors.Is(err, keeper.ErrClosed) {
		t.Fatalf("Create after Close: %v", err)
	}
	if err := n.Sync(ctx, "/"); !errors.Is(err, keeper.ErrClosed) {
		t.Fatalf("Sync after Close: %v", err)
	}
	// Reopen: the acknowledged write is there.
	n, err = keeper.Open(ctx, keeper.Config{ID: 1, Dir: dir, Peers: []uint64{1}, Transport: net.Endpoint(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if data, _, err := n.Get(ctx, "/x"); err != nil || string(data) != "1" {
		t.Fatalf("after reopen: %q %v", data, err)
	}
}

// The host names a super user (Config.SuperDigest, as ZooKeeper's
// superDigest); a Client with that user's identity passes every ACL, and no
// caller can claim the super scheme directly.
func TestSuperDigest(t *testing.T) {
	super := keeper.DigestACL(keeper.PermAll, "admin", "s3cret").ID
	c := keepertest.NewCluster(t, 1, keepertest.WithConfig(func(cfg *keeper.Config) { cfg.SuperDigest = super }))
	ctx := ctxFor(t, 10*time.Second)
	n := c.Leader()
	alice := n.WithAuth(keeper.DigestIdentity("alice", "pw"))
	if _, err := alice.Create(ctx, "/private", []byte("a"), keeper.Persistent, keeper.WithACL(keeper.DigestACL(keeper.PermAll, "alice", "pw"))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Get(ctx, "/private"); !errors.Is(err, keeper.ErrNoAuth) {
		t.Fatalf("anonymous read of alice's node: %v", err)
	}
	if _, _, err := n.WithAuth(keeper.Identity{Scheme: "super"}).Get(ctx, "/private"); !errors.Is(err, keeper.ErrNoAuth) {
		t.Fatalf("a claimed super scheme was honoured: %v", err)
	}
	if _, _, err := n.WithAuth(keeper.DigestIdentity("admin", "wrong")).Get(ctx, "/private"); !errors.Is(err, keeper.ErrNoAuth) {
		t.Fatalf("a wrong super password was honoured: %v", err)
	}
	admin := n.WithAuth(keeper.DigestIdentity("admin", "s3cret"))
	if data, _, err := admin.Get(ctx, "/private"); err != nil || string(data) != "a" {
		t.Fatalf("super read: %q %v", data, err)
	}
	if err := admin.Delete(ctx, "/private", keeper.AnyVersion); err != nil {
		t.Fatalf("super delete: %v", err)
	}
	if _, err := n.WithAuth(keeper.Identity{Scheme: "kerberos", ID: "x"}).Create(ctx, "/k", nil, keeper.Persistent); !errors.Is(err, keeper.ErrBadArguments) {
		t.Fatalf("unknown auth scheme: %v", err)
	}
}
