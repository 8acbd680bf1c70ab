// Package zkgen writes ZooKeeper data dirs for tests and benchmarks: a
// seeded sequence of valid transactions of every kind, a snapshot of the
// tree part way through (fuzzy, as ZooKeeper's are), and the logs after it,
// in the files zkfile reads.
package zkgen

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/keeper-go/keeper/internal/zkfile"
)

// Gen produces valid transactions against a model of the tree it keeps in
// memory (test sizes only).
type Gen struct {
	rng      *rand.Rand
	zxid     int64
	time     int64
	nodes    map[string]*mnode
	paths    []string                  // every path but the root, for picking
	index    map[string]int            // path → its position in paths
	owned    map[int64]map[string]bool // session → its ephemerals
	sessions []int64
	nextSess int64
	// Epoch, when set, makes the generator start a new epoch every Epoch
	// transactions.
	Epoch int
	// DataSize bounds the data of a create or setData.
	DataSize int
	// Types limits the transaction kinds; nil means all.
	Types []int32
}

type mnode struct {
	cversion, version, aversion int32
	owner                       int64
	children                    int
}

// New returns a generator seeded with seed, at zxid 0 with ZooKeeper's
// initial tree ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config").
func New(seed uint64) *Gen {
	g := &Gen{
		rng:      rand.New(rand.NewPCG(seed, 0x7a6b67656e)),
		time:     1_700_000_000_000,
		nodes:    map[string]*mnode{"/": {children: 1}, "/zookeeper": {children: 2}, "/zookeeper/quota": {}, "/zookeeper/config": {}},
		nextSess: 0x1000000000000,
		DataSize: 64,
		index:    map[string]int{},
		owned:    map[int64]map[string]bool{},
	}
	return g
}

// InitialTree returns ZooKeeper's initial znodes, as a fresh server's first
// snapshot (snapshot.0) holds them.
func InitialTree() []zkfile.Node {
	return append([]zkfile.Node{{Path: "/", ACL: zkfile.OpenACL}, {Path: "/zookeeper", ACL: zkfile.OpenACL}}, zkfile.SystemNodes()...)
}

// Zxid returns the zxid of the last transaction produced.
func (g *Gen) Zxid() int64 { return g.zxid }

func (g *Gen) header(typ int32) zkfile.Txn {
	if g.Epoch > 0 && g.zxid&0xffffffff >= int64(g.Epoch) {
		g.zxid = (g.zxid>>32 + 1) << 32
	}
	g.zxid++
	if g.zxid>>32 == 0 {
		g.zxid |= 1 << 32 // ZooKeeper's first epoch is 1
	}
	g.time += int64(g.rng.IntN(3))
	t := zkfile.Txn{Zxid: g.zxid, Time: g.time, Type: typ, Cxid: int32(g.rng.IntN(1000))}
	if len(g.sessions) > 0 {
		t.ClientID = g.sessions[g.rng.IntN(len(g.sessions))]
	}
	return t
}

func (g *Gen) data() []byte {
	b := make([]byte, g.rng.IntN(g.DataSize+1))
	for i := range b {
		b[i] = byte('a' + g.rng.IntN(26))
	}
	return b
}

var acls = [][]zkfile.ACL{
	zkfile.OpenACL,
	{{Perms: 1, Scheme: "world", ID: "anyone"}},
	{{Perms: 31, Scheme: "digest", ID: "alice:Ovd9oGa6Y3I3w0dCOvOSnwEwVKA="}, {Perms: 1, Scheme: "world", ID: "anyone"}},
	{{Perms: 3, Scheme: "ip", ID: "127.0.0.1"}},
}

// pick returns a random existing path accepted by ok, or "".
func (g *Gen) pick(ok func(p string, n *mnode) bool) string {
	for range 8 {
		if len(g.paths) == 0 {
			break
		}
		p := g.paths[g.rng.IntN(len(g.paths))]
		if n := g.nodes[p]; n != nil && ok(p, n) {
			return p
		}
	}
	if ok("/", g.nodes["/"]) {
		return "/"
	}
	return ""
}

func child(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i == 0 {
		return "/"
	}
	return p[:i]
}

