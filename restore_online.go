package keeper

// This file is the online restore: Node.RestoreOnline replaces a running
// cluster's tree, or one subtree, with a backup's, through raft.
//
// 1. The calling member reads the caller's stream once, verifying it as
//    VerifyBackup does, and rewrites its znodes (no sessions, no membership)
//    as a plaintext, compressed stream into a spool file in its data dir;
//    the rewrite is kept only if the whole input verified.
// 2. It replicates the spool in reqRestoreChunk entries of up to
//    maxRestoreChunk bytes, one at a time, each waited for (so all are
//    committed before the commit is proposed). Apply stages a chunk under
//    keys.RestoreChunkKey(id, seq) in the group's batch: staged chunks are
//    replicated state, replayed from the log after a crash and carried by
//    raft snapshots (recordRestoreStage), so every member holds the same
//    chunks whichever way it caught up. A chunk with seq 0 discards the
//    chunks of every other restore id: one online restore at a time, and an
//    abandoned one (its proposer died) leaves garbage only until the next.
// 3. It proposes one reqRestoreCommit (id, chunk count, xxhash64 of the
//    chunks, subtree, AllowForeign). At apply, alone, after the entries
//    before it are in Pebble, at zxid Z, every member reads the staged
//    chunks back as a stream and verifies it again (structure, digest,
//    count and hash of the chunks) while deciding, without writing, which
//    znodes it writes: stream ephemerals whose owner is not a live session
//    at Z are dropped; the live sessions' current ephemerals whose path the
//    stream does not hold and whose new parent exists and is not ephemeral
//    are kept; the child counts those two rules change are fixed. Then,
//    holding the watch publish lock throughout (a Restored event is queued
//    on every watch before any of it is visible to reads), it range-deletes
//    the znodes in scope (the tree, or the subtree's root and descendants)
//    and their index keys, streams the stream's znodes into ingested
//    sstables and their index keys into bounded batches, and commits the
//    kept ephemerals, the digest (computed while streaming), the deletion
//    of the staging keys and the applied index in a last batch: memory does
//    not grow with the tree. See restoreCommit for the steps and why a
//    crash between them is replayed to the same state. Any refusal (damaged
//    stream, missing chunk, foreign or future backup without Foreign,
//    subtree absent from the backup) happens before anything is written and
//    is deterministic: every member refuses alike, deletes the staging keys
//    and changes nothing else.
//
// Sessions are not restored: the cluster's sessions at Z stay as they are,
// and the tree digest keeps their part. So after a whole-tree restore the
// digest equals the backup's znode digest plus the current sessions' hashes;
// it equals the backup's digest when the backup held no sessions (an online
// restore's own rewrite never does) and no session exists, and ephemerals
// neither dropped nor kept.
//
// Memory: the commit holds the ephemerals in scope, the parents of dropped
// ephemerals and one sstable's index at a time, never the restored tree.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/internal/stream"
	"github.com/keeper-go/keeper/internal/wire"
	"github.com/keeper-go/keeper/storage"
)

// ErrBackupAhead refuses an online restore of a backup whose zxid is above
// the cluster's applied zxid, unless RestoreOnlineOptions.AllowForeign: its
// znodes' Stats would claim zxids the cluster has not reached yet, so a
// later write could get a zxid lower than a restored znode's Mzxid, and
// clients that order by zxid would see time run backwards.
var ErrBackupAhead = errors.New("keeper: backup is ahead of the cluster's zxid")

// maxRestoreChunk is the largest chunk of an online restore's stream that
// one raft entry carries.
const maxRestoreChunk = 256 << 10

// recordRestoreStage is an optional record of raft snapshot streams: one
// staged online restore chunk, as uvarint key length, the storage key, then
// the chunk. It follows the sessions; backups never carry it, and readers
// that do not know it skip it.
const recordRestoreStage uint8 = 0x81

// RestoreOnlineOptions configures Node.RestoreOnline.
type RestoreOnlineOptions struct {
	// Key is the 32-byte host key an encrypted stream was written with; nil
	// for a plaintext stream. Only the calling member needs it: what is
	// replicated is a plaintext rewrite.
	Key []byte
	// Subtree, when not empty or "/", restores only the znode at that path
	// and its descendants from the backup, which must hold it; the rest of
	// the tree is untouched. The subtree's parent must exist and not be
	// ephemeral. Paths under /zookeeper are refused.
	Subtree string
	// AllowForeign allows a backup taken by another cluster (its cluster id
	// differs), and a backup whose zxid is above the cluster's applied zxid;
	// such a backup's Stats are clamped so that no zxid in them exceeds the
	// restore's zxid (the digest then differs from the backup's).
	AllowForeign bool
	// Progress, when not nil, is called every few thousand znodes while the
	// calling member verifies the stream.
	Progress func(Progress)
}

