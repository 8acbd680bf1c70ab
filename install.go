package keeper

// This file is the follower's side of raft snapshots: receiving the stream,
// building a new tree from it and installing it in place of the live one.
//
// 1. receiveSnapshot (the transport's goroutine) checks the header (cluster,
//    a MsgSnap for this member, the descriptor), then builds a new tree store
//    from the stream with restoreTree, the same verified, memory-flat path as
//    Restore, into storage.BuildDir: every chunk checksum, the structure and
//    the digest are checked before the build is kept, and the stream's zxid
//    and digest must equal the descriptor's. A broken or cut stream leaves
//    only a build dir, removed at once (and by Open if a crash intervenes);
//    the sender reports the failure to raft, which sends a snapshot again.
// 2. The built tree is handed to the raft loop with the MsgSnap. The loop
//    steps the message; raft takes the snapshot only when it is ahead of this
//    member's commit index (else the build is discarded).
// 3. When raft's Ready carries the snapshot, installSnapshot, on the loop:
//    stops leader-side transfers of the old store; takes the member's read
//    locks exclusively (watch visibility, then the Node's tree lock) so no
//    read sees a half-swapped tree; commits the build (storage.CommitStaged:
//    from here a crash rolls forward), closes the old store, swaps the dirs
//    (storage.SwapStaged), opens the new store and reloads the tree's applied
//    index, digest, membership and session table from it; tells the watches
//    (every watch gets a Resynced event, local sessions the new tree does not
//    hold end as Expired); releases the locks. Then the raft log: the hard
//    state and a release mark at the snapshot (RaftLog.Install), and the
//    in-memory log restarts at the snapshot (MemoryStorage.ApplySnapshot).
//    The loop goes on applying from index+1.
//
// Crash recovery (Open): storage.RecoverInstall finishes or discards the dir
// swap (see storage/install.go); a tree whose MetaInstalled index is its
// applied index while the raft log has no mark there gets the mark written
// then (the crash fell between the swap and RaftLog.Install).

