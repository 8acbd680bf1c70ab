package keeper

// This file is the leader's side of raft snapshots: the snapshot raft is
// given (a small descriptor) and the transfer that streams the tree behind it
// to a follower. install.go is the follower's side.
//
// Raft snapshots are descriptors, never the tree: raftStorage.Snapshot returns
// one at the state machine's applied index, with the membership there, and
// whose Data is a descriptor of a few bytes (wire.SnapDesc). The tree itself streams, in the
// backup format (KindRaftSnapshot, compressed, not encrypted), from a Pebble
// snapshot to the follower over the transport's optional StreamTransport.
//
// Why the stream's zxid equals the descriptor's index: raft asks Storage for
// a snapshot on the loop goroutine (while stepping a message, ticking or
// applying a configuration change), never during a tree apply. Snapshot
// takes, right then and on that goroutine, both the descriptor at the tree's
// applied index A (with the term of entry A, still in the in-memory log,
// which is compacted only to KeepEntries below applied) and a Pebble snapshot
// of the store, which holds exactly A at that moment (apply commits each
// group to Pebble before it returns). The transfer later streams from that
// Pebble snapshot, off the loop, so its zxid is A whatever apply does
// meanwhile. The pair is kept (heldSnap) until raft's MsgSnap for it has been
// sent and every transfer of it ended, and is reused while the applied index
// has not moved.

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keeper-go/keeper/internal/pace"
	"github.com/keeper-go/keeper/internal/stream"
	"github.com/keeper-go/keeper/internal/wire"
	"github.com/keeper-go/keeper/storage"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// maxTransfers bounds the snapshot transfers running at once (one per
// follower at most).
const maxTransfers = 16

// snapNoStreamLogEvery is how often, in ticks, a leader whose transport
// cannot stream logs that it cannot send a snapshot raft asked for.
const snapNoStreamLogEvery = 1000

// heldSnap is a snapshot given to raft and the Pebble snapshot its transfers
// stream from. refs (loop-owned) counts the holder (snapState.held) and the
// running transfers; the Pebble snapshot closes at zero.
type heldSnap struct {
	snap *raftpb.Snapshot
	ps   *storage.Snapshot
	refs int
}

// snapResult is a finished transfer, for the loop.
type snapResult struct {
	to     uint64
	h      *heldSnap
	err    error
	bytes  int64
	repair bool // a repair transfer (repair.go), not a raft snapshot
}

// snapState is a replica's raft snapshot machinery. Fields marked loop-owned
// are touched by the raft loop goroutine only (and by stop, after the loop
// ended).
type snapState struct {
	st  StreamTransport // nil: the transport cannot stream
	dir string          // the member's data dir

	// ctx ends when the member stops; receivers watch it.
	ctx    context.Context
	cancel context.CancelFunc

	// leader side
	sendCtx    context.Context // loop-owned; replaced by stopTransfers
	sendCancel context.CancelFunc
	wg         sync.WaitGroup  // transfer goroutines
	held       *heldSnap       // loop-owned: the snapshot raft was last given
	sending    map[uint64]bool // loop-owned: raft snapshot transfers running
	repairing  map[uint64]bool // loop-owned: repair transfers running (repair.go)
	donec      chan snapResult
	lastNoLog  uint64 // loop-owned: tick of the last "cannot stream" log

	// follower side (install.go)
	installc  chan *stagedSnap
	staged    *stagedSnap // loop-owned: the stream raft is stepping
	receiving atomic.Bool
	recvMu    sync.Mutex // orders recvWG.Add against stop's Wait
	recvDone  bool       // guarded by recvMu: no more receivers
	recvWG    sync.WaitGroup
	// lockReads takes the member's read locks exclusively (watch visibility,
	// then the Node's tree lock) and returns their unlock.
	lockReads func() func()
	// resynced tells the watches the tree was replaced; called under
	// lockReads.
	resynced func(zxid int64, live func(id int64) bool)

	sent      atomic.Uint64 // transfers the followers took
	installed atomic.Uint64 // snapshots installed here

	repairsSent      atomic.Uint64 // repair transfers the members took
	repairsInstalled atomic.Uint64 // repairs installed here
}

func newSnapState(tr Transport, dir string) *snapState {
	s := &snapState{
		dir:       dir,
		sending:   make(map[uint64]bool),
		repairing: make(map[uint64]bool),
		donec:     make(chan snapResult, maxTransfers),
		installc:  make(chan *stagedSnap),
	}
	s.st, _ = tr.(StreamTransport)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.sendCtx, s.sendCancel = context.WithCancel(s.ctx)
	return s
}

