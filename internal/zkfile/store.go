package zkfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/internal/nosyncfs"
)

// Tree is a ZooKeeper data tree kept in a temporary Pebble store under a
// directory of its own, so that memory does not grow with the tree: a
// snapshot is loaded into it, log transactions are applied to it as
// ZooKeeper's DataTree applies them, and Walk reads it back in keeper's key
// order. It keeps ZooKeeper's digest of the tree up to date as it changes.
//
// Keys: 'n' + keys.NodeKey's layout for znodes (value: the Stat, the ACL,
// the data), 'e' + owner + path for ephemerals, 's' + id for sessions
// (value: the timeout), 'k' + a node key for the child counts Walk counts.
// A Tree belongs to one goroutine.
type Tree struct {
	dir    string
	db     *pebble.DB
	ov     overlay       // replay's working set, on inside ApplyAll
	b      *pebble.Batch // pending writes; indexed, so reads see them
	digest int64         // ZooKeeper's tree digest, a sum modulo 2^64
	key    []byte
	val    []byte
}

const (
	prefixEphemeral = 'e'
	prefixSession   = 's'
	prefixCount     = 'k'
)

// batchSize is the size at which a snapshot's writes are committed;
// replay commits its indexed batch at indexedBatchSize, since every read
// searches the batch too.
const (
	batchSize        = 4 << 20
	indexedBatchSize = 4 << 20
)

// NewTree creates an empty tree in a new directory inside tmp (the system's
// temporary directory when tmp is ""). Close removes it.
func NewTree(tmp string) (*Tree, error) {
	dir, err := os.MkdirTemp(tmp, "keeper-zkimport-")
	if err != nil {
		return nil, fmt.Errorf("zkfile: %w", err)
	}
	// Pebble reserves its memtables' memory in the block cache: the cache is
	// the memtables (up to 2 × 32 MiB) and 128 MiB for blocks, which replay's
	// random lookups need.
	cache := pebble.NewCache(192 << 20)
	defer cache.Unref()
	opts := &pebble.Options{
		FormatMajorVersion:    pebble.FormatNewest,
		Logger:                quietLogger{},
		Cache:                 cache,
		FS:                    nosyncfs.New(vfs.Default),
		DisableWAL:            true, // a crash leaves a temporary dir to remove, nothing to recover
		MemTableSize:          32 << 20,
		L0CompactionThreshold: 4,
		L0StopWritesThreshold: 64,
	}
	// Replay's reads are point lookups, half of them misses (a create checks
	// that its znode is not there): bloom filters spare them the sstables.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("zkfile: open %s: %w", dir, err)
	}
	return &Tree{dir: dir, db: db, b: db.NewBatch()}, nil
}

// Close closes the store and removes its directory.
func (t *Tree) Close() error {
	if t.db == nil {
		return nil
	}
	_ = t.b.Close()
	err := t.db.Close()
	t.db = nil
	if rerr := os.RemoveAll(t.dir); err == nil {
		err = rerr
	}
	return err
}

// indexed switches the pending writes to an indexed batch, whose reads see
// them: loading a snapshot only writes, replay reads its own writes.
func (t *Tree) indexed() error {
	if t.b.Indexed() {
		return nil
	}
	if err := t.flush(true); err != nil {
		return err
	}
	// Out of the memtables: replay's lookups then search a small memtable
	// and sstables, not the snapshot's skiplists.
	if err := t.db.Flush(); err != nil {
		return fmt.Errorf("zkfile: %w", err)
	}
	_ = t.b.Close()
	t.b = t.db.NewIndexedBatch()
	return nil
}

// Digest returns ZooKeeper's digest of the tree (version DigestVersion).
func (t *Tree) Digest() int64 { return t.digest }

// flush commits the pending writes once they reach batchSize, or always
// with force.
func (t *Tree) flush(force bool) error {
	limit := batchSize
	if t.b.Indexed() {
		limit = indexedBatchSize
	}
	if t.b.Len() < limit && !(force && !t.b.Empty()) {
		return nil
	}
	if err := t.b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("zkfile: %w", err)
	}
	t.b.Reset()
	return nil
}

// node is a znode as the tree stores it.
type node struct {
	stat Stat
	acl  []ACL
	data []byte
}

// statSize is the encoded size of a Stat, StatPersisted's field order.
const statSize = 4*8 + 3*4 + 2*8

