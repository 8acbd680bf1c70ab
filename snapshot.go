package keeper

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/internal/stream"
	"github.com/keeper-go/keeper/internal/wire"
	"github.com/keeper-go/keeper/storage"
)

// Record kinds of a keeper tree stream (docs/BACKUP_FORMAT.md, "Record
// kinds"). Kinds below recordOptional must be understood by a reader: an
// unknown one means the stream was written by a newer keeper and is refused
// with ErrFormatTooNew. Kinds from recordOptional up may be skipped by a
// reader that does not know them.
const (
	// recordZnode is one znode: uvarint path length, path, then the node's
	// stored value (encodeZnode) to the end of the payload. Znodes come in the
	// order of their Pebble keys (keys.NodeKey), so "/" is first, every
	// parent comes before its children, and a restore can write them to
	// sstables without sorting.
	recordZnode uint8 = 1
	// recordMembership is the stored membership bytes (meta key "members") at
	// the stream's zxid. At most one, before the first znode; absent when the
	// tree has none yet.
	recordMembership uint8 = 2
	// recordSession is a session live at the stream's zxid: its id (8
	// bytes, big-endian), then its stored record. After every znode, in id
	// order.
	recordSession uint8 = 3

	// recordOptional is the first kind a reader may skip when it does not know it.
	recordOptional uint8 = 0x80
	// recordLog is one committed raft entry (wire.EncodeLogRecord), the
	// only record of an archive log segment (archive_segment.go). A tree
	// reader skips it, and refuses a znode or session after one.
	recordLog uint8 = 0x80
)

// treeEncoding is the first byte of a tree stream's header extra: the
// encoding of its znode records. A reader refuses a larger one with
// ErrFormatTooNew.
const treeEncoding = 1

// BackupOptions configures a backup.
type BackupOptions struct {
	// Linearizable makes the backup's zxid at least that of every write
	// acknowledged before the call, at the cost of a quorum round trip. By
	// default the backup is of the member's local tree, which may trail the
	// leader.
	Linearizable bool
	// Key, when not nil, is the 32-byte AES-256 host key: the stream is then
	// encrypted and authenticated. Nil writes plaintext.
	Key []byte
	// NoCompression turns off zstd compression of the stream's chunks.
	NoCompression bool
	// Progress, when not nil, is called from the backup's goroutine every few
	// thousand znodes and once at the end.
	Progress func(Progress)
}

// Progress reports how far a backup, verify or restore has come.
type Progress struct {
	// Znodes is the number of znodes processed so far.
	Znodes int64
	// Bytes is the number of stream bytes written or read so far.
	Bytes int64
	// TotalZnodes is the number of znodes in the whole tree, or 0 when unknown.
	// A backup counts them first when a Progress callback is given.
	TotalZnodes int64
}

// BackupInfo describes a backup stream.
type BackupInfo struct {
	// Zxid is the zxid the stream's tree is at.
	Zxid Zxid
	// Znodes is the number of znodes in the stream.
	Znodes int64
	// Sessions is the number of sessions in the stream.
	Sessions int64
	// Bytes is the length of the stream in bytes.
	Bytes int64
	// Digest is the tree digest at Zxid.
	Digest uint64
	// ClusterID is the id of the cluster the stream was taken from.
	ClusterID uint64
	// Member is the id of the member that wrote the stream.
	Member uint64
	// Time is when the stream was started, to the millisecond.
	Time time.Time
	// Members lists the voting members of the cluster at Zxid.
	Members []uint64

	// membership is the configuration at Zxid in the raft loop's encoding,
	// or nil if the tree had none.
	membership []byte
}

// streamHeaderInfo is what the caller of writeStream decides about the
// header: what the stream is for and who writes it.
type streamHeaderInfo struct {
	Kind   uint8     // stream.KindBackup or stream.KindRaftSnapshot
	Member uint64    // the writing member's id
	Time   time.Time // zero means now
	// stages adds the online restore chunks staged at the stream's zxid,
	// as a raft snapshot always does (an archive's base needs them).
	stages bool

	chunkSize int // stream chunk size; 0 = the stream default (tests use small ones)
}

// progressEvery and progressBytes bound the work between progress calls and
// context checks: whichever comes first, that many znodes or record bytes.
const (
	progressEvery = 4096
	progressBytes = 4 << 20
)

// writeStream writes the tree as one stream to w, at the zxid of a Pebble
// snapshot taken on entry: the applied index, digest and membership are read
// from that snapshot's meta keys, so they describe exactly the znodes
// written, whatever apply does meanwhile. The footer's digest is recomputed
// from the znodes as they are written and must match the stored one. It
// calls progress (or, if nil, opts.Progress) every few thousand znodes.
// It may run on any goroutine, concurrently with apply.
func (t *tree) writeStream(ctx context.Context, w io.Writer, h streamHeaderInfo, opts BackupOptions, progress func(Progress)) (BackupInfo, error) {
	snap := t.newSnapshot()
	defer snap.Close()
	return writeSnapshotStream(ctx, snap, t.st.ClusterID(), w, h, opts, progress)
}

