package keeper

// This file is the raft loop: one goroutine drives a raft.RawNode, persists
// what raft asks for, sends its messages, applies committed entries to the
// state machine and hands results back to the callers waiting on them.
//
// Per Ready, in this order (a crash-test hook runs at each arrow):
//
//	leader: send ─┐
//	              ├► save hard state + entries to the WAL (one fsync)
//	              ├► follower: send
//	              ├► apply committed entries to the state machine (one group)
//	              └► Advance
//
// A follower's Ready that carries a raft snapshot first installs the tree
// received for it (install.go), then goes on as above. And, every
// KeepEntries applied entries: sync the state machine ─► WAL
// release mark ─► release older WAL segments and in-memory entries.
//
// The leader may send its appends before its own fsync: raft counts the
// leader's own vote for an entry only once Advance reports it persisted.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keeper-go/keeper/internal/raftlog"
	"github.com/keeper-go/keeper/internal/wire"
	"github.com/keeper-go/keeper/storage"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// hookPoint names a place in the raft loop where a crash test may stop the
// member. The hook runs on the loop goroutine.
type hookPoint int

const (
	hookBeforeSave    hookPoint = iota // Ready taken, nothing persisted yet
	hookAfterSave                      // WAL written and synced, not applied
	hookAfterApply                     // committed entries applied, before Advance
	hookBeforeRelease                  // state machine synced, release mark not yet written
	hookAfterRelease                   // WAL segments released
	hookMidInstall                     // snapshot install: old tree moved aside, new not in place
	hookMidRepair                      // repair: old tree moved aside, new not in place
	hookRepairSwapped                  // repair: new tree in place at the leader's index, not re-applied
)

func (p hookPoint) String() string {
	switch p {
	case hookBeforeSave:
		return "before-save"
	case hookAfterSave:
		return "after-save"
	case hookAfterApply:
		return "after-apply"
	case hookBeforeRelease:
		return "before-release"
	case hookAfterRelease:
		return "after-release"
	case hookMidInstall:
		return "mid-install"
	case hookMidRepair:
		return "mid-repair"
	case hookRepairSwapped:
		return "repair-swapped"
	}
	return fmt.Sprintf("hookPoint(%d)", int(p))
}

// Queue sizes between callers, the transport and the loop.
const (
	proposalQueue = 4096
	readQueue     = 1024
	recvQueue     = 8192
	// drainBatch bounds how many queued items one loop turn takes before it
	// handles the Ready, so concurrent proposals share an fsync.
	drainBatch = 1024
	// expireEvery is how often, in ticks, pending requests are checked for
	// expiry.
	expireEvery = 10
	// pendingTimeoutElections bounds, in election timeouts, how long a
	// proposal or read may wait in the loop with no news: a forwarded proposal
	// or read lost by the network would otherwise wait for a term change.
	pendingTimeoutElections = 50
)

// raftStorage is raft's view of the log: the in-memory entries of
// raft.MemoryStorage, with the membership restored from the state machine
// and snapshots that are descriptors of the tree (raftsnap.go).
type raftStorage struct {
	*raft.MemoryStorage
	cs *raftpb.ConfState
	// snapshot, if set, makes the snapshot raft sends a follower behind the
	// retained log (catchUp.raftSnapshot).
	snapshot func() (*raftpb.Snapshot, error)
}

// InitialState returns the saved hard state and the membership as of the
// state machine's applied index.
func (s *raftStorage) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	hs, _, err := s.MemoryStorage.InitialState()
	return hs, s.cs, err
}

