package keeper

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/internal/raftlog"
	"github.com/keeper-go/keeper/internal/treefiles"
	"github.com/keeper-go/keeper/internal/wire"
	"github.com/keeper-go/keeper/storage"
)

// tree is the znode tree state machine over a storage.Store. apply and the
// other stateMachine methods run on the raft loop's goroutine; the read
// methods (get, exists, children, getACL, allChildrenNumber, ephemerals) and
// digest may be called from any goroutine at any time: they read Pebble
// directly and see whole apply groups or nothing.
type tree struct {
	st *storage.Store

	// restoreHook, set by tests only, stops an online restore's commit after
	// a step, as a crash would (see restoreCommit.step).
	restoreHook func(step int) error

	appliedIdx uint64        // raft loop only
	dig        atomic.Uint64 // digest at appliedIdx
	members    []byte        // raft loop only

	// sessions are the session records (raft loop only; sessiontable.go).
	sessions *sessionTable
	// archive is how far the cluster's archive reaches (archive_mark.go).
	archive archiveMark
	// requireSessions makes a request of a session that does not exist fail
	// with ErrSessionExpired. Members always set it; the bare tree tests,
	// which make up session ids, do not.
	requireSessions bool
	// pub, if set (the member's read gate), is handed each group's events
	// and its commit.
	pub publisher
	// snapMu is held exclusively by an online restore commit across its
	// several writes, and shared by newSnapshot, so that no Pebble snapshot
	// (backup, raft snapshot, digest scan) sees a half-written restore.
	snapMu sync.RWMutex

	// Apply scratch, reused across calls (raft loop only).
	group       map[string]*slot  // every node the current group read or wrote
	entry       map[string]*znode // the current entry's changes; nil = deleted
	zxid        int64             // the current entry's zxid
	events      []treeEvent       // the group's events
	entryEvents []treeEvent       // the current entry's events
	req         request
	staged      restoreStaging // the group's online restore staging (restore_online.go)
	key         []byte
	val         []byte
	h           *xxhash.Digest
	// loads counts the loads of the current group (-1 outside apply). From
	// the viewAfter-th on they read view, which the group opens then and
	// closes at its end (see load).
	loads int
	view  *storage.View
	// commits counts the store's commits (apply group flushes and online
	// restore commits) since the tree opened. With readAhead set, each
	// flush records in changedAt the paths of the nodes it wrote, and
	// ahead holds nodes read ahead of the apply (tree_readahead.go).
	commits   atomic.Uint64
	readAhead bool
	changedAt [aheadLag]map[string]bool
	flushed   map[string]bool // the paths the flush in progress writes
	ahead     map[string]aheadNode
	// changed lists the group's changed nodes for flush, their keys in
	// changedKeys.
	changed     []changedNode
	changedKeys []byte
}

// changedNode is a node an apply group changed, as flush writes it: its
// key is changedKeys[start:end].
type changedNode struct {
	path       string
	s          *slot
	start, end int
}

// viewAfter is the load of an apply group from which the group's loads read
// a storage.View rather than calling Store.Get each: a view costs about as
// much to open as a few Gets, and then each read much less.
const viewAfter = 8

// committedAt records that the tree's store now holds applied index index
// and digest dig, after an apply group's or an online restore's last batch.
func (t *tree) committedAt(index, dig uint64) {
	t.appliedIdx = index
	t.dig.Store(dig)
	c := t.commits.Add(1)
	if t.readAhead {
		// An online restore commit records no paths: it may have written
		// any node.
		t.changedAt[c%aheadLag], t.flushed = t.flushed, nil
	}
}

// newSnapshot returns a Pebble snapshot of the tree, never one taken in the
// middle of an online restore commit.
func (t *tree) newSnapshot() *storage.Snapshot {
	t.snapMu.RLock()
	defer t.snapMu.RUnlock()
	return t.st.NewSnapshot()
}

// slot is one path's state within an apply group: as loaded from Pebble
// (orig, with the hash of its stored value) and as changed by the group's
// entries so far (cur).
type slot struct {
	orig     *znode
	origHash uint64
	cur      *znode
	dirty    bool
}

var _ stateMachine = (*tree)(nil)

// openTreeDir opens (creating if absent) the tree of the member data dir dir,
// refusing a dir of another cluster; it is Open's state machine. pub, if
// not nil, is handed each apply group's events and commit (the member's
// read gate).
func openTreeDir(dir string, clusterID uint64, pub publisher) (*tree, error) {
	t, err := openTreeStore(dir, storage.Options{ClusterID: clusterID})
	if err != nil {
		return nil, err
	}
	t.pub = pub
	return t, nil
}