// RestoreOnlineInfo describes a finished online restore.
type RestoreOnlineInfo struct {
	// Backup describes the stream as the calling member read it.
	Backup BackupInfo
	// Zxid is the zxid of the restore: every member replaced its tree (or
	// subtree) at it.
	Zxid Zxid
	// Znodes is the number of znodes written from the backup.
	Znodes int64
	// Removed is the number of znodes the restore deleted (the tree or
	// subtree as it was).
	Removed int64
	// DroppedEphemerals counts the backup's ephemerals not restored because
	// their session no longer exists.
	DroppedEphemerals int64
	// KeptEphemerals counts the live sessions' ephemerals kept in the
	// restored tree (their path was absent from the backup, their parent
	// present).
	KeptEphemerals int64
	// Digest is the tree digest right after the restore.
	Digest uint64
	// Chunks and StreamBytes describe what was replicated.
	Chunks      int64
	StreamBytes int64
}

// restoreSpoolPrefix starts the name of the temp file in the data dir where
// RestoreOnline spools the rewritten stream.
const restoreSpoolPrefix = ".restore-online-"

// removeStaleSpools removes the RestoreOnline spools a crash left in the
// data dir dir. Open calls it holding the dir's lock, so no running
// member's spool is removed.
func removeStaleSpools(dir string) error {
	names, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("keeper: remove stale restore spools: %w", err)
	}
	for _, e := range names {
		if strings.HasPrefix(e.Name(), restoreSpoolPrefix) && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("keeper: remove stale restore spool: %w", err)
			}
		}
	}
	return nil
}

// RestoreOnline replaces the running cluster's tree (or, with
// opts.Subtree, one subtree) with the backup stream in r, atomically on every
// member at one new zxid Z, or not at all. See the file comment of
// restore_online.go for the protocol; in short:
//
//   - The stream is verified whole on this member first: a damaged one is
//     refused with an error matching ErrCorruptBackup and nothing is
//     proposed. A backup of another cluster is refused with ErrWrongCluster,
//     one whose zxid is above this member's applied zxid with ErrBackupAhead,
//     unless opts.AllowForeign.
//   - zxids keep rising: the restored znodes keep the backup's Stats (all at
//     or below Z); writes after the restore get zxids above Z.
//   - Every watch of every session on every member gets a Restored event
//     (one-shot watches are used up), queued before any read on that member
//     sees the restored tree.
//   - Sessions are kept as they are at Z. The backup's ephemerals whose
//     session does not exist at Z are dropped; the live sessions' current
//     ephemerals are kept where the backup has no znode at their path and
//     their parent exists (and is not ephemeral) after the restore, else
//     they are gone (their session stays).
//   - A subtree restore replaces the subtree's root and descendants only.
//     The parent keeps its Stat, except when the restore creates or removes
//     the subtree's root: then, as a create or delete would, its child
//     count changes, its Cversion goes up by one and its Pzxid becomes Z.
//
// An error matching ErrIndeterminate means the commit's outcome is unknown:
// compare the digest or re-run the restore.
func (n *Node) RestoreOnline(ctx context.Context, r io.Reader, opts RestoreOnlineOptions) (RestoreOnlineInfo, error) {
	var out RestoreOnlineInfo
	start := time.Now()
	if n.isClosed() {
		return out, ErrClosed
	}
	subtree := opts.Subtree
	if subtree == "" {
		subtree = "/"
	}
	if err := validateSubtree(subtree); err != nil {
		return out, fmt.Errorf("keeper: restore online: %w", err)
	}
	spool, err := os.CreateTemp(n.r.cfg.Dir, restoreSpoolPrefix+"*")
	if err != nil {
		return out, fmt.Errorf("keeper: restore online: %w", err)
	}
	defer func() {
		_ = spool.Close()
		_ = os.Remove(spool.Name())
	}()
	// The zxid check against a member that trails the leader would refuse
	// a backup the cluster is past: catch up first (apply checks again).
	if err := n.barrier(ctx); err != nil {
		return out, fmt.Errorf("keeper: restore online: %w", err)
	}
	applied := n.Status().Applied
	info, err := rewriteForRestore(ctx, r, spool, opts, n.r.clusterID, uint64(applied), subtree)
	out.Backup = info
	if err != nil {
		return out, fmt.Errorf("keeper: restore online: %w", err)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return out, fmt.Errorf("keeper: restore online: %w", err)
	}
	id, err := restoreID()
	if err != nil {
		return out, err
	}
	h := xxhash.New()
	buf := make([]byte, maxRestoreChunk)
	var seq uint64
	for {
		k, err := io.ReadFull(spool, buf)
		if k > 0 {
			h.Write(buf[:k])
			req := &request{Kind: reqRestoreChunk, Time: time.Now().UnixMilli(), RestoreID: id, Seq: seq, Chunk: buf[:k]}
			if _, err := n.proposeRetry(ctx, req); err != nil {
				return out, fmt.Errorf("keeper: restore online: chunk %d: %w", seq, err)
			}
			seq++
			out.StreamBytes += int64(k)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return out, fmt.Errorf("keeper: restore online: %w", err)
		}
	}
	out.Chunks = int64(seq)
	req := &request{Kind: reqRestoreCommit, Time: time.Now().UnixMilli(), RestoreID: id, Count: seq, Sum: h.Sum64(), Subtree: subtree, Foreign: opts.AllowForeign}
	payload, err := encodeRequest(nil, req)
	if err != nil {
		return out, err
	}
	res, err := n.propose(ctx, payload)
	if err != nil {
		return out, fmt.Errorf("keeper: restore online: commit: %w", err)
	}
	if res == nil {
		return out, fmt.Errorf("keeper: restore online: commit: %w: no result", ErrIndeterminate)
	}
	if res.Err != nil {
		return out, fmt.Errorf("keeper: restore online: %w", res.Err)
	}
	if res.Restore != nil {
		ri := *res.Restore
		ri.Backup, ri.Chunks, ri.StreamBytes = out.Backup, out.Chunks, out.StreamBytes
		out = ri
	}
	n.r.meters.restoredOnline(start, out)
	return out, nil
}

