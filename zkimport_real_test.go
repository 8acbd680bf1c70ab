package keeper_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/realzk"
)

// TestZooKeeperImportExport moves a tree written by Apache ZooKeeper 3.8
// (Debian's package, on 127.0.0.1) into keeper and back:
//
//  1. ZooKeeper, with a small snapCount so it writes several snapshots and
//     logs, gets every create mode, ACLs, data up to 1 MB, sets, ACL sets,
//     deletes, sequential nodes, multis (failing ones too) and a closed
//     session through go-zookeeper; a second session's ephemerals are still
//     there when it stops.
//  2. Its data dir is imported (ephemerals dropped, and kept as
//     persistent; and from a copy without the newest snapshot, so that the
//     replay runs); a keeper member restored from the import serves every
//     znode and Stat field as ZooKeeper served them, the parents of dropped
//     ephemerals counting only what is kept; its next zxid is above
//     ZooKeeper's and its next sequential name continues ZooKeeper's.
//  3. A backup of that member is exported as a snapshot; ZooKeeper started
//     on a dataDir holding only that file serves the same tree, finds its
//     digest matching, and writes above keeper's zxids.
//
// The short run writes 300 operations with snappy snapshots every 20 to 40
// transactions; KEEPER_ZKIMPORT_LONG=1 runs 3,000 in each snapshot
// compression, with snapshots every 200 to 400. Without
// java and the ZooKeeper jar it is skipped, unless CI=true.
func TestZooKeeperImportExport(t *testing.T) {
	type run struct {
		compression    string
		export         keeper.SnapshotCompression
		ops, snapCount int
	}
	runs := []run{{"snappy", keeper.SnapshotPlain, 300, 40}}
	if os.Getenv("KEEPER_ZKIMPORT_LONG") == "1" {
		runs = []run{{"", keeper.SnapshotGzip, 3000, 400}, {"gz", keeper.SnapshotSnappy, 3000, 400}, {"snappy", keeper.SnapshotPlain, 3000, 400}}
	}
	for _, r := range runs {
		name := r.compression
		if name == "" {
			name = "plain"
		}
		t.Run(name, func(t *testing.T) { runZooKeeperMove(t, r.compression, r.export, r.ops, r.snapCount) })
	}
}

