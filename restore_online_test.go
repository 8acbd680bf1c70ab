package keeper_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// backupBytes takes a linearizable backup of n into memory.
func backupBytes(t *testing.T, n *keeper.Node) ([]byte, keeper.BackupInfo) {
	t.Helper()
	var buf bytes.Buffer
	info, err := n.Backup(context.Background(), &buf, keeper.BackupOptions{Linearizable: true})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), info
}

// dumpTree returns every znode at or below root on n as path -> data and
// Stat, read locally.
func dumpTree(t *testing.T, n *keeper.Node, root string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := make(map[string]string)
	var walk func(p string)
	walk = func(p string) {
		data, st, err := n.Get(ctx, p)
		if errors.Is(err, keeper.ErrNoNode) {
			return
		}
		if err != nil {
			t.Fatalf("get %s: %v", p, err)
		}
		out[p] = fmt.Sprintf("%q %+v", data, st)
		names, _, err := n.Children(ctx, p)
		if err != nil {
			t.Fatalf("children %s: %v", p, err)
		}
		for _, name := range names {
			if p == "/" {
				walk("/" + name)
			} else {
				walk(p + "/" + name)
			}
		}
	}
	walk(root)
	return out
}

// mustCreate creates path on the cluster's leader.
func mustCreate(t *testing.T, c *keepertest.Cluster, path, data string) keeper.Stat {
	t.Helper()
	_, st, err := c.WaitLeader().Create2(context.Background(), path, []byte(data), keeper.Persistent)
	if err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
	return st
}

// waitRestored reads w's events until a Restored one, which it returns.
func waitRestored(t *testing.T, w *keeper.Watch) keeper.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("watch on %s closed before a Restored event", w.Path())
			}
			if ev.Type == keeper.Restored {
				return ev
			}
		case <-timeout:
			t.Fatalf("watch on %s got no Restored event", w.Path())
		}
	}
}