// proposeRetry proposes an idempotent request (a restore chunk: the same key
// and value whenever it applies), retrying while no leader is known or the
// outcome is unknown, until ctx ends.
func (n *Node) proposeRetry(ctx context.Context, req *request) (*applyResult, error) {
	payload, err := encodeRequest(nil, req)
	if err != nil {
		return nil, err
	}
	for {
		res, err := n.propose(ctx, payload)
		if err == nil {
			if res != nil && res.Err != nil {
				return nil, res.Err
			}
			return res, nil
		}
		if !errors.Is(err, ErrNoLeader) && !errors.Is(err, ErrIndeterminate) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if errors.Is(err, ErrNoLeader) {
			if _, werr := n.WaitLeader(ctx); werr != nil {
				return nil, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// restoreID returns a random non-zero restore id.
func restoreID() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("keeper: restore online: id: %w", err)
		}
		if id := binary.BigEndian.Uint64(b[:]); id != 0 {
			return id, nil
		}
	}
}

// validateSubtree checks a restore's subtree path: "/" or a valid path
// outside /zookeeper.
func validateSubtree(p string) error {
	if p == "/" {
		return nil
	}
	if err := validatePath(p, false); err != nil {
		return err
	}
	if isReserved(p) {
		return fmt.Errorf("%w: %s is reserved", ErrBadArguments, p)
	}
	return nil
}

// inSubtree reports whether path is root or below it.
func inSubtree(root, path string) bool {
	return root == "/" || path == root || strings.HasPrefix(path, root+"/") && len(path) > len(root)+1
}

// checkRestoreHeader refuses what an online restore refuses by its header.
func checkRestoreHeader(h BackupInfo, clusterID, applied uint64, foreign bool) error {
	if foreign {
		return nil
	}
	if h.ClusterID != clusterID {
		return fmt.Errorf("%w: backup of cluster %x, this is cluster %x (RestoreOnlineOptions.AllowForeign allows it)", ErrWrongCluster, h.ClusterID, clusterID)
	}
	if uint64(h.Zxid) > applied {
		return fmt.Errorf("%w: backup at zxid %d, cluster at %d (RestoreOnlineOptions.AllowForeign allows it)", ErrBackupAhead, h.Zxid, applied)
	}
	return nil
}

// rewriteForRestore verifies the stream in r (as VerifyBackup) and writes
// its znodes to w as a plaintext tree stream whose footer digest is theirs.
// It fails unless the whole input verified and holds subtree.
func rewriteForRestore(ctx context.Context, r io.Reader, w io.Writer, opts RestoreOnlineOptions, clusterID, applied uint64, subtree string) (BackupInfo, error) {
	var (
		sw   *stream.Writer
		h    = xxhash.New()
		sum  uint64
		rec  []byte
		seen bool
	)
	defer func() {
		if sw != nil {
			sw.Abort()
		}
	}()
	info, err := readTree(ctx, r, opts.Key, opts.Progress, func(hdr BackupInfo) error {
		if err := checkRestoreHeader(hdr, clusterID, applied, opts.AllowForeign); err != nil {
			return err
		}
		var err error
		sw, err = stream.NewWriter(w, stream.Header{
			ClusterID: hdr.ClusterID,
			Member:    hdr.Member,
			Zxid:      uint64(hdr.Zxid),
			Time:      hdr.Time.UnixMilli(),
			Kind:      stream.KindBackup,
			Extra:     []byte{treeEncoding},
		}, stream.WriterOptions{})
		return err
	}, func(zr *znodeRecord) error {
		if zr.path == subtree {
			seen = true
		}
		sum += nodeHash(h, zr.path, zr.value)
		rec = binary.AppendUvarint(rec[:0], uint64(len(zr.path)))
		rec = append(rec, zr.path...)
		rec = append(rec, zr.value...)
		return sw.WriteRecord(recordZnode, rec)
	}, nil)
	if err != nil {
		return info, err
	}
	if !seen {
		return info, fmt.Errorf("%w: the backup holds no %s", ErrNoNode, subtree)
	}
	err = sw.Close(stream.Footer{Digest: sum})
	sw = nil
	return info, err
}

// stagedWrite is one write to the online restore staging family, made in the
// apply group's batch.
type stagedWrite struct {
	key, value []byte
	del        bool
}

// restoreStaging is an apply group's writes to the online restore staging
// family (raft loop only): the chunks its entries staged and the chunks of
// other restores that a new restore discards.
type restoreStaging struct {
	writes []stagedWrite
}

// reset forgets the group's staging writes.
func (s *restoreStaging) reset() {
	clear(s.writes)
	s.writes = s.writes[:0]
}

// isRestoreCommit reports whether an entryOp's data is a reqRestoreCommit.
func isRestoreCommit(b []byte) bool {
	return len(b) >= 2 && b[0] == requestVersionKinded && requestKind(b[1]) == reqRestoreCommit
}

// restoreCommitAt returns the position of the first restore commit in ents,
// or -1.
func restoreCommitAt(ents []committed) int {
	for i := range ents {
		if ents[i].Kind == entryOp && isRestoreCommit(ents[i].Data) {
			return i
		}
	}
	return -1
}

// applyAroundRestore applies ents[:i], then the restore commit ents[i] in its
// own batch, then the rest: the commit must read the chunks staged by the
// entries before it from Pebble.
func (t *tree) applyAroundRestore(ents []committed, i int) ([]*applyResult, error) {
	results := make([]*applyResult, len(ents))
	if i > 0 {
		res, err := t.apply(ents[:i])
		if err != nil {
			return nil, err
		}
		copy(results, res)
	}
	res, err := t.applyRestoreCommit(&ents[i])
	if err != nil {
		return nil, err
	}
	results[i] = res
	if i+1 < len(ents) {
		res, err := t.apply(ents[i+1:])
		if err != nil {
			return nil, err
		}
		copy(results[i+1:], res)
	}
	return results, nil
}

// stage applies a reqRestoreChunk, reading the staging family of st: the
// chunk joins the group's staging writes. Seq 0 starts a restore and discards every other restore's
// chunks. A reqRestoreCommit reaching here was not split out by apply, which
// cannot happen; it is refused.
func (s *restoreStaging) stage(st *storage.Store, r *request) (*applyResult, error) {
	if r.Kind != reqRestoreChunk {
		return &applyResult{Err: fmt.Errorf("%w: restore commit out of place", ErrBadArguments)}, nil
	}
	if r.RestoreID == 0 {
		return &applyResult{Err: fmt.Errorf("%w: restore chunk without an id", ErrBadArguments)}, nil
	}
	if r.Seq == 0 {
		keep := s.writes[:0]
		for _, w := range s.writes {
			if id, _, _ := keys.RestoreChunkID(w.key); id == r.RestoreID {
				keep = append(keep, w)
			}
		}
		clear(s.writes[len(keep):])
		s.writes = keep
		lo, hi := keys.RestoreSpan()
		it, err := st.NewIter(lo, hi)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errStorage, err)
		}
		for ok := it.First(); ok; ok = it.Next() {
			if id, _, _ := keys.RestoreChunkID(it.Key()); id != r.RestoreID {
				s.writes = append(s.writes, stagedWrite{key: bytes.Clone(it.Key()), del: true})
			}
		}
		if err := it.Close(); err != nil {
			return nil, fmt.Errorf("%w: %w", errStorage, err)
		}
	}
	s.writes = append(s.writes, stagedWrite{key: keys.RestoreChunkKey(nil, r.RestoreID, r.Seq), value: r.Chunk})
	return &applyResult{}, nil
}

