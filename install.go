package keeper

// This file is raft catch-up, the follower's side (installer): receiving
// the snapshot a leader streams, building a new tree from it and swapping
// it in for the live one. Repairs (repair.go) arrive on the same receiver
// and are swapped in the same way.
//
// 1. receive (the transport's goroutine) checks the header (cluster,
//    a MsgSnap for this member, the descriptor), then builds a new tree store
//    from the stream with restoreTree, the same verified, memory-flat path as
//    Restore, into treefiles.BuildDir: every chunk checksum, the structure and
//    the digest are checked before the build is kept, and the stream's zxid
//    and digest must equal the descriptor's. A broken or cut stream leaves
//    only a build dir, removed at once (and by Open if a crash intervenes);
//    the sender reports the failure to raft, which sends a snapshot again.
// 2. The built tree is handed to the raft loop with the MsgSnap. The loop
//    steps the message; raft takes the snapshot only when it is ahead of this
//    member's commit index (else the build is discarded).
// 3. When raft's Ready carries the snapshot, ready, on the loop:
//    stops leader-side transfers of the old store; takes the member's read
//    locks exclusively (watch visibility, then the Node's tree lock) so no
//    read sees a half-swapped tree; commits the build (treefiles.CommitStaged:
//    from here a crash rolls forward), closes the old store, swaps the dirs
//    (treefiles.SwapStaged), opens the new store and reloads the tree's applied
//    index, digest, membership and session table from it; tells the watches
//    (every watch gets a Resynced event, local sessions the new tree does not
//    hold end as Expired); releases the locks. Then the raft log: the hard
//    state and a release mark at the snapshot (RaftLog.Install), and the
//    in-memory log restarts at the snapshot (MemoryStorage.ApplySnapshot):
//    the loop's part, replica.restartLogAt.
//    The loop goes on applying from index+1.
//
// Crash recovery (Open): treefiles.RecoverInstall finishes or discards the dir
// swap (see internal/treefiles); a tree whose MetaInstalled index is its
// applied index while the raft log has no mark there gets the mark written
// then (the crash fell between the swap and RaftLog.Install).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/keeper-go/keeper/internal/raftlog"
	"github.com/keeper-go/keeper/internal/treefiles"
	"github.com/keeper-go/keeper/internal/wire"
	"go.etcd.io/raft/v3/raftpb"
)

// errSnapshotBusy refuses a stream while another is being received.
var errSnapshotBusy = errors.New("keeper: a raft snapshot is being received already")

// errSnapshotNotTaken reports a received snapshot raft did not take: this
// member's log already covers it.
var errSnapshotNotTaken = errors.New("keeper: raft snapshot not needed")

// pendingInstall is a received, verified tree waiting in treefiles.BuildDir
// for the loop, with the MsgSnap that announced it.
type pendingInstall struct {
	msg  *raftpb.Message
	done chan error // buffered; the loop's verdict
}

// installer is the follower's raft catch-up: the transport's stream
// receiver (receive), the install of a received tree when raft takes its
// snapshot, and the swap of the live tree for a verified build that
// installs and repairs share. The loop calls its ready hook with the
// snapshot a Ready carries, endTurn after each turn's Readies, and stop
// once the loop ended.
type installer struct {
	loop   loopView
	dir    string  // the member's data dir
	repair *repair // takes the streams that carry a repair

	// ctx ends when the member stops; receivers watch it.
	ctx    context.Context
	cancel context.CancelFunc

	pending   *pendingInstall // loop-owned: the tree whose MsgSnap raft is stepping
	receiving atomic.Bool     // a stream is being received
	recvMu    sync.Mutex      // orders recvWG.Add against stop's Wait
	recvDone  bool            // guarded by recvMu: no more receivers
	recvWG    sync.WaitGroup

	// gate is the member's read gate: swap replaces the tree through it.
	gate *readGate

	installed atomic.Uint64 // raft snapshots installed here; any goroutine
}