// Snapshot returns a descriptor of the tree at the applied index (see
// raftsnap.go), or reports snapshots unavailable when they cannot be sent.
func (s *raftStorage) Snapshot() (*raftpb.Snapshot, error) {
	if s.snapshot == nil {
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	return s.snapshot()
}

// proposal is one write waiting in the loop for its entry to apply here.
type proposal struct {
	seq  uint64
	data []byte // the envelope
	resc chan proposalResult
	term uint64 // term when proposed
	lead uint64 // leader when proposed
	tick uint64 // loop tick when proposed
}

type proposalResult struct {
	res   *applyResult
	err   error
	index uint64 // the entry's index, when it applied
}

// readRequest is one ReadIndex barrier waiting in the loop.
type readRequest struct {
	id    uint64
	index uint64 // read index once known, else 0
	known bool
	resc  chan error
	tick  uint64
}

// replica is the raft loop and the state it owns. Fields below "loop-owned"
// are touched by the loop goroutine only.
type replica struct {
	id uint64
	// clusterID prefixes every frame sent; frames of another cluster are
	// dropped, so a member of an old or restored cluster cannot join this one.
	clusterID uint64
	cfg       Config
	log       *slog.Logger
	tr        Transport
	sm        *tree
	wal       *raftlog.RaftLog
	rn        *raft.RawNode
	ms        *raftStorage
	hook      func(hookPoint)
	ticker    time.Duration
	meters    *meters // metrics.go

	propc chan *proposal
	readc chan *readRequest
	recvc chan *raftpb.Message
	stopc chan struct{}
	donec chan struct{}
	stop  sync.Once

	readSeq  atomic.Uint64
	status   atomic.Pointer[Status]
	leaderMu sync.Mutex
	leaderCh chan struct{} // closed and replaced when the leader changes
	err      error         // why the loop stopped early; read after donec

	// loop-owned
	ticks      uint64
	term       uint64
	commit     uint64
	lead       uint64
	role       raft.StateType
	conf       *raftpb.ConfState
	members    []uint64
	confIndex  uint64 // Status.MembershipZxid
	pending    map[uint64]*proposal
	proposals  []*proposal // taken from propc, not yet stepped (queuePropose)
	propBytes  uint64      // the bytes of their entries
	reads      map[uint64]*readRequest
	waiting    []*readRequest // reads with a known index above applied
	releasedTo uint64

	// heard is when the loop last heard each member (the tick of its last
	// message), forgotten when this member becomes leader.
	heard map[uint64]uint64

	// The member's features, each owning its state; the loop calls their
	// hooks and they see the loop through loopView.
	expiry    *sessionExpiry // expiry.go
	catchUp   *catchUp       // raftsnap.go
	installer *installer     // install.go
	repair    *repair        // repair.go
	archive   *archiver      // archiver.go; nil without Config.Archive

	// callc runs functions on the loop (onLoop).
	callc      chan func()
	cons       consistency // consistency.go
	rejoin     rejoin      // rejoin.go
	membership membership  // membership.go, membership_forward.go
	dedup      dedup       // dedup.go
}

// newReplica is the raft loop of the member, on its tree, log and raft
// node; its features are added by newMember.
func newReplica(cfg Config, o openOptions, d *dataDir, lg *replayedLog, rn *raft.RawNode, log *slog.Logger) *replica {
	ms := lg.ms
	r := &replica{
		heard:     make(map[uint64]uint64),
		id:        cfg.ID,
		clusterID: d.clusterID,
		cfg:       cfg,
		log:       log,
		tr:        cfg.Transport,
		sm:        d.tree,
		wal:       lg.wal,
		rn:        rn,
		ms:        ms,
		hook:      o.hook,
		ticker:    cfg.tickInterval(),
		propc:     make(chan *proposal, proposalQueue),
		readc:     make(chan *readRequest, readQueue),
		recvc:     make(chan *raftpb.Message, recvQueue),
		stopc:     make(chan struct{}),
		donec:     make(chan struct{}),
		leaderCh:  make(chan struct{}),
		callc:     make(chan func(), 64),
		pending:   make(map[uint64]*proposal),
		reads:     make(map[uint64]*readRequest),
		term:      lg.hs.GetTerm(),
		commit:    lg.hs.GetCommit(),
		confIndex: lg.confIndex,
		conf:      ms.cs,
		members:   membersOf(ms.cs),
		meters:    newMeters(cfg.ID),
	}
	// Raft snapshot and repair streams are metered on their way through
	// (metrics.go); frames pass straight to the host's transport.
	r.tr = r.meters.streams(cfg.Transport)
	if !lg.bootstrap {
		// The tree is durable at least up to the mark the WAL reopened at.
		r.releasedTo, _ = ms.FirstIndex()
		r.releasedTo--
	}
	return r
}

// addFeatures makes the member's features on the loop. host is the
// member's side of sessions; gate is the member's read gate, through which
// the installer swaps the tree.
func (r *replica) addFeatures(host sessionHost, nonce uint64, gate *readGate) {
	r.expiry = newSessionExpiry(r, host, nonce)
	r.catchUp = newCatchUp(r, r.tr, r.cfg.snapshotRate())
	r.installer = newInstaller(r, r.cfg.Dir, gate)
	r.repair = newRepair(r, &r.cons, r.catchUp, r.installer, r.cfg.Dir)
	r.ms.snapshot = r.catchUp.raftSnapshot
	if r.cfg.Archive != nil {
		r.archive = newArchiver(r, r.cfg.Archive)
	}
}

// attach hands the transport the loop's receivers: frames to deliver,
// streams to the installer if the transport streams.
func (r *replica) attach() error {
	if err := r.tr.Attach(r.deliver); err != nil {
		return fmt.Errorf("keeper: attach transport: %w", err)
	}
	if st, ok := r.tr.(StreamTransport); ok {
		if err := st.AttachStream(r.installer.receive); err != nil {
			r.tr.Detach()
			return fmt.Errorf("keeper: attach transport streams: %w", err)
		}
	}
	return nil
}

// raftLeader is raft's leader state.
const raftLeader = raft.StateLeader

// loopView is what a feature of the member sees of the raft loop: facts
// about the member and the cluster as the loop knows them, and the loop's
// few actions a feature may take. A method runs on the loop goroutine only,
// as do the features' hooks that call it, unless it says any goroutine may
// call it.
type loopView interface {
	// memberID is this member's id; any goroutine may call it.
	memberID() uint64
	// cluster is the cluster's id.
	cluster() uint64
	// now is the loop's tick count.
	now() uint64
	// tickInterval is the time one tick stands for; any goroutine may call
	// it.
	tickInterval() time.Duration
	// logger is the member's logger; any goroutine may call it.
	logger() *slog.Logger
	// leaderID is the leader this member knows, 0 if none.
	leaderID() uint64
	// leading reports whether this member is the leader.
	leading() bool
	// lastHeard is the tick this member last heard from member, if it did
	// since it last became leader.
	lastHeard(member uint64) (uint64, bool)
	// sessions is the tree's committed session table; the map must not
	// be changed.
	sessions() map[int64]*sessionRec
	// proposeEntry hands data to raft as a proposal no caller waits for.
	proposeEntry(data []byte) error
	// onLoop runs f on the loop goroutine, or reports false if the loop is
	// gone or ctx ends first; any goroutine may call it.
	onLoop(ctx context.Context, f func()) bool
	// tryOnLoop queues f to run on the loop goroutine if the loop can take
	// it now, and reports whether it did; any goroutine may call it, also
	// before the loop starts.
	tryOnLoop(f func()) bool
	// published is the Status the loop last published; any goroutine may
	// call it.
	published() *Status
	// stopped is closed once the loop has stopped; any goroutine may call
	// it.
	stopped() <-chan struct{}
	// closedErr is the error for a call on a stopped loop, stoppedErr the
	// one for a call whose outcome the loop's end left unknown; any
	// goroutine may call them.
	closedErr() error
	stoppedErr() error
	// config is the member's configuration; any goroutine may call it.
	config() *Config
	// currentTerm is the raft term this member knows.
	currentTerm() uint64
	// memberIDs lists the members, voters and learners, sorted.
	memberIDs() []uint64
	// voters lists the voters.
	voters() []uint64
	// learners lists the learners.
	learners() []uint64
	// proposeConfChange hands a configuration change to raft.
	proposeConfChange(cc raftpb.ConfChangeI) error
	// sendMemberFrame sends a membership frame to member; any goroutine may
	// call it.
	sendMemberFrame(to uint64, f wire.MemberFrame)
	// withProgress visits raft's progress of each member (on the leader).
	withProgress(f func(id uint64, typ raft.ProgressType, pr tracker.Progress))
	// transferLeader asks raft to hand leadership to member.
	transferLeader(member uint64)
	// appliedIndex and treeDigest are the state machine's applied index
	// and running digest.
	appliedIndex() uint64
	treeDigest() uint64
	// treeSnapshot is a point-in-time view of the tree's store; the caller
	// closes it.
	treeSnapshot() *storage.Snapshot
	// lastIndex is the last index of the raft log this member holds.
	lastIndex() (uint64, error)
	// commitIndex is the commit index this member knows.
	commitIndex() uint64
	// sendMessages hands raft messages to the transport.
	sendMessages(msgs []*raftpb.Message)
	// snapshotSending reports whether a raft snapshot is on its way to
	// member.
	snapshotSending(member uint64) bool
	// metrics is the member's meters (metrics.go).
	metrics() *meters
	// sendSnapshotTo sends member a raft snapshot of the tree as it stands,
	// calling sent once the snapshot is made, just before the transfer
	// starts; it does nothing if none can be made now (raft asks again).
	sendSnapshotTo(member uint64, sent func())

	// For raft catch-up and repair (raftsnap.go, install.go, repair.go):

	// firstIndex, termAt and logEntries read the in-memory raft log:
	// its first index, the term of entry index, the entries [lo, hi).
	firstIndex() (uint64, error)
	termAt(index uint64) (uint64, error)
	logEntries(lo, hi uint64) ([]*raftpb.Entry, error)
	// appliedConf is the membership as of the applied index, the caller's
	// to keep.
	appliedConf() (*raftpb.ConfState, error)
	// reportSnapshot tells raft whether the raft snapshot sent to member
	// arrived.
	reportSnapshot(member uint64, ok bool)
	// stepMessage steps m into raft as if it had arrived.
	stepMessage(m *raftpb.Message)
	// callHook runs the crash-test hook at p.
	callHook(p hookPoint)
	// tree is the state machine, for the features that swap it or apply
	// to it again (install.go, repair.go).
	tree() *tree
	// quiesce stops what reads the tree's store off the loop (transfers,
	// the consistency scan) before a swap replaces it.
	quiesce()
	// restartLogAt moves the raft log to the raft snapshot just
	// installed: hard state (hs, or the saved one, if nil) and a release
	// mark at it in the WAL, the in-memory log and membership from it.
	restartLogAt(snap *raftpb.Snapshot, hs *raftpb.HardState) error
	// treeSwapped tells the loop a swap replaced the tree: it publishes a
	// Status and answers the reads the new tree has reached.
	treeSwapped()
}

func (r *replica) memberID() uint64            { return r.id }
func (r *replica) now() uint64                 { return r.ticks }
func (r *replica) tickInterval() time.Duration { return r.ticker }
func (r *replica) logger() *slog.Logger        { return r.log }
func (r *replica) leaderID() uint64            { return r.lead }
func (r *replica) leading() bool               { return r.role == raft.StateLeader }
func (r *replica) proposeEntry(data []byte) error {
	return r.rn.Propose(data)
}

func (r *replica) config() *Config              { return &r.cfg }
func (r *replica) memberIDs() []uint64          { return r.members }
func (r *replica) learners() []uint64           { return r.conf.GetLearners() }
func (r *replica) transferLeader(member uint64) { r.rn.TransferLeader(member) }
func (r *replica) appliedIndex() uint64         { return r.sm.applied() }
func (r *replica) treeDigest() uint64           { return r.sm.digest() }
func (r *replica) withProgress(f func(id uint64, typ raft.ProgressType, pr tracker.Progress)) {
	r.rn.WithProgress(f)
}

func (r *replica) treeSnapshot() *storage.Snapshot { return r.sm.newSnapshot() }

// onLoop runs f on the loop goroutine, or reports false if the loop is gone
// or ctx ends first.
func (r *replica) onLoop(ctx context.Context, f func()) bool {
	select {
	case r.callc <- f:
		return true
	case <-r.donec:
		return false
	case <-ctx.Done():
		return false
	}
}

func (r *replica) currentTerm() uint64      { return r.term }
func (r *replica) voters() []uint64         { return r.conf.GetVoters() }
func (r *replica) published() *Status       { return r.status.Load() }
func (r *replica) stopped() <-chan struct{} { return r.donec }

func (r *replica) proposeConfChange(cc raftpb.ConfChangeI) error {
	return r.rn.ProposeConfChange(cc)
}

func (r *replica) sendMemberFrame(to uint64, f wire.MemberFrame) {
	r.tr.Send(to, wire.EncodeMemberFrame(r.clusterID, f))
}

// tryOnLoop queues f for the loop if the loop can take it now.
func (r *replica) tryOnLoop(f func()) bool {
	select {
	case r.callc <- f:
		return true
	default:
		return false
	}
}

func (r *replica) lastIndex() (uint64, error)          { return r.ms.LastIndex() }
func (r *replica) commitIndex() uint64                 { return r.commit }
func (r *replica) sendMessages(msgs []*raftpb.Message) { r.send(msgs) }
func (r *replica) snapshotSending(member uint64) bool  { return r.catchUp.isSending(member) }
func (r *replica) metrics() *meters                    { return r.meters }

func (r *replica) sendSnapshotTo(member uint64, sent func()) { r.catchUp.sendTo(member, sent) }

func (r *replica) cluster() uint64                 { return r.clusterID }
func (r *replica) tree() *tree                     { return r.sm }
func (r *replica) firstIndex() (uint64, error)     { return r.ms.FirstIndex() }
func (r *replica) termAt(i uint64) (uint64, error) { return r.ms.Term(i) }
func (r *replica) stepMessage(m *raftpb.Message)   { r.step(m) }

func (r *replica) logEntries(lo, hi uint64) ([]*raftpb.Entry, error) {
	return r.ms.Entries(lo, hi, math.MaxUint64)
}

func (r *replica) appliedConf() (*raftpb.ConfState, error) {
	if m := r.sm.membership(); m != nil {
		return wire.DecodeMembership(m)
	}
	return proto.Clone(r.conf).(*raftpb.ConfState), nil
}

func (r *replica) reportSnapshot(member uint64, ok bool) {
	status := raft.SnapshotFinish
	if !ok {
		status = raft.SnapshotFailure
	}
	r.rn.ReportSnapshot(member, status)
}

func (r *replica) quiesce() {
	r.catchUp.stopTransfers(false)
	// The background scan reads a Pebble snapshot of the old store.
	r.cons.stopScan()
}

func (r *replica) treeSwapped() {
	r.publish()
	r.releaseReads()
}

func (r *replica) restartLogAt(snap *raftpb.Snapshot, hs *raftpb.HardState) error {
	meta := snap.GetMetadata()
	idx, term := meta.GetIndex(), meta.GetTerm()
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
	if err := r.wal.Install(raftlog.Mark{Index: idx, Term: term}, h, cs.GetVoters(), cs.GetLearners()); err != nil {
		return err
	}
	if err := r.ms.ApplySnapshot(snap); err != nil {
		return fmt.Errorf("keeper: raft storage: %w", err)
	}
	if !proto.Equal(r.conf, cs) {
		r.confIndex = 0 // the change is somewhere in the snapshot
	}
	r.conf = proto.Clone(cs).(*raftpb.ConfState)
	r.members = membersOf(r.conf)
	r.releasedTo = idx
	return nil
}

// transferCounts fills st's counts of raft snapshots and repairs sent and
// installed; any goroutine may call it.
func (r *replica) transferCounts(st *Status) {
	st.SnapshotsSent = r.catchUp.sentCount()
	st.SnapshotsInstalled = r.installer.installedCount()
	st.RepairsSent, st.RepairsInstalled = r.repair.counts()
}

// corrupt reports whether this member found its tree corrupt; any
// goroutine may call it.
func (r *replica) corrupt() bool { return r.cons.corrupted() }

func (r *replica) lastHeard(member uint64) (uint64, bool) {
	t, ok := r.heard[member]
	return t, ok
}

func (r *replica) sessions() map[int64]*sessionRec { return r.sm.sessionTable() }

// heardFrom notes that member spoke to this one.
func (r *replica) heardFrom(member uint64) {
	r.heard[member] = r.ticks
}

// start launches the loop goroutine; stopLoop stops it.
func (r *replica) start() {
	r.cons.init(r)
	r.rejoin.init(r)
	r.membership.init(r)
	r.dedup.init(r)
	r.publish()
	go r.run()
}

// stopLoop stops the loop after its current step and waits for it, then
// raft catch-up and the transport's delivery. Storage is left as that step
// left it; Close and crash differ in what they do after (closeStorage).
func (r *replica) stopLoop() {
	r.stop.Do(func() { close(r.stopc) })
	<-r.donec
	r.archive.stop()
	r.catchUp.stop()
	r.installer.stop()
	r.tr.Detach()
}

// closeStorage closes the tree and the raft log once the loop has stopped,
// syncing the tree first if sync is set (Close). Without it (a crash) the
// tree keeps beyond its last sync only what the OS has of Pebble's log.
func (r *replica) closeStorage(sync bool) error {
	var errs []error
	if sync {
		if err := r.sm.sync(); err != nil {
			errs = append(errs, fmt.Errorf("keeper: sync state machine: %w", err))
		}
	}
	if err := r.sm.close(); err != nil {
		errs = append(errs, fmt.Errorf("keeper: close state machine: %w", err))
	}
	if err := r.wal.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// run is the loop goroutine.
func (r *replica) run() {
	defer close(r.donec)
	defer func() {
		r.cons.stop()
		r.membership.stop()
	}()
	defer r.repair.stop()
	defer func() {
		if p := recover(); p != nil {
			r.err = fmt.Errorf("keeper: raft loop stopped: %v", p)
			r.log.Error("raft loop panicked", "err", r.err)
		}
		r.failAll(r.stoppedErr())
	}()
	t := time.NewTicker(r.ticker)
	defer t.Stop()
	expireAfter := uint64(pendingTimeoutElections * r.cfg.electionTicks())
	for {
		select {
		case <-r.stopc:
			return
		case <-t.C:
			r.rn.Tick()
			r.ticks++
			if r.ticks%expireEvery == 0 {
				r.expire(expireAfter)
			}
			if r.ticks%sessionCheckEvery == 0 {
				r.expiry.tick()
			}
			r.membership.tick()
			r.cons.tick()
			r.repair.tick()
			r.archive.tick()
		case f := <-r.callc:
			f()
		case p := <-r.propc:
			r.queuePropose(p)
		case m := <-r.recvc:
			r.step(m)
		case q := <-r.readc:
			r.readIndex(q)
		case res := <-r.catchUp.results():
			r.catchUp.finished(res, true)
		}
		r.drain()
		r.proposeQueued()
		for r.rn.HasReady() {
			if err := r.handleReady(); err != nil {
				r.err = err
				r.log.Error("raft loop stopped", "err", err)
				return
			}
			select {
			case <-r.stopc:
				return
			default:
			}
		}
		r.installer.endTurn()
		if err := r.repair.endTurn(); err != nil {
			r.err = err
			r.log.Error("raft loop stopped", "err", err)
			return
		}
	}
}

// drain takes what is already queued without blocking, so one Ready (and
// one fsync) covers every proposal that arrived meanwhile. Proposals taken
// one after another are stepped as one raft message (queuePropose), the
// others in their turn after them.
func (r *replica) drain() {
	for i := 0; i < drainBatch; i++ {
		select {
		case p := <-r.propc:
			r.queuePropose(p)
		case m := <-r.recvc:
			r.proposeQueued()
			r.step(m)
		case q := <-r.readc:
			r.proposeQueued()
			r.readIndex(q)
		case f := <-r.callc:
			r.proposeQueued()
			f()
		default:
			return
		}
	}
}

// stoppedErr is what waiters are told when the loop ends.
func (r *replica) stoppedErr() error {
	if r.err != nil {
		return fmt.Errorf("%w: %w", ErrIndeterminate, r.err)
	}
	return fmt.Errorf("%w: %w", ErrIndeterminate, ErrClosed)
}

// queuePropose queues p to be proposed with the proposals taken right
// before and after it: one raft message with all their entries, which the
// leader appends and sends to each follower as one append, and a follower
// forwards as one message, where one each would cost an append message
// and its answer per follower. A batch is proposed once its entries reach
// MaxSizePerMsg.
func (r *replica) queuePropose(p *proposal) {
	r.proposals = append(r.proposals, p)
	r.propBytes += uint64(len(p.data))
	if r.propBytes >= r.cfg.maxSizePerMsg() {
		r.proposeQueued()
	}
}

// proposeQueued proposes the queued proposals, in their order, as one raft
// message; they are all taken or all refused.
func (r *replica) proposeQueued() {
	ps := r.proposals
	if len(ps) == 0 {
		return
	}
	defer func() {
		clear(ps)
		r.proposals, r.propBytes = ps[:0], 0
	}()
	var err error
	if r.lead == raft.None {
		err = ErrNoLeader
	} else {
		ents := make([]*raftpb.Entry, len(ps))
		for i, p := range ps {
			ents[i] = &raftpb.Entry{Data: p.data}
		}
		err = r.rn.Step(&raftpb.Message{Type: raftpb.MsgProp.Enum(), From: new(r.id), Entries: ents})
		switch {
		case errors.Is(err, raft.ErrProposalDropped):
			err = fmt.Errorf("%w: proposal dropped", ErrNoLeader)
		case err != nil:
			err = fmt.Errorf("keeper: propose: %w", err)
		}
	}
	for _, p := range ps {
		if err != nil {
			p.resc <- proposalResult{err: err}
			continue
		}
		p.term, p.lead, p.tick = r.term, r.lead, r.ticks
		r.pending[p.seq] = p
	}
}

func (r *replica) step(m *raftpb.Message) {
	if raft.IsLocalMsg(m.GetType()) {
		return
	}
	r.heardFrom(m.GetFrom())
	if m.GetType() == raftpb.MsgProp && !r.dedup.filter(m) {
		return
	}
	if m.GetType() == raftpb.MsgHeartbeat {
		r.rejoin.clampHeartbeat(m)
	}
	if r.rejoin.dropVote(m) {
		return
	}
	r.rejoin.watch(m)
	if err := r.rn.Step(m); err != nil {
		r.log.Debug("raft step", "type", m.GetType().String(), "from", m.GetFrom(), "err", err)
	}
}

func (r *replica) readIndex(q *readRequest) {
	if r.lead == raft.None {
		q.resc <- ErrNoLeader
		return
	}
	q.tick = r.ticks
	r.reads[q.id] = q
	r.rn.ReadIndex(wire.EncodeReadContext(q.id))
}

// expire fails proposals and reads that waited too long with no news.
func (r *replica) expire(after uint64) {
	for seq, p := range r.pending {
		if r.ticks-p.tick > after {
			delete(r.pending, seq)
			p.resc <- proposalResult{err: fmt.Errorf("%w: no outcome after %d ticks", ErrIndeterminate, after)}
		}
	}
	for id, q := range r.reads {
		if r.ticks-q.tick > after {
			delete(r.reads, id)
			q.resc <- fmt.Errorf("%w: read index lost", ErrNoLeader)
		}
	}
}

// failAll tells every waiter the loop is gone.
func (r *replica) failAll(err error) {
	for seq, p := range r.pending {
		delete(r.pending, seq)
		p.resc <- proposalResult{err: err}
	}
	for id, q := range r.reads {
		delete(r.reads, id)
		q.resc <- err
	}
	for _, q := range r.waiting {
		q.resc <- err
	}
	r.waiting = nil
	r.publish()
}

// termChanged fails the proposals made in an older term: the entry may or
// may not survive the new leader, so their outcome is unknown. Reads whose
// index was not yet known are lost with the old leader; they did nothing and
// may be retried.
func (r *replica) termChanged() {
	for seq, p := range r.pending {
		if p.term < r.term {
			delete(r.pending, seq)
			p.resc <- proposalResult{err: fmt.Errorf("%w: term moved from %d to %d", ErrIndeterminate, p.term, r.term)}
		}
	}
	for id, q := range r.reads {
		delete(r.reads, id)
		q.resc <- fmt.Errorf("%w: leader changed during read index", ErrNoLeader)
	}
}

// failLeaderMoved fails the proposals made under another leader: the leader
// that took them may have lost them or may still get them committed.
func (r *replica) failLeaderMoved() {
	for seq, p := range r.pending {
		if p.lead != r.lead {
			delete(r.pending, seq)
			p.resc <- proposalResult{err: fmt.Errorf("%w: leader changed from %d to %d", ErrIndeterminate, p.lead, r.lead)}
		}
	}
}

func (r *replica) callHook(p hookPoint) {
	if r.hook != nil {
		r.hook(p)
	}
}

// handleReady runs one Ready through persist, send, apply and Advance.
func (r *replica) handleReady() error {
	rd := r.rn.Ready()
	leaderMoved := false
	if rd.SoftState != nil {
		wasLeader := r.role == raft.StateLeader
		r.role = rd.RaftState
		if r.role == raft.StateLeader && !wasLeader {
			clear(r.heard)
		}
		r.expiry.roleChanged(wasLeader)
		if rd.Lead != r.lead {
			r.lead = rd.Lead
			leaderMoved = true
			r.failLeaderMoved()
		}
	}
	if hs := rd.HardState; hs != nil {
		if hs.GetTerm() > r.term {
			r.term = hs.GetTerm()
			r.termChanged()
		}
		r.commit = hs.GetCommit()
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := r.installer.ready(rd.Snapshot, rd.HardState); err != nil {
			return err
		}
	}
	leader := r.role == raft.StateLeader
	if leader {
		r.send(rd.Messages)
	}
	r.callHook(hookBeforeSave)
	saveStart := time.Now()
	if err := r.wal.Save(rd.HardState, rd.Entries); err != nil {
		return err
	}
	r.meters.saved(saveStart, rd.MustSync, rd.Entries)
	if rd.HardState != nil {
		if err := r.ms.SetHardState(rd.HardState); err != nil {
			return fmt.Errorf("keeper: raft storage: %w", err)
		}
	}
	if err := r.ms.Append(rd.Entries); err != nil {
		return fmt.Errorf("keeper: raft storage: %w", err)
	}
	r.callHook(hookAfterSave)
	if !leader {
		r.send(rd.Messages)
	}
	for _, rs := range rd.ReadStates {
		r.readState(rs)
	}
	r.meters.committed(rd.CommittedEntries)
	if err := r.apply(rd.CommittedEntries); err != nil {
		return err
	}
	r.callHook(hookAfterApply)
	r.archive.markApplied(r.sm.archivedTo(), r.sm.archiveGaps())
	r.rn.Advance(rd)
	if err := r.maybeRelease(); err != nil {
		return err
	}
	r.publish()
	if leaderMoved {
		r.meters.leaderChanged(r.lead)
		// After publish, so a woken WaitLeader reads the new leader.
		r.leaderChanged()
		r.expiry.leaderChanged()
	}
	return nil
}

// send marshals and hands messages to the transport.
func (r *replica) send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		if m.GetType() == raftpb.MsgSnap {
			r.catchUp.send(m)
			continue
		}
		b, err := wire.EncodeRaftFrame(r.clusterID, m)
		if err != nil {
			r.log.Error("marshal raft message", "err", err)
			continue
		}
		r.tr.Send(m.GetTo(), b)
	}
}