// flush writes the group's staging writes to b.
func (s *restoreStaging) flush(b *storage.Batch) error {
	for _, w := range s.writes {
		var err error
		if w.del {
			err = b.Delete(w.key)
		} else {
			err = b.Set(w.key, w.value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// chunkReader reads the staged chunks of one restore, in sequence order, as
// one stream, hashing them; a gap in the sequence is a corrupt stream.
type chunkReader struct {
	it      *storage.Iter
	started bool
	next    uint64
	cur     []byte
	h       *xxhash.Digest
	keys    [][]byte
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.cur) == 0 {
		var ok bool
		if !c.started {
			ok, c.started = c.it.First(), true
		} else {
			ok = c.it.Next()
		}
		if !ok {
			if err := c.it.Error(); err != nil {
				return 0, fmt.Errorf("%w: %w", errStorage, err)
			}
			return 0, io.EOF
		}
		_, seq, _ := keys.RestoreChunkID(c.it.Key())
		if seq != c.next {
			return 0, corruptf("restore chunk %d missing", c.next)
		}
		c.next++
		c.keys = append(c.keys, bytes.Clone(c.it.Key()))
		v, err := c.it.Value()
		if err != nil {
			return 0, fmt.Errorf("%w: %w", errStorage, err)
		}
		c.cur = v
		c.h.Write(v)
	}
	k := copy(p, c.cur)
	c.cur = c.cur[k:]
	return k, nil
}

// applyRestoreCommit applies a reqRestoreCommit alone, in its own batch; see
// the file comment. Refusals land in the result (and still advance the
// applied index and drop the staged chunks); only storage failures return
// an error.
func (t *tree) applyRestoreCommit(e *committed) (*applyResult, error) {
	r := &request{}
	if err := decodeRequestInto(r, e.Data); err != nil {
		return t.refuseRestore(e.Index, 0, fmt.Errorf("keeper: entry %d: %w", e.Index, err))
	}
	if err := validateRequest(r); err != nil {
		return t.refuseRestore(e.Index, r.RestoreID, err)
	}
	c := restoreCommit{t: t, st: t.st, sessions: t.sessions, h: xxhash.New(), hook: t.restoreHook,
		zxid: int64(e.Index), id: r.RestoreID, count: r.Count, sum: r.Sum, root: r.Subtree, foreign: r.Foreign}
	res, err := c.run()
	if err != nil {
		if errors.Is(err, errStorage) {
			return nil, err
		}
		return t.refuseRestore(e.Index, c.id, err)
	}
	return res, nil
}

// refuseRestore records a refused restore commit at index: the staged chunks
// of id are deleted and the applied index advances; nothing else changes.
func (t *tree) refuseRestore(index, id uint64, why error) (*applyResult, error) {
	st := t.st
	b := st.NewBatch()
	defer b.Close()
	if id != 0 {
		if err := deleteStaged(st, b, id); err != nil {
			return nil, err
		}
	}
	if err := b.Delete(keys.MetaKey(keys.MetaRestoring)); err != nil {
		return nil, err
	}
	if err := b.Set(keys.MetaKey(keys.MetaApplied), binary.BigEndian.AppendUint64(nil, index)); err != nil {
		return nil, err
	}
	if err := t.publishOrCommit(nil, func() error { return b.Commit(false) }); err != nil {
		return nil, err
	}
	t.committedAt(index, t.digest())
	return &applyResult{Err: why}, nil
}

// deleteStaged adds to b the deletion of every staged chunk of id in st.
func deleteStaged(st *storage.Store, b *storage.Batch, id uint64) error {
	p := keys.RestorePrefix(nil, id)
	it, err := st.NewIter(p, keys.PrefixEnd(p))
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		if err := b.Delete(it.Key()); err != nil {
			_ = it.Close()
			return err
		}
	}
	return it.Close()
}

// restoreCommit is one restore commit being applied. It works in passes
// over the staged chunks so that its memory does not grow with the tree
// (only with the ephemerals in scope and the dropped ones' parents):
//
//  1. scope: read the znodes in scope as they are, for the digest of the
//     rest of the tree, the removed count and the ephemerals in scope (or
//     take all that from the record a crashed earlier attempt left, see
//     below);
//  2. verify: read the staged stream whole, checking it as before and
//     deciding every znode's fate (dropped ephemerals, kept ephemerals,
//     child count changes); any refusal happens here, before anything is
//     written, so a refused commit changes nothing but the staging keys;
//  3. write, under the watch publish lock (and the tree's snapshot lock)
//     throughout: (a) one synced batch records what pass 1 learned under
//     MetaRestoring and range-deletes the znode and container/TTL index
//     spans in scope and the scope's ephemeral index keys; (b) the stream's
//     znodes in scope go, in key order, into sstables that are ingested, and
//     their index keys into batches of bounded size; (c) one last batch
//     writes the kept ephemerals, the subtree parent's fix, deletes the
//     staged chunks and MetaRestoring, and sets the applied index and
//     digest.
//
// Crash safety: until (c) is durable, the applied index is below Z and the
// commit entry is applied again after a restart. If (a) was not durable,
// nothing was changed (every later step follows its synced commit), and the
// replay is a first attempt. If it was, the replay finds MetaRestoring for
// its zxid and restore id and uses it instead of the (partly restored) scope;
// redoing (a) range-deletes again whatever an earlier (b) ingested or wrote
// (a range deletion hides keys of lower sequence numbers, and an ingested
// table's sequence number is above every write before it), then (b) and (c)
// write the same keys and values as the first attempt would have: they
// depend only on the staged chunks (kept until (c)), the sessions at Z and
// the record. Readers on this member never see a step between (a) and (c):
// they hold the visibility lock shared, and the snapshot lock keeps
// backups and raft snapshots out.
type restoreCommit struct {
	t *tree
	// st is the tree's store, h the commit's hasher, sessions the sessions
	// at Z (a restore commit is applied alone, so they are the committed
	// ones), hook the tree's restoreHook.
	st       *storage.Store
	h        *xxhash.Digest
	sessions *sessionTable
	hook     func(step int) error

	zxid    int64
	id      uint64
	count   uint64
	sum     uint64
	root    string
	foreign bool

	prog    wire.RestoreProgress
	dig     uint64
	info    RestoreOnlineInfo
	kept    []wire.KeptNode  // live sessions' ephemerals put back
	delta   map[string]int32 // child count changes, by parent path
	rootNow bool             // the subtree root exists after the restore
	// rootDropped: the backup's subtree root was an ephemeral of a dead
	// session.
	rootDropped bool
	key         []byte
	val         []byte
}

// step runs the tree's restoreHook, if a test set one, after step 1 (the
// range deletion batch) and step 2 (the ingests) of the commit's write; an
// error stops the commit there, as a crash would.
func (c *restoreCommit) step(n int) error {
	if c.hook == nil {
		return nil
	}
	return c.hook(n)
}

// storageErr marks err as a storage failure.
func storageErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, errStorage) {
		return err
	}
	return fmt.Errorf("%w: %w", errStorage, err)
}