// Next returns the next transaction, already applied to the model.
func (g *Gen) Next() zkfile.Txn {
	if len(g.sessions) == 0 || g.rng.IntN(40) == 0 {
		return g.createSession()
	}
	types := g.Types
	if types == nil {
		types = []int32{zkfile.OpCreate, zkfile.OpCreate, zkfile.OpCreate2, zkfile.OpCreateTTL, zkfile.OpCreateContainer,
			zkfile.OpDelete, zkfile.OpSetData, zkfile.OpSetData, zkfile.OpSetACL, zkfile.OpMulti, zkfile.OpCloseSession, zkfile.OpError}
	}
	switch typ := types[g.rng.IntN(len(types))]; typ {
	case zkfile.OpCloseSession:
		if len(g.sessions) > 1 {
			return g.closeSession()
		}
		return g.create(zkfile.OpCreate)
	case zkfile.OpMulti:
		return g.multi()
	case zkfile.OpError:
		t := g.header(zkfile.OpError)
		t.Err = -101
		return t
	default:
		if t, ok := g.op(typ); ok {
			return t
		}
		return g.create(zkfile.OpCreate)
	}
}

func (g *Gen) createSession() zkfile.Txn {
	g.nextSess++
	t := g.header(zkfile.OpCreateSession)
	t.ClientID = g.nextSess
	t.Timeout = 30000
	g.sessions = append(g.sessions, g.nextSess)
	return t
}

func (g *Gen) closeSession() zkfile.Txn {
	t := g.header(zkfile.OpCloseSession)
	i := slices.Index(g.sessions, t.ClientID)
	g.sessions = slices.Delete(g.sessions, i, i+1)
	mine := slices.Sorted(maps.Keys(g.owned[t.ClientID]))
	delete(g.owned, t.ClientID)
	// 3.6+ names the paths; older servers do not.
	t.HasPaths = g.rng.IntN(2) == 0
	if t.HasPaths {
		t.Paths = mine
	}
	for _, p := range mine {
		g.remove(p, t.Zxid)
	}
	return t
}

// op returns a single op of type typ, applied to the model, or false when
// the tree has nothing it could act on.
func (g *Gen) op(typ int32) (zkfile.Txn, bool) {
	switch typ {
	case zkfile.OpCreate, zkfile.OpCreate2, zkfile.OpCreateTTL, zkfile.OpCreateContainer:
		return g.create(typ), true
	case zkfile.OpDelete:
		p := g.pick(func(p string, n *mnode) bool {
			return p != "/" && n.children == 0 && !strings.HasPrefix(p, "/zookeeper")
		})
		if p == "" || p == "/" {
			return zkfile.Txn{}, false
		}
		t := g.header(zkfile.OpDelete)
		g.remove(p, t.Zxid)
		t.Path = p
		return t, true
	case zkfile.OpSetData:
		p := g.pick(func(p string, n *mnode) bool { return !strings.HasPrefix(p, "/zookeeper") })
		if p == "" {
			return zkfile.Txn{}, false
		}
		t := g.header(zkfile.OpSetData)
		n := g.nodes[p]
		n.version++
		t.Path, t.Data, t.Version = p, g.data(), n.version
		return t, true
	case zkfile.OpSetACL:
		p := g.pick(func(p string, n *mnode) bool { return !strings.HasPrefix(p, "/zookeeper") })
		if p == "" {
			return zkfile.Txn{}, false
		}
		t := g.header(zkfile.OpSetACL)
		n := g.nodes[p]
		n.aversion++
		t.Path, t.ACL, t.Version = p, acls[g.rng.IntN(len(acls))], n.aversion
		return t, true
	}
	return zkfile.Txn{}, false
}

func (g *Gen) create(typ int32) zkfile.Txn {
	parent := g.pick(func(p string, n *mnode) bool {
		k, _ := zkfile.KindOf(n.owner)
		return k != zkfile.Ephemeral && !strings.HasPrefix(p, "/zookeeper")
	})
	t := g.header(typ)
	pn := g.nodes[parent]
	name := fmt.Sprintf("n%d", g.rng.IntN(1000))
	if g.rng.IntN(3) == 0 {
		name = fmt.Sprintf("seq-%010d", pn.cversion)
	}
	p := child(parent, name)
	for g.nodes[p] != nil {
		p += "x"
	}
	pn.cversion++
	pn.children++
	t.Path, t.Data, t.ACL, t.ParentCVersion = p, g.data(), acls[g.rng.IntN(len(acls))], pn.cversion
	n := &mnode{}
	switch typ {
	case zkfile.OpCreate, zkfile.OpCreate2:
		if g.rng.IntN(4) == 0 && t.ClientID != 0 {
			t.Ephemeral = true
			n.owner = t.ClientID
			if g.owned[n.owner] == nil {
				g.owned[n.owner] = map[string]bool{}
			}
			g.owned[n.owner][p] = true
		}
	case zkfile.OpCreateTTL:
		t.TTL = int64(1 + g.rng.IntN(1<<20))
		n.owner = zkfile.OwnerOf(zkfile.TTL, 0, t.TTL)
	case zkfile.OpCreateContainer:
		n.owner = zkfile.OwnerOf(zkfile.Container, 0, 0)
	}
	g.nodes[p] = n
	g.addPath(p)
	return t
}