// writeSnapshotStream is writeStream from a Pebble snapshot the caller took
// (and closes) of a store of cluster clusterID. A raft snapshot transfer
// takes it on the raft loop, so its zxid is exactly the applied index there.
func writeSnapshotStream(ctx context.Context, snap *storage.Snapshot, clusterID uint64, w io.Writer, h streamHeaderInfo, opts BackupOptions, progress func(Progress)) (BackupInfo, error) {
	if progress == nil {
		progress = opts.Progress
	}
	info := BackupInfo{ClusterID: clusterID, Member: h.Member}
	applied, err := readMetaUint(snap, keys.MetaApplied)
	if err != nil {
		return BackupInfo{}, err
	}
	info.Zxid = Zxid(applied)
	if info.Digest, err = readMetaUint(snap, keys.MetaDigest); err != nil {
		return BackupInfo{}, err
	}
	err = snap.Get(keys.MetaKey(keys.MetaMembership), func(v []byte) error {
		info.setMembership(v)
		return nil
	})
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return BackupInfo{}, fmt.Errorf("keeper: backup: membership: %w", err)
	}

	var total int64
	if progress != nil {
		if total, err = countNodes(ctx, snap); err != nil {
			return BackupInfo{}, err
		}
	}

	tm := h.Time
	if tm.IsZero() {
		tm = time.Now()
	}
	info.Time = time.UnixMilli(tm.UnixMilli())
	kind := h.Kind
	if kind == 0 {
		kind = stream.KindBackup
	}
	sw, err := stream.NewWriter(w, stream.Header{
		ClusterID: info.ClusterID,
		Member:    h.Member,
		Zxid:      uint64(info.Zxid),
		Time:      tm.UnixMilli(),
		Kind:      kind,
		Extra:     []byte{treeEncoding},
	}, stream.WriterOptions{Key: opts.Key, NoCompression: opts.NoCompression, ChunkSize: h.chunkSize})
	if err != nil {
		return BackupInfo{}, fmt.Errorf("keeper: backup: %w", err)
	}
	// On failure, end the stream without a footer: what was written is refused.
	closed := false
	defer func() {
		if !closed {
			sw.Abort()
		}
	}()

	if info.membership != nil {
		if err := sw.WriteRecord(recordMembership, info.membership); err != nil {
			return BackupInfo{}, fmt.Errorf("keeper: backup: %w", err)
		}
	}

	var rec []byte
	var sinceCheck int
	// Sessions follow the znodes: their records are part of the digest.
	sum, err := sumImage(ctx, snap, imageVisitor{
		node: func(path string, v []byte) error {
			rec = binary.AppendUvarint(rec[:0], uint64(len(path)))
			rec = append(rec, path...)
			rec = append(rec, v...)
			if err := sw.WriteRecord(recordZnode, rec); err != nil {
				return err
			}
			info.Znodes++
			sinceCheck += len(rec)
			if info.Znodes%progressEvery == 0 || sinceCheck >= progressBytes {
				sinceCheck = 0
				if err := ctx.Err(); err != nil {
					return err
				}
				if progress != nil {
					progress(Progress{Znodes: info.Znodes, Bytes: sw.Bytes(), TotalZnodes: total})
				}
			}
			return nil
		},
		session: func(id int64, v []byte) error {
			rec = binary.BigEndian.AppendUint64(rec[:0], uint64(id))
			rec = append(rec, v...)
			if err := sw.WriteRecord(recordSession, rec); err != nil {
				return err
			}
			info.Sessions++
			return nil
		},
	})
	if err != nil {
		return BackupInfo{}, fmt.Errorf("keeper: backup: %w", err)
	}
	if kind == stream.KindRaftSnapshot || h.stages {
		if err := writeStageRecords(snap, sw); err != nil {
			return BackupInfo{}, err
		}
	}
	if sum != info.Digest {
		return BackupInfo{}, fmt.Errorf("keeper: backup: stored digest %x at zxid %d, znodes and sessions sum to %x: %w", info.Digest, info.Zxid, sum, ErrCorrupt)
	}
	if err := ctx.Err(); err != nil {
		return BackupInfo{}, fmt.Errorf("keeper: backup: %w", err)
	}
	closed = true
	if err := sw.Close(stream.Footer{Digest: info.Digest}); err != nil {
		return BackupInfo{}, fmt.Errorf("keeper: backup: %w", err)
	}
	info.Bytes = sw.Bytes()
	if progress != nil {
		progress(Progress{Znodes: info.Znodes, Bytes: info.Bytes, TotalZnodes: total})
	}
	return info, nil
}

// readMetaUint reads an 8-byte big-endian meta value from snap.
func readMetaUint(snap *storage.Snapshot, name string) (uint64, error) {
	var x uint64
	err := snap.Get(keys.MetaKey(name), func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("keeper: meta %s %x: %w", name, v, ErrCorrupt)
		}
		x = binary.BigEndian.Uint64(v)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("keeper: backup: meta %s: %w", name, err)
	}
	return x, nil
}

// countNodes counts the node keys in snap.
func countNodes(ctx context.Context, snap *storage.Snapshot) (int64, error) {
	lo, hi := keys.NodeSpan()
	it, err := snap.NewIter(lo, hi)
	if err != nil {
		return 0, err
	}
	var n int64
	for ok := it.First(); ok; ok = it.Next() {
		n++
		if n%(16*progressEvery) == 0 {
			if err := ctx.Err(); err != nil {
				_ = it.Close()
				return 0, fmt.Errorf("keeper: backup: %w", err)
			}
		}
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	return n, nil
}

// setMembership records the stored membership b (copied) and, when it
// decodes, its voters.
func (i *BackupInfo) setMembership(b []byte) {
	i.membership = append([]byte{}, b...)
	i.Members = nil
	if cs, err := wire.DecodeMembership(b); err == nil {
		i.Members = membersOf(cs)
	}
}