func (c *restoreCommit) run() (*applyResult, error) {
	t := c.t
	c.delta = make(map[string]int32)
	var parentPath string
	if c.root != "/" {
		parentPath, _ = parentOf(c.root)
		parent, _, err := t.load(parentPath)
		if err != nil {
			return nil, storageErr(err)
		}
		if parent == nil {
			return nil, fmt.Errorf("%w: the parent of %s", ErrNoNode, c.root)
		}
		if parent.stat.EphemeralOwner != 0 {
			return nil, fmt.Errorf("%w: %s", ErrNoChildrenForEphemerals, parentPath)
		}
	}
	replay, err := c.loadProgress()
	if err != nil {
		return nil, err
	}
	if !replay {
		if err := c.scanScope(); err != nil {
			return nil, err
		}
	}
	c.info.Removed = int64(c.prog.Removed)
	if err := c.verify(); err != nil {
		return nil, err
	}
	c.dig = c.prog.Digest
	events := []treeEvent{{Type: evRestored, Zxid: c.zxid, Path: c.root}}
	write := func() error {
		t.snapMu.Lock()
		defer t.snapMu.Unlock()
		return c.write(parentPath)
	}
	if err := t.publishOrCommit(events, write); err != nil {
		return nil, storageErr(err)
	}
	t.committedAt(uint64(c.zxid), c.dig)
	c.info.Zxid = Zxid(c.zxid)
	c.info.Digest = c.dig
	info := c.info
	return &applyResult{Restore: &info}, nil
}

