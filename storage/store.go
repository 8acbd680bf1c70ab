package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/internal/nosyncfs"
)

// Errors returned by Open and the readers. The keeper package re-exports the
// first three under the same names so that errors.Is works across both.
var (
	// ErrWrongCluster reports a data dir that belongs to a different cluster.
	ErrWrongCluster = errors.New("keeper: data dir belongs to another cluster")
	// ErrFormatTooNew reports a data dir or stream written by a newer format.
	ErrFormatTooNew = errors.New("keeper: format newer than this version understands")
	// ErrCorrupt reports damaged local data (a bad WAL tail, an undecodable record).
	ErrCorrupt = errors.New("keeper: corrupt data")
	// ErrNotFound reports that Get found no value under the key.
	ErrNotFound = errors.New("storage: key not found")
)

// FormatVersion is the version of keeper's tree format (its key layout and
// value encodings), recorded by Open in a fresh store. A dir marked with a
// larger one is refused with ErrFormatTooNew.
const FormatVersion = 1

// Options configures Open.
type Options struct {
	// ClusterID is recorded in a fresh dir; an existing dir holding another id
	// is refused with ErrWrongCluster. Zero is a valid id like any other.
	ClusterID uint64
	// CacheSize is the block cache size in bytes; 0 means 64 MiB. Memory use
	// is bounded by it and Pebble's memtables, not by the tree's size.
	CacheSize int64
	// ReadOnly opens an existing tree without writing anything in dir: the
	// tree must hold its format marker and cluster id, ClusterID is not
	// checked (Store.ClusterID reports the recorded one), and every write
	// fails.
	ReadOnly bool
	// Scratch opens a store that is thrown away, never recovered: nothing
	// is written for durability (no write-ahead log, and no fsync of
	// sstables, the manifest or the directory). Its memtable is larger, so
	// that a burst of writes stays in memory rather than being flushed and
	// compacted while it lands, and its sstables have larger blocks, for
	// reads in key order. Close flushes the memtable, so a scratch store
	// reopened after Close holds everything committed; after a crash of the
	// process its dir holds anything or nothing, and its owner removes it.
	// Batch.Commit's sync and Store.Sync do nothing on it. It is for a tree
	// built only to be read and discarded, such as an archive restore's
	// replay; never a member's data dir.
	Scratch bool
}

// A scratch store's memtable holds the writes of about 100,000 small znodes,
// which a replay finds again in memory (a larger one makes each read of a
// key it does not hold slower); its sstables are built of 32 KiB blocks
// (Pebble's default is 4 KiB) under a single-level index.
const (
	scratchMemTableSize   = 32 << 20
	scratchBlockSize      = 32 << 10
	scratchIndexBlockSize = 1 << 20
)

// defaultCacheSize is the block cache size when Options.CacheSize is 0.
const defaultCacheSize = 64 << 20

// Store is the Pebble database of one member's tree, at dir/tree.
type Store struct {
	db        *pebble.DB
	opts      *pebble.Options
	dir       string // the Pebble dir, dir/tree
	clusterID uint64
	readOnly  bool
	scratch   bool
}