func runZooKeeperMove(t *testing.T, compression string, export keeper.SnapshotCompression, ops, snapCount int) {
	ctx := ctxFor(t, 5*time.Minute)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	dataDir := filepath.Join(t.TempDir(), "zkdata")
	srv := realzk.Start(t, realzk.Options{
		SuperDigest: zkImportSuper, ExtendedTypes: true, DataDir: dataDir,
		SnapCount: snapCount, SnapshotCompression: compression,
		Properties: map[string]string{"znode.container.checkIntervalMs": "3600000"},
	})
	w := newZKWriter(t, srv.Addr, seed)
	w.run(ops)
	before := zkTree(t, w.admin)
	lastZxid := w.lastZxid
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	w.close()

	files, _ := filepath.Glob(filepath.Join(dataDir, "version-2", "snapshot.*"))
	logs, _ := filepath.Glob(filepath.Join(dataDir, "version-2", "log.*"))
	if len(files) < 3 || len(logs) < 2 {
		t.Fatalf("ZooKeeper wrote %d snapshots and %d logs; the test needs several", len(files), len(logs))
	}

	// A copy of the dir without its newest snapshot: as ZooKeeper would, the
	// import then replays every transaction after the one before it, so the
	// replay is sure to run over a real fuzzy snapshot whatever moment the
	// server picked for its last one.
	older := filepath.Join(t.TempDir(), "older")
	copyDir(t, filepath.Join(dataDir, "version-2"), filepath.Join(older, "version-2"))
	slices.Sort(files)
	newest, newestZxid := "", int64(-1)
	for _, f := range files {
		if z, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "snapshot."), "."+compression), 16, 64); err == nil && z > newestZxid {
			newest, newestZxid = filepath.Base(f), z
		}
	}
	if err := os.Remove(filepath.Join(older, "version-2", newest)); err != nil {
		t.Fatal(err)
	}

	var restored *keeper.Node
	for _, run := range []struct {
		dir    string
		policy keeper.EphemeralPolicy
	}{{older, keeper.DropEphemerals}, {dataDir, keeper.KeepEphemeralsAsPersistent}, {dataDir, keeper.DropEphemerals}} {
		var buf bytes.Buffer
		info, err := keeper.ImportZooKeeper(ctx, keeper.ZooKeeperDirs{Data: run.dir}, &buf, keeper.ImportOptions{Ephemerals: run.policy, TempDir: t.TempDir()})
		if err != nil {
			t.Fatalf("import: %v", err)
		}
		t.Logf("import (%v): zxid %#x, snapshot %s, %d logs, %d txns replayed, %d znodes, %d ephemerals, %d sessions, digest checked at %#x and %d txns, notes %q",
			run.policy, info.ZooKeeperZxid, filepath.Base(info.Snapshot), len(info.Logs), info.Txns, info.Backup.Znodes, info.Ephemerals, info.Sessions, info.DigestZxid, info.TxnDigests, info.Notes)
		if info.ZooKeeperZxid < keeper.Zxid(lastZxid) || len(info.Refused) > 0 || info.Ephemerals == 0 || info.Sessions == 0 {
			t.Fatalf("import info %+v; ZooKeeper's last zxid %#x", info, lastZxid)
		}
		if run.dir == older && (info.Txns == 0 || info.DigestZxid == 0 || info.TxnDigests == 0) {
			t.Fatalf("import without the newest snapshot replayed %d transactions, checked digests at %#x and %d transactions", info.Txns, info.DigestZxid, info.TxnDigests)
		}
		restored = openImported(t, buf.Bytes())
		compareTrees(t, fmt.Sprintf("imported from %s, ephemerals %v", filepath.Base(run.dir), run.policy), keeperTree(ctx, t, restored), zkExpected(before, run.policy))
	}

	// Keeper goes on above ZooKeeper's zxids, and numbers the next
	// sequential znode as ZooKeeper would have.
	q := before["/app/queue"].stat
	next := (q.Cversion + q.NumChildren) / 2 // ZooKeeper's internal count of creates
	c := restored.WithAuth(keeper.DigestIdentity("admin", "pw"))
	p, st, err := c.Create2(ctx, "/app/queue/item-", []byte("from keeper"), keeper.PersistentSequential)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("/app/queue/item-%010d", next); p != want || st.Czxid <= keeper.Zxid(lastZxid) {
		t.Fatalf("first keeper create: %s at zxid %#x; want %s above %#x", p, st.Czxid, want, lastZxid)
	}

	// Back to ZooKeeper.
	var backup bytes.Buffer
	if _, err := restored.Backup(ctx, &backup, keeper.BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	want := keeperTree(ctx, t, restored)
	var snap bytes.Buffer
	xi, err := keeper.ExportZooKeeper(ctx, bytes.NewReader(backup.Bytes()), &snap, keeper.ExportOptions{Compression: export, TempDir: t.TempDir()})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	newDir := filepath.Join(t.TempDir(), "zkexported")
	os.MkdirAll(filepath.Join(newDir, "version-2"), 0o755)
	if err := os.WriteFile(filepath.Join(newDir, "version-2", xi.FileName), snap.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	srv2 := realzk.Start(t, realzk.Options{SuperDigest: zkImportSuper, ExtendedTypes: true, DataDir: newDir,
		Properties: map[string]string{"znode.container.checkIntervalMs": "3600000"}})
	w2 := newZKWriter(t, srv2.Addr, seed)
	defer w2.close()
	got := zkTree(t, w2.admin)
	for _, p := range []string{"/zookeeper/config", "/zookeeper/quota"} {
		if _, ok := got[p]; !ok {
			t.Errorf("ZooKeeper on the exported snapshot has no %s", p)
		}
	}
	for p := range got {
		if p == "/zookeeper" || strings.HasPrefix(p, "/zookeeper/") {
			delete(got, p)
		}
	}
	delete(want, "/zookeeper")
	compareTrees(t, "exported, served by ZooKeeper", got, want)
	if m, err := srv2.Metrics(); err != nil || m["zk_digest_mismatches_count"] != "0" {
		t.Errorf("ZooKeeper's digest check of the exported snapshot: %q (%v)", m["zk_digest_mismatches_count"], err)
	}
	p, err = w2.admin.Create("/app/queue/item-", nil, zk.FlagSequence, zk.WorldACL(zk.PermAll))
	if err != nil {
		t.Fatal(err)
	}
	_, zst, err := w2.admin.Get(p)
	if err != nil || zst.Czxid <= int64(xi.Zxid) || !strings.HasSuffix(p, fmt.Sprintf("%010d", next+1)) {
		t.Fatalf("ZooKeeper's first create after the export: %s at zxid %#x (%v); want item-%010d above %#x", p, zst.Czxid, err, next+1, xi.Zxid)
	}
}

// copyDir copies the files of a directory.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// zkExpected is what keeper serves after importing the tree ZooKeeper
// served: /zookeeper is keeper's own, ephemerals are dropped (their parents
// count one child less, so Cversion, 2 × creates − children, one more) or
// kept with EphemeralOwner 0.
func zkExpected(zkt map[string]zkNode, policy keeper.EphemeralPolicy) map[string]zkNode {
	out := map[string]zkNode{}
	dropped := map[string]int32{}
	for p, n := range zkt {
		if strings.HasPrefix(p, "/zookeeper/") {
			continue
		}
		if n.stat.EphemeralOwner != 0 {
			if policy == keeper.DropEphemerals {
				dropped[zkParent(p)]++
				continue
			}
			n.stat.EphemeralOwner = 0
		}
		out[p] = n
	}
	for p, k := range dropped {
		n := out[p]
		n.stat.NumChildren -= k
		n.stat.Cversion += k
		out[p] = n
	}
	out["/zookeeper"] = zkNode{acl: keeper.OpenACL()}
	return out
}

// zkTree reads every znode from ZooKeeper, as the super user.
func zkTree(t *testing.T, c *zk.Conn) map[string]zkNode {
	t.Helper()
	out := map[string]zkNode{}
	var walk func(p string)
	walk = func(p string) {
		data, st, err := c.Get(p)
		if err != nil {
			t.Fatalf("zookeeper get %s: %v", p, err)
		}
		acl, _, err := c.GetACL(p)
		if err != nil {
			t.Fatalf("zookeeper getACL %s: %v", p, err)
		}
		out[p] = zkNode{string(data), fromZKStat(st), fromZKACL(acl)}
		names, _, err := c.Children(p)
		if err != nil {
			t.Fatalf("zookeeper children %s: %v", p, err)
		}
		for _, name := range names {
			walk(strings.TrimSuffix(p, "/") + "/" + name)
		}
	}
	walk("/")
	return out
}

// zkWriter writes the test's operations through go-zookeeper: admin (the
// super user) makes most changes, owner holds ephemerals that outlive the
// server, and short-lived sessions close with theirs.
type zkWriter struct {
	t        *testing.T
	addr     string
	rng      *rand.Rand
	admin    *zk.Conn
	owner    *zk.Conn
	paths    []string // persistent znodes that may get children
	leaves   []string // znodes that may be deleted
	lastZxid int64
}

func newZKWriter(t *testing.T, addr string, seed uint64) *zkWriter {
	w := &zkWriter{t: t, addr: addr, rng: rand.New(rand.NewPCG(seed, 0x7a6b696d))}
	w.admin = w.connect()
	w.owner = w.connect()
	return w
}

func (w *zkWriter) connect() *zk.Conn {
	has := make(chan struct{}, 1)
	c, _, err := zk.Connect([]string{w.addr}, 30*time.Second, zk.WithLogger(zdNopLogger{}), zk.WithLogInfo(false),
		zk.WithEventCallback(func(ev zk.Event) {
			if ev.State == zk.StateHasSession {
				select {
				case has <- struct{}{}:
				default:
				}
			}
		}))
	if err != nil {
		w.t.Fatal(err)
	}
	select {
	case <-has:
	case <-time.After(30 * time.Second):
		w.t.Fatal("no ZooKeeper session after 30s")
	}
	if err := c.AddAuth("digest", []byte("admin:pw")); err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *zkWriter) close() {
	for _, c := range []*zk.Conn{w.admin, w.owner} {
		if c != nil {
			c.Close()
		}
	}
	w.admin, w.owner = nil, nil
}

func (w *zkWriter) must(p string, err error) string {
	w.t.Helper()
	if err != nil {
		w.t.Fatalf("zookeeper: %v", err)
	}
	return p
}

// note records the zxid of a write ZooKeeper acknowledged.
func (w *zkWriter) note(st *zk.Stat) {
	if st != nil {
		w.lastZxid = max(w.lastZxid, st.Mzxid, st.Czxid, st.Pzxid)
	}
}

func (w *zkWriter) data() []byte {
	n := w.rng.IntN(200)
	if w.rng.IntN(10) == 0 {
		n = w.rng.IntN(8 << 10)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(w.rng.IntN(256))
	}
	return b
}

func (w *zkWriter) acl() []zk.ACL {
	switch w.rng.IntN(6) {
	case 0:
		return append(zk.DigestACL(zk.PermAll, "alice", "pw"), zk.WorldACL(zk.PermRead)...)
	case 1:
		return zk.WorldACL(zk.PermRead | zk.PermCreate)
	case 2:
		return []zk.ACL{{Perms: zk.PermAll, Scheme: "ip", ID: "127.0.0.1"}}
	case 3:
		return zk.AuthACL(zk.PermAll)
	}
	return zk.WorldACL(zk.PermAll)
}

func (w *zkWriter) pick(list []string) string { return list[w.rng.IntN(len(list))] }

func (w *zkWriter) create(parent string, flags int32, ttl time.Duration) string {
	c := w.admin
	if flags&zk.FlagEphemeral != 0 {
		c = w.owner
	}
	name := strings.TrimSuffix(parent, "/") + "/" + fmt.Sprintf("n%d", w.rng.IntN(100000))
	var p string
	var err error
	switch {
	case flags == zk.FlagContainer:
		p, err = c.CreateContainer(name, w.data(), flags, w.acl())
	case ttl > 0:
		p, err = c.CreateTTL(name, w.data(), flags, w.acl(), ttl)
	default:
		p, err = c.Create(name, w.data(), flags, w.acl())
	}
	if errors.Is(err, zk.ErrNodeExists) {
		return ""
	}
	w.must(p, err)
	_, st, err := w.admin.Exists(p)
	w.must("", err)
	w.note(st)
	return p
}

// run writes the fixed skeleton and then ops random operations.
func (w *zkWriter) run(ops int) {
	open := zk.WorldACL(zk.PermAll)
	for _, p := range []string{"/app", "/app/queue", "/app/live", "/app/cfg"} {
		w.must(w.admin.Create(p, []byte(p), 0, open))
		w.paths = append(w.paths, p)
	}
	w.must(w.admin.CreateContainer("/app/locks", nil, zk.FlagContainer, open))
	w.must(w.admin.CreateTTL("/app/lease", []byte("ttl"), zk.FlagTTL, open, time.Hour))
	// Data up to 1 MB (ZooKeeper's jute.maxbuffer bounds a request).
	for i, size := range []int{1_000_000, 512 << 10, 100_000} {
		b := bytes.Repeat([]byte{byte('A' + i)}, size)
		w.leaves = append(w.leaves, w.must(w.admin.Create(fmt.Sprintf("/app/cfg/big%d", i), b, 0, open)))
	}
	for i := 0; i < ops; i++ {
		switch k := w.rng.IntN(20); {
		case k < 5:
			if p := w.create(w.pick(w.paths), 0, 0); p != "" {
				w.paths = append(w.paths, p)
				w.leaves = append(w.leaves, p)
			}
		case k < 7:
			p := w.must(w.admin.Create("/app/queue/item-", w.data(), zk.FlagSequence, w.acl()))
			w.leaves = append(w.leaves, p)
		case k < 8:
			w.create("/app/live", zk.FlagEphemeral, 0)
		case k < 9:
			w.must(w.owner.Create("/app/locks/lock-", nil, zk.FlagEphemeralSequential, zk.WorldACL(zk.PermAll)))
		case k < 10:
			if p := w.create(w.pick(w.paths), zk.FlagContainer, 0); p != "" {
				w.paths = append(w.paths, p)
			}
		case k < 11:
			flags := int32(zk.FlagTTL)
			if w.rng.IntN(2) == 0 {
				flags = zk.FlagPersistentSequentialWithTTL
			}
			if p := w.create(w.pick(w.paths), flags, time.Duration(1+w.rng.IntN(3600))*time.Second); p != "" {
				w.leaves = append(w.leaves, p)
			}
		case k < 14:
			p := w.pick(append(w.paths, w.leaves...))
			st, err := w.admin.Set(p, w.data(), -1)
			if !errors.Is(err, zk.ErrNoNode) {
				w.must("", err)
				w.note(st)
			}
		case k < 15:
			p := w.pick(append(w.paths, w.leaves...))
			st, err := w.admin.SetACL(p, w.acl(), -1)
			if !errors.Is(err, zk.ErrNoNode) {
				w.must("", err)
				w.note(st)
			}
		case k < 17:
			if len(w.leaves) > 0 {
				i := w.rng.IntN(len(w.leaves))
				p := w.leaves[i]
				err := w.admin.Delete(p, -1)
				if err == nil || errors.Is(err, zk.ErrNoNode) {
					w.leaves = slices.Delete(w.leaves, i, i+1)
					if j := slices.Index(w.paths, p); j >= 0 {
						w.paths = slices.Delete(w.paths, j, j+1)
					}
				} else if !errors.Is(err, zk.ErrNotEmpty) {
					w.must("", err)
				}
			}
		case k < 19:
			w.multi()
		default:
			w.shortSession()
		}
	}
	// The last write's zxid, whatever it was.
	_, st, err := w.admin.Exists("/app")
	w.must("", err)
	w.note(st)
	st2, err := w.admin.Set("/app", []byte("end"), -1)
	w.must("", err)
	w.note(st2)
}

// multi sends a multi of creates, a set and a delete; one in three fails
// at its last op (a version check) and changes nothing.
func (w *zkWriter) multi() {
	parent := w.pick(w.paths)
	a := strings.TrimSuffix(parent, "/") + "/m" + strconv.Itoa(w.rng.IntN(100000))
	ops := []any{
		&zk.CreateRequest{Path: a, Data: w.data(), Acl: zk.WorldACL(zk.PermAll)},
		&zk.SetDataRequest{Path: a, Data: w.data(), Version: 0},
		&zk.CreateRequest{Path: a + "/c", Data: w.data(), Acl: w.acl()},
		&zk.CreateRequest{Path: "/app/queue/multi-", Data: nil, Acl: zk.WorldACL(zk.PermAll), Flags: zk.FlagSequence},
	}
	fail := w.rng.IntN(3) == 0
	if fail {
		ops = append(ops, &zk.CheckVersionRequest{Path: parent, Version: 12345})
	} else if len(w.leaves) > 0 && w.rng.IntN(2) == 0 {
		ops = append(ops, &zk.DeleteRequest{Path: w.pick(w.leaves), Version: -1})
	}
	_, err := w.admin.Multi(ops...)
	if err != nil {
		if !fail && !errors.Is(err, zk.ErrNoNode) && !errors.Is(err, zk.ErrNodeExists) && !errors.Is(err, zk.ErrNotEmpty) {
			w.t.Fatalf("multi: %v", err)
		}
		return
	}
	if d, ok := ops[len(ops)-1].(*zk.DeleteRequest); ok {
		i := slices.Index(w.leaves, d.Path)
		w.leaves = slices.Delete(w.leaves, i, i+1)
		if j := slices.Index(w.paths, d.Path); j >= 0 {
			w.paths = slices.Delete(w.paths, j, j+1)
		}
	}
	w.paths = append(w.paths, a)
	w.leaves = append(w.leaves, a+"/c")
}

// shortSession opens a session, gives it ephemerals and closes it: its
// closeSession deletes them.
func (w *zkWriter) shortSession() {
	c := w.connect()
	for range 1 + w.rng.IntN(3) {
		w.must(c.Create("/app/live/s-", w.data(), zk.FlagEphemeralSequential, zk.WorldACL(zk.PermAll)))
	}
	c.Close()
	// Close waits for ZooKeeper's answer a second at most: wait until the
	// ephemerals are gone, so later reads see the closed session's effect.
	deadline := time.Now().Add(30 * time.Second)
	for {
		names, _, err := w.admin.Children("/app/live")
		w.must("", err)
		left := false
		for _, n := range names {
			if strings.HasPrefix(n, "s-") {
				_, st, err := w.admin.Exists("/app/live/" + n)
				left = left || (err == nil && st != nil && st.EphemeralOwner == c.SessionID())
			}
		}
		if !left {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatal("a closed session's ephemerals are still there after 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