// deliver is the transport's callback: decode a frame and queue it for the
// loop, dropping it if the loop is behind (raft recovers lost messages).
func (r *replica) deliver(from uint64, frame []byte) {
	cluster, kind, body, ok := wire.SplitFrame(frame)
	if !ok || cluster != r.clusterID {
		r.log.Warn("dropping frame of another cluster", "from", from)
		return
	}
	if kind == wire.FrameMember {
		r.membership.deliver(r, from, body)
		return
	}
	m, err := wire.DecodeRaftMessage(body)
	if err != nil {
		r.log.Warn("dropping undecodable frame", "from", from, "err", err)
		return
	}
	if m.GetFrom() != from {
		r.log.Warn("dropping frame with mismatched sender", "from", from, "claimed", m.GetFrom())
		return
	}
	if m.GetType() == raftpb.MsgSnap {
		// Snapshots come only with their tree, over a stream (install.go).
		r.log.Warn("dropping a raft snapshot sent as a frame", "from", from)
		return
	}
	select {
	case r.recvc <- m:
	case <-r.donec:
	default:
	}
}

// readState records a read index reported by raft.
func (r *replica) readState(rs raft.ReadState) {
	id, err := wire.DecodeReadContext(rs.RequestCtx)
	if err != nil {
		return
	}
	q, ok := r.reads[id]
	if !ok {
		return
	}
	delete(r.reads, id)
	if r.sm.applied() >= rs.Index {
		q.resc <- nil
		return
	}
	q.index, q.known = rs.Index, true
	r.waiting = append(r.waiting, q)
}

