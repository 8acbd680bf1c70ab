package keeper_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/zkfile"
	"github.com/keeper-go/keeper/internal/zkfile/zkgen"
	"github.com/keeper-go/keeper/transport"
)

// zkNode is a znode as a client reads it: keeper's types for both systems.
type zkNode struct {
	data string
	stat keeper.Stat
	acl  []keeper.ACL
}

// zkImportSuper is the super user the tests read restored trees as.
var zkImportSuper = keeper.DigestACL(keeper.PermAll, "admin", "pw").ID

// openImported restores an imported stream into a new one-member cluster
// and opens it, its container and TTL reaper held off: the tree compared
// is the one restored (ZooKeeper's times are long past, so the reaper would
// start removing expired TTL znodes and emptied containers, as ZooKeeper's
// would).
func openImported(t *testing.T, stream []byte) *keeper.Node {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	dir := filepath.Join(t.TempDir(), "member")
	if _, err := keeper.Restore(ctx, bytes.NewReader(stream), dir, keeper.RestoreOptions{ID: 1, Peers: []uint64{1}}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	net := transport.NewMemory(1)
	n, err := keeper.Open(ctx, keeper.Config{ID: 1, Dir: dir, Peers: []uint64{1}, Transport: net.Endpoint(1), SuperDigest: zkImportSuper, ReapInterval: time.Hour})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { n.Close(); net.Close() })
	if _, err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

// keeperTree reads every znode from a keeper member as its super user.
func keeperTree(ctx context.Context, t *testing.T, n *keeper.Node) map[string]zkNode {
	t.Helper()
	c := n.WithAuth(keeper.DigestIdentity("admin", "pw"))
	out := map[string]zkNode{}
	var walk func(p string)
	walk = func(p string) {
		data, st, err := c.Get(ctx, p)
		if err != nil {
			t.Fatalf("get %s: %v", p, err)
		}
		acl, _, err := c.GetACL(ctx, p)
		if err != nil {
			t.Fatalf("getACL %s: %v", p, err)
		}
		out[p] = zkNode{string(data), st, acl}
		names, _, err := c.Children(ctx, p)
		if err != nil {
			t.Fatalf("children %s: %v", p, err)
		}
		for _, name := range names {
			walk(strings.TrimSuffix(p, "/") + "/" + name)
		}
	}
	walk("/")
	return out
}

// expectedImport returns what keeper must serve after importing the tree
// the reference znodes form: every Stat as ZooKeeper's clients read it
// (Cversion = 2 × creates − children), ephemerals dropped or kept as
// persistent, keeper's own /zookeeper.
func expectedImport(nodes []zkfile.Node, policy keeper.EphemeralPolicy) map[string]zkNode {
	kept := map[string]*zkfile.Node{}
	for i := range nodes {
		n := &nodes[i]
		if strings.HasPrefix(n.Path, "/zookeeper/") {
			continue
		}
		if k, _ := zkfile.KindOf(n.Stat.EphemeralOwner); k == zkfile.Ephemeral && policy == keeper.DropEphemerals {
			continue
		}
		kept[n.Path] = n
	}
	children := map[string]int32{}
	for p := range kept {
		if p != "/" {
			children[zkParent(p)]++
		}
	}
	out := map[string]zkNode{}
	for p, n := range kept {
		s := n.Stat
		c := children[p]
		st := keeper.Stat{Czxid: keeper.Zxid(s.Czxid), Mzxid: keeper.Zxid(s.Mzxid), Pzxid: keeper.Zxid(s.Pzxid), Ctime: s.Ctime, Mtime: s.Mtime, Version: s.Version,
			Cversion: 2*s.Cversion - c, Aversion: s.Aversion, DataLength: int32(len(n.Data)), NumChildren: c}
		var acl []keeper.ACL
		for _, a := range n.ACL {
			acl = append(acl, keeper.ACL{Perms: keeper.Perm(a.Perms), Scheme: a.Scheme, ID: a.ID})
		}
		out[p] = zkNode{string(n.Data), st, acl}
	}
	out["/zookeeper"] = zkNode{stat: keeper.Stat{}, acl: keeper.OpenACL()}
	return out
}

func zkParent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i == 0 {
		return "/"
	}
	return p[:i]
}