// Open opens (creating it if needed) the tree database under dir/tree and
// checks its format marker and cluster id.
func Open(dir string, o Options) (*Store, error) {
	size := o.CacheSize
	if size <= 0 {
		size = defaultCacheSize
	}
	cache := pebble.NewCache(size)
	defer cache.Unref()
	opts := &pebble.Options{
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             quietLogger{},
		Cache:              cache,
		ReadOnly:           o.ReadOnly,
	}
	if o.Scratch {
		opts.DisableWAL = true
		opts.FS = nosyncfs.New(vfs.Default)
		opts.MemTableSize = scratchMemTableSize
	}
	// Bloom filters make the miss of every create's existence check cheap.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		if o.Scratch {
			// Larger blocks under one index block: fewer blocks to build,
			// read and decompress, where reads are mostly in key order.
			opts.Levels[i].BlockSize = scratchBlockSize
			opts.Levels[i].IndexBlockSize = scratchIndexBlockSize
		}
	}
	// Defaults filled in here, not only inside pebble.Open, so that a Loader
	// builds sstables with the same options as the store's own.
	opts.EnsureDefaults()
	dbDir := TreeDir(dir)
	if _, err := os.Stat(dbDir); o.ReadOnly && errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("storage: %s holds no tree: %w", dir, ErrCorrupt)
	}
	db, err := pebble.Open(dbDir, opts)
	if err != nil {
		if pebble.IsCorruptionError(err) {
			return nil, fmt.Errorf("storage: open %s: %w: %w", dir, ErrCorrupt, err)
		}
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	s := &Store{db: db, opts: opts, dir: dbDir, readOnly: o.ReadOnly, scratch: o.Scratch}
	if err := s.checkMarkers(o); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// checkMarkers verifies or, for an empty database, writes the format marker
// and the cluster id.
func (s *Store) checkMarkers(o Options) error {
	var format, cluster uint64
	var haveFormat, haveCluster bool
	err := s.Get(keys.MetaKey(keys.MetaFormat), func(v []byte) error {
		n, k := binary.Uvarint(v)
		if k <= 0 || k != len(v) {
			return fmt.Errorf("storage: format marker %x: %w", v, ErrCorrupt)
		}
		format, haveFormat = n, true
		return nil
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	err = s.Get(keys.MetaKey(keys.MetaCluster), func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("storage: cluster id %x: %w", v, ErrCorrupt)
		}
		cluster, haveCluster = binary.BigEndian.Uint64(v), true
		return nil
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	switch {
	case haveFormat && format > FormatVersion:
		return fmt.Errorf("storage: data dir format %d, this version reads up to %d: %w", format, FormatVersion, ErrFormatTooNew)
	case haveFormat && !haveCluster:
		return fmt.Errorf("storage: data dir has a format marker but no cluster id: %w", ErrCorrupt)
	case haveFormat:
		if cluster != o.ClusterID && !o.ReadOnly {
			return fmt.Errorf("storage: data dir holds cluster %x, asked for %x: %w", cluster, o.ClusterID, ErrWrongCluster)
		}
		s.clusterID = cluster
		return nil
	}
	// No marker: the database must be empty, else it is not ours.
	it, err := s.NewIter(nil, nil)
	if err != nil {
		return err
	}
	it.First()
	nonEmpty := it.Valid()
	if err := it.Close(); err != nil {
		return err
	}
	if nonEmpty {
		return fmt.Errorf("storage: data dir holds keys but no format marker: %w", ErrCorrupt)
	}
	if o.ReadOnly {
		return fmt.Errorf("storage: data dir holds no tree: %w", ErrCorrupt)
	}
	b := s.NewBatch()
	defer b.Close()
	var buf [binary.MaxVarintLen64]byte
	if err := b.Set(keys.MetaKey(keys.MetaFormat), buf[:binary.PutUvarint(buf[:], FormatVersion)]); err != nil {
		return err
	}
	if err := b.Set(keys.MetaKey(keys.MetaCluster), binary.BigEndian.AppendUint64(nil, o.ClusterID)); err != nil {
		return err
	}
	if err := b.Commit(true); err != nil {
		return err
	}
	s.clusterID = o.ClusterID
	return nil
}

// ReadOnly reports whether the store was opened with Options.ReadOnly.
func (s *Store) ReadOnly() bool { return s.readOnly }

// ClusterID returns the cluster id recorded in the store.
func (s *Store) ClusterID() uint64 { return s.clusterID }

// Get calls fn with the value stored under key, or returns ErrNotFound. The
// value is valid only during fn; fn's error is returned as is.
func (s *Store) Get(key []byte, fn func(v []byte) error) error {
	return get(s.db, key, fn)
}

type getter interface {
	Get(key []byte) ([]byte, io.Closer, error)
}

func get(g getter, key []byte, fn func(v []byte) error) error {
	v, c, err := g.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("storage: get: %w", err)
	}
	ferr := fn(v)
	if err := c.Close(); err != nil && ferr == nil {
		return fmt.Errorf("storage: get: %w", err)
	}
	return ferr
}

// NewIter returns an iterator over the keys in [lower, upper); a nil bound is
// open. The iterator sees one point-in-time view of the store.
func (s *Store) NewIter(lower, upper []byte) (*Iter, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("storage: new iterator: %w", err)
	}
	return &Iter{it: it}, nil
}

// NewBatch returns a write-only batch.
func (s *Store) NewBatch() *Batch { return &Batch{b: s.db.NewBatch(), scratch: s.scratch} }

// NewIndexedBatch returns a batch whose Get sees its own writes over the store.
func (s *Store) NewIndexedBatch() *Batch {
	return &Batch{b: s.db.NewIndexedBatch(), scratch: s.scratch}
}

// NewSnapshot returns a point-in-time read-only view of the store. Close it
// when done: it pins old data.
func (s *Store) NewSnapshot() *Snapshot { return &Snapshot{s: s.db.NewSnapshot()} }

// Sync makes every batch committed so far durable, by a synced write of an
// empty log record.
func (s *Store) Sync() error {
	if s.scratch {
		return nil
	}
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("storage: sync: %w", err)
	}
	return nil
}