func (g *Gen) remove(p string, zxid int64) {
	if n := g.nodes[p]; n != nil && g.owned[n.owner] != nil {
		delete(g.owned[n.owner], p)
	}
	delete(g.nodes, p)
	g.nodes[parentOf(p)].children--
	i := g.index[p]
	last := g.paths[len(g.paths)-1]
	g.paths[i], g.index[last] = last, i
	g.paths = g.paths[:len(g.paths)-1]
	delete(g.index, p)
}

// addPath records a new path for picking.
func (g *Gen) addPath(p string) {
	g.index[p] = len(g.paths)
	g.paths = append(g.paths, p)
}

// multi returns a multi of 1 to 4 ops; one in five fails at a random op and
// applies nothing.
func (g *Gen) multi() zkfile.Txn {
	t := g.header(zkfile.OpMulti)
	zxid, time, client, cxid := g.zxid, g.time, t.ClientID, t.Cxid
	fail := g.rng.IntN(5) == 0
	n := 1 + g.rng.IntN(4)
	if fail {
		failAt := g.rng.IntN(n)
		for i := range n {
			op := zkfile.Txn{Type: zkfile.OpError, ClientID: client, Cxid: cxid, Zxid: zxid, Time: time}
			if i == failAt {
				op.Err = -101
			} else if i > failAt {
				op.Err = -2 // RuntimeInconsistency
			}
			t.Ops = append(t.Ops, op)
		}
		return t
	}
	for range n {
		types := []int32{zkfile.OpCreate, zkfile.OpCreateContainer, zkfile.OpCreateTTL, zkfile.OpDelete, zkfile.OpSetData}
		typ := types[g.rng.IntN(len(types))]
		g.zxid, g.time = zxid-1, time // ops share the multi's zxid
		op, ok := g.op(typ)
		if !ok {
			op = g.create(zkfile.OpCreate)
		}
		if op.Type == zkfile.OpCreate {
			op.Ephemeral = false // a multi's ephemerals would belong to client
			if n := g.nodes[op.Path]; n != nil && n.owner != 0 {
				delete(g.owned[n.owner], op.Path)
				n.owner = 0
			}
		}
		op.ClientID, op.Zxid, op.Time, op.Cxid = client, zxid, time, cxid
		t.Ops = append(t.Ops, op)
	}
	g.zxid, g.time = zxid, time
	if g.rng.IntN(4) == 0 {
		t.Ops = append(t.Ops, zkfile.Txn{Type: zkfile.OpCheck, Path: "/", ClientID: client, Cxid: cxid, Zxid: zxid, Time: time})
	}
	return t
}

// Dir is a ZooKeeper data dir written by WriteDir.
type Dir struct {
	// Path is the dir; its files are in Path/version-2.
	Path string
	// Zxid is the last transaction's zxid.
	Zxid int64
	// Snapshot is the snapshot file's path.
	Snapshot string
	// Logs are the log files' paths.
	Logs []string
}

// DirOptions shapes WriteDir's output.
type DirOptions struct {
	// Txns is the number of transactions.
	Txns int
	// SnapshotAt is how many transactions the snapshot's contents hold; its
	// name says Fuzz fewer (it is fuzzy: the last Fuzz were applied while
	// it was written).
	SnapshotAt, Fuzz int
	// LogEvery starts a new log file after that many transactions (0: one
	// file).
	LogEvery int
	// Pad is the zeros after each log's last record, as ZooKeeper
	// preallocates.
	Pad int
	// Compression is the snapshot's.
	Compression zkfile.Compression
	// NoDigest leaves out the digests (a 3.5 server, or digests disabled).
	NoDigest bool
	// Populate, when set, adds znodes to the tree before the first
	// transaction, all at zxid 1: a large tree without a large log.
	Populate func(add func(path string, data []byte))
}