// TestRestoreOnlineWholeTree restores a whole tree on a follower while a
// client writes and sessions watch on every member: every member ends with
// the same digest and the backup's znodes; the ephemeral of a closed session
// is dropped and a live session's later ephemeral kept; zxids keep rising;
// every watch gets Restored.
func TestRestoreOnlineWholeTree(t *testing.T) {
	c := keepertest.NewCluster(t, 3)
	ctx := context.Background()
	leader := c.WaitLeader()
	mustCreate(t, c, "/app", "app")
	for i := range 50 {
		mustCreate(t, c, fmt.Sprintf("/app/a%02d", i), "v1")
	}
	s1, err := leader.NewSession(ctx, keeper.SessionOptions{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close(ctx)
	s2, err := leader.NewSession(ctx, keeper.SessionOptions{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Create(ctx, "/app/eph1", nil, keeper.Ephemeral); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Create(ctx, "/app/eph2", nil, keeper.Ephemeral); err != nil {
		t.Fatal(err)
	}
	b, binfo := backupBytes(t, leader)
	want := dumpTree(t, leader, "/app")

	// Change the tree after the backup.
	if _, err := leader.Set(ctx, "/app/a00", []byte("v2"), keeper.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if err := leader.Delete(ctx, "/app/a01", keeper.AnyVersion); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, c, "/app/new", "x")
	mustCreate(t, c, "/gone", "x")
	if err := s2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Create(ctx, "/app/eph3", nil, keeper.Ephemeral); err != nil {
		t.Fatal(err)
	}
	c.WaitConverged()

	// Watches on every member.
	var watches []*keeper.Watch
	for _, n := range c.Nodes() {
		s, err := n.NewSession(ctx, keeper.SessionOptions{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(ctx)
		_, _, w, err := s.GetW(ctx, "/app/a02")
		if err != nil {
			t.Fatal(err)
		}
		watches = append(watches, w)
		if _, _, w, err = s.ChildrenW(ctx, "/app"); err != nil {
			t.Fatal(err)
		}
		watches = append(watches, w)
		if w, err = s.AddWatch(ctx, "/", keeper.PersistentRecursive); err != nil {
			t.Fatal(err)
		}
		watches = append(watches, w)
	}

	// A client writes throughout the restore.
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		maxSeen atomic.Int64
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			_, st, err := leader.Create2(ctx, fmt.Sprintf("/w-%05d", i), nil, keeper.Persistent)
			if err == nil && int64(st.Czxid) > maxSeen.Load() {
				maxSeen.Store(int64(st.Czxid))
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	before := leader.Status().Applied
	var follower *keeper.Node
	for _, n := range c.Nodes() {
		if n.ID() != leader.ID() {
			follower = n
			break
		}
	}
	info, err := follower.RestoreOnline(ctx, bytes.NewReader(b), keeper.RestoreOnlineOptions{})
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restore: %+v", info)
	if info.Zxid <= before {
		t.Errorf("restore zxid %d not above %d applied before", info.Zxid, before)
	}
	if info.DroppedEphemerals != 1 || info.KeptEphemerals != 1 {
		t.Errorf("dropped %d, kept %d ephemerals; want 1 and 1", info.DroppedEphemerals, info.KeptEphemerals)
	}
	if info.Znodes != binfo.Znodes-1 {
		t.Errorf("restored %d znodes, backup has %d (one dropped)", info.Znodes, binfo.Znodes)
	}
	c.WaitConverged()

	delete(want, "/app/eph2")
	for _, n := range c.Nodes() {
		got := dumpTree(t, n, "/app")
		if _, ok := got["/app/eph3"]; !ok {
			t.Errorf("member %d: live session's ephemeral /app/eph3 not kept", n.ID())
		}
		delete(got, "/app/eph3")
		if !maps.Equal(got, want) {
			for _, p := range slices.Sorted(maps.Keys(want)) {
				if got[p] != want[p] {
					t.Errorf("member %d: %s = %s, backup had %s", n.ID(), p, got[p], want[p])
				}
			}
			for p := range got {
				if _, ok := want[p]; !ok {
					t.Errorf("member %d: %s not in the backup", n.ID(), p)
				}
			}
		}
		if _, ok, err := n.Exists(ctx, "/gone"); err != nil || ok {
			t.Errorf("member %d: /gone exists=%v after restore (%v)", n.ID(), ok, err)
		}
	}
	_, st, err := c.WaitLeader().Create2(ctx, "/after", nil, keeper.Persistent)
	if err != nil {
		t.Fatal(err)
	}
	if st.Czxid <= info.Zxid || int64(st.Czxid) <= maxSeen.Load() || st.Czxid <= before {
		t.Errorf("Czxid %d after restore at %d; max zxid seen before %d", st.Czxid, info.Zxid, max(keeper.Zxid(maxSeen.Load()), before))
	}
	for _, w := range watches {
		if ev := waitRestored(t, w); ev.Zxid != info.Zxid {
			t.Errorf("watch %s: Restored at %d, restore at %d", w.Path(), ev.Zxid, info.Zxid)
		}
	}
}

// TestRestoreOnlineDigestAndCatchUp restores while a member is down: with no
// sessions and no ephemerals the digest equals the backup's on every
// member, and the stopped member catches up to it by log, or by a raft
// snapshot taken after the restore.
func TestRestoreOnlineDigestAndCatchUp(t *testing.T) {
	for _, bySnap := range []bool{false, true} {
		t.Run(fmt.Sprintf("snapshot=%v", bySnap), func(t *testing.T) {
			restoreWhileDown(t, bySnap)
		})
	}
	t.Run("killed-after", func(t *testing.T) {
		// A member killed right after applying the restore replays it from
		// its log (or keeps it) and agrees with the others.
		c := keepertest.NewCluster(t, 3)
		ctx := context.Background()
		mustCreate(t, c, "/k", "v1")
		b, binfo := backupBytes(t, c.WaitLeader())
		mustCreate(t, c, "/k2", "v1")
		leader := c.WaitLeader()
		if _, err := leader.RestoreOnline(ctx, bytes.NewReader(b), keeper.RestoreOnlineOptions{}); err != nil {
			t.Fatal(err)
		}
		c.WaitConverged()
		for _, id := range c.IDs() {
			if id != leader.ID() {
				c.Kill(id)
				c.Restart(id)
				break
			}
		}
		c.WaitConverged()
		for _, n := range c.Nodes() {
			if d := n.Status().Digest; d != binfo.Digest {
				t.Errorf("member %d digest %x, backup's %x", n.ID(), d, binfo.Digest)
			}
		}
	})
}

// restoreWhileDown is TestRestoreOnlineDigestAndCatchUp with one member
// stopped during the restore, catching up by log or by raft snapshot.
func restoreWhileDown(t *testing.T, bySnap bool) {
	c := snapCluster(t)
	ctx := context.Background()
	for i := range 20 {
		mustCreate(t, c, fmt.Sprintf("/n%02d", i), "v1")
	}
	b, binfo := backupBytes(t, c.WaitLeader())
	for i := range 10 {
		if _, err := c.WaitLeader().Set(ctx, fmt.Sprintf("/n%02d", i), []byte("v2"), keeper.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	leader := c.WaitLeader()
	var down uint64
	for _, id := range c.IDs() {
		if id != leader.ID() {
			down = id
			break
		}
	}
	c.Stop(down)
	info, err := leader.RestoreOnline(ctx, bytes.NewReader(b), keeper.RestoreOnlineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Digest != binfo.Digest {
		t.Errorf("digest %x after restore, backup's %x", info.Digest, binfo.Digest)
	}
	c.WaitConverged()
	if bySnap {
		writeMany(t, c, "/more", 10*snapKeep)
		writePastLog(t, c, "/past")
	}
	c.Restart(down)
	if bySnap {
		waitSnapshotInstalled(t, c, down)
	}
	c.WaitConverged()
	if !bySnap {
		for _, n := range c.Nodes() {
			if d := n.Status().Digest; d != binfo.Digest {
				t.Errorf("member %d digest %x, backup's %x", n.ID(), d, binfo.Digest)
			}
		}
	}
	if data, _, err := c.Node(down).Get(ctx, "/n00"); err != nil || string(data) != "v1" {
		t.Errorf("member %d: /n00 = %q, %v after catching up", down, data, err)
	}
}

// TestRestoreOnlineSubtree restores one subtree: it alone takes the
// backup's content; the rest keeps its changes; the parent's Stat is kept
// when the subtree existed, and counts a create when it did not.
func TestRestoreOnlineSubtree(t *testing.T) {
	c := keepertest.NewCluster(t, 3)
	ctx := context.Background()
	for _, p := range []string{"/app", "/app/config", "/app/config/x", "/app/config/y", "/app/config/y/deep", "/app/other", "/top"} {
		mustCreate(t, c, p, "v1")
	}
	leader := c.WaitLeader()
	b, _ := backupBytes(t, leader)
	want := dumpTree(t, leader, "/app/config")

	for _, p := range []string{"/app/config/x", "/app/other", "/top"} {
		if _, err := leader.Set(ctx, p, []byte("v2"), keeper.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(t, c, "/app/config/z", "new")
	if err := leader.Delete(ctx, "/app/config/y/deep", keeper.AnyVersion); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, c, "/app/configx", "sibling")
	c.WaitConverged()
	restOf := func(n *keeper.Node) map[string]string {
		m := dumpTree(t, n, "/")
		for p := range m {
			if p == "/app/config" || len(p) > len("/app/config/") && p[:len("/app/config/")] == "/app/config/" {
				delete(m, p)
			}
		}
		return m
	}
	rest := restOf(leader)

	info, err := leader.RestoreOnline(ctx, bytes.NewReader(b), keeper.RestoreOnlineOptions{Subtree: "/app/config"})
	if err != nil {
		t.Fatal(err)
	}
	c.WaitConverged()
	for _, n := range c.Nodes() {
		if got := dumpTree(t, n, "/app/config"); !maps.Equal(got, want) {
			t.Errorf("member %d: subtree %v, backup's %v", n.ID(), got, want)
		}
		if got := restOf(n); !maps.Equal(got, rest) {
			t.Errorf("member %d: the rest of the tree changed:\n%v\nwant\n%v", n.ID(), got, rest)
		}
	}

	// Restoring a subtree that was deleted creates it under its parent.
	for _, p := range []string{"/app/config/x", "/app/config/y/deep", "/app/config/y", "/app/config"} {
		if err := leader.Delete(ctx, p, keeper.AnyVersion); err != nil && !errors.Is(err, keeper.ErrNoNode) {
			t.Fatal(err)
		}
	}
	_, before, err := leader.Get(ctx, "/app")
	if err != nil {
		t.Fatal(err)
	}
	info, err = leader.RestoreOnline(ctx, bytes.NewReader(b), keeper.RestoreOnlineOptions{Subtree: "/app/config"})
	if err != nil {
		t.Fatal(err)
	}
	c.WaitConverged()
	_, after, err := leader.Get(ctx, "/app")
	if err != nil {
		t.Fatal(err)
	}
	if after.NumChildren != before.NumChildren+1 || after.Cversion != before.Cversion+1 || after.Pzxid != info.Zxid {
		t.Errorf("parent stat %+v after recreating the subtree at %d; before %+v", after, info.Zxid, before)
	}
	if got := dumpTree(t, leader, "/app/config"); !maps.Equal(got, want) {
		t.Errorf("recreated subtree %v, backup's %v", got, want)
	}

	if _, err := leader.RestoreOnline(ctx, bytes.NewReader(b), keeper.RestoreOnlineOptions{Subtree: "/nope"}); !errors.Is(err, keeper.ErrNoNode) {
		t.Errorf("subtree absent from the backup: %v, want ErrNoNode", err)
	}
	if _, err := leader.RestoreOnline(ctx, bytes.NewReader(b), keeper.RestoreOnlineOptions{Subtree: "/zookeeper/quota"}); !errors.Is(err, keeper.ErrBadArguments) {
		t.Errorf("reserved subtree: %v, want ErrBadArguments", err)
	}
}

// TestRestoreOnlineRefusesDamage checks that a damaged or truncated stream
// is refused with ErrCorruptBackup and nothing changes.
func TestRestoreOnlineRefusesDamage(t *testing.T) {
	c := keepertest.NewCluster(t, 3)
	ctx := context.Background()
	for i := range 30 {
		mustCreate(t, c, fmt.Sprintf("/d%02d", i), "data")
	}
	leader := c.WaitLeader()
	b, _ := backupBytes(t, leader)
	if _, err := leader.Set(ctx, "/d00", []byte("changed"), keeper.AnyVersion); err != nil {
		t.Fatal(err)
	}
	at := c.WaitConverged()
	dig := leader.Status().Digest
	flipped := bytes.Clone(b)
	flipped[len(flipped)/2] ^= 0x40
	for name, bad := range map[string][]byte{"flipped": flipped, "truncated": b[:len(b)-9]} {
		_, err := leader.RestoreOnline(ctx, bytes.NewReader(bad), keeper.RestoreOnlineOptions{})
		if !errors.Is(err, keeper.ErrCorruptBackup) {
			t.Errorf("%s stream: %v, want ErrCorruptBackup", name, err)
		}
	}
	for _, n := range c.Nodes() {
		if st := n.Status(); st.Digest != dig || st.Applied != at {
			t.Errorf("member %d at %d digest %x after refused restores; was %d, %x", n.ID(), st.Applied, st.Digest, at, dig)
		}
	}
}

// TestRestoreOnlineForeign checks that a backup of another cluster, or one
// ahead of the cluster's zxid, is refused without AllowForeign and restored
// with it, its Stats then clamped to the restore's zxid.
func TestRestoreOnlineForeign(t *testing.T) {
	const id = 0x5eed
	c := keepertest.NewCluster(t, 3, keepertest.WithConfig(func(cfg *keeper.Config) { cfg.ClusterID = id }))
	ahead := keepertest.NewCluster(t, 1, keepertest.WithConfig(func(cfg *keeper.Config) { cfg.ClusterID = id }))
	other := keepertest.NewCluster(t, 1, keepertest.WithConfig(func(cfg *keeper.Config) { cfg.ClusterID = id + 1 }))
	ctx := context.Background()
	mustCreate(t, c, "/mine", "x")
	for i := range 40 {
		mustCreate(t, ahead, fmt.Sprintf("/ahead%02d", i), "x")
	}
	mustCreate(t, other, "/theirs", "y")
	aheadB, _ := backupBytes(t, ahead.WaitLeader())
	otherB, _ := backupBytes(t, other.WaitLeader())
	leader := c.WaitLeader()

	if _, err := leader.RestoreOnline(ctx, bytes.NewReader(otherB), keeper.RestoreOnlineOptions{}); !errors.Is(err, keeper.ErrWrongCluster) {
		t.Errorf("foreign backup: %v, want ErrWrongCluster", err)
	}
	if _, err := leader.RestoreOnline(ctx, bytes.NewReader(aheadB), keeper.RestoreOnlineOptions{}); !errors.Is(err, keeper.ErrBackupAhead) {
		t.Errorf("backup ahead: %v, want ErrBackupAhead", err)
	}
	if _, ok, _ := leader.Exists(ctx, "/mine"); !ok {
		t.Fatal("a refused restore changed the tree")
	}
	if _, err := leader.RestoreOnline(ctx, bytes.NewReader(otherB), keeper.RestoreOnlineOptions{AllowForeign: true}); err != nil {
		t.Fatal(err)
	}
	info, err := leader.RestoreOnline(ctx, bytes.NewReader(aheadB), keeper.RestoreOnlineOptions{AllowForeign: true})
	if err != nil {
		t.Fatal(err)
	}
	c.WaitConverged()
	for _, n := range c.Nodes() {
		got := dumpTree(t, n, "/")
		if len(got) != 40+2 {
			t.Errorf("member %d holds %d znodes, want 42", n.ID(), len(got))
		}
		for i := range 40 {
			_, st, err := n.Get(ctx, fmt.Sprintf("/ahead%02d", i))
			if err != nil {
				t.Fatal(err)
			}
			if st.Czxid > info.Zxid || st.Mzxid > info.Zxid || st.Pzxid > info.Zxid {
				t.Errorf("member %d: /ahead%02d Stat %+v claims a zxid above the restore's %d", n.ID(), i, st, info.Zxid)
			}
		}
	}
}

// TestRestoreOnline100k measures an online restore of a 100,000-znode
// backup onto a running three-member cluster (KEEPER_BENCH_RESTORE_ONLINE=1).
func TestRestoreOnline100k(t *testing.T) {
	if os.Getenv("KEEPER_BENCH_RESTORE_ONLINE") == "" {
		t.Skip("set KEEPER_BENCH_RESTORE_ONLINE=1 to measure")
	}
	const total, perMulti = 100_000, 1000
	ctx := context.Background()
	src := keepertest.NewCluster(t, 1, keepertest.WithConfig(func(cfg *keeper.Config) { cfg.ClusterID = 0xb1 }))
	// Fresh letters from a fixed-seed generator for every znode: about
	// 4.7 bits a byte after compression.
	rng := rand.New(rand.NewPCG(1, 2))
	letters := func() []byte {
		b := make([]byte, 100)
		for i := range b {
			b[i] = 'a' + byte(rng.IntN(26))
		}
		return b
	}
	start := time.Now()
	for p := 0; p < total/perMulti; p++ {
		ops := []keeper.Op{keeper.CreateOp(fmt.Sprintf("/p%03d", p), nil, keeper.Persistent)}
		for i := 1; i < perMulti; i++ {
			ops = append(ops, keeper.CreateOp(fmt.Sprintf("/p%03d/n%06d", p, p*perMulti+i), letters(), keeper.Persistent))
		}
		if _, err := src.WaitLeader().Multi(ctx, ops...); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	binfo, err := src.WaitLeader().Backup(ctx, &buf, keeper.BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("source built in %v: %d znodes, %d stream bytes", time.Since(start), binfo.Znodes, binfo.Bytes)

	c := keepertest.NewCluster(t, 3, keepertest.WithConfig(func(cfg *keeper.Config) { cfg.ClusterID = 0xb2 }))
	for i := range 200 {
		mustCreate(t, c, fmt.Sprintf("/old%03d", i), "old")
	}
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start = time.Now()
	info, err := c.WaitLeader().RestoreOnline(ctx, bytes.NewReader(buf.Bytes()), keeper.RestoreOnlineOptions{AllowForeign: true})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	c.WaitConverged()
	all := time.Since(start)
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	t.Logf("restore online of %d znodes: %v on the caller, %v until all three members applied it; %d chunks, %d bytes replicated; heap in use %d MiB -> %d MiB",
		info.Znodes, took, all, info.Chunks, info.StreamBytes, m0.HeapInuse>>20, m1.HeapInuse>>20)
	if info.Znodes != binfo.Znodes || info.Removed != 202 {
		t.Errorf("restored %d znodes (removed %d), backup has %d", info.Znodes, info.Removed, binfo.Znodes)
	}
}

// TestOpenRemovesStaleRestoreSpool: a spool an online restore left behind
// in a stopped member's dir (a crash mid-restore) is gone once it reopens;
// a running member's dir is left alone.
func TestOpenRemovesStaleRestoreSpool(t *testing.T) {
	c := keepertest.NewCluster(t, 1)
	spool := filepath.Join(c.Dir(1), ".restore-online-12345")
	if err := os.WriteFile(spool, []byte("half a stream"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keeper.Open(context.Background(), c.Config(1)); !errors.Is(err, keeper.ErrLocked) {
		t.Fatalf("second Open of a running member's dir: %v, want ErrLocked", err)
	}
	if _, err := os.Stat(spool); err != nil {
		t.Fatalf("a refused Open touched the running member's spool: %v", err)
	}
	c.Stop(1)
	c.Restart(1)
	if _, err := os.Stat(spool); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale spool after reopening: %v", err)
	}
	if _, err := c.WaitLeader().Create(context.Background(), "/after", nil, keeper.Persistent); err != nil {
		t.Fatalf("write after reopening: %v", err)
	}
}