// encodeNode appends n's stored value: the Stat (big-endian, StatPersisted's
// order), the ACL (uvarint 0 for OpenACL, else count + 1 and each entry's
// perms, scheme, id), then the data.
func encodeNode(dst []byte, s *Stat, acl []ACL, data []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(s.Czxid))
	dst = binary.BigEndian.AppendUint64(dst, uint64(s.Mzxid))
	dst = binary.BigEndian.AppendUint64(dst, uint64(s.Ctime))
	dst = binary.BigEndian.AppendUint64(dst, uint64(s.Mtime))
	dst = binary.BigEndian.AppendUint32(dst, uint32(s.Version))
	dst = binary.BigEndian.AppendUint32(dst, uint32(s.Cversion))
	dst = binary.BigEndian.AppendUint32(dst, uint32(s.Aversion))
	dst = binary.BigEndian.AppendUint64(dst, uint64(s.EphemeralOwner))
	dst = binary.BigEndian.AppendUint64(dst, uint64(s.Pzxid))
	if IsOpenACL(acl) {
		dst = append(dst, 0)
	} else {
		dst = binary.AppendUvarint(dst, uint64(len(acl))+1)
		for _, a := range acl {
			dst = binary.AppendUvarint(dst, uint64(uint32(a.Perms)))
			dst = binary.AppendUvarint(dst, uint64(len(a.Scheme)))
			dst = append(dst, a.Scheme...)
			dst = binary.AppendUvarint(dst, uint64(len(a.ID)))
			dst = append(dst, a.ID...)
		}
	}
	return append(dst, data...)
}

var errBadValue = errors.New("zkfile: stored znode value does not decode")

// decodeStat decodes the Stat at the start of v.
func decodeStat(v []byte, s *Stat) error {
	if len(v) < statSize {
		return errBadValue
	}
	s.Czxid = int64(binary.BigEndian.Uint64(v[0:]))
	s.Mzxid = int64(binary.BigEndian.Uint64(v[8:]))
	s.Ctime = int64(binary.BigEndian.Uint64(v[16:]))
	s.Mtime = int64(binary.BigEndian.Uint64(v[24:]))
	s.Version = int32(binary.BigEndian.Uint32(v[32:]))
	s.Cversion = int32(binary.BigEndian.Uint32(v[36:]))
	s.Aversion = int32(binary.BigEndian.Uint32(v[40:]))
	s.EphemeralOwner = int64(binary.BigEndian.Uint64(v[44:]))
	s.Pzxid = int64(binary.BigEndian.Uint64(v[52:]))
	return nil
}

// decodeNode decodes a stored value; n.data aliases v.
func decodeNode(v []byte, n *node) error {
	if err := decodeStat(v, &n.stat); err != nil {
		return err
	}
	v = v[statSize:]
	c, k := binary.Uvarint(v)
	if k <= 0 {
		return errBadValue
	}
	v = v[k:]
	if c == 0 {
		n.acl = OpenACL
	} else {
		n.acl = make([]ACL, 0, c-1)
		for i := uint64(1); i < c; i++ {
			p, k := binary.Uvarint(v)
			if k <= 0 {
				return errBadValue
			}
			v = v[k:]
			var s, id string
			if s, v = uvarString(v); v == nil {
				return errBadValue
			}
			if id, v = uvarString(v); v == nil {
				return errBadValue
			}
			n.acl = append(n.acl, ACL{Perms: int32(uint32(p)), Scheme: s, ID: id})
		}
	}
	n.data = v
	return nil
}

// uvarString reads a uvarint-length string; the rest is nil on failure.
func uvarString(v []byte) (string, []byte) {
	l, k := binary.Uvarint(v)
	if k <= 0 || l > uint64(len(v)-k) {
		return "", nil
	}
	return string(v[k : k+int(l)]), v[k+int(l):]
}

// get returns the znode at path, or nil. During replay the znode is the
// overlay's: a caller that changes it calls rewrite.
func (t *Tree) get(path string) (*node, error) {
	if !t.ov.on {
		return t.read(path)
	}
	s, err := t.lookup(path)
	if err != nil {
		return nil, err
	}
	return s.n, nil
}

// read reads the znode at path from the store, or nil.
func (t *Tree) read(path string) (*node, error) {
	t.key = keys.NodeKey(t.key[:0], path)
	v, closer, err := t.b.Get(t.key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("zkfile: %w", err)
	}
	defer closer.Close()
	n := &node{}
	if err := decodeNode(v, n); err != nil {
		return nil, err
	}
	n.data = append([]byte(nil), n.data...)
	return n, nil
}