// Flush writes the memtable to sstables (for measurements and tests).
func (s *Store) Flush() error {
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("storage: flush: %w", err)
	}
	return nil
}

// DiskBytes returns the bytes the store's sstables occupy.
func (s *Store) DiskBytes() uint64 {
	return s.db.Metrics().DiskSpaceUsage()
}

// Close closes the store; batches, iterators and snapshots must be closed
// first. A scratch store's memtable is flushed first: it has no log to
// recover it from.
func (s *Store) Close() error {
	if s.scratch && !s.readOnly {
		if err := s.db.Flush(); err != nil {
			_ = s.db.Close()
			return fmt.Errorf("storage: close: %w", err)
		}
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}

// Batch collects writes applied atomically by Commit.
type Batch struct {
	b       *pebble.Batch
	scratch bool // of a scratch store: Commit never syncs
}

// Set stores value under key; both are copied.
func (b *Batch) Set(key, value []byte) error {
	if err := b.b.Set(key, value, nil); err != nil {
		return fmt.Errorf("storage: batch set: %w", err)
	}
	return nil
}

// Delete removes key.
func (b *Batch) Delete(key []byte) error {
	if err := b.b.Delete(key, nil); err != nil {
		return fmt.Errorf("storage: batch delete: %w", err)
	}
	return nil
}

// DeleteRange removes every key in [lower, upper). Keys written after it in
// the same batch, or by a later batch or ingested sstable, are not removed.
func (b *Batch) DeleteRange(lower, upper []byte) error {
	if err := b.b.DeleteRange(lower, upper, nil); err != nil {
		return fmt.Errorf("storage: batch delete range: %w", err)
	}
	return nil
}

// Get reads key through an indexed batch (see Store.NewIndexedBatch).
func (b *Batch) Get(key []byte, fn func(v []byte) error) error { return get(b.b, key, fn) }

// Len returns the encoded size of the batch in bytes.
func (b *Batch) Len() int { return b.b.Len() }

// Commit applies the batch atomically; sync makes it durable before
// returning, except in a scratch store (Options.Scratch).
func (b *Batch) Commit(sync bool) error {
	wo := pebble.NoSync
	if sync && !b.scratch {
		wo = pebble.Sync
	}
	if err := b.b.Commit(wo); err != nil {
		return fmt.Errorf("storage: commit: %w", err)
	}
	return nil
}

// Reset empties the batch for reuse after Commit.
func (b *Batch) Reset() { b.b.Reset() }

// Close releases the batch; it must not be used afterwards.
func (b *Batch) Close() error { return b.b.Close() }

// Snapshot is a point-in-time read-only view of a Store.
type Snapshot struct{ s *pebble.Snapshot }

// Get is Store.Get on the snapshot.
func (s *Snapshot) Get(key []byte, fn func(v []byte) error) error { return get(s.s, key, fn) }

// NewIter is Store.NewIter on the snapshot.
func (s *Snapshot) NewIter(lower, upper []byte) (*Iter, error) {
	it, err := s.s.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("storage: new iterator: %w", err)
	}
	return &Iter{it: it}, nil
}

