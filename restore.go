package keeper

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/internal/raftlog"
	"github.com/keeper-go/keeper/internal/wire"
	"github.com/keeper-go/keeper/storage"
)

// RestoreOptions configures a restore into a new data dir.
type RestoreOptions struct {
	// Key is the 32-byte host key an encrypted stream was written with; nil for
	// a plaintext stream.
	Key []byte
	// ClusterID is the restored cluster's id. A restored cluster gets a new
	// identity, so that its members and the original's never mistake each
	// other's data dirs. Zero means an id derived from the backup (its
	// cluster id, zxid and time) and Peers, so every member's Restore picks
	// the same one without coordination, unless KeepClusterID is set.
	ClusterID uint64
	// KeepClusterID restores under the backup's own cluster id, for rebuilding
	// a cluster that is gone rather than cloning one that still runs.
	KeepClusterID bool
	// Progress, when not nil, is called every few thousand znodes.
	Progress func(Progress)

	// ID is the id of the member whose data dir Restore seeds. Required by
	// Restore.
	ID uint64
	// Peers lists the ids of every member of the new cluster, ID included;
	// the same list goes to each member's Restore and Open. Required by
	// Restore.
	Peers []uint64

	// deriveClusterID, when set and ClusterID is zero, picks the new cluster
	// id from the stream's header (Restore: the same on every member).
	deriveClusterID func(BackupInfo) uint64
	// membership, when set, replaces the stream's membership in the tree.
	membership []byte
	// seedLog, when set, runs in the finished temporary dir before it is
	// renamed: Restore writes the member's raft log there.
	seedLog func(tmp string, info RestoreInfo) error
	// checkHeader, when set, may refuse the stream once its header is read
	// (a raft snapshot install checks the zxid and cluster it expects).
	checkHeader func(BackupInfo) error
	// installed, when not zero, is recorded as the tree's MetaInstalled: the
	// raft snapshot (index, term) the tree was built from.
	installed raftlog.Mark
	// scratch builds a scratch store (storage.Options.Scratch), synced
	// nowhere: the tree of an archive restore's replay, which is thrown
	// away. Never a member's data dir.
	scratch bool
}

// RestoreInfo describes a finished restore.
type RestoreInfo struct {
	// Backup describes the stream that was restored. The restored tree is at
	// Backup.Zxid with digest Backup.Digest and membership.
	Backup BackupInfo
	// ClusterID is the cluster id the new data dir was written with.
	ClusterID uint64
}

// indexBatchSize is the batch size at which restore commits index keys.
const indexBatchSize = 4 << 20

// restoreTableSize is the sstable size at which restore ingests. An sstable
// writer keeps its index and its bloom filter's key hashes (4 bytes a key) in
// memory until the table is finished, so this bounds restore's memory: about
// 2 MiB per 32 MiB table of 100-byte znodes.
const restoreTableSize = 32 << 20