// apply converts committed entries, applies them as one group and hands
// results to this member's waiting proposals.
func (r *replica) apply(ents []*raftpb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	applied := r.sm.applied()
	group := make([]committed, 0, len(ents))
	owners := make([]uint64, 0, len(ents)) // proposal seq owned here, or 0
	for _, e := range ents {
		if e.GetIndex() <= applied {
			// Already in the state machine. Raft starts at the tree's
			// applied index after a restart, and a repair installs a tree
			// only at or below the applied index (repair.go), so raft does
			// not hand these out today; the guard keeps a tree that is
			// ahead from applying anything twice.
			continue
		}
		d, err := wire.DecodeEntry(e)
		if err != nil {
			// The member stops: its log holds what it cannot apply.
			return err
		}
		c := committed{Index: d.Index}
		var owner uint64
		switch d.Kind {
		case wire.EntryEmpty:
			c.Kind = entryNoop
		case wire.EntryCheck:
			// A consistency entry ends its apply group, so the state
			// machine is exactly at its index when it runs. One that does
			// not decode is skipped with a warning (consistency.applied).
			group = append(group, committed{Index: d.Index, Kind: entryNoop})
			owners = append(owners, 0)
			if err := r.applyGroup(group, owners); err != nil {
				return err
			}
			group, owners = group[:0], owners[:0]
			if m := r.cons.applied(d.Index, d.Check); m != 0 {
				r.repair.applied(m)
			}
			continue
		case wire.EntryProposal:
			c.Kind, c.Data = entryOp, d.Proposal.Payload
			if d.Proposal.Member == r.id {
				owner = d.Proposal.Seq
			}
		case wire.EntryConfChange:
			c.Kind, c.Data = entryConf, r.applyConf(d.Index, d.Conf)
		}
		group = append(group, c)
		owners = append(owners, owner)
	}
	return r.applyGroup(group, owners)
}

