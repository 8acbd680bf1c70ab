package keeper

// This file is raft catch-up, the leader's side (catchUp): the raft
// snapshot raft is given (a small descriptor) and the transfer that streams
// the snapshot behind it, the tree at one zxid, to a follower behind the
// leader's retained log. install.go is the follower's side; repair.go's
// transfers run here too.
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
// meanwhile. The pair is kept (heldSnapshot) until raft's MsgSnap for it has been
// sent and every transfer of it ended, and is reused while the applied index
// has not moved.

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/keeper-go/keeper/internal/pace"
	"github.com/keeper-go/keeper/internal/stream"
	"github.com/keeper-go/keeper/internal/wire"
	"github.com/keeper-go/keeper/storage"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// maxTransfers bounds the transfers running at once, raft catch-up and
// repairs together (one per follower at most).
const maxTransfers = 16

// snapNoStreamLogEvery is how often, in ticks, a leader whose transport
// cannot stream logs that it cannot send a snapshot raft asked for.
const snapNoStreamLogEvery = 1000

// heldSnapshot is a raft snapshot given to raft and the Pebble snapshot its
// transfers stream from. refs (loop-owned) counts the holder (catchUp.held)
// and the running transfers; the Pebble snapshot closes at zero.
type heldSnapshot struct {
	snap *raftpb.Snapshot
	ps   *storage.Snapshot
	refs int
}

func (h *heldSnapshot) unref() {
	h.refs--
	if h.refs == 0 {
		_ = h.ps.Close()
	}
}

// transferResult is a finished transfer, for the loop; done is what the
// transfer's starter does with it there (report: whether raft is told).
type transferResult struct {
	to    uint64
	h     *heldSnapshot
	err   error
	bytes int64
	done  func(res transferResult, report bool)
}

// catchUp is the leader's raft catch-up: it makes the raft snapshots raft
// asks for and streams the tree behind them to followers, and runs every
// transfer of the tree (repair.go starts its own with stream). Fields are
// loop-owned unless marked; the loop calls raftSnapshot (raft's Storage),
// send (each MsgSnap raft emits), finished (each result from results()),
// stopTransfers (before the tree is swapped) and stop (after the loop ended).
type catchUp struct {
	loop loopView
	st   StreamTransport // nil: the transport cannot stream
	rate int64           // bytes per second of a transfer

	// ctx ends when the member stops; sendCtx, a child replaced by
	// stopTransfers, ends the transfers running.
	ctx        context.Context
	cancel     context.CancelFunc
	sendCtx    context.Context
	sendCancel context.CancelFunc
	wg         sync.WaitGroup // transfer goroutines
	donec      chan transferResult
	running    int             // transfers started and not yet finished
	held       *heldSnapshot   // the raft snapshot raft was last given
	sending    map[uint64]bool // raft snapshot transfers running
	lastNoLog  uint64          // tick of the last "cannot stream" log

	sent atomic.Uint64 // raft snapshots the followers took; any goroutine
}

func newCatchUp(loop loopView, tr Transport, rate int64) *catchUp {
	c := &catchUp{
		loop:    loop,
		rate:    rate,
		sending: make(map[uint64]bool),
		donec:   make(chan transferResult, maxTransfers),
	}
	c.st, _ = tr.(StreamTransport)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.sendCtx, c.sendCancel = context.WithCancel(c.ctx)
	return c
}