// Close releases the snapshot.
func (s *Snapshot) Close() error { return s.s.Close() }

// Iter walks keys in order. Key and Value are valid until the next move.
type Iter struct{ it *pebble.Iterator }

// First moves to the first key; it reports Valid.
func (i *Iter) First() bool { return i.it.First() }

// SeekGE moves to the first key at or after key; it reports Valid.
func (i *Iter) SeekGE(key []byte) bool { return i.it.SeekGE(key) }

// Next moves to the next key; it reports Valid.
func (i *Iter) Next() bool { return i.it.Next() }

// Valid reports whether the iterator is at a key.
func (i *Iter) Valid() bool { return i.it.Valid() }

// Key returns the current key.
func (i *Iter) Key() []byte { return i.it.Key() }

// Value returns the current value.
func (i *Iter) Value() ([]byte, error) {
	v, err := i.it.ValueAndErr()
	if err != nil {
		return nil, fmt.Errorf("storage: iterator value: %w", err)
	}
	return v, nil
}

// Error returns the error that stopped the iteration, if any.
func (i *Iter) Error() error { return i.it.Error() }

// Close releases the iterator and returns any iteration error.
func (i *Iter) Close() error {
	if err := i.it.Close(); err != nil {
		return fmt.Errorf("storage: iterator: %w", err)
	}
	return nil
}

// quietLogger keeps Pebble silent: the library never logs unless given a
// logger. Fatalf means Pebble found its own state impossible to continue from;
// it panics rather than exiting the process.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

// TreeDir returns the directory of the tree database inside the member data
// dir dir.
func TreeDir(dir string) string { return filepath.Join(dir, "tree") }

// PeekClusterID returns the cluster id recorded in the tree under dir, and
// false when dir holds no tree yet. It opens the database read-only and
// closes it again; the caller must hold the data dir (nothing else has it open).
func PeekClusterID(dir string) (uint64, bool, error) {
	dbDir := TreeDir(dir)
	if _, err := os.Stat(dbDir); errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	db, err := pebble.Open(dbDir, &pebble.Options{ReadOnly: true, Logger: quietLogger{}})
	if err != nil {
		return 0, false, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	defer db.Close()
	var id uint64
	err = get(db, keys.MetaKey(keys.MetaCluster), func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("storage: cluster id %x: %w", v, ErrCorrupt)
		}
		id = binary.BigEndian.Uint64(v)
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return id, true, nil
}

// View is a point-in-time view of the store for many point reads in a row:
// one Pebble iterator, positioned afresh by each Get, rather than a lookup
// set up anew per key as Store.Get does. It sees the store as it was when
// NewView returned. Close it when done: it pins the data it sees.
type View struct{ it *pebble.Iterator }

// NewView returns a View of the store as it is now.
func (s *Store) NewView() (*View, error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return nil, fmt.Errorf("storage: new view: %w", err)
	}
	return &View{it: it}, nil
}

// Get is Store.Get on the view.
func (v *View) Get(key []byte, fn func(v []byte) error) error {
	if !v.it.SeekPrefixGE(key) || !bytes.Equal(v.it.Key(), key) {
		if err := v.it.Error(); err != nil {
			return fmt.Errorf("storage: get: %w", err)
		}
		return ErrNotFound
	}
	val, err := v.it.ValueAndErr()
	if err != nil {
		return fmt.Errorf("storage: get: %w", err)
	}
	return fn(val)
}

// Close releases the view.
func (v *View) Close() error {
	if err := v.it.Close(); err != nil {
		return fmt.Errorf("storage: view: %w", err)
	}
	return nil
}