// applyGroup applies one group of converted entries and hands the results
// to this member's waiting proposals (owners[i] is the sequence number of
// group[i]'s proposal if this member made it, else 0).
func (r *replica) applyGroup(group []committed, owners []uint64) error {
	if len(group) == 0 {
		return nil
	}
	applyStart := time.Now()
	results, err := r.sm.apply(group)
	r.meters.appliedGroup(applyStart, r.sm)
	if err != nil {
		return fmt.Errorf("keeper: apply entries %d..%d: %w", group[0].Index, group[len(group)-1].Index, err)
	}
	r.archive.noteCreated(group, results)
	// Publish before waking anyone: a caller whose write or Sync returns
	// must find Status at least at its zxid.
	if len(r.waiting) > 0 || slices.ContainsFunc(owners, func(seq uint64) bool { return seq != 0 }) {
		r.publish()
	}
	for i, seq := range owners {
		if seq == 0 {
			continue
		}
		p, ok := r.pending[seq]
		if !ok {
			continue // its caller was already told the outcome is unknown
		}
		delete(r.pending, seq)
		var res *applyResult
		if i < len(results) {
			res = results[i]
		}
		p.resc <- proposalResult{res: res, index: group[i].Index}
	}
	r.releaseReads()
	return nil
}

// releaseReads answers the read barriers whose index the tree has reached,
// after an apply or after a tree was swapped in by an install or a repair.
func (r *replica) releaseReads() {
	if len(r.waiting) == 0 {
		return
	}
	now := r.sm.applied()
	keep := r.waiting[:0]
	for _, q := range r.waiting {
		if q.index <= now {
			q.resc <- nil
		} else {
			keep = append(keep, q)
		}
	}
	clear(r.waiting[len(keep):])
	r.waiting = keep
}