// put stores the znode at path and adds its digest.
func (t *Tree) put(path string, s *Stat, acl []ACL, data []byte) error {
	t.digest += NodeDigest(path, data, s)
	if t.ov.on {
		t.set(path, &node{stat: *s, acl: acl, data: data})
		return nil
	}
	t.key = keys.NodeKey(t.key[:0], path)
	t.val = encodeNode(t.val[:0], s, acl, data)
	if err := t.b.Set(t.key, t.val, nil); err != nil {
		return fmt.Errorf("zkfile: %w", err)
	}
	return t.flush(false)
}

// digest returns ZooKeeper's digest of n at path.
func (n *node) digest(path string) int64 { return NodeDigest(path, n.data, &n.stat) }

// rewrite stores n, changed, at path, whose digest was old before the change.
func (t *Tree) rewrite(path string, old int64, n *node) error {
	t.digest -= old
	return t.put(path, &n.stat, n.acl, n.data)
}

// remove deletes the znode at path, whose stored state is n, and takes
// its digest out.
func (t *Tree) remove(path string, n *node) error {
	t.digest -= NodeDigest(path, n.data, &n.stat)
	if t.ov.on {
		t.set(path, nil)
		return nil
	}
	t.key = keys.NodeKey(t.key[:0], path)
	if err := t.b.Delete(t.key, nil); err != nil {
		return fmt.Errorf("zkfile: %w", err)
	}
	return t.flush(false)
}

// ephemeralKey returns the index key of an ephemeral znode.
func (t *Tree) ephemeralKey(owner int64, path string) []byte {
	t.key = append(t.key[:0], prefixEphemeral)
	t.key = binary.BigEndian.AppendUint64(t.key, uint64(owner))
	return append(t.key, path...)
}

// setIndex records or removes path in its owner's ephemeral index, if it is
// an ephemeral.
func (t *Tree) setIndex(path string, owner int64, present bool) error {
	if k, _ := KindOf(owner); k != Ephemeral {
		return nil
	}
	key := t.ephemeralKey(owner, path)
	var err error
	if present {
		err = t.b.Set(key, nil, nil)
	} else {
		err = t.b.Delete(key, nil)
	}
	if err != nil {
		return fmt.Errorf("zkfile: %w", err)
	}
	return nil
}

// setSession records session id with its timeout, or removes it.
func (t *Tree) setSession(id int64, timeout int32, present bool) error {
	t.key = binary.BigEndian.AppendUint64(append(t.key[:0], prefixSession), uint64(id))
	var err error
	if present {
		err = t.b.Set(t.key, binary.BigEndian.AppendUint32(nil, uint32(timeout)), nil)
	} else {
		err = t.b.Delete(t.key, nil)
	}
	if err != nil {
		return fmt.Errorf("zkfile: %w", err)
	}
	return nil
}

// count returns the number of keys with the one-byte prefix p.
func (t *Tree) count(p byte) (int64, error) {
	if err := t.flush(true); err != nil {
		return 0, err
	}
	it, err := t.db.NewIter(&pebble.IterOptions{LowerBound: []byte{p}, UpperBound: []byte{p + 1}})
	if err != nil {
		return 0, fmt.Errorf("zkfile: %w", err)
	}
	var n int64
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("zkfile: %w", err)
	}
	return n, nil
}

// Sessions returns the number of sessions the tree holds.
func (t *Tree) Sessions() (int64, error) { return t.count(prefixSession) }

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

// SessionTimeouts returns the sessions the tree holds, id to timeout.
func (t *Tree) SessionTimeouts() (map[int64]int32, error) {
	if err := t.flush(true); err != nil {
		return nil, err
	}
	it, err := t.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixSession}, UpperBound: []byte{prefixSession + 1}})
	if err != nil {
		return nil, fmt.Errorf("zkfile: %w", err)
	}
	defer it.Close()
	m := make(map[int64]int32)
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil || len(it.Key()) != 9 || len(v) != 4 {
			return nil, corruptf("stored session %x", it.Key())
		}
		m[int64(binary.BigEndian.Uint64(it.Key()[1:]))] = int32(binary.BigEndian.Uint32(v))
	}
	return m, it.Error()
}
