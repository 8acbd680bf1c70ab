package keeper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/keeper-go/keeper/internal/stream"
	"github.com/keeper-go/keeper/internal/wire"
	"github.com/keeper-go/keeper/storage"
)

// Backup writes a consistent copy of the whole tree to w while the member
// keeps serving reads and writes: the tree exactly as it stood at one applied
// zxid, read from a point-in-time Pebble snapshot, in the stream format of
// docs/BACKUP_FORMAT.md (chunked, CRC32C-checked, zstd-compressed, optionally
// AES-256-GCM encrypted, closed by a footer with counts and the tree digest).
// Memory stays flat however large the tree: the stream is never buffered.
//
// It runs on any member, leader or follower. With opts.Linearizable the
// zxid is at least that of every write acknowledged anywhere before the call
// (a quorum round trip first); otherwise it is this member's applied zxid.
// Cancelling ctx stops it promptly; an error from w is returned wrapped. A
// failed backup writes no footer, so it can never verify.
//
// Close ends a Backup in progress, which then returns an error matching
// ErrClosed (a write to w that blocks is waited for).
func (n *Node) Backup(ctx context.Context, w io.Writer, opts BackupOptions) (BackupInfo, error) {
	if n.isClosed() {
		return BackupInfo{}, ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(n.closing, cancel)()
	if opts.Linearizable {
		if err := n.barrier(ctx); err != nil {
			return BackupInfo{}, err
		}
	}
	start := time.Now()
	var info BackupInfo
	err := n.withTree(func(t *tree) error {
		var err error
		info, err = t.writeStream(ctx, w, streamHeaderInfo{Kind: stream.KindBackup, Member: n.ID(), Time: time.Now()}, opts, nil)
		return err
	})
	n.r.meters.backedUp(start, info, err)
	if err != nil && n.closing.Err() != nil && !errors.Is(err, ErrClosed) {
		return BackupInfo{}, fmt.Errorf("%w: backup ended by Close: %w", ErrClosed, err)
	}
	return info, err
}

// BackupDir writes a backup of the data dir of a stopped member, offline,
// as etcdutl does with a stopped member's files: the tree as that member
// applied it (entries it logged but had not applied yet are not included;
// opening the member once applies them). The dir is locked meanwhile, so a
// running Node on it makes BackupDir fail with ErrLocked. The stream is the
// same as Node.Backup's.
func BackupDir(ctx context.Context, dir string, w io.Writer, opts BackupOptions) (BackupInfo, error) {
	lock, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return BackupInfo{}, err
	}
	defer unlockDir(lock)
	id, ok, err := storage.PeekClusterID(dir)
	if err != nil {
		return BackupInfo{}, err
	}
	if !ok {
		return BackupInfo{}, fmt.Errorf("keeper: backup: %s holds no member data: %w", dir, ErrBadArguments)
	}
	st, err := storage.Open(dir, storage.Options{ClusterID: id})
	if err != nil {
		return BackupInfo{}, err
	}
	defer st.Close()
	t, err := openTree(st)
	if err != nil {
		return BackupInfo{}, err
	}
	// Member 0 in the header marks an offline backup.
	return t.writeStream(ctx, w, streamHeaderInfo{Kind: stream.KindBackup, Time: time.Now()}, opts, nil)
}

// Restore seeds the data dir of one member of a new cluster from a backup
// stream, offline, as etcdutl snapshot restore does: run it once per member
// (ID and Peers in opts), then Open each dir with the same ID and Peers; the
// cluster serves the backup's tree and its zxids go on from the backup's.
//
// The whole stream is verified while it is read; the tree is built in a
// temporary dir beside dir (sstables ingested, not key-by-key writes), with a
// raft log that starts at the backup's zxid, synced, and renamed to dir only
// when everything checked out. A damaged, truncated, foreign or future
// stream is refused with an error matching ErrCorruptBackup (or
// ErrFormatTooNew, ErrBackupKey) and dir is left as it was; a dir that
// exists and is not empty is refused with ErrDirNotEmpty.
//
// The restored cluster gets a new cluster id (see RestoreOptions.ClusterID),
// so members of the cluster the backup came from cannot talk to it.
func Restore(ctx context.Context, r io.Reader, dir string, opts RestoreOptions) (RestoreInfo, error) {
	if err := opts.validate(); err != nil {
		return RestoreInfo{}, err
	}
	o := opts
	o.seedLog = func(tmp string, info RestoreInfo) error {
		return seedRaftLog(tmp, info.ClusterID, opts.ID, opts.Peers, uint64(info.Backup.Zxid))
	}
	o.membership = wire.EncodeMembership(confStateOf(opts.Peers))
	if o.ClusterID == 0 && !o.KeepClusterID {
		o.deriveClusterID = func(h BackupInfo) uint64 { return restoredClusterID(h, opts.Peers) }
	}
	info, err := restoreTree(ctx, r, dir, o)
	if err != nil {
		return info, err
	}
	return info, nil
}

// validate checks the member fields Restore needs.
func (o RestoreOptions) validate() error {
	cfg := Config{ID: o.ID, Peers: o.Peers, Dir: "restore", Transport: nopTransport{}}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("keeper: restore: %w", err)
	}
	return nil
}

// nopTransport lets Restore reuse Config's checks of ID and Peers.
type nopTransport struct{}

func (nopTransport) Attach(func(uint64, []byte)) error { return nil }
func (nopTransport) Send(uint64, []byte)               {}
func (nopTransport) Detach()                           {}