// WriteDir writes a data dir under dir from g's next opts.Txns transactions:
// a snapshot whose contents are at transaction opts.SnapshotAt, and the
// logs of every transaction (from the first), opts.LogEvery per file. It
// returns the transactions with the digest after each, as ZooKeeper 3.6+
// logs them.
func WriteDir(ctx context.Context, dir string, g *Gen, o DirOptions) (Dir, []zkfile.Txn, error) {
	d := Dir{Path: dir}
	vdir := filepath.Join(dir, "version-2")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return d, nil, err
	}
	tree, err := zkfile.NewTree("")
	if err != nil {
		return d, nil, err
	}
	defer tree.Close()
	if err := tree.Seed(InitialTree()); err != nil {
		return d, nil, err
	}
	if o.Populate != nil {
		if err := g.populate(tree, o.Populate); err != nil {
			return d, nil, err
		}
	}
	base := g.zxid // the populated tree's zxid, or 0
	var txns []zkfile.Txn
	snapName := int64(-1)
	for i := 0; i < o.Txns; i++ {
		if i == o.SnapshotAt {
			if snapName, err = writeSnapshot(ctx, vdir, tree, base, txns, o); err != nil {
				return d, nil, err
			}
			d.Snapshot = filepath.Join(vdir, zkfile.SnapshotName(snapName, o.Compression))
		}
		t := g.Next()
		if err := tree.Apply(&t); err != nil {
			return d, nil, err
		}
		if !o.NoDigest {
			t.Digest = &zkfile.TxnDigest{Version: zkfile.DigestVersion, Tree: tree.Digest()}
		}
		txns = append(txns, t)
	}
	if snapName < 0 {
		if snapName, err = writeSnapshot(ctx, vdir, tree, base, txns, o); err != nil {
			return d, nil, err
		}
		d.Snapshot = filepath.Join(vdir, zkfile.SnapshotName(snapName, o.Compression))
	}
	every := o.LogEvery
	if every <= 0 {
		every = len(txns) + 1
	}
	for start := 0; start < len(txns); start += every {
		end := min(start+every, len(txns))
		name := filepath.Join(vdir, zkfile.LogName(txns[start].Zxid))
		if err := writeLog(name, txns[start:end], o.Pad); err != nil {
			return d, nil, err
		}
		d.Logs = append(d.Logs, name)
	}
	if len(txns) > 0 {
		d.Zxid = txns[len(txns)-1].Zxid
	}
	return d, txns, nil
}

// populate adds the znodes add is given, at zxid 1 of a new epoch-1 tree.
func (g *Gen) populate(tree *zkfile.Tree, f func(add func(path string, data []byte))) error {
	var err error
	g.zxid = 1<<32 | 1
	f(func(p string, data []byte) {
		if err != nil {
			return
		}
		parent := g.nodes[parentOf(p)]
		if parent == nil || g.nodes[p] != nil {
			err = fmt.Errorf("zkgen: populate %s: no parent, or there already", p)
			return
		}
		parent.cversion++
		parent.children++
		g.nodes[p] = &mnode{}
		g.addPath(p)
		err = tree.Apply(&zkfile.Txn{Type: zkfile.OpCreate, Zxid: g.zxid, Time: g.time, Path: p, Data: data, ACL: zkfile.OpenACL, ParentCVersion: parent.cversion})
	})
	return err
}

// writeSnapshot writes the tree as a snapshot named Fuzz transactions
// before its contents, with its digest; it returns the name's zxid.
func writeSnapshot(ctx context.Context, vdir string, tree *zkfile.Tree, base int64, txns []zkfile.Txn, o DirOptions) (int64, error) {
	zxid, contents := base, base
	if len(txns) > 0 {
		contents = txns[len(txns)-1].Zxid
		zxid = contents
		if k := len(txns) - 1 - o.Fuzz; o.Fuzz > 0 {
			zxid = base
			if k >= 0 {
				zxid = txns[k].Zxid
			}
		}
	}
	b, err := zkfile.NewSnapshotBuilder("")
	if err != nil {
		return 0, err
	}
	defer b.Close()
	keep := func(string, *zkfile.Stat) bool { return true }
	if _, err := tree.Count(ctx, keep); err != nil {
		return 0, err
	}
	if err := tree.Walk(ctx, keep, func(n *zkfile.Node, _ int32) error { return b.Add(n) }); err != nil {
		return 0, err
	}
	sessions, err := tree.SessionTimeouts()
	if err != nil {
		return 0, err
	}
	so := zkfile.SnapshotOptions{Compression: o.Compression, Sessions: sessions}
	if !o.NoDigest {
		so.Digest = &zkfile.Digest{Zxid: contents, Version: zkfile.DigestVersion, Value: tree.Digest()}
	}
	f, err := os.Create(filepath.Join(vdir, zkfile.SnapshotName(zxid, o.Compression)))
	if err != nil {
		return 0, err
	}
	if _, err := b.WriteTo(ctx, f, so); err != nil {
		f.Close()
		return 0, err
	}
	return zxid, f.Close()
}

func writeLog(name string, txns []zkfile.Txn, pad int) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	l, err := zkfile.NewLogWriter(f, 0)
	if err == nil {
		for i := range txns {
			if err = l.Append(&txns[i]); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = l.Pad(pad)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