// openScratchTree opens the tree of dir as openTreeDir does, in a scratch
// store (storage.Options.Scratch): a tree that is thrown away, such as an
// archive restore's replay, applied with no write made durable.
func openScratchTree(dir string, clusterID uint64) (*tree, error) {
	return openTreeStore(dir, storage.Options{ClusterID: clusterID, Scratch: true})
}

// openTreeStore opens the store of dir with o and the tree in it, which
// requires sessions as a member's does.
func openTreeStore(dir string, o storage.Options) (*tree, error) {
	st, err := storage.Open(dir, o)
	if err != nil {
		return nil, err
	}
	t, err := openTree(st)
	if err != nil {
		st.Close()
		return nil, err
	}
	t.requireSessions = true
	return t, nil
}

// withoutEvents runs f with the tree's publish turned off: the groups f
// applies commit without handing their events on (a repair's re-apply,
// whose events were delivered the first time).
func (t *tree) withoutEvents(f func() error) error {
	pub := t.pub
	t.pub = nil
	defer func() { t.pub = pub }()
	return f()
}

// close releases the store; the raft loop has stopped.
func (t *tree) close() error {
	if t.st == nil {
		return nil // an install stopped between closing the old store and opening the new
	}
	return t.st.Close()
}

// openTree loads the tree's applied index, digest and membership from st. A
// fresh store gets the nodes ZooKeeper starts with, "/" and "/zookeeper"
// (zero Stat but NumChildren, OpenACL, no data), at applied index 0; its
// digest is the sum of those two nodes' hashes.
func openTree(st *storage.Store) (*tree, error) {
	t := &tree{
		st:       st,
		group:    make(map[string]*slot),
		entry:    make(map[string]*znode),
		sessions: newSessionTable(),
		h:        xxhash.New(),
		loads:    -1,
	}
	var fresh bool
	err := st.Get(keys.MetaKey(keys.MetaApplied), func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("keeper: applied index %x: %w", v, ErrCorrupt)
		}
		t.appliedIdx = binary.BigEndian.Uint64(v)
		return nil
	})
	switch {
	case errors.Is(err, storage.ErrNotFound):
		fresh = true
	case err != nil:
		return nil, err
	}
	if fresh {
		return t, t.initFresh()
	}
	err = st.Get(keys.MetaKey(keys.MetaDigest), func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("keeper: digest %x: %w", v, ErrCorrupt)
		}
		t.dig.Store(binary.BigEndian.Uint64(v))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("keeper: open tree: digest: %w", err)
	}
	err = st.Get(keys.MetaKey(keys.MetaMembership), func(v []byte) error {
		t.members = bytes.Clone(v)
		return nil
	})
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	if err := t.sessions.load(st); err != nil {
		return nil, fmt.Errorf("keeper: open tree: sessions: %w", err)
	}
	if err := t.archive.load(st); err != nil {
		return nil, fmt.Errorf("keeper: open tree: %w", err)
	}
	return t, nil
}

// initFresh writes the initial nodes and meta of an empty store.
func (t *tree) initFresh() error {
	b := t.st.NewBatch()
	defer b.Close()
	var sum uint64
	for _, n := range []struct {
		path string
		z    znode
	}{
		{"/", znode{stat: Stat{NumChildren: 1}, acl: openACLShared}},
		{reservedPath, znode{acl: openACLShared}},
	} {
		v := encodeZnode(nil, &n.z)
		sum += nodeHash(t.h, n.path, v)
		if err := b.Set(keys.NodeKey(nil, n.path), v); err != nil {
			return err
		}
	}
	if t.st.ReadOnly() {
		// A store opened for inspection stays as it is; the tree is the
		// fresh one Open would write.
		t.dig.Store(sum)
		return nil
	}
	if err := b.Set(keys.MetaKey(keys.MetaApplied), binary.BigEndian.AppendUint64(nil, 0)); err != nil {
		return err
	}
	if err := b.Set(keys.MetaKey(keys.MetaDigest), binary.BigEndian.AppendUint64(nil, sum)); err != nil {
		return err
	}
	if err := b.Commit(true); err != nil {
		return err
	}
	t.dig.Store(sum)
	return nil
}

func (t *tree) applied() uint64    { return t.appliedIdx }
func (t *tree) digest() uint64     { return t.dig.Load() }
func (t *tree) membership() []byte { return t.members }
func (t *tree) sync() error {
	if t.st == nil {
		return nil
	}
	return t.st.Sync()
}