// restoreTree builds a new member's tree store in dir from the tree stream
// in r: the znodes go, in key order, into sstables that are ingested; the
// ephemeral, container and TTL index keys are rebuilt from the znodes; the
// meta keys record applied = the stream's zxid, its digest and membership,
// and the cluster id chosen by opts. Memory does not grow with the tree.
//
// dir must not exist or be empty. Everything is built in a temporary
// directory beside dir, synced, and renamed to dir only after the whole
// stream has been verified (as VerifyBackup does); on any failure the
// temporary directory is removed and dir is left as it was. A damaged stream
// is refused with an error matching ErrCorruptBackup.
//
// The caller opens the result with storage.Open(dir, Options{ClusterID:
// info.ClusterID}); seeding the raft log at info.Backup.Zxid is its job.
func restoreTree(ctx context.Context, r io.Reader, dir string, opts RestoreOptions) (_ RestoreInfo, err error) {
	dir = filepath.Clean(dir)
	if err := checkRestoreTarget(dir); err != nil {
		return RestoreInfo{}, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return RestoreInfo{}, fmt.Errorf("keeper: restore: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".restore-")
	if err != nil {
		return RestoreInfo{}, fmt.Errorf("keeper: restore: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()

	var res RestoreInfo
	switch {
	case opts.ClusterID != 0:
		res.ClusterID = opts.ClusterID
	case !opts.KeepClusterID:
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return RestoreInfo{}, fmt.Errorf("keeper: restore: cluster id: %w", err)
		}
		res.ClusterID = binary.LittleEndian.Uint64(b[:])
	}
	var (
		st   *storage.Store
		ld   *storage.Loader
		b    *storage.Batch
		load *treeLoad
	)
	defer func() {
		if load != nil {
			_ = load.wait()
		}
		if ld != nil {
			ld.Abort()
		}
		if b != nil {
			_ = b.Close()
		}
		if st != nil {
			_ = st.Close()
		}
	}()
	// The store is opened once the header is checked: with KeepClusterID its
	// cluster id comes from the header, and a foreign stream opens nothing.
	open := func(h BackupInfo) error {
		if opts.checkHeader != nil {
			if err := opts.checkHeader(h); err != nil {
				return err
			}
		}
		if opts.KeepClusterID && opts.ClusterID == 0 {
			res.ClusterID = h.ClusterID
		} else if opts.deriveClusterID != nil && opts.ClusterID == 0 {
			res.ClusterID = opts.deriveClusterID(h)
		}
		var err error
		st, err = storage.Open(tmp, storage.Options{ClusterID: res.ClusterID, CacheSize: 8 << 20, Scratch: opts.scratch})
		if err != nil {
			return err
		}
		if ld, err = st.NewLoader(storage.LoaderOptions{TableSize: restoreTableSize}); err != nil {
			return err
		}
		b = st.NewBatch()
		load = startLoad(ld, b)
		return nil
	}

	var idx []byte
	info, err := readTreeOptional(ctx, r, opts.Key, opts.Progress, open, func(rec *znodeRecord) error {
		if err := load.put(rec.key, rec.value); err != nil {
			return err
		}
		idx = indexKey(idx[:0], rec.path, &rec.node)
		if idx == nil {
			return nil
		}
		return load.set(idx, indexValue(&rec.node))
	}, func(id int64, value []byte) error {
		idx = keys.SessionKey(idx[:0], id)
		return load.set(idx, value)
	}, func(kind uint8, p []byte) error {
		// A raft snapshot carries the online restore chunks staged at its
		// zxid (restore_online.go): they are replicated state.
		if kind != recordRestoreStage {
			return nil
		}
		k, v, err := decodeStageRecord(p)
		if err != nil {
			return err
		}
		return load.set(k, v)
	})
	res.Backup = info
	if load != nil {
		// The stream's error, if any, says more than the load's.
		if lerr := load.wait(); err == nil || errors.Is(err, errLoadEnded) {
			err = lerr
		}
		load = nil
	}
	if err != nil {
		return res, fmt.Errorf("keeper: restore: %w", err)
	}
	err = ld.Finish(ctx)
	ld = nil
	if err != nil {
		return res, fmt.Errorf("keeper: restore: %w", err)
	}
	for _, kv := range []struct {
		name string
		v    []byte
	}{
		{keys.MetaApplied, binary.BigEndian.AppendUint64(nil, uint64(info.Zxid))},
		{keys.MetaDigest, binary.BigEndian.AppendUint64(nil, info.Digest)},
	} {
		if err := b.Set(keys.MetaKey(kv.name), kv.v); err != nil {
			return res, err
		}
	}
	if opts.installed.Index != 0 {
		v := wire.EncodeInstallMark(opts.installed.Index, opts.installed.Term)
		if err := b.Set(keys.MetaKey(keys.MetaInstalled), v); err != nil {
			return res, err
		}
	}
	members := info.membership
	if opts.membership != nil {
		members = opts.membership
	}
	if members != nil {
		if err := b.Set(keys.MetaKey(keys.MetaMembership), members); err != nil {
			return res, err
		}
	}
	if err := b.Commit(true); err != nil {
		return res, fmt.Errorf("keeper: restore: %w", err)
	}
	_ = b.Close()
	b = nil
	cerr := st.Close()
	st = nil
	if cerr != nil {
		return res, fmt.Errorf("keeper: restore: %w", cerr)
	}
	if opts.seedLog != nil {
		if err := opts.seedLog(tmp, res); err != nil {
			return res, fmt.Errorf("keeper: restore: %w", err)
		}
	}
	if err := syncDirUnless(opts.scratch, tmp); err != nil {
		return res, err
	}
	// os.Rename refuses to replace a directory, even an empty one: remove the
	// empty target first (checkRestoreTarget allowed only that), and put it
	// back if the rename fails.
	existed := os.Remove(dir) == nil
	if err := os.Rename(tmp, dir); err != nil {
		if existed {
			_ = os.Mkdir(dir, 0o755)
		}
		return res, fmt.Errorf("keeper: restore: %w", err)
	}
	if err := syncDirUnless(opts.scratch, filepath.Dir(dir)); err != nil {
		return res, err
	}
	return res, nil
}

// checkRestoreTarget refuses a dir that exists and is not an empty directory.
func checkRestoreTarget(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("keeper: restore: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("keeper: restore: %s is not a directory: %w", dir, ErrDirNotEmpty)
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keeper: restore: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if len(names) > 0 {
		return fmt.Errorf("keeper: restore: %s: %w", dir, ErrDirNotEmpty)
	}
	if err != nil && err != io.EOF {
		return fmt.Errorf("keeper: restore: %w", err)
	}
	return nil
}

// syncDir fsyncs a directory so that the entries created in it are durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keeper: restore: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("keeper: restore: sync %s: %w", dir, err)
	}
	return nil
}

// syncDirUnless is syncDir, skipped for a scratch tree.
func syncDirUnless(scratch bool, dir string) error {
	if scratch {
		return nil
	}
	return syncDir(dir)
}

// flushAt commits b, unsynced, once it holds size bytes, and empties it.
func flushAt(b *storage.Batch, size int) error {
	if b.Len() < size {
		return nil
	}
	if err := b.Commit(false); err != nil {
		return err
	}
	b.Reset()
	return nil
}