// loadProgress takes the scope from the record an earlier attempt of this
// commit left, if any, and reports whether it did.
func (c *restoreCommit) loadProgress() (bool, error) {
	var p wire.RestoreProgress
	found := false
	err := c.st.Get(keys.MetaKey(keys.MetaRestoring), func(v []byte) error {
		var err error
		p, err = wire.DecodeRestoreProgress(v)
		found = true
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, storageErr(err)
	}
	if !found || p.Zxid != uint64(c.zxid) || p.ID != c.id {
		return false, nil
	}
	c.prog = p
	return true, nil
}

// scopeSpans returns the node key spans of the scope.
func (c *restoreCommit) scopeSpans() [][2][]byte {
	if c.root == "/" {
		lo, hi := keys.NodeSpan()
		return [][2][]byte{{lo, hi}}
	}
	k := keys.NodeKey(nil, c.root)
	spans := [][2][]byte{{k, append(bytes.Clone(k), 0)}}
	for _, p := range [][]byte{keys.ChildPrefix(nil, c.root), keys.DescendantPrefix(nil, c.root)} {
		spans = append(spans, [2][]byte{p, keys.PrefixEnd(p)})
	}
	return spans
}

// indexSpans returns the container and TTL index key spans of the scope.
func (c *restoreCommit) indexSpans() [][2][]byte {
	if c.root == "/" {
		clo, chi := keys.ContainerSpan()
		tlo, thi := keys.TTLSpan()
		return [][2][]byte{{clo, chi}, {tlo, thi}}
	}
	var spans [][2][]byte
	for _, f := range []func([]byte, string) []byte{keys.ContainerKey, keys.TTLKey} {
		k := f(nil, c.root)
		p := f(nil, c.root+"/")
		spans = append(spans, [2][]byte{k, append(bytes.Clone(k), 0)}, [2][]byte{p, keys.PrefixEnd(p)})
	}
	return spans
}

// scanScope reads every current znode in scope: the digest without them,
// their count, whether the subtree root exists and the ephemerals.
func (c *restoreCommit) scanScope() error {
	c.prog = wire.RestoreProgress{Zxid: uint64(c.zxid), ID: c.id, Digest: c.t.digest()}
	var n znode
	for _, s := range c.scopeSpans() {
		it, err := c.st.NewIter(s[0], s[1])
		if err != nil {
			return storageErr(err)
		}
		for ok := it.First(); ok; ok = it.Next() {
			path, ok := keys.NodePath(it.Key())
			if !ok {
				_ = it.Close()
				return fmt.Errorf("%w: node key %q: %w", errStorage, it.Key(), ErrCorrupt)
			}
			v, err := it.Value()
			if err != nil {
				_ = it.Close()
				return storageErr(err)
			}
			if err := decodeZnode(v, &n); err != nil {
				_ = it.Close()
				return fmt.Errorf("%w: znode %s: %w", errStorage, path, err)
			}
			c.prog.Digest -= nodeHash(c.h, path, v)
			if path == c.root {
				c.prog.RootWas = true
			}
			if n.stat.EphemeralOwner != 0 {
				c.prog.Ephemerals = append(c.prog.Ephemerals, wire.KeptNode{Path: path, Value: bytes.Clone(v)})
			}
			c.prog.Removed++
		}
		if err := it.Close(); err != nil {
			return storageErr(err)
		}
	}
	return nil
}

// readStaged reads the staged stream whole, handing its znodes to visit, and
// checks the chunks' count and hash.
func (c *restoreCommit) readStaged(visit func(*znodeRecord) error) error {
	p := keys.RestorePrefix(nil, c.id)
	it, err := c.st.NewIter(p, keys.PrefixEnd(p))
	if err != nil {
		return storageErr(err)
	}
	cr := &chunkReader{it: it, h: xxhash.New()}
	_, err = readTree(context.Background(), cr, nil, nil, func(h BackupInfo) error {
		return checkRestoreHeader(h, c.st.ClusterID(), uint64(c.zxid), c.foreign)
	}, visit, nil)
	if err == nil {
		_, err = io.Copy(io.Discard, cr)
	}
	if cerr := it.Close(); cerr != nil && err == nil {
		err = storageErr(cerr)
	}
	if err != nil {
		return err
	}
	switch {
	case cr.next != c.count:
		return corruptf("restore staged %d chunks, commit expects %d", cr.next, c.count)
	case cr.h.Sum64() != c.sum:
		return corruptf("restore chunks hash to %x, commit says %x", cr.h.Sum64(), c.sum)
	}
	return nil
}

// dead reports whether n is an ephemeral whose session does not exist.
func (c *restoreCommit) dead(n *znode) bool {
	o := n.stat.EphemeralOwner
	return o != 0 && !c.sessions.live(int64(o))
}

// verify is pass 1: it checks the staged stream and decides what the
// restore writes, without writing anything.
func (c *restoreCommit) verify() error {
	// The live ephemerals in scope may be kept: they must not be in the
	// stream, and their parent must be written and not ephemeral.
	cand := make(map[string]int)
	blocked := make([]bool, len(c.prog.Ephemerals))
	parents := make(map[string]uint8) // 0 not written, 1 written, 2 ephemeral
	var n znode
	for i, e := range c.prog.Ephemerals {
		if err := decodeZnode(e.Value, &n); err != nil {
			return fmt.Errorf("%w: znode %s: %w", errStorage, e.Path, err)
		}
		if c.dead(&n) {
			continue
		}
		cand[e.Path] = i
		if e.Path != c.root {
			p, _ := parentOf(e.Path)
			parents[p] = 0
		}
	}
	dropped := make(map[string]bool)
	err := c.readStaged(func(rec *znodeRecord) error {
		if !inSubtree(c.root, rec.path) {
			return nil
		}
		if c.dead(&rec.node) {
			c.info.DroppedEphemerals++
			if rec.path == c.root {
				c.rootDropped = true
			} else {
				parent, _ := parentOf(rec.path)
				c.delta[parent]--
				dropped[rec.path] = true
			}
			return nil
		}
		if i, ok := cand[rec.path]; ok {
			blocked[i] = true
		}
		if _, ok := parents[rec.path]; ok {
			if rec.node.stat.EphemeralOwner != 0 {
				parents[rec.path] = 2
			} else {
				parents[rec.path] = 1
			}
		}
		if rec.path == c.root {
			c.rootNow = true
		}
		c.info.Znodes++
		return nil
	})
	if err != nil {
		return err
	}
	if c.root != "/" && !c.rootNow && !c.rootDropped {
		return fmt.Errorf("%w: the backup holds no %s", ErrNoNode, c.root)
	}
	for p := range c.delta {
		if dropped[p] || p == c.root && c.rootDropped {
			return corruptf("ephemeral %s has children", p)
		}
	}
	for i, e := range c.prog.Ephemerals {
		if _, ok := cand[e.Path]; !ok || blocked[i] {
			continue
		}
		if e.Path == c.root {
			c.rootNow = true // the root's parent is fixed in write
		} else {
			p, _ := parentOf(e.Path)
			if parents[p] != 1 {
				continue
			}
			c.delta[p]++
		}
		c.kept = append(c.kept, e)
		c.info.KeptEphemerals++
	}
	return nil
}

// write is pass 2 (see restoreCommit): it replaces the scope. Any failure
// is a storage failure, the stream having been verified.
func (c *restoreCommit) write(parentPath string) error {
	t := c.t
	b := c.st.NewBatch()
	defer func() { _ = b.Close() }()
	if err := b.Set(keys.MetaKey(keys.MetaRestoring), c.prog.Encode()); err != nil {
		return err
	}
	for _, s := range append(c.scopeSpans(), c.indexSpans()...) {
		if err := b.DeleteRange(s[0], s[1]); err != nil {
			return err
		}
	}
	var n znode
	for _, e := range c.prog.Ephemerals {
		if err := decodeZnode(e.Value, &n); err != nil {
			return fmt.Errorf("znode %s: %w", e.Path, err)
		}
		if err := b.Delete(keys.EphemeralKey(c.key[:0], int64(n.stat.EphemeralOwner), e.Path)); err != nil {
			return err
		}
	}
	if err := b.Commit(true); err != nil {
		return err
	}
	b.Reset()
	if err := c.step(1); err != nil {
		return err
	}

	ld, err := c.st.NewLoader(storage.LoaderOptions{TableSize: restoreTableSize})
	if err != nil {
		return err
	}
	err = c.readStaged(func(rec *znodeRecord) error {
		if !inSubtree(c.root, rec.path) || c.dead(&rec.node) {
			return nil
		}
		n := &rec.node
		v := rec.value
		d := c.delta[rec.path]
		st := &n.stat
		clamp := c.foreign && max(st.Czxid, st.Mzxid, st.Pzxid) > Zxid(c.zxid)
		if clamp {
			st.Czxid, st.Mzxid, st.Pzxid = min(st.Czxid, Zxid(c.zxid)), min(st.Mzxid, Zxid(c.zxid)), min(st.Pzxid, Zxid(c.zxid))
		}
		if clamp || d != 0 {
			st.NumChildren += d
			c.val = encodeZnode(c.val[:0], n)
			v = c.val
		}
		if err := ld.Add(rec.key, v); err != nil {
			return err
		}
		return c.put(b, rec.path, nil, v, n)
	})
	if err != nil {
		ld.Abort()
		return err
	}
	if err := ld.Finish(context.Background()); err != nil {
		return err
	}
	if err := c.step(2); err != nil {
		return err
	}
	for _, k := range c.kept {
		if err := decodeZnode(k.Value, &n); err != nil {
			return fmt.Errorf("znode %s: %w", k.Path, err)
		}
		if err := c.put(b, k.Path, keys.NodeKey(nil, k.Path), k.Value, &n); err != nil {
			return err
		}
	}
	if c.root != "/" && c.prog.RootWas != c.rootNow {
		parent, h, err := t.load(parentPath)
		if err != nil {
			return err
		}
		if parent == nil {
			return fmt.Errorf("parent %s of the restored subtree is missing", parentPath)
		}
		c.dig -= h
		if c.rootNow {
			parent.stat.NumChildren++
		} else {
			parent.stat.NumChildren--
		}
		parent.stat.Cversion++
		parent.stat.Pzxid = Zxid(c.zxid)
		c.val = encodeZnode(c.val[:0], parent)
		if err := b.Set(keys.NodeKey(nil, parentPath), c.val); err != nil {
			return err
		}
		c.dig += nodeHash(c.h, parentPath, c.val)
	}
	if err := deleteStaged(c.st, b, c.id); err != nil {
		return err
	}
	if err := b.Delete(keys.MetaKey(keys.MetaRestoring)); err != nil {
		return err
	}
	if err := b.Set(keys.MetaKey(keys.MetaApplied), binary.BigEndian.AppendUint64(nil, uint64(c.zxid))); err != nil {
		return err
	}
	if err := b.Set(keys.MetaKey(keys.MetaDigest), binary.BigEndian.AppendUint64(nil, c.dig)); err != nil {
		return err
	}
	return b.Commit(false)
}

// put adds a restored znode's hash to the digest and writes its index key
// to b, committing b when it is big (it is not visible to reads before the
// commit's last batch: see restoreCommit); key, if not nil, also writes the
// znode itself to b.
func (c *restoreCommit) put(b *storage.Batch, path string, key, v []byte, n *znode) error {
	if key != nil {
		if err := b.Set(key, v); err != nil {
			return err
		}
	}
	c.dig += nodeHash(c.h, path, v)
	if k := indexKey(c.key[:0], path, n); k != nil {
		if err := b.Set(k, indexValue(n)); err != nil {
			return err
		}
	}
	return flushAt(b, indexBatchSize)
}

// writeStageRecords writes the staged online restore chunks in snap as
// recordRestoreStage records (raft snapshots only).
func writeStageRecords(snap *storage.Snapshot, sw *stream.Writer) error {
	lo, hi := keys.RestoreSpan()
	it, err := snap.NewIter(lo, hi)
	if err != nil {
		return err
	}
	defer it.Close()
	var rec []byte
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.Value()
		if err != nil {
			return err
		}
		rec = binary.AppendUvarint(rec[:0], uint64(len(it.Key())))
		rec = append(rec, it.Key()...)
		rec = append(rec, v...)
		if err := sw.WriteRecord(recordRestoreStage, rec); err != nil {
			return fmt.Errorf("keeper: backup: %w", err)
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("keeper: backup: %w", err)
	}
	return nil
}

// decodeStageRecord splits a recordRestoreStage payload into its staging
// key and chunk, refusing anything else as a corrupt stream.
func decodeStageRecord(p []byte) (key, value []byte, err error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return nil, nil, corruptf("restore stage record: bad key length")
	}
	key, value = p[k:k+int(n)], p[k+int(n):]
	if _, _, ok := keys.RestoreChunkID(key); !ok {
		return nil, nil, corruptf("restore stage record: key %x is not a staging key", key)
	}
	return key, value, nil
}