// applyConf applies a configuration change to raft and returns the encoded
// membership that results.
func (r *replica) applyConf(index uint64, cc raftpb.ConfChangeI) []byte {
	cs := r.rn.ApplyConfChange(cc)
	r.conf = cs
	r.members = membersOf(cs)
	r.confIndex = index
	r.membership.applied(index, cc)
	return wire.EncodeMembership(cs)
}

func membersOf(cs *raftpb.ConfState) []uint64 {
	ids := append(slices.Clone(cs.GetVoters()), cs.GetLearners()...)
	slices.Sort(ids)
	return slices.Compact(ids)
}

// maybeRelease, every KeepEntries applied entries, makes the state machine
// durable and releases the WAL up to KeepEntries behind the applied index,
// and the in-memory log as far as catching-up followers allow (compactIndex).
func (r *replica) maybeRelease() error {
	keep := r.cfg.keepEntries()
	applied := r.sm.applied()
	if applied <= 2*keep || applied-keep < r.releasedTo+keep {
		return nil
	}
	idx := applied - keep
	if floor := r.archive.holdFloor(applied); floor != 0 {
		// Entries the archive does not hold yet stay in the WAL, so a
		// member that restarts can still hand them to the archive.
		if idx = min(idx, floor-1); idx < r.releasedTo+keep {
			return nil
		}
	}
	if err := r.sm.sync(); err != nil {
		return fmt.Errorf("keeper: sync state machine: %w", err)
	}
	r.callHook(hookBeforeRelease)
	term, err := r.ms.Term(idx)
	if err != nil {
		return fmt.Errorf("keeper: term of release index %d: %w", idx, err)
	}
	if err := r.wal.Release(raftlog.Mark{Index: idx, Term: term}, r.conf.GetVoters(), r.conf.GetLearners()); err != nil {
		return err
	}
	r.releasedTo = idx
	if c := r.compactIndex(idx, applied); c > 0 {
		if err := r.ms.Compact(c); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return fmt.Errorf("keeper: compact raft log: %w", err)
		}
	}
	r.callHook(hookAfterRelease)
	return nil
}