// compareTrees reports every difference between want and got.
func compareTrees(t *testing.T, what string, got, want map[string]zkNode) {
	t.Helper()
	var diffs []string
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			diffs = append(diffs, p+": missing")
		case g.data != w.data:
			diffs = append(diffs, fmt.Sprintf("%s: data %q, want %q", p, g.data, w.data))
		case g.stat != w.stat:
			diffs = append(diffs, fmt.Sprintf("%s: stat\n   %+v\nwant %+v", p, g.stat, w.stat))
		case !slices.Equal(g.acl, w.acl):
			diffs = append(diffs, fmt.Sprintf("%s: acl %v, want %v", p, g.acl, w.acl))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, p+": not expected")
		}
	}
	slices.Sort(diffs)
	for i, d := range diffs {
		if i == 20 {
			t.Errorf("%s: ... %d more", what, len(diffs)-20)
			break
		}
		t.Errorf("%s: %s", what, d)
	}
}

// referenceNodes rebuilds the tree txns make from ZooKeeper's initial tree,
// without the files: what the import must match.
func referenceNodes(t *testing.T, txns []zkfile.Txn) []zkfile.Node {
	t.Helper()
	tr, err := zkfile.NewTree(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Seed(zkgen.InitialTree()); err != nil {
		t.Fatal(err)
	}
	for i := range txns {
		if err := tr.Apply(&txns[i]); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	all := func(string, *zkfile.Stat) bool { return true }
	if _, err := tr.Count(ctx, all); err != nil {
		t.Fatal(err)
	}
	var out []zkfile.Node
	err = tr.Walk(ctx, all, func(n *zkfile.Node, _ int32) error {
		c := *n
		c.Data, c.ACL = bytes.Clone(n.Data), slices.Clone(n.ACL)
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A generated ZooKeeper data dir (fuzzy snapshot, several logs, every kind
// of transaction) imports into a backup that verifies, restores and serves
// every znode and Stat field as ZooKeeper's clients read them; its zxids go
// on above ZooKeeper's, and sequential creates continue its numbering.
func TestImportZooKeeper(t *testing.T) {
	ctx := ctxFor(t, 60*time.Second)
	for _, policy := range []keeper.EphemeralPolicy{keeper.DropEphemerals, keeper.KeepEphemeralsAsPersistent} {
		t.Run(policy.String(), func(t *testing.T) {
			g := zkgen.New(uint64(41 + policy))
			g.Epoch = 150
			d, txns, err := zkgen.WriteDir(ctx, t.TempDir(), g, zkgen.DirOptions{Txns: 400, SnapshotAt: 180, Fuzz: 6, LogEvery: 120, Pad: 512, Compression: zkfile.Gzip})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			info, err := keeper.ImportZooKeeper(ctx, keeper.ZooKeeperDirs{Data: d.Path}, &buf, keeper.ImportOptions{Ephemerals: policy, TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if info.ZooKeeperZxid != keeper.Zxid(d.Zxid) || info.Backup.Zxid != keeper.Zxid(d.Zxid) || info.Txns != 400-180+6 || info.DigestZxid == 0 || info.TxnDigests == 0 {
				t.Fatalf("import info %+v", info)
			}
			inv, err := keeper.InspectBackup(ctx, bytes.NewReader(buf.Bytes()), keeper.VerifyOptions{})
			if err != nil {
				t.Fatalf("inspect: %v", err)
			}
			if o := inv.ZooKeeper; o == nil || o.Zxid != keeper.Zxid(d.Zxid) || o.Ephemerals != policy || o.Txns != info.Txns || o.EphemeralZnodes != info.Ephemerals {
				t.Fatalf("origin %+v, info %+v", inv.ZooKeeper, info)
			}
			if inv.Info.Znodes != info.Backup.Znodes || inv.Info.Digest != info.Backup.Digest {
				t.Fatalf("inventory %+v, info %+v", inv.Info, info.Backup)
			}
			ref := referenceNodes(t, txns)
			n := openImported(t, buf.Bytes())
			compareTrees(t, "imported", keeperTree(ctx, t, n), expectedImport(ref, policy))

			// The next write's zxid is above ZooKeeper's; a sequential
			// create under a parent ZooKeeper created children of continues
			// its numbering.
			var parent *zkfile.Node
			for i := range ref {
				if k, _ := zkfile.KindOf(ref[i].Stat.EphemeralOwner); ref[i].Stat.Cversion > 3 && k != zkfile.Ephemeral && !strings.HasPrefix(ref[i].Path, "/zookeeper") {
					parent = &ref[i]
				}
			}
			c := n.WithAuth(keeper.DigestIdentity("admin", "pw"))
			p, st, err := c.Create2(ctx, strings.TrimSuffix(parent.Path, "/")+"/next-", nil, keeper.PersistentSequential)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("next-%010d", parent.Stat.Cversion); !strings.HasSuffix(p, want) {
				t.Fatalf("sequential create under %s (cversion %d): %s, want …%s", parent.Path, parent.Stat.Cversion, p, want)
			}
			if st.Czxid <= keeper.Zxid(d.Zxid) {
				t.Fatalf("first write's zxid %x is not above ZooKeeper's %x", st.Czxid, d.Zxid)
			}
		})
	}
}

// Damaged ZooKeeper files are refused with typed errors naming the file
// and offset, before anything is written; damage found while the stream is
// written leaves a stream that does not verify.
func TestImportZooKeeperRefuses(t *testing.T) {
	ctx := ctxFor(t, 60*time.Second)
	d, _, err := zkgen.WriteDir(ctx, t.TempDir(), zkgen.New(5), zkgen.DirOptions{Txns: 150, SnapshotAt: 50, LogEvery: 60})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(d.Logs[0])
	b[len(b)/2] ^= 0x10
	os.WriteFile(d.Logs[0], b, 0o644)
	var buf bytes.Buffer
	_, err = keeper.ImportZooKeeper(ctx, keeper.ZooKeeperDirs{Data: d.Path}, &buf, keeper.ImportOptions{TempDir: t.TempDir()})
	var fe *keeper.ZooKeeperFileError
	if !errors.Is(err, keeper.ErrZooKeeperCorrupt) || !errors.As(err, &fe) || fe.File != d.Logs[0] || buf.Len() != 0 {
		t.Fatalf("damaged log: %v (%d bytes written)", err, buf.Len())
	}

	if _, err := keeper.ImportZooKeeper(ctx, keeper.ZooKeeperDirs{Data: t.TempDir()}, &buf, keeper.ImportOptions{}); !errors.Is(err, keeper.ErrNotZooKeeper) {
		t.Fatalf("empty dir: %v", err)
	}

	// A snapshot whose znode's parent is missing: found while writing.
	dir := filepath.Join(t.TempDir(), "version-2")
	os.MkdirAll(dir, 0o755)
	sb, err := zkfile.NewSnapshotBuilder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	for _, n := range append(zkgen.InitialTree(), zkfile.Node{Path: "/x/y", ACL: zkfile.OpenACL}) {
		if err := sb.Add(&n); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := os.Create(filepath.Join(dir, "snapshot.100000001"))
	sb.WriteTo(ctx, f, zkfile.SnapshotOptions{})
	f.Close()
	buf.Reset()
	_, err = keeper.ImportZooKeeper(ctx, keeper.ZooKeeperDirs{Data: dir}, &buf, keeper.ImportOptions{TempDir: t.TempDir()})
	if !errors.Is(err, keeper.ErrZooKeeperCorrupt) {
		t.Fatalf("orphan znode: %v", err)
	}
	if _, err := keeper.VerifyBackup(ctx, bytes.NewReader(buf.Bytes()), keeper.VerifyOptions{}); !errors.Is(err, keeper.ErrCorruptBackup) {
		t.Fatalf("the partial stream (%d bytes) verified: %v", buf.Len(), err)
	}
}

// An import also restores online into a running cluster (a backup of
// another cluster, ahead of it: AllowForeign): the data, versions and ACLs
// arrive; zxids above the cluster's are clamped to the restore's.
func TestImportZooKeeperRestoreOnline(t *testing.T) {
	ctx := ctxFor(t, 60*time.Second)
	d, txns, err := zkgen.WriteDir(ctx, t.TempDir(), zkgen.New(8), zkgen.DirOptions{Txns: 150, SnapshotAt: 60})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := keeper.ImportZooKeeper(ctx, keeper.ZooKeeperDirs{Data: d.Path}, &buf, keeper.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	net := transport.NewMemory(1)
	n, err := keeper.Open(ctx, keeper.Config{ID: 1, Dir: t.TempDir(), Peers: []uint64{1}, Transport: net.Endpoint(1), SuperDigest: zkImportSuper, ReapInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { n.Close(); net.Close() }()
	if _, err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := n.RestoreOnline(ctx, bytes.NewReader(buf.Bytes()), keeper.RestoreOnlineOptions{}); err == nil {
		t.Fatal("an import restored online without AllowForeign")
	}
	ri, err := n.RestoreOnline(ctx, bytes.NewReader(buf.Bytes()), keeper.RestoreOnlineOptions{AllowForeign: true})
	if err != nil {
		t.Fatal(err)
	}
	want := expectedImport(referenceNodes(t, txns), keeper.DropEphemerals)
	for p, w := range want {
		w.stat.Czxid, w.stat.Mzxid, w.stat.Pzxid = min(w.stat.Czxid, ri.Zxid), min(w.stat.Mzxid, ri.Zxid), min(w.stat.Pzxid, ri.Zxid)
		want[p] = w
	}
	compareTrees(t, "restored online", keeperTree(ctx, t, n), want)
}