// apply implements stateMachine.apply. Entries see the changes of the earlier
// entries of the group through the group overlay; an entry's own changes go
// to the entry overlay and join the group only if all its ops succeed. The
// group is written in one unsynced batch with the applied index and digest.
func (t *tree) apply(ents []committed) ([]*applyResult, error) {
	if len(ents) == 0 {
		return nil, nil
	}
	for i, e := range ents {
		if e.Index != t.appliedIdx+1+uint64(i) {
			return nil, fmt.Errorf("keeper: apply: entry %d at position %d, want %d", e.Index, i, t.appliedIdx+1+uint64(i))
		}
	}
	if i := restoreCommitAt(ents); i >= 0 {
		// An online restore commit is applied alone, in its own batch, after
		// the entries before it are in Pebble (restore_online.go).
		return t.applyAroundRestore(ents, i)
	}
	clear(t.group)
	t.sessions.dropGroup()
	t.archive.dropGroup()
	t.events = t.events[:0]
	t.loads = 0
	defer func() {
		t.loads = -1
		if t.view != nil {
			_ = t.view.Close()
			t.view = nil
		}
		clear(t.group)
		t.sessions.dropGroup()
		t.archive.dropGroup()
		t.staged.reset()
		clear(t.events)
		t.events = t.events[:0]
	}()
	results := make([]*applyResult, len(ents))
	var members []byte
	for i, e := range ents {
		switch e.Kind {
		case entryNoop:
		case entryConf:
			members = e.Data
		case entryOp:
			res, err := t.applyEntry(&ents[i])
			if err != nil {
				return nil, err
			}
			results[i] = res
		default:
			return nil, fmt.Errorf("keeper: apply: entry %d has unknown kind %d", e.Index, e.Kind)
		}
	}
	last := ents[len(ents)-1].Index
	dig, err := t.flush(last, members)
	if err != nil {
		return nil, err
	}
	t.committedAt(last, dig)
	t.sessions.commit()
	t.archive.commit()
	if members != nil {
		t.members = bytes.Clone(members)
	}
	return results, nil
}

// flush writes the group's changed nodes, their index keys, the applied
// index, the digest and the membership in one batch, and returns the digest.
func (t *tree) flush(applied uint64, members []byte) (uint64, error) {
	b := t.st.NewBatch()
	defer b.Close()
	dig := t.dig.Load()
	// The changed nodes go into the batch in key order, so that the
	// memtable inserts each one where the previous one ended.
	t.changed, t.changedKeys = t.changed[:0], t.changedKeys[:0]
	for path, s := range t.group {
		if !s.dirty || s.cur == s.orig || (s.orig == nil && s.cur == nil) {
			continue // untouched, unchanged, or created and deleted in the group
		}
		start := len(t.changedKeys)
		t.changedKeys = keys.NodeKey(t.changedKeys, path)
		t.changed = append(t.changed, changedNode{path: path, s: s, start: start, end: len(t.changedKeys)})
	}
	ck := t.changedKeys
	slices.SortFunc(t.changed, func(a, b changedNode) int {
		return bytes.Compare(ck[a.start:a.end], ck[b.start:b.end])
	})
	if t.readAhead {
		t.flushed = make(map[string]bool, len(t.changed))
	}
	for _, c := range t.changed {
		path, s, key := c.path, c.s, ck[c.start:c.end]
		if t.flushed != nil {
			t.flushed[path] = true
		}
		if s.orig != nil {
			dig -= s.origHash
		}
		if s.cur != nil {
			t.val = encodeZnode(t.val[:0], s.cur)
			dig += nodeHash(t.h, path, t.val)
			if err := b.Set(key, t.val); err != nil {
				return 0, err
			}
		} else if err := b.Delete(key); err != nil {
			return 0, err
		}
		if err := t.writeIndexes(b, path, s.orig, s.cur); err != nil {
			return 0, err
		}
	}
	clear(t.changed) // drops the group's nodes
	dig, err := t.sessions.flush(b, dig)
	if err != nil {
		return 0, err
	}
	if err := t.staged.flush(b); err != nil {
		return 0, err
	}
	if err := t.archive.flush(b); err != nil {
		return 0, err
	}
	if err := b.Set(keys.MetaKey(keys.MetaApplied), binary.BigEndian.AppendUint64(t.key[:0], applied)); err != nil {
		return 0, err
	}
	if err := b.Set(keys.MetaKey(keys.MetaDigest), binary.BigEndian.AppendUint64(t.key[:0], dig)); err != nil {
		return 0, err
	}
	if members != nil {
		if err := b.Set(keys.MetaKey(keys.MetaMembership), members); err != nil {
			return 0, err
		}
	}
	return dig, t.publishOrCommit(t.events, func() error { return b.Commit(false) })
}

// publishOrCommit makes a change visible: through the publisher, which
// queues events and runs commit under the lock readers take (readGate),
// or, with no publisher (a tree opened for inspection or restore), by
// running commit alone.
func (t *tree) publishOrCommit(events []treeEvent, commit func() error) error {
	if t.pub != nil {
		return t.pub.publish(events, commit)
	}
	return commit()
}