// catchUpFactor bounds what catching-up followers may pin: the in-memory log
// never holds more than catchUpFactor×KeepEntries entries behind applied.
const catchUpFactor = 10

// compactIndex is where the in-memory log may be compacted to, given that
// the WAL was released to idx. On a leader, entries a catching-up follower
// still needs stay: those after the index of a raft snapshot being sent to
// it (so that, installed, it goes on from the log instead of needing a newer
// snapshot, for ever, while writes outpace its install), and those after the
// match of a follower heard from within the election timeout (a slow but
// live follower is not pushed to a snapshot). Nothing is pinned further than
// catchUpFactor×KeepEntries behind applied, so memory stays bounded whatever
// a follower does. The WAL is released regardless: entries below its
// release point live only in memory, which is all a leader serves from.
func (r *replica) compactIndex(idx, applied uint64) uint64 {
	floor := idx
	if r.role == raft.StateLeader {
		r.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
			switch {
			case id == r.id:
			case pr.State == tracker.StateSnapshot:
				floor = min(floor, pr.PendingSnapshot)
			case pr.RecentActive:
				floor = min(floor, pr.Match)
			}
		})
	}
	if limit := r.cfg.keepEntries() * catchUpFactor; applied > limit {
		floor = max(floor, applied-limit)
	}
	if hold := r.archive.holdFloor(applied); hold != 0 {
		// The archive's entries stay, up to its own bound.
		floor = min(floor, hold-1)
	}
	first, err := r.ms.FirstIndex()
	if err != nil || floor < first {
		return 0
	}
	return floor
}

// leaderChanged wakes WaitLeader callers.
func (r *replica) leaderChanged() {
	r.leaderMu.Lock()
	close(r.leaderCh)
	r.leaderCh = make(chan struct{})
	r.leaderMu.Unlock()
}

func (r *replica) leaderWait() <-chan struct{} {
	r.leaderMu.Lock()
	defer r.leaderMu.Unlock()
	return r.leaderCh
}

// publish stores a fresh Status for readers outside the loop.
func (r *replica) publish() {
	st := &Status{
		ID:      r.id,
		Leader:  r.lead,
		Term:    r.term,
		Commit:  Zxid(r.commit),
		Applied: Zxid(r.sm.applied()),
		Digest:  r.sm.digest(),
		Members: r.members,
		Role:    roleOf(r.role),
	}
	st.ClusterID = r.clusterID
	st.Learners = r.conf.GetLearners()
	st.MembershipZxid = Zxid(r.confIndex)
	r.cons.fillStatus(st)
	r.archive.fillStatus(st, r.sm.applied(), r.sm.archivedTo())
	r.status.Store(st)
}

