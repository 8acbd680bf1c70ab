package storage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// DefaultLoaderTableSize is the size at which a Loader cuts an sstable and
// ingests it, when LoaderOptions.TableSize is zero.
const DefaultLoaderTableSize = 128 << 20

// LoaderOptions configures a Loader.
type LoaderOptions struct {
	// TableSize is the approximate sstable size, in bytes of keys and values,
	// at which the Loader ingests what it has and starts a new sstable. Zero
	// means DefaultLoaderTableSize. Disk use during a load is the store plus
	// at most one sstable of this size.
	TableSize int64
}

// Loader fills a store with keys given in strictly increasing order, by
// writing them to sstables and ingesting those, which is much faster than
// batches and keeps memory flat: only the sstable being built (its index
// blocks and one data block) is held in memory.
//
// Ingested keys get sequence numbers above every write committed before the
// ingest, so they replace keys already in the store (or deleted by an earlier
// range deletion) and are replaced by later writes. A Loader is for filling
// a new store, such as a restore's, or a key span its caller first cleared
// with a range deletion (an online restore commit); keys written to that span
// by others while the Loader is in use would be shadowed by the ingest. A
// Loader belongs to one goroutine.
type Loader struct {
	s     *Store
	size  int64
	dir   string // where sstables are built, inside the Pebble dir
	w     *sstable.Writer
	path  string // the sstable being written
	n     int    // sstables started
	bytes int64  // key and value bytes in the current sstable
	last  []byte // the last key added
	err   error  // sticky
}

// NewLoader returns a Loader for s.
func (s *Store) NewLoader(o LoaderOptions) (*Loader, error) {
	size := o.TableSize
	if size <= 0 {
		size = DefaultLoaderTableSize
	}
	dir := filepath.Join(s.dir, "load")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: loader: %w", err)
	}
	return &Loader{s: s, size: size, dir: dir}, nil
}

// Add adds key with value. Keys must be strictly increasing across all calls;
// a key not above the previous one is refused with an error.
func (l *Loader) Add(key, value []byte) error {
	if l.err != nil {
		return l.err
	}
	if l.last != nil && bytes.Compare(key, l.last) <= 0 {
		l.err = fmt.Errorf("storage: loader: key %q not above the previous key %q", key, l.last)
		return l.err
	}
	l.last = append(l.last[:0], key...)
	if l.w == nil {
		if err := l.start(); err != nil {
			l.err = err
			return err
		}
	}
	if err := l.w.Set(key, value); err != nil {
		l.err = fmt.Errorf("storage: loader: %w", err)
		return l.err
	}
	l.bytes += int64(len(key) + len(value))
	if l.bytes >= l.size {
		if err := l.ingest(context.Background()); err != nil {
			l.err = err
			return err
		}
	}
	return nil
}

// Finish ingests the keys added since the last sstable was cut. The keys are
// in the store once Finish returns nil; ingestion syncs the sstables and
// Pebble's manifest.
func (l *Loader) Finish(ctx context.Context) error {
	if l.err != nil {
		return l.err
	}
	if l.w != nil {
		if err := l.ingest(ctx); err != nil {
			l.err = err
			return err
		}
	}
	l.err = fmt.Errorf("storage: loader finished")
	return os.RemoveAll(l.dir)
}

// Abort drops the sstable being built. Keys already ingested stay in the
// store; a caller building a new store removes the whole store instead.
func (l *Loader) Abort() {
	if l.w != nil {
		_ = l.w.Close()
		l.w = nil
	}
	if l.err == nil {
		l.err = fmt.Errorf("storage: loader aborted")
	}
	_ = os.RemoveAll(l.dir)
}

// loaderBytesPerSync is how often a building sstable is written back.
const loaderBytesPerSync = 512 << 10

func (l *Loader) start() error {
	l.path = filepath.Join(l.dir, fmt.Sprintf("%06d.sst", l.n))
	l.n++
	f, err := l.s.opts.FS.Create(l.path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("storage: loader: %w", err)
	}
	wo := l.s.opts.MakeWriterOptions(len(l.s.opts.Levels)-1, l.s.db.TableFormat())
	// Write back as the table grows, not all at the closing sync: a burst
	// of dirty pages would stall the fsyncs of the raft log beside it.
	f = vfs.NewSyncingFile(f, vfs.SyncingFileOptions{BytesPerSync: loaderBytesPerSync})
	l.w = sstable.NewWriter(objstorageprovider.NewFileWritable(f), wo)
	l.bytes = 0
	return nil
}

// ingest closes the current sstable (which syncs it) and ingests it.
func (l *Loader) ingest(ctx context.Context) error {
	w := l.w
	l.w = nil
	if err := w.Close(); err != nil {
		return fmt.Errorf("storage: loader: finish sstable: %w", err)
	}
	if err := l.s.db.Ingest(ctx, []string{l.path}); err != nil {
		return fmt.Errorf("storage: loader: ingest: %w", err)
	}
	// Ingestion links the file into the store; the build copy may remain.
	if err := os.Remove(l.path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("storage: loader: %w", err)
	}
	return nil
}