func newInstaller(loop loopView, dir string, gate *readGate) *installer {
	i := &installer{loop: loop, dir: dir, gate: gate}
	i.ctx, i.cancel = context.WithCancel(context.Background())
	return i
}

// repairsTo makes rp the taker of the streams that carry a repair.
func (i *installer) repairsTo(rp *repair) { i.repair = rp }

// receive is the StreamTransport receiver: see the file comment.
func (i *installer) receive(from uint64, header []byte, body io.Reader) error {
	i.recvMu.Lock()
	if i.recvDone {
		i.recvMu.Unlock()
		return ErrClosed
	}
	i.recvWG.Add(1)
	i.recvMu.Unlock()
	defer i.recvWG.Done()
	if !i.receiving.CompareAndSwap(false, true) {
		return errSnapshotBusy
	}
	defer i.receiving.Store(false)

	self, clusterID := i.loop.memberID(), i.loop.cluster()
	cluster, kind, hbody, ok := wire.SplitStreamHeader(header)
	if !ok || cluster != clusterID {
		return fmt.Errorf("%w: raft snapshot from another cluster", ErrWrongCluster)
	}
	if kind == wire.StreamRepair {
		return i.repair.receive(i.ctx, from, hbody, body)
	}
	m, err := wire.DecodeRaftMessage(hbody)
	if err != nil {
		return fmt.Errorf("keeper: raft snapshot header: %w", err)
	}
	if m.GetType() != raftpb.MsgSnap || m.GetFrom() != from || m.GetTo() != self || m.GetSnapshot() == nil {
		return fmt.Errorf("%w: raft snapshot header is not a snapshot for member %d", ErrCorrupt, self)
	}
	meta := m.GetSnapshot().GetMetadata()
	desc, err := wire.DecodeSnapDesc(m.GetSnapshot().GetData())
	if err != nil {
		return err
	}
	if desc.ClusterID != clusterID || desc.Zxid != meta.GetIndex() {
		return fmt.Errorf("%w: raft snapshot descriptor (cluster %x, zxid %d) does not match (cluster %x, index %d)",
			ErrCorrupt, desc.ClusterID, desc.Zxid, clusterID, meta.GetIndex())
	}
	if st := i.loop.published(); st != nil && uint64(st.Applied) >= meta.GetIndex() {
		return fmt.Errorf("%w: applied %d, snapshot at %d", errSnapshotNotTaken, st.Applied, meta.GetIndex())
	}
	i.loop.logger().Info("receiving raft snapshot", "from", from, "index", meta.GetIndex())
	mark := raftlog.Mark{Index: meta.GetIndex(), Term: meta.GetTerm()}
	if err := i.build(body, "raft snapshot", desc.Zxid, desc.Digest, mark); err != nil {
		return err
	}
	in := &pendingInstall{msg: m, done: make(chan error, 1)}
	if !i.loop.onLoop(i.ctx, func() { i.step(in) }) {
		_ = treefiles.DiscardBuild(i.dir)
		return ErrClosed
	}
	return i.decided(in.done)
}

// build receives a stream of the tree at zxid into treefiles.BuildDir:
// restoreTree verifies every chunk, the structure and the digest, and the
// stream must be of this cluster, at zxid, with digest. mark, if not zero,
// is the raft snapshot the build records as installed. what names the
// stream in errors. A build that fails is removed.
func (i *installer) build(body io.Reader, what string, zxid, digest uint64, mark raftlog.Mark) error {
	if err := treefiles.DiscardBuild(i.dir); err != nil {
		return err
	}
	clusterID := i.loop.cluster()
	info, err := restoreTree(i.ctx, body, treefiles.BuildDir(i.dir), RestoreOptions{
		KeepClusterID: true,
		checkHeader: func(h BackupInfo) error {
			if h.ClusterID != clusterID || uint64(h.Zxid) != zxid {
				return corruptf("%s stream of cluster %x at zxid %d, expected cluster %x at %d", what, h.ClusterID, h.Zxid, clusterID, zxid)
			}
			return nil
		},
		installed: mark,
	})
	if err == nil && info.Backup.Digest != digest {
		err = corruptf("%s digest %x, its header says %x", what, info.Backup.Digest, digest)
	}
	if err != nil {
		_ = treefiles.DiscardBuild(i.dir)
		return fmt.Errorf("keeper: receive %s at %d: %w", what, zxid, err)
	}
	return nil
}