// writeIndexes keeps the ephemeral, container and TTL index keys of path in
// step with its node. The kind of a path changes only by delete and create.
func (t *tree) writeIndexes(b *storage.Batch, path string, orig, cur *znode) error {
	if orig != nil && cur != nil && orig.mode == cur.mode && orig.stat.EphemeralOwner == cur.stat.EphemeralOwner && orig.ttl == cur.ttl {
		return nil
	}
	if orig != nil {
		if k := indexKey(t.key[:0], path, orig); k != nil {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	if cur != nil {
		if k := indexKey(t.key[:0], path, cur); k != nil {
			if err := b.Set(k, indexValue(cur)); err != nil {
				return err
			}
		}
	}
	return nil
}

// indexKey appends the secondary index key of n at path to dst, or returns
// nil if n is in no index.
func indexKey(dst []byte, path string, n *znode) []byte {
	switch {
	case n.stat.EphemeralOwner != 0:
		return keys.EphemeralKey(dst, int64(n.stat.EphemeralOwner), path)
	case n.mode == Container:
		return keys.ContainerKey(dst, path)
	case n.mode.IsTTL():
		return keys.TTLKey(dst, path)
	}
	return nil
}

// indexValue is the value stored under n's index key: for the TTL index,
// the node's TTL in milliseconds as 8 big-endian bytes; empty for the
// ephemeral and container indexes. Apply, restore and online restore all
// write index entries with it.
func indexValue(n *znode) []byte {
	if n.mode.IsTTL() && n.stat.EphemeralOwner == 0 {
		return binary.BigEndian.AppendUint64(nil, uint64(n.ttl))
	}
	return nil
}

// applyEntry runs one entryOp. Request failures land in the result; only
// storage failures return an error.
func (t *tree) applyEntry(e *committed) (*applyResult, error) {
	r := &t.req
	if err := decodeRequestInto(r, e.Data); err != nil {
		return &applyResult{Err: fmt.Errorf("keeper: entry %d: %w", e.Index, err)}, nil
	}
	zxid := int64(e.Index)
	t.zxid = zxid
	clear(t.entry)
	t.entryEvents = t.entryEvents[:0]
	if r.Kind == reqRestoreChunk || r.Kind == reqRestoreCommit {
		return t.staged.stage(t.st, r)
	}
	if r.Kind == reqArchived || r.Kind == reqMark {
		// Marks in the log: they change no znode (archive_mark.go).
		if r.Kind == reqArchived {
			t.archive.apply(r)
		}
		return &applyResult{Zxid: zxid}, nil
	}
	if r.Kind != reqOps {
		res := &applyResult{}
		if err := t.sessions.apply(t, r, zxid, res); err != nil {
			return nil, err
		}
		t.endEntry(res.Err == nil)
		return res, nil
	}
	res := newOpsResult(len(r.Ops))
	if t.requireSessions && r.Session != 0 && !t.sessions.live(r.Session) {
		res.Err = fmt.Errorf("%w: session %#x", ErrSessionExpired, r.Session)
		return res, nil
	}
	if !r.Multi && len(r.Ops) != 1 {
		res.Err = fmt.Errorf("%w: a single request carries one op, not %d", ErrBadArguments, len(r.Ops))
		return res, nil
	}
	for i := range r.Ops {
		err := t.applyOp(r, &r.Ops[i], zxid, &res.Ops[i])
		if err == nil {
			continue
		}
		t.endEntry(false)
		if errors.Is(err, errStorage) {
			return nil, err
		}
		failedResults(res.Ops, i, err)
		if r.Multi {
			res.Err = &MultiError{Index: i, Err: err}
		} else {
			res.Err = err
		}
		return res, nil
	}
	t.endEntry(true)
	return res, nil
}

// newOpsResult returns the result of a request of n ops; a single op's
// result comes in the same allocation.
func newOpsResult(n int) *applyResult {
	if n == 1 {
		r := new(struct {
			res applyResult
			ops [1]OpResult
		})
		r.res.Ops = r.ops[:]
		return &r.res
	}
	return &applyResult{Ops: make([]OpResult, n)}
}

// endEntry ends the current entry: its changes and events join the group
// if ok, else they are dropped.
func (t *tree) endEntry(ok bool) {
	if ok {
		for path, n := range t.entry {
			s := t.group[path]
			s.cur, s.dirty = n, true
		}
		t.events = append(t.events, t.entryEvents...)
	}
	clear(t.entry)
	clear(t.entryEvents)
	t.entryEvents = t.entryEvents[:0]
}

// emit records an event of the current entry.
func (t *tree) emit(ev treeEvent) {
	ev.Zxid = t.zxid
	t.entryEvents = append(t.entryEvents, ev)
}

// errStorage marks a storage failure met while running an op, so that
// applyEntry stops the apply rather than failing the request.
var errStorage = errors.New("keeper: storage failure during apply")

// lookup returns the node at path as the current entry sees it, or nil. A
// multi's op reaches the tree with its path checked only as ZooKeeper's
// server checks it, so path may be any string with a "/"; one that does not
// start with "/" (the parent of "a/b") names no znode.
func (t *tree) lookup(path string) (*znode, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, nil
	}
	if n, ok := t.entry[path]; ok {
		return n, nil
	}
	if s, ok := t.group[path]; ok {
		return s.cur, nil
	}
	n, h, err := t.load(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errStorage, err)
	}
	t.group[path] = &slot{orig: n, origHash: h, cur: n}
	return n, nil
}

