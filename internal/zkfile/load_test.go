package zkfile_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/keeper-go/keeper/internal/zkfile"
	"github.com/keeper-go/keeper/internal/zkfile/zkgen"
)

// snapNode is a znode as a test compares it.
type snapNode struct {
	path     string
	stat     zkfile.Stat
	acl      []zkfile.ACL
	data     string
	children int32
}

func keepAll(string, *zkfile.Stat) bool { return true }

// walkAll returns every znode of t in key order.
func walkAll(t testing.TB, tr *zkfile.Tree) []snapNode {
	t.Helper()
	ctx := context.Background()
	if _, err := tr.Count(ctx, keepAll); err != nil {
		t.Fatal(err)
	}
	var out []snapNode
	err := tr.Walk(ctx, keepAll, func(n *zkfile.Node, c int32) error {
		out = append(out, snapNode{n.Path, n.Stat, slices.Clone(n.ACL), string(n.Data), c})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// reference applies txns to ZooKeeper's initial tree.
func reference(t testing.TB, txns []zkfile.Txn) *zkfile.Tree {
	t.Helper()
	tr, err := zkfile.NewTree(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	if err := tr.Seed(zkgen.InitialTree()); err != nil {
		t.Fatal(err)
	}
	for i := range txns {
		if err := tr.Apply(&txns[i]); err != nil {
			t.Fatalf("txn %d: %v", i, err)
		}
	}
	return tr
}

func sameTrees(t *testing.T, got, want []snapNode) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d znodes, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.path != w.path || g.stat != w.stat || !slices.Equal(g.acl, w.acl) || g.data != w.data || g.children != w.children {
			t.Fatalf("znode %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// Load rebuilds exactly the tree the transactions made, from a fuzzy
// snapshot and the logs, in every compression, with and without digests,
// across epochs and log files.
func TestLoadMatchesReplay(t *testing.T) {
	ctx := context.Background()
	for i, o := range []zkgen.DirOptions{
		{Txns: 300, SnapshotAt: 120, Fuzz: 5, LogEvery: 70, Pad: 4096},
		{Txns: 300, SnapshotAt: 150, Fuzz: 0, Compression: zkfile.Gzip, Pad: 100},
		{Txns: 300, SnapshotAt: 200, Fuzz: 9, LogEvery: 33, Compression: zkfile.Snappy},
		{Txns: 200, SnapshotAt: 0, NoDigest: true, LogEvery: 50},
		{Txns: 200, SnapshotAt: 200, Fuzz: 3},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			seed := uint64(100 + i)
			g := zkgen.New(seed)
			g.Epoch = 90
			d, txns, err := zkgen.WriteDir(ctx, t.TempDir(), g, o)
			if err != nil {
				t.Fatal(err)
			}
			want := walkAll(t, reference(t, txns))
			tr, info, err := zkfile.Load(ctx, zkfile.Dirs{Data: d.Path}, zkfile.LoadOptions{TempDir: t.TempDir()})
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			defer tr.Close()
			sameTrees(t, walkAll(t, tr), want)
			if info.Zxid != d.Zxid {
				t.Errorf("zxid %x, want %x", info.Zxid, d.Zxid)
			}
			if wantTxns := int64(o.Txns - o.SnapshotAt + o.Fuzz); o.SnapshotAt < o.Txns && info.Txns != wantTxns {
				t.Errorf("replayed %d transactions, want %d", info.Txns, wantTxns)
			}
			if !o.NoDigest && o.SnapshotAt > 0 && (info.DigestZxid == 0 || (o.SnapshotAt < o.Txns && info.TxnDigests == 0)) {
				t.Errorf("digests not checked: %+v", info)
			}
			if len(info.Refused) > 0 {
				t.Errorf("refused: %v", info.Refused)
			}
		})
	}
}

// writeDir writes a small dir with several logs and returns it and its
// transactions.
func writeDir(t *testing.T, o zkgen.DirOptions) (zkgen.Dir, []zkfile.Txn) {
	t.Helper()
	d, txns, err := zkgen.WriteDir(context.Background(), t.TempDir(), zkgen.New(7), o)
	if err != nil {
		t.Fatal(err)
	}
	return d, txns
}

func load(t *testing.T, d zkgen.Dir, o zkfile.LoadOptions) (*zkfile.Tree, zkfile.LoadInfo, error) {
	t.Helper()
	o.TempDir = t.TempDir()
	tr, info, err := zkfile.Load(context.Background(), zkfile.Dirs{Data: d.Path}, o)
	if tr != nil {
		t.Cleanup(func() { tr.Close() })
	}
	return tr, info, err
}

// recordOffsets returns the offset of every record of a log file.
func recordOffsets(t *testing.T, name string) []int64 {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var offs []int64
	_, err = zkfile.ReadLog(context.Background(), name, f, func(_ *zkfile.Txn, at int64) error {
		offs = append(offs, at)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return offs
}

// A checksum failure in the middle of a log is refused, naming the file
// and the record's offset; the same damage to the last record of the last
// log, with only zeros after it, is a torn write: that record is dropped.
func TestLoadDamagedLog(t *testing.T) {
	d, txns := writeDir(t, zkgen.DirOptions{Txns: 120, SnapshotAt: 20, LogEvery: 50, Pad: 1000})
	mid := d.Logs[1]
	offs := recordOffsets(t, mid)
	b, _ := os.ReadFile(mid)
	at := offs[len(offs)/2]
	b[at+20] ^= 0x40 // inside the entry, after checksum and length
	os.WriteFile(mid, b, 0o644)
	_, _, err := load(t, d, zkfile.LoadOptions{})
	var fe *zkfile.FileError
	if !errors.Is(err, zkfile.ErrCorrupt) || !errors.As(err, &fe) || fe.File != mid || fe.Offset != at {
		t.Fatalf("damaged middle record: %v, want ErrCorrupt at %s offset %d", err, mid, at)
	}
	b[at+20] ^= 0x40
	os.WriteFile(mid, b, 0o644)

	last := d.Logs[len(d.Logs)-1]
	offs = recordOffsets(t, last)
	b, _ = os.ReadFile(last)
	at = offs[len(offs)-1]
	torn := slices.Clone(b)
	for i := at + 30; i < int64(len(torn)); i++ {
		torn[i] = 0 // the record's tail never reached the disk
	}
	os.WriteFile(last, torn, 0o644)
	tr, info, err := load(t, d, zkfile.LoadOptions{})
	if err != nil {
		t.Fatalf("torn last record: %v", err)
	}
	if lt := info.Logs[len(info.Logs)-1].Torn; lt == nil || lt.Offset != at {
		t.Fatalf("torn record not reported at %d: %+v", at, info.Logs)
	}
	if want := txns[len(txns)-2].Zxid; info.Zxid != want {
		t.Fatalf("zxid %x after dropping the torn record, want %x", info.Zxid, want)
	}
	sameTrees(t, walkAll(t, tr), walkAll(t, reference(t, txns[:len(txns)-1])))

	// Cut inside the last record: the record before is the last one.
	for _, cut := range []int64{at + 5, at + 12, at + 40, int64(len(b)) - 1001} {
		os.WriteFile(last, b[:cut], 0o644)
		_, info, err := load(t, d, zkfile.LoadOptions{})
		if err != nil || info.Zxid != txns[len(txns)-2].Zxid {
			t.Fatalf("cut at %d: zxid %x, %v", cut, info.Zxid, err)
		}
	}
}

// A log that leaves out transactions after the snapshot is refused: the
// tree would be a guess.
func TestLoadGap(t *testing.T) {
	d, _ := writeDir(t, zkgen.DirOptions{Txns: 150, SnapshotAt: 20, LogEvery: 40})
	os.Remove(d.Logs[1])
	_, _, err := load(t, d, zkfile.LoadOptions{})
	if !errors.Is(err, zkfile.ErrGap) || !errors.Is(err, zkfile.ErrCorrupt) {
		t.Fatalf("missing log: %v, want ErrGap", err)
	}
}

// A newest snapshot that does not read whole is refused and reported; the
// older one and the logs give the same tree, as ZooKeeper would load.
func TestLoadFallsBackToOlderSnapshot(t *testing.T) {
	d, txns := writeDir(t, zkgen.DirOptions{Txns: 100, SnapshotAt: 60, Fuzz: 2})
	// An older snapshot: the initial tree at zxid 0.
	b, err := zkfile.NewSnapshotBuilder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, n := range zkgen.InitialTree() {
		if err := b.Add(&n); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := os.Create(filepath.Join(d.Path, "version-2", "snapshot.0"))
	if _, err := b.WriteTo(context.Background(), f, zkfile.SnapshotOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s, _ := os.ReadFile(d.Snapshot)
	os.WriteFile(d.Snapshot, s[:len(s)-40], 0o644)
	tr, info, err := load(t, d, zkfile.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Refused) != 1 || filepath.Base(info.Snapshot.File) != "snapshot.0" {
		t.Fatalf("refused %v, loaded %s", info.Refused, info.Snapshot.File)
	}
	sameTrees(t, walkAll(t, tr), walkAll(t, reference(t, txns)))
}

// A transaction whose recorded digest the replayed tree does not match is
// refused, or noted with IgnoreDigest.
func TestLoadDigestMismatch(t *testing.T) {
	d, txns := writeDir(t, zkgen.DirOptions{Txns: 60, SnapshotAt: 10})
	txns[40].Digest.Tree++
	name := d.Logs[0]
	f, _ := os.Create(name)
	l, _ := zkfile.NewLogWriter(f, 0)
	for i := range txns {
		l.Append(&txns[i])
	}
	f.Close()
	if _, _, err := load(t, d, zkfile.LoadOptions{}); !errors.Is(err, zkfile.ErrDigest) {
		t.Fatalf("digest mismatch: %v, want ErrDigest", err)
	}
	_, info, err := load(t, d, zkfile.LoadOptions{IgnoreDigest: true})
	if err != nil || len(info.Notes) == 0 || !bytes.Contains([]byte(info.Notes[len(info.Notes)-1]), []byte("digest")) {
		t.Fatalf("IgnoreDigest: %v, notes %v", err, info.Notes)
	}
}

// A dir without snapshots, or holding other files, is not ZooKeeper data.
func TestLoadNoSnapshot(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "snapshot.1"), make([]byte, 4096), 0o644)
	if _, _, err := zkfile.Load(context.Background(), zkfile.Dirs{Data: dir}, zkfile.LoadOptions{TempDir: t.TempDir()}); !errors.Is(err, zkfile.ErrNotZooKeeper) {
		t.Fatalf("zero-filled snapshot: %v", err)
	}
	if _, _, err := zkfile.Load(context.Background(), zkfile.Dirs{Data: t.TempDir()}, zkfile.LoadOptions{}); !errors.Is(err, zkfile.ErrNotZooKeeper) {
		t.Fatalf("empty dir: %v", err)
	}
}

// Logs in their own dataLogDir load as from the dataDir; either dir may be
// given as the configured one or its version-2.
func TestLoadSeparateLogDir(t *testing.T) {
	d, txns := writeDir(t, zkgen.DirOptions{Txns: 80, SnapshotAt: 30, LogEvery: 25})
	logDir := filepath.Join(t.TempDir(), "version-2")
	os.MkdirAll(logDir, 0o755)
	for _, l := range d.Logs {
		if err := os.Rename(l, filepath.Join(logDir, filepath.Base(l))); err != nil {
			t.Fatal(err)
		}
	}
	tr, info, err := zkfile.Load(context.Background(), zkfile.Dirs{Data: filepath.Join(d.Path, "version-2"), Log: filepath.Dir(logDir)}, zkfile.LoadOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if info.Txns == 0 || info.Zxid != d.Zxid {
		t.Fatalf("replayed %d transactions to %x, want to %x", info.Txns, info.Zxid, d.Zxid)
	}
	sameTrees(t, walkAll(t, tr), walkAll(t, reference(t, txns)))
}