// decided waits for the loop's decision on a received tree (a raft snapshot
// or a repair). If the loop stops first, it returns ErrClosed: Open's
// recovery then removes the build, or rolls a committed swap forward.
func (i *installer) decided(done <-chan error) error {
	select {
	case err := <-done:
		return err
	case <-i.loop.stopped():
		return ErrClosed
	}
}

// step steps a received snapshot's MsgSnap on the loop; the Ready that
// follows installs it if raft takes it (see ready and endTurn).
func (i *installer) step(in *pendingInstall) {
	i.pending = in
	i.loop.stepMessage(in.msg)
}

// endTurn runs after the Readies of a loop turn: a snapshot raft did not
// take is discarded.
func (i *installer) endTurn() {
	in := i.pending
	if in == nil {
		return
	}
	i.pending = nil
	_ = treefiles.DiscardBuild(i.dir)
	in.done <- errSnapshotNotTaken
}

// ready installs the raft snapshot a Ready carries: see the file comment.
// hs is the Ready's hard state, or nil.
func (i *installer) ready(snap *raftpb.Snapshot, hs *raftpb.HardState) error {
	meta := snap.GetMetadata()
	idx, term := meta.GetIndex(), meta.GetTerm()
	in := i.pending
	if in == nil || in.msg.GetSnapshot().GetMetadata().GetIndex() != idx {
		return fmt.Errorf("keeper: raft snapshot at index %d without a received tree", idx)
	}
	i.pending = nil
	err := i.swap(idx, hookMidInstall, nil)
	in.done <- err
	if err != nil {
		return err
	}
	if err := i.loop.restartLogAt(snap, hs); err != nil {
		return err
	}
	i.installed.Add(1)
	i.loop.treeSwapped()
	i.loop.logger().Info("raft snapshot installed", "index", idx, "term", term, "digest", fmt.Sprintf("%x", i.loop.treeDigest()))
	return nil
}

// swap replaces the live tree store with the verified build at idx, through
// the member's read gate (readGate.swap, which resyncs the watches); hook
// fires once the old tree is moved aside. after, if not nil, runs under the
// gate's locks once the new tree is loaded (a repair re-applies entries
// there), before the watches are told. A failure
// after the old store closed leaves the tree closed: the loop stops, and
// Open's recovery finishes the install. It runs on the loop goroutine.
func (i *installer) swap(idx uint64, hook hookPoint, after func() error) error {
	i.loop.quiesce()
	return i.gate.swap(func() (int64, func(int64) bool, error) {
		if err := treefiles.CommitStaged(i.dir); err != nil {
			return 0, nil, err
		}
		t := i.loop.tree()
		if err := t.swap(i.dir, i.loop.cluster(), func() { i.loop.callHook(hook) }); err != nil {
			return 0, nil, err
		}
		if t.applied() != idx {
			return 0, nil, fmt.Errorf("%w: installed tree at %d, snapshot at %d", ErrCorrupt, t.applied(), idx)
		}
		if after != nil {
			if err := after(); err != nil {
				return 0, nil, err
			}
		}
		sessions := t.sessionTable()
		return int64(t.applied()), func(id int64) bool { return sessions[id] != nil }, nil
	})
}

// stop ends the receivers once the loop has stopped: they are told to give
// up and waited for.
func (i *installer) stop() {
	i.cancel()
	i.recvMu.Lock()
	i.recvDone = true
	i.recvMu.Unlock()
	i.recvWG.Wait()
}

// installedCount is the number of raft snapshots installed here since Open.
func (i *installer) installedCount() uint64 { return i.installed.Load() }