// raftSnapshot is raftStorage.Snapshot: see the file comment. It runs on the
// loop goroutine.
func (r *replica) raftSnapshot() (*raftpb.Snapshot, error) {
	s := r.snap
	t := r.sm
	if t.st == nil {
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	if s.st == nil {
		if s.lastNoLog == 0 || r.ticks-s.lastNoLog >= snapNoStreamLogEvery {
			s.lastNoLog = max(r.ticks, 1)
			r.log.Error("a follower needs a raft snapshot but the transport cannot stream (it does not implement keeper.StreamTransport); it stays behind")
		}
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	applied := t.applied()
	if h := s.held; h != nil && h.snap.GetMetadata().GetIndex() == applied {
		return h.snap, nil
	}
	term, err := r.ms.Term(applied)
	if err != nil {
		r.log.Error("raft snapshot: term of applied index", "index", applied, "err", err)
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	cs := r.conf
	if m := t.membership(); m != nil {
		if cs, err = wire.DecodeMembership(m); err != nil {
			return nil, err
		}
	}
	snap := &raftpb.Snapshot{
		Data: wire.EncodeSnapDesc(wire.SnapDesc{Zxid: applied, ClusterID: r.clusterID, Digest: t.digest()}),
		Metadata: &raftpb.SnapshotMetadata{
			Index:     new(applied),
			Term:      new(term),
			ConfState: proto.Clone(cs).(*raftpb.ConfState),
		},
	}
	r.releaseHeld()
	s.held = &heldSnap{snap: snap, ps: t.newSnapshot(), refs: 1}
	return snap, nil
}

// releaseHeld drops the holder's reference to the held snapshot.
func (r *replica) releaseHeld() {
	if h := r.snap.held; h != nil {
		r.snap.held = nil
		unrefSnap(h)
	}
}

func unrefSnap(h *heldSnap) {
	h.refs--
	if h.refs == 0 {
		_ = h.ps.Close()
	}
}

// sendSnapshot starts streaming the tree behind raft's MsgSnap m to its
// follower, unless a transfer to it runs already (raft gets that one's
// outcome). It runs on the loop goroutine.
func (r *replica) sendSnapshot(m *raftpb.Message) {
	s := r.snap
	to := m.GetTo()
	if s.sending[to] {
		return
	}
	h := s.held
	if h == nil || s.st == nil || h.snap.GetMetadata().GetIndex() != m.GetSnapshot().GetMetadata().GetIndex() || len(s.sending)+len(s.repairing) >= maxTransfers {
		r.rn.ReportSnapshot(to, raft.SnapshotFailure)
		return
	}
	header, err := wire.EncodeSnapshotHeader(r.clusterID, m)
	if err != nil {
		r.log.Error("marshal raft snapshot message", "err", err)
		r.rn.ReportSnapshot(to, raft.SnapshotFailure)
		return
	}
	h.refs++
	s.sending[to] = true
	r.log.Info("sending raft snapshot", "to", to, "index", h.snap.GetMetadata().GetIndex())
	s.wg.Add(1)
	go r.transfer(s.sendCtx, to, header, h, false)
}

// transfer streams h's tree to member to and hands the outcome to the loop.
// The stream is written by a second goroutine into a pipe the transport
// reads, so memory stays one chunk whatever the tree's size. repair marks a
// repair transfer (repair.go), whose header says so.
func (r *replica) transfer(ctx context.Context, to uint64, header []byte, h *heldSnap, repair bool) {
	defer r.snap.wg.Done()
	pr, pw := io.Pipe()
	var (
		info BackupInfo
		werr error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		info, werr = writeSnapshotStream(ctx, h.ps, r.clusterID, &pace.Writer{W: pw, Rate: r.cfg.snapshotRate(), Ctx: ctx}, streamHeaderInfo{Kind: stream.KindRaftSnapshot, Member: r.id}, BackupOptions{}, nil)
		pw.CloseWithError(werr)
	}()
	err := r.snap.st.SendStream(ctx, to, header, pr)
	// Unblock the writer if the receiver stopped reading early.
	pr.CloseWithError(errors.New("keeper: snapshot transfer ended"))
	<-done
	if err == nil && werr != nil {
		err = werr
	}
	// Never blocks: at most maxTransfers run (raft snapshots and repairs
	// together), and donec holds that many.
	r.snap.donec <- snapResult{to: to, h: h, err: err, bytes: info.Bytes, repair: repair}
}

// snapshotDone takes a finished transfer on the loop and tells raft.
func (r *replica) snapshotDone(res snapResult, report bool) {
	if res.repair {
		r.repairSent(res)
		return
	}
	delete(r.snap.sending, res.to)
	unrefSnap(res.h)
	if len(r.snap.sending) == 0 {
		// Do not pin the store's old files while no one streams from them;
		// raft asks again (for a newer snapshot) when it needs one.
		r.releaseHeld()
	}
	if !report {
		return
	}
	if res.err != nil {
		r.log.Warn("raft snapshot transfer failed; raft will retry", "to", res.to, "err", res.err)
		r.rn.ReportSnapshot(res.to, raft.SnapshotFailure)
		return
	}
	r.snap.sent.Add(1)
	r.log.Info("raft snapshot sent", "to", res.to, "index", res.h.snap.GetMetadata().GetIndex(), "bytes", res.bytes)
	r.rn.ReportSnapshot(res.to, raft.SnapshotFinish)
}

// stopTransfers cancels every running transfer, waits for them, and drops
// the held snapshot, so no Pebble snapshot of the current store stays open.
// It runs on the loop goroutine (before an install swaps the store) or after
// the loop ended; report says whether raft is told of the outcomes.
func (r *replica) stopTransfers(report bool) {
	s := r.snap
	s.sendCancel()
	s.wg.Wait()
	for len(s.sending)+len(s.repairing) > 0 {
		r.snapshotDone(<-s.donec, report)
	}
	r.releaseHeld()
	s.sendCtx, s.sendCancel = context.WithCancel(s.ctx)
}

// stopSnapshots ends the snapshot machinery once the loop has stopped:
// transfers are cancelled and waited for, receivers told to give up and
// waited for.
func (r *replica) stopSnapshots() {
	r.snap.cancel()
	r.stopTransfers(false)
	r.snap.recvMu.Lock()
	r.snap.recvDone = true
	r.snap.recvMu.Unlock()
	r.snap.recvWG.Wait()
}

// snapshotStats is for tests and Status: transfers taken by followers and
// snapshots installed here.
func (r *replica) snapshotStats() (sent, installed uint64) {
	return r.snap.sent.Load(), r.snap.installed.Load()
}

// snapshotWait is how long a receiver waits for the loop to take a received
// snapshot before giving up (the loop may be stuck behind a slow fsync).
const snapshotWait = time.Minute