// put records a change of the current entry; n nil deletes path. path must
// have been looked up in this group first.
func (t *tree) put(path string, n *znode) { t.entry[path] = n }

// load reads the node at path from Pebble, with the hash of its stored value;
// nil if absent. Within an apply group nothing writes the store until the
// group's flush, so every load of the group sees the store as the group
// found it, whether it calls Store.Get or reads the group's view.
func (t *tree) load(path string) (*znode, uint64, error) {
	if t.ahead != nil && t.loads >= 0 {
		// An apply group's load may take a node read ahead; an online
		// restore commit's reads the store, which it is writing.
		if n, h, ok := t.takeAhead(path); ok {
			return n, h, nil
		}
	}
	get := t.st.Get
	if t.loads >= 0 {
		if t.loads++; t.loads >= viewAfter && t.view == nil {
			v, err := t.st.NewView()
			if err != nil {
				return nil, 0, err
			}
			t.view = v
		}
		if t.view != nil {
			get = t.view.Get
		}
	}
	n, h, key, err := readNode(get, t.key, t.h, path)
	t.key = key
	return n, h, err
}

// readNode reads the node at path with get, with the hash of its stored
// value; nil if absent. key is a scratch buffer for the node's key,
// returned for reuse.
func readNode(get func([]byte, func([]byte) error) error, key []byte, h *xxhash.Digest, path string) (*znode, uint64, []byte, error) {
	var n *znode
	var sum uint64
	key = keys.NodeKey(key[:0], path)
	err := get(key, func(v []byte) error {
		sum = nodeHash(h, path, v)
		n = new(znode)
		return decodeZnode(bytes.Clone(v), n)
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, 0, key, nil
	}
	if err != nil {
		return nil, 0, key, err
	}
	return n, sum, key, nil
}

// checkVersion is ZooKeeper's version check: AnyVersion matches anything.
func checkVersion(want, have int32, path string) error {
	if want != AnyVersion && want != have {
		return fmt.Errorf("%w: %s at version %d, expected %d", ErrBadVersion, path, have, want)
	}
	return nil
}

// existing is lookup for a path that must exist: ErrNoNode otherwise.
func (t *tree) existing(path string) (*znode, error) {
	n, err := t.lookup(path)
	if err == nil && n == nil {
		err = noNode(path)
	}
	return n, err
}

func noNode(path string) error { return fmt.Errorf("%w: %s", ErrNoNode, path) }

func refuseReserved(path string) error {
	if isReserved(path) {
		return fmt.Errorf("%w: %s is reserved", ErrBadArguments, path)
	}
	return nil
}

// applyOp runs one op against the overlays, in ZooKeeper's order of checks
// (preTree, then the op's own tree checks), and fills out on success.
func (t *tree) applyOp(r *request, op *Op, zxid int64, out *OpResult) error {
	acl, err := preTree(r, op)
	if err != nil {
		return err
	}
	switch op.kind {
	case opCreate:
		return t.create(r, op, acl, zxid, out)
	case opDelete:
		return t.delete(r, op, zxid)
	case opSet:
		return t.setData(r, op, zxid, out)
	case opSetACL:
		return t.setACL(r, op, acl, out)
	case opCheck:
		return t.check(r, op)
	}
	return fmt.Errorf("%w: unknown op kind %d", ErrBadArguments, op.kind)
}

// create runs a create after preTree: parent exists (NoNode), CREATE on the
// parent (NoAuth), the sequence suffix, the whole path valid, not reserved,
// not existing (NodeExists), parent not ephemeral (NoChildrenForEphemerals).
func (t *tree) create(r *request, op *Op, acl []ACL, zxid int64, out *OpResult) error {
	parentPath, _ := parentOf(op.path)
	parent, err := t.existing(parentPath)
	if err != nil {
		return err
	}
	if err := checkACL(parent.acl, PermCreate, r.Auth); err != nil {
		return fmt.Errorf("%w: create in %s", err, parentPath)
	}
	path := op.path
	if op.mode.IsSequential() {
		path = sequentialName(path, parent.stat.Cversion)
	}
	if err := validatePath(path, false); err != nil {
		return err
	}
	if err := refuseReserved(path); err != nil {
		return err
	}
	existing, err := t.lookup(path)
	if err != nil {
		return err
	}
	if existing != nil || path == "/" {
		return fmt.Errorf("%w: %s", ErrNodeExists, path)
	}
	if parent.stat.EphemeralOwner != 0 {
		return fmt.Errorf("%w: %s", ErrNoChildrenForEphemerals, parentPath)
	}
	n := &znode{
		stat: Stat{
			Czxid: Zxid(zxid), Mzxid: Zxid(zxid), Pzxid: Zxid(zxid),
			Ctime: r.Time, Mtime: r.Time,
			DataLength: int32(len(op.data)),
		},
		mode: op.mode,
		acl:  acl,
		data: op.data,
	}
	if op.mode.IsEphemeral() {
		n.stat.EphemeralOwner = SessionID(r.Session)
	}
	if op.mode.IsTTL() {
		n.ttl = int64(op.ttl.Milliseconds())
	}
	p := parent.clone()
	p.stat.Cversion++
	p.stat.Pzxid = Zxid(zxid)
	p.stat.NumChildren++
	t.put(parentPath, p)
	t.put(path, n)
	t.emit(treeEvent{Type: evNodeCreated, Path: path})
	t.emit(treeEvent{Type: evNodeChildrenChanged, Path: parentPath})
	out.Path = path
	out.Stat = reported(n.stat)
	return nil
}

// sequentialName appends ZooKeeper's sequence suffix: the parent's cversion
// as %010d (a wrapped, negative cversion gives "-" and nine digits).
func sequentialName(prefix string, cversion int32) string {
	var buf [24]byte
	b := append(buf[:0], prefix...)
	v := int64(cversion)
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	digits := strconv.AppendInt(nil, v, 10)
	width := 10
	if cversion < 0 {
		width = 9
	}
	for i := len(digits); i < width; i++ {
		b = append(b, '0')
	}
	return string(append(b, digits...))
}

// delete runs a delete after preTree in ZooKeeper's order: the parent
// exists (NoNode), grants DELETE (NoAuth), the node exists (NoNode), version
// (BadVersion), no children (NotEmpty). A caller without DELETE on the
// parent learns nothing of the child.
func (t *tree) delete(r *request, op *Op, zxid int64) error {
	parentPath, _ := parentOf(op.path)
	parent, err := t.existing(parentPath)
	if err != nil {
		return err
	}
	if err := checkACL(parent.acl, PermDelete, r.Auth); err != nil {
		return fmt.Errorf("%w: delete in %s", err, parentPath)
	}
	n, err := t.existing(op.path)
	if err != nil {
		return err
	}
	if err := checkVersion(op.version, n.stat.Version, op.path); err != nil {
		return err
	}
	if n.stat.NumChildren > 0 {
		return fmt.Errorf("%w: %s", ErrNotEmpty, op.path)
	}
	return t.removeNode(op.path, zxid)
}

// removeNode deletes the childless node at path, which exists, with no
// checks, and records the events: NodeDeleted on path, NodeChildrenChanged
// on its parent.
func (t *tree) removeNode(path string, zxid int64) error {
	parentPath, _ := parentOf(path)
	parent, err := t.lookup(parentPath)
	if err != nil {
		return err
	}
	p := parent.clone()
	p.stat.NumChildren--
	if Zxid(zxid) > p.stat.Pzxid {
		p.stat.Pzxid = Zxid(zxid)
	}
	t.put(parentPath, p)
	t.put(path, nil)
	t.emit(treeEvent{Type: evNodeDeleted, Path: path})
	t.emit(treeEvent{Type: evNodeChildrenChanged, Path: parentPath})
	return nil
}

// removeEphemerals deletes every ephemeral of session id, as the current
// group sees them, in path order, firing the deletes' events.
func (t *tree) removeEphemerals(id int64, zxid int64) error {
	paths, err := t.ephemerals(id, "")
	if err != nil {
		return fmt.Errorf("%w: %w", errStorage, err)
	}
	for path, s := range t.group {
		if s.cur != nil && s.cur.stat.EphemeralOwner == SessionID(id) {
			paths = append(paths, path)
		}
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)
	for _, path := range paths {
		n, err := t.lookup(path)
		if err != nil {
			return err
		}
		if n == nil || n.stat.EphemeralOwner != SessionID(id) {
			continue // deleted, or replaced, earlier in the group
		}
		if err := t.removeNode(path, zxid); err != nil {
			return err
		}
	}
	return nil
}

func (t *tree) setData(r *request, op *Op, zxid int64, out *OpResult) error {
	n, err := t.existing(op.path)
	if err != nil {
		return err
	}
	if err := checkACL(n.acl, PermWrite, r.Auth); err != nil {
		return fmt.Errorf("%w: set %s", err, op.path)
	}
	if err := checkVersion(op.version, n.stat.Version, op.path); err != nil {
		return err
	}
	c := n.clone()
	c.stat.Version++
	c.stat.Mzxid = Zxid(zxid)
	c.stat.Mtime = r.Time
	c.stat.DataLength = int32(len(op.data))
	c.data = op.data
	t.put(op.path, c)
	t.emit(treeEvent{Type: evNodeDataChanged, Path: op.path})
	out.Stat = reported(c.stat)
	return nil
}

func (t *tree) setACL(r *request, op *Op, acl []ACL, out *OpResult) error {
	n, err := t.existing(op.path)
	if err != nil {
		return err
	}
	if err := checkACL(n.acl, PermAdmin, r.Auth); err != nil {
		return fmt.Errorf("%w: setACL %s", err, op.path)
	}
	if err := checkVersion(op.version, n.stat.Aversion, op.path); err != nil {
		return err
	}
	c := n.clone()
	c.stat.Aversion++
	c.acl = acl
	t.put(op.path, c)
	out.Stat = reported(c.stat)
	return nil
}

func (t *tree) check(r *request, op *Op) error {
	n, err := t.existing(op.path)
	if err != nil {
		return err
	}
	if err := checkACL(n.acl, PermRead, r.Auth); err != nil {
		return fmt.Errorf("%w: check %s", err, op.path)
	}
	return checkVersion(op.version, n.stat.Version, op.path)
}

// ---- reads: any goroutine, straight from Pebble ----

// read returns the stored node at path, or ErrNoNode. The node's data is a
// private copy.
func (t *tree) read(path string) (*znode, error) {
	if err := validatePath(path, false); err != nil {
		return nil, err
	}
	var n *znode
	err := t.st.Get(keys.NodeKey(nil, path), func(v []byte) error {
		n = new(znode)
		return decodeZnode(bytes.Clone(v), n)
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, noNode(path)
	}
	if err != nil {
		return nil, err
	}
	return n, nil
}

// get returns the data and Stat of path; auth needs READ.
func (t *tree) get(path string, auth []Identity) ([]byte, Stat, error) {
	n, err := t.read(path)
	if err != nil {
		return nil, Stat{}, err
	}
	if err := checkACL(n.acl, PermRead, auth); err != nil {
		return nil, Stat{}, fmt.Errorf("%w: get %s", err, path)
	}
	return n.data, reported(n.stat), nil
}

// exists returns the Stat of path or ErrNoNode; it needs no permission.
func (t *tree) exists(path string) (Stat, error) {
	n, err := t.read(path)
	if err != nil {
		return Stat{}, err
	}
	return reported(n.stat), nil
}

// getACL returns the ACL and Stat of path. As ZooKeeper 3.8, it needs READ or
// ADMIN, and without ADMIN the hash of every digest entry reads "x".
func (t *tree) getACL(path string, auth []Identity) ([]ACL, Stat, error) {
	n, err := t.read(path)
	if err != nil {
		return nil, Stat{}, err
	}
	if err := checkACL(n.acl, PermRead|PermAdmin, auth); err != nil {
		return nil, Stat{}, fmt.Errorf("%w: getACL %s", err, path)
	}
	acl := append([]ACL(nil), n.acl...)
	if checkACL(n.acl, PermAdmin, auth) != nil {
		for i := range acl {
			if acl[i].Scheme == schemeDigest {
				acl[i].ID = redactDigest(acl[i].ID)
			}
		}
	}
	return acl, reported(n.stat), nil
}

// children returns the sorted child names and the Stat of path; auth needs
// READ. Node and listing come from one point-in-time iterator.
func (t *tree) children(path string, auth []Identity) ([]string, Stat, error) {
	if err := validatePath(path, false); err != nil {
		return nil, Stat{}, err
	}
	lo, hi := keys.NodeSpan()
	it, err := t.st.NewIter(lo, hi)
	if err != nil {
		return nil, Stat{}, err
	}
	defer it.Close()
	key := keys.NodeKey(nil, path)
	if !it.SeekGE(key) || !bytes.Equal(it.Key(), key) {
		if err := it.Error(); err != nil {
			return nil, Stat{}, err
		}
		return nil, Stat{}, noNode(path)
	}
	v, err := it.Value()
	if err != nil {
		return nil, Stat{}, err
	}
	var n znode
	if err := decodeZnode(v, &n); err != nil {
		return nil, Stat{}, err
	}
	if err := checkACL(n.acl, PermRead, auth); err != nil {
		return nil, Stat{}, fmt.Errorf("%w: children %s", err, path)
	}
	prefix := keys.ChildPrefix(nil, path)
	names := make([]string, 0, n.stat.NumChildren)
	for ok := it.SeekGE(prefix); ok && bytes.HasPrefix(it.Key(), prefix); ok = it.Next() {
		names = append(names, string(it.Key()[len(prefix):]))
	}
	if err := it.Error(); err != nil {
		return nil, Stat{}, err
	}
	return names, reported(n.stat), nil
}

// allChildrenNumber returns the number of descendants of path (all depths,
// path excluded); auth needs READ on path. It costs O(descendants).
func (t *tree) allChildrenNumber(path string, auth []Identity) (int64, error) {
	n, err := t.read(path)
	if err != nil {
		return 0, err
	}
	if err := checkACL(n.acl, PermRead, auth); err != nil {
		return 0, fmt.Errorf("%w: allChildrenNumber %s", err, path)
	}
	var total int64
	for _, prefix := range [][]byte{keys.ChildPrefix(nil, path), keys.DescendantPrefix(nil, path)} {
		c, err := t.countPrefix(prefix)
		if err != nil {
			return 0, err
		}
		total += c
	}
	return total, nil
}

func (t *tree) countPrefix(prefix []byte) (int64, error) {
	it, err := t.st.NewIter(prefix, keys.PrefixEnd(prefix))
	if err != nil {
		return 0, err
	}
	var c int64
	for ok := it.First(); ok; ok = it.Next() {
		c++
	}
	return c, it.Close()
}

// ephemerals returns the sorted paths of owner's ephemeral znodes that start
// with prefix ("" or "/" for all), as ZooKeeper's getEphemerals.
func (t *tree) ephemerals(owner int64, prefix string) ([]string, error) {
	if prefix == "/" {
		prefix = ""
	}
	lo := keys.EphemeralKey(nil, owner, prefix)
	it, err := t.st.NewIter(lo, keys.PrefixEnd(lo))
	if err != nil {
		return nil, err
	}
	base := len(keys.EphemeralPrefix(nil, owner))
	var out []string
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, string(it.Key()[base:]))
	}
	return out, it.Close()
}