// proposeWait proposes payload and waits for its apply on this member. See
// Node for the error contract: ErrNoLeader means not proposed, an error
// matching ErrIndeterminate means the outcome is unknown.
func (r *replica) proposeWait(ctx context.Context, payload []byte) (*applyResult, error) {
	p, err := r.submit(ctx, payload)
	if err != nil {
		return nil, err
	}
	return r.await(ctx, p)
}

// submit queues payload for the raft loop to propose and returns without
// waiting for it. Proposals submitted one after another are proposed in
// that order, so a caller may submit several before awaiting any. An error
// means the payload was not queued: it will not be proposed.
func (r *replica) submit(ctx context.Context, payload []byte) (*proposal, error) {
	select {
	case <-r.donec:
		return nil, r.closedErr()
	default:
	}
	if st := r.status.Load(); st.Leader == 0 {
		return nil, ErrNoLeader
	}
	seq := r.dedup.next()
	p := &proposal{seq: seq, data: wire.EncodeEnvelope(r.id, seq, payload), resc: make(chan proposalResult, 1)}
	select {
	case r.propc <- p:
		return p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-r.donec:
		return nil, r.closedErr()
	}
}

// await waits for the apply on this member of p, which submit queued.
func (r *replica) await(ctx context.Context, p *proposal) (*applyResult, error) {
	select {
	case res := <-p.resc:
		if res.err == nil && r.cfg.Archive != nil && r.cfg.Archive.AckArchived {
			// The write applied; it is acknowledged once the archive
			// holds it too (archiver.go).
			if err := r.archive.waitArchived(ctx, res.index, r.donec); err != nil {
				return res.res, err
			}
		}
		return res.res, res.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrIndeterminate, ctx.Err())
	case <-r.donec:
		select {
		case res := <-p.resc:
			return res.res, res.err
		default:
		}
		return nil, r.stoppedErr()
	}
}

// barrier waits until this member has applied everything committed
// cluster-wide when it was called (raft ReadIndex). It writes nothing: every
// error is safe to retry.
func (r *replica) barrier(ctx context.Context) error {
	select {
	case <-r.donec:
		return r.closedErr()
	default:
	}
	if st := r.status.Load(); st.Leader == 0 {
		return ErrNoLeader
	}
	q := &readRequest{id: r.readSeq.Add(1), resc: make(chan error, 1)}
	select {
	case r.readc <- q:
	case <-ctx.Done():
		return ctx.Err()
	case <-r.donec:
		return r.closedErr()
	}
	select {
	case err := <-q.resc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-r.donec:
		select {
		case err := <-q.resc:
			return err
		default:
		}
		return r.closedErr()
	}
}

// closedErr is the error for a call on a stopped loop.
func (r *replica) closedErr() error {
	if r.err != nil {
		return fmt.Errorf("keeper: member stopped: %w", r.err)
	}
	return ErrClosed
}

// raftLogger bridges raft's logger to slog, formatting only records the
// handler wants. Fatal and Panic log at error level and panic; the loop
// recovers and stops the member, never the process.
type raftLogger struct{ l *slog.Logger }

func (g raftLogger) logf(level slog.Level, f string, v []any) {
	if !g.l.Enabled(context.Background(), level) {
		return
	}
	if f == "" {
		g.l.Log(context.Background(), level, fmt.Sprint(v...))
		return
	}
	g.l.Log(context.Background(), level, fmt.Sprintf(f, v...))
}

func (g raftLogger) Debug(v ...any)              { g.logf(slog.LevelDebug, "", v) }
func (g raftLogger) Debugf(f string, v ...any)   { g.logf(slog.LevelDebug, f, v) }
func (g raftLogger) Info(v ...any)               { g.logf(slog.LevelInfo, "", v) }
func (g raftLogger) Infof(f string, v ...any)    { g.logf(slog.LevelInfo, f, v) }
func (g raftLogger) Warning(v ...any)            { g.logf(slog.LevelWarn, "", v) }
func (g raftLogger) Warningf(f string, v ...any) { g.logf(slog.LevelWarn, f, v) }
func (g raftLogger) Error(v ...any)              { g.logf(slog.LevelError, "", v) }
func (g raftLogger) Errorf(f string, v ...any)   { g.logf(slog.LevelError, f, v) }
func (g raftLogger) Fatal(v ...any)              { g.fail(fmt.Sprint(v...)) }
func (g raftLogger) Fatalf(f string, v ...any)   { g.fail(fmt.Sprintf(f, v...)) }
func (g raftLogger) Panic(v ...any)              { g.fail(fmt.Sprint(v...)) }
func (g raftLogger) Panicf(f string, v ...any)   { g.fail(fmt.Sprintf(f, v...)) }

func (g raftLogger) fail(msg string) {
	g.l.Error(msg)
	panic("raft: " + msg)
}

// confStateOf is the configuration of a new cluster of voters peers.
func confStateOf(peers []uint64) *raftpb.ConfState {
	return &raftpb.ConfState{Voters: slices.Sorted(slices.Values(peers))}
}

// restoredTerm is the raft term a restored member's log starts at. Every
// member of a restored cluster starts at the same (zxid, term), so their
// logs agree there and raft goes on from it.
const restoredTerm = 1

// seedRaftLog writes the raft log of a member of a cluster restored at zxid:
// its metadata, a release mark at (zxid, restoredTerm) and a hard state that
// commits it, so that Open replays nothing and applies from zxid+1.
func seedRaftLog(dir string, clusterID, id uint64, peers []uint64, zxid uint64) error {
	wal, err := raftlog.CreateLog(dir, wire.EncodeLogMeta(clusterID, id, peers))
	if err != nil {
		return err
	}
	cs := confStateOf(peers)
	if err := wal.Release(raftlog.Mark{Index: zxid, Term: restoredTerm}, cs.GetVoters(), nil); err != nil {
		wal.Close()
		return err
	}
	hs := &raftpb.HardState{Term: new(uint64(restoredTerm)), Vote: new(uint64(0)), Commit: new(zxid)}
	if err := wal.Save(hs, nil); err != nil {
		wal.Close()
		return err
	}
	return wal.Close()
}