// raftSnapshot is raftStorage.Snapshot: see the file comment. It runs on
// the loop goroutine.
func (c *catchUp) raftSnapshot() (*raftpb.Snapshot, error) {
	if c.st == nil {
		if now := c.loop.now(); c.lastNoLog == 0 || now-c.lastNoLog >= snapNoStreamLogEvery {
			c.lastNoLog = max(now, 1)
			c.loop.logger().Error("a follower needs a raft snapshot but the transport cannot stream (it does not implement keeper.StreamTransport); it stays behind")
		}
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	applied := c.loop.appliedIndex()
	if h := c.held; h != nil && h.snap.GetMetadata().GetIndex() == applied {
		return h.snap, nil
	}
	term, err := c.loop.termAt(applied)
	if err != nil {
		c.loop.logger().Error("raft snapshot: term of applied index", "index", applied, "err", err)
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	cs, err := c.loop.appliedConf()
	if err != nil {
		return nil, err
	}
	snap := &raftpb.Snapshot{
		Data: wire.EncodeSnapDesc(wire.SnapDesc{Zxid: applied, ClusterID: c.loop.cluster(), Digest: c.loop.treeDigest()}),
		Metadata: &raftpb.SnapshotMetadata{
			Index:     new(applied),
			Term:      new(term),
			ConfState: cs,
		},
	}
	c.releaseHeld()
	c.held = &heldSnapshot{snap: snap, ps: c.loop.treeSnapshot(), refs: 1}
	return snap, nil
}

// releaseHeld drops the holder's reference to the held snapshot.
func (c *catchUp) releaseHeld() {
	if h := c.held; h != nil {
		c.held = nil
		h.unref()
	}
}

// send starts streaming the tree behind raft's MsgSnap m to its follower,
// unless a transfer to it runs already (raft gets that one's outcome). It
// runs on the loop goroutine.
func (c *catchUp) send(m *raftpb.Message) {
	to := m.GetTo()
	if c.sending[to] {
		return
	}
	h := c.held
	if h == nil || h.snap.GetMetadata().GetIndex() != m.GetSnapshot().GetMetadata().GetIndex() || !c.canStream() {
		c.loop.reportSnapshot(to, false)
		return
	}
	header, err := wire.EncodeSnapshotHeader(c.loop.cluster(), m)
	if err != nil {
		c.loop.logger().Error("marshal raft snapshot message", "err", err)
		c.loop.reportSnapshot(to, false)
		return
	}
	h.refs++
	c.sending[to] = true
	c.loop.logger().Info("sending raft snapshot", "to", to, "index", h.snap.GetMetadata().GetIndex())
	c.start(to, header, h, c.sentSnapshot)
}

// sendTo sends member a raft snapshot of the tree as it stands, calling
// sent once the snapshot is made (loopView.sendSnapshotTo).
func (c *catchUp) sendTo(member uint64, sent func()) {
	snap, err := c.raftSnapshot()
	if err != nil {
		return // logged by raftSnapshot where it matters; raft asks again
	}
	sent()
	c.send(&raftpb.Message{
		Type:     raftpb.MsgSnap.Enum(),
		To:       new(member),
		From:     new(c.loop.memberID()),
		Term:     new(c.loop.currentTerm()),
		Snapshot: snap,
	})
}

// canStream reports whether a transfer can start now: the transport
// streams and fewer than maxTransfers run.
func (c *catchUp) canStream() bool { return c.st != nil && c.running < maxTransfers }

// isSending reports whether a raft snapshot transfer to member runs.
func (c *catchUp) isSending(member uint64) bool { return c.sending[member] }

// stream starts streaming ps, the tree at one zxid, to member to under
// header, for another feature (a repair); it takes ps, and done gets the
// outcome (bytes sent, error) on the loop, also when stopTransfers cancels
// it. It reports false, closing ps, when the transport
// cannot stream or maxTransfers run already. It runs on the loop goroutine.
func (c *catchUp) stream(to uint64, header []byte, ps *storage.Snapshot, done func(to uint64, bytes int64, err error)) bool {
	if !c.canStream() {
		_ = ps.Close()
		return false
	}
	c.start(to, header, &heldSnapshot{ps: ps, refs: 1}, func(res transferResult, _ bool) {
		res.h.unref()
		done(res.to, res.bytes, res.err)
	})
	return true
}

// start runs a transfer of h to member to off the loop.
func (c *catchUp) start(to uint64, header []byte, h *heldSnapshot, done func(transferResult, bool)) {
	c.running++
	c.wg.Add(1)
	go c.transfer(c.sendCtx, to, header, h, done)
}

// transfer streams h's tree to member to and hands the outcome to the loop.
// The stream is written by a second goroutine into a pipe the transport
// reads, so memory stays one chunk whatever the tree's size.
func (c *catchUp) transfer(ctx context.Context, to uint64, header []byte, h *heldSnapshot, done func(transferResult, bool)) {
	defer c.wg.Done()
	pr, pw := io.Pipe()
	var (
		info   BackupInfo
		werr   error
		closed = make(chan struct{})
	)
	go func() {
		defer close(closed)
		info, werr = writeSnapshotStream(ctx, h.ps, c.loop.cluster(), &pace.Writer{W: pw, Rate: c.rate, Ctx: ctx}, streamHeaderInfo{Kind: stream.KindRaftSnapshot, Member: c.loop.memberID()}, BackupOptions{}, nil)
		pw.CloseWithError(werr)
	}()
	err := c.st.SendStream(ctx, to, header, pr)
	// Unblock the writer if the receiver stopped reading early.
	pr.CloseWithError(errors.New("keeper: snapshot transfer ended"))
	<-closed
	if err == nil && werr != nil {
		err = werr
	}
	// Never blocks: at most maxTransfers run, and donec holds that many.
	c.donec <- transferResult{to: to, h: h, err: err, bytes: info.Bytes, done: done}
}

// results is where finished transfers wait for the loop (finished).
func (c *catchUp) results() <-chan transferResult { return c.donec }

// finished takes a finished transfer on the loop and hands it to its
// starter; report says whether raft is told of the outcome.
func (c *catchUp) finished(res transferResult, report bool) {
	c.running--
	res.done(res, report)
}

// sentSnapshot takes a finished raft snapshot transfer and tells raft.
func (c *catchUp) sentSnapshot(res transferResult, report bool) {
	delete(c.sending, res.to)
	res.h.unref()
	if len(c.sending) == 0 {
		// Do not pin the store's old files while no one streams from them;
		// raft asks again (for a newer snapshot) when it needs one.
		c.releaseHeld()
	}
	if !report {
		return
	}
	if res.err != nil {
		c.loop.logger().Warn("raft snapshot transfer failed; raft will retry", "to", res.to, "err", res.err)
		c.loop.reportSnapshot(res.to, false)
		return
	}
	c.sent.Add(1)
	c.loop.logger().Info("raft snapshot sent", "to", res.to, "index", res.h.snap.GetMetadata().GetIndex(), "bytes", res.bytes)
	c.loop.reportSnapshot(res.to, true)
}

// stopTransfers cancels every running transfer, waits for them, and drops
// the held snapshot, so no Pebble snapshot of the current store stays open.
// It runs on the loop goroutine (before a swap replaces the store) or after
// the loop ended; report says whether raft is told of the outcomes.
func (c *catchUp) stopTransfers(report bool) {
	c.sendCancel()
	c.wg.Wait()
	for c.running > 0 {
		c.finished(<-c.donec, report)
	}
	c.releaseHeld()
	c.sendCtx, c.sendCancel = context.WithCancel(c.ctx)
}

// sentCount is the number of raft snapshots followers took from this
// member since Open; any goroutine may call it.
func (c *catchUp) sentCount() uint64 { return c.sent.Load() }

// stop ends raft catch-up once the loop has stopped: transfers are
// cancelled and waited for.
func (c *catchUp) stop() {
	c.cancel()
	c.stopTransfers(false)
}