// indexedNode is one entry of the container or TTL index.
type indexedNode struct {
	Path string
	TTL  int64 // milliseconds; 0 for a container
}

// containers returns the paths of every container znode, sorted, from the
// container index (no tree scan). A leader task deletes the empty ones that
// have had a child (Cversion > 0), as ZooKeeper's ContainerManager does.
func (t *tree) containers() ([]indexedNode, error) {
	lo, hi := keys.ContainerSpan()
	return t.listIndex(lo, hi)
}

// ttlNodes returns every TTL znode with its TTL, sorted by path, from the TTL
// index. A leader task deletes those with no children whose Mtime is older
// than their TTL, by proposing deletes with the proposer's clock.
func (t *tree) ttlNodes() ([]indexedNode, error) {
	lo, hi := keys.TTLSpan()
	return t.listIndex(lo, hi)
}

func (t *tree) listIndex(lo, hi []byte) ([]indexedNode, error) {
	it, err := t.st.NewIter(lo, hi)
	if err != nil {
		return nil, err
	}
	var out []indexedNode
	for ok := it.First(); ok; ok = it.Next() {
		n := indexedNode{Path: string(it.Key()[1:])}
		v, err := it.Value()
		if err != nil {
			_ = it.Close()
			return nil, err
		}
		if len(v) == 8 {
			n.TTL = int64(binary.BigEndian.Uint64(v))
		}
		out = append(out, n)
	}
	return out, it.Close()
}