import (
	"errors"
	"fmt"
	"io"

	"github.com/keeper-go/keeper/internal/wire"
	"github.com/keeper-go/keeper/storage"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// errSnapshotBusy refuses a stream while another is being received.
var errSnapshotBusy = errors.New("keeper: a raft snapshot is being received already")

// errSnapshotNotTaken reports a received snapshot raft did not take: this
// member's log already covers it.
var errSnapshotNotTaken = errors.New("keeper: raft snapshot not needed")

// stagedSnap is a received, verified tree waiting in storage.BuildDir for
// the loop, with the MsgSnap that announced it.
type stagedSnap struct {
	msg  *raftpb.Message
	done chan error // buffered; the loop's verdict
}

// receiveSnapshot is the StreamTransport receiver: see the file comment.
func (r *replica) receiveSnapshot(from uint64, header []byte, body io.Reader) error {
	s := r.snap
	s.recvMu.Lock()
	if s.recvDone {
		s.recvMu.Unlock()
		return ErrClosed
	}
	s.recvWG.Add(1)
	s.recvMu.Unlock()
	defer s.recvWG.Done()
	if !s.receiving.CompareAndSwap(false, true) {
		return errSnapshotBusy
	}
	defer s.receiving.Store(false)

	cluster, kind, hbody, ok := wire.SplitStreamHeader(header)
	if !ok || cluster != r.clusterID {
		return fmt.Errorf("%w: raft snapshot from another cluster", ErrWrongCluster)
	}
	if kind == wire.StreamRepair {
		return r.receiveRepair(from, hbody, body)
	}
	m, err := wire.DecodeRaftMessage(hbody)
	if err != nil {
		return fmt.Errorf("keeper: raft snapshot header: %w", err)
	}
	if m.GetType() != raftpb.MsgSnap || m.GetFrom() != from || m.GetTo() != r.id || m.GetSnapshot() == nil {
		return fmt.Errorf("%w: raft snapshot header is not a snapshot for member %d", ErrCorrupt, r.id)
	}
	meta := m.GetSnapshot().GetMetadata()
	desc, err := wire.DecodeSnapDesc(m.GetSnapshot().GetData())
	if err != nil {
		return err
	}
	if desc.ClusterID != r.clusterID || desc.Zxid != meta.GetIndex() {
		return fmt.Errorf("%w: raft snapshot descriptor (cluster %x, zxid %d) does not match (cluster %x, index %d)",
			ErrCorrupt, desc.ClusterID, desc.Zxid, r.clusterID, meta.GetIndex())
	}
	if st := r.status.Load(); st != nil && st.Applied >= meta.GetIndex() {
		return fmt.Errorf("%w: applied %d, snapshot at %d", errSnapshotNotTaken, st.Applied, meta.GetIndex())
	}
	r.log.Info("receiving raft snapshot", "from", from, "index", meta.GetIndex())

	if err := storage.DiscardBuild(s.dir); err != nil {
		return err
	}
	info, err := restoreTree(s.ctx, body, storage.BuildDir(s.dir), RestoreOptions{
		KeepClusterID: true,
		checkHeader: func(h BackupInfo) error {
			if h.ClusterID != r.clusterID || h.Zxid != desc.Zxid {
				return corruptf("raft snapshot stream of cluster %x at zxid %d, expected cluster %x at %d", h.ClusterID, h.Zxid, r.clusterID, desc.Zxid)
			}
			return nil
		},
		installed: storage.Mark{Index: meta.GetIndex(), Term: meta.GetTerm()},
	})
	if err == nil && info.Backup.Digest != desc.Digest {
		err = corruptf("raft snapshot digest %x, descriptor says %x", info.Backup.Digest, desc.Digest)
	}
	if err != nil {
		_ = storage.DiscardBuild(s.dir)
		return fmt.Errorf("keeper: receive raft snapshot at %d: %w", meta.GetIndex(), err)
	}

	in := &stagedSnap{msg: m, done: make(chan error, 1)}
	select {
	case s.installc <- in:
	case <-r.donec:
		_ = storage.DiscardBuild(s.dir)
		return ErrClosed
	}
	return r.decided(in.done)
}

// decided waits for the loop's decision on a received tree (a raft snapshot
// or a repair). If the loop stops first, it returns ErrClosed: Open's
// recovery then removes the build, or rolls a committed swap forward.
func (r *replica) decided(done <-chan error) error {
	select {
	case err := <-done:
		return err
	case <-r.donec:
		return ErrClosed
	}
}

// stepStaged steps a received snapshot's MsgSnap on the loop; the Ready that
// follows installs it if raft takes it (see finishStaged).
func (r *replica) stepStaged(in *stagedSnap) {
	r.snap.staged = in
	r.step(in.msg)
}

// finishStaged runs after the Readies that followed stepStaged: a snapshot
// raft did not take is discarded.
func (r *replica) finishStaged() {
	in := r.snap.staged
	if in == nil {
		return
	}
	r.snap.staged = nil
	_ = storage.DiscardBuild(r.snap.dir)
	in.done <- errSnapshotNotTaken
}

// installSnapshot installs the snapshot raft's Ready carries: see the file
// comment. hs is the Ready's hard state, or nil.
func (r *replica) installSnapshot(snap *raftpb.Snapshot, hs *raftpb.HardState) error {
	meta := snap.GetMetadata()
	idx, term := meta.GetIndex(), meta.GetTerm()
	in := r.snap.staged
	if in == nil || in.msg.GetSnapshot().GetMetadata().GetIndex() != idx {
		return fmt.Errorf("keeper: raft snapshot at index %d without a received tree", idx)
	}
	r.snap.staged = nil
	err := r.swapTree(idx, hookMidInstall, nil)
	in.done <- err
	if err != nil {
		return err
	}

	// The raft log: hard state and a release mark at the snapshot.
	cur, _, err := r.ms.MemoryStorage.InitialState()
	if err != nil {
		return fmt.Errorf("keeper: raft storage: %w", err)
	}
	h := proto.Clone(cur).(*raftpb.HardState)
	if hs != nil {
		h = proto.Clone(hs).(*raftpb.HardState)
	}
	h.Term = new(max(h.GetTerm(), term))
	h.Commit = new(max(h.GetCommit(), idx))
	h.Vote = new(h.GetVote())
	cs := meta.GetConfState()
	if err := r.wal.Install(storage.Mark{Index: idx, Term: term}, h, cs.GetVoters(), cs.GetLearners()); err != nil {
		return err
	}
	if err := r.ms.ApplySnapshot(snap); err != nil {
		return fmt.Errorf("keeper: raft storage: %w", err)
	}
	r.conf = proto.Clone(cs).(*raftpb.ConfState)
	r.members = membersOf(r.conf)
	r.releasedTo = idx
	r.snap.installed.Add(1)
	r.publish()
	r.releaseReads()
	r.log.Info("raft snapshot installed", "index", idx, "term", term, "digest", fmt.Sprintf("%x", r.sm.digest()))
	return nil
}

// swapTree replaces the live tree store with the verified build at idx,
// under the member's read locks; hook fires once the old tree is moved
// aside. after, if not nil, runs under the locks once the new tree is
// loaded (a repair re-applies entries there), before the watches are told.
// A failure after the old store closed leaves the tree closed: the loop
// stops, and Open's recovery finishes the install.
func (r *replica) swapTree(idx uint64, hook hookPoint, after func() error) error {
	t := r.sm
	r.stopTransfers(false)
	// The background scan reads a Pebble snapshot of the old store.
	r.cons.stopScan()
	if r.snap.lockReads != nil {
		unlock := r.snap.lockReads()
		defer unlock()
	}
	dir := r.snap.dir
	if err := storage.CommitStaged(dir); err != nil {
		return err
	}
	if err := t.st.Close(); err != nil {
		return fmt.Errorf("keeper: install: close tree: %w", err)
	}
	t.st = nil
	if err := storage.SwapStaged(dir, func(step int) {
		if step == 1 {
			r.callHook(hook)
		}
	}); err != nil {
		return err
	}
	st, err := storage.Open(dir, storage.Options{ClusterID: r.clusterID})
	if err != nil {
		return fmt.Errorf("keeper: install: open tree: %w", err)
	}
	if err := t.reload(st); err != nil {
		_ = st.Close()
		return err
	}
	if t.applied() != idx {
		return fmt.Errorf("%w: installed tree at %d, snapshot at %d", ErrCorrupt, t.applied(), idx)
	}
	if after != nil {
		if err := after(); err != nil {
			return err
		}
	}
	if r.snap.resynced != nil {
		r.snap.resynced(int64(t.applied()), func(id int64) bool { return t.sessions[id] != nil })
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
func (t *tree) installedMark() (storage.Mark, bool, error) {
	var m storage.Mark
	err := t.st.Get(storage.MetaKey(storage.MetaInstalled), func(v []byte) error {
		var err error
		m.Index, m.Term, err = wire.DecodeInstallMark(v)
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return m, false, nil
	}
	return m, err == nil, err
}