// swap closes the tree's store, moves the committed build in its place
// (treefiles.SwapStaged; moved runs once the old store is moved aside), and
// reloads the tree from the new store.
func (t *tree) swap(dir string, clusterID uint64, moved func()) error {
	if err := t.st.Close(); err != nil {
		return fmt.Errorf("keeper: install: close tree: %w", err)
	}
	t.st = nil
	if err := treefiles.SwapStaged(dir, func(step int) {
		if step == 1 {
			moved()
		}
	}); err != nil {
		return err
	}
	st, err := storage.Open(dir, storage.Options{ClusterID: clusterID})
	if err != nil {
		return fmt.Errorf("keeper: install: open tree: %w", err)
	}
	if err := t.reload(st); err != nil {
		_ = st.Close()
		return err
	}
	return nil
}

// reload points the tree at st (a store just installed) and reloads what it
// keeps in memory: applied index, digest, membership and sessions.
func (t *tree) reload(st *storage.Store) error {
	nt, err := openTree(st)
	if err != nil {
		return fmt.Errorf("keeper: install: %w", err)
	}
	t.st = nt.st
	t.appliedIdx = nt.appliedIdx
	t.dig.Store(nt.dig.Load())
	t.members = nt.members
	t.sessions = nt.sessions
	return nil
}

// installedMark returns the raft snapshot the tree was built from, if any.
func (t *tree) installedMark() (raftlog.Mark, bool, error) {
	var m raftlog.Mark
	err := t.st.Get(keys.MetaKey(keys.MetaInstalled), func(v []byte) error {
		var err error
		m.Index, m.Term, err = wire.DecodeInstallMark(v)
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return m, false, nil
	}
	return m, err == nil, err
}
