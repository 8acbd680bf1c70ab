package keeper

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keeper-go/keeper/internal/crashtest"
	"github.com/keeper-go/keeper/internal/wire"
	"github.com/keeper-go/keeper/storage"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Role is a member's raft role.
type Role int

const (
	// RoleFollower follows a leader, or waits for one.
	RoleFollower Role = iota
	// RoleCandidate is campaigning (including raft's pre-vote phase).
	RoleCandidate
	// RoleLeader is the cluster's leader.
	RoleLeader
)

func (r Role) String() string {
	switch r {
	case RoleFollower:
		return "follower"
	case RoleCandidate:
		return "candidate"
	case RoleLeader:
		return "leader"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

func roleOf(s raft.StateType) Role {
	switch s {
	case raft.StateLeader:
		return RoleLeader
	case raft.StateCandidate, raft.StatePreCandidate:
		return RoleCandidate
	}
	return RoleFollower
}

// Status is a point-in-time view of one member, published by its raft loop
// after every step; reading it never waits for the loop.
type Status struct {
	// ID is this member's id.
	ID uint64
	// Leader is the member this one believes leads, or 0 if none is known.
	Leader uint64
	// Term is the raft term.
	Term uint64
	// Commit is the highest log index known committed.
	Commit uint64
	// Applied is the highest log index applied to the tree.
	Applied uint64
	// Digest is the tree digest at Applied. Members at the same Applied
	// index must have the same Digest.
	Digest uint64
	// Members lists the ids of the cluster's members, sorted, as of Applied.
	Members []uint64
	// Role is this member's raft role.
	Role Role
	// Learners lists the non-voting members among Members.
	Learners []uint64

	// ClusterID is the cluster's id; a member joining it (Config.Join)
	// needs it.
	ClusterID uint64
	// Corrupt is true once this member failed a consistency check; it then
	// refuses reads and writes with ErrReplicaCorrupt.
	Corrupt bool
	// CheckZxid is the zxid of the last consistency check applied here.
	CheckZxid uint64
	// View is the leader's view of every member (nil on other members).
	View []MemberStatus

	// The cluster's two figures. On the leader they are live: Consistency is the
	// share of members whose tree matched at the last check (ConsistentMembers
	// of MemberCount; see consistency.go for how a match is known) and
	// Availability the share the leader heard from within the election
	// timeout (ReachableMembers of MemberCount). On any other member they are
	// the leader's counts as carried by the last check entry it applied, so
	// they are at most one check interval old; all are zero before the first
	// check.
	Consistency       float64
	ConsistentMembers int
	Availability      float64
	ReachableMembers  int
	MemberCount       int
	// SnapshotsSent counts the raft snapshots this member streamed to
	// followers that took them, since Open.
	SnapshotsSent uint64
	// SnapshotsInstalled counts the raft snapshots this member installed in
	// place of its tree (it had fallen behind the leader's retained log),
	// since Open.
	SnapshotsInstalled uint64
	// RepairsSent counts the repair transfers of its tree this member, as
	// leader, streamed to corrupt members that took them, since Open.
	RepairsSent uint64
	// RepairsInstalled counts the times this member, found corrupt by a
	// consistency check, replaced its tree by the leader's (Config.OnCorrupt
	// RepairCorrupt), since Open.
	RepairsInstalled uint64
}

// stateMachineCloser is implemented by state machines holding resources
// (the Pebble tree); Close calls it after the loop stops.
type stateMachineCloser interface {
	close() error
}

// stateMachineCrasher is implemented by state machines that can drop their
// handles without syncing, as a crashed process would; the crash path of
// tests calls it instead of close.
type stateMachineCrasher interface {
	crash()
}

// openOptions are Open's internal knobs, for tests and for the merge with
// the tree.
type openOptions struct {
	// openStateMachine opens the member's state machine in dir. Nil means
	// the Pebble tree.
	openStateMachine func(dir string, clusterID uint64) (stateMachine, error)
	// hook, if set, runs at each crash point of the raft loop.
	hook func(hookPoint)
}

// Node is a handle to one local member. All methods are safe for concurrent
// use. After Close, every method returns ErrClosed.
type Node struct {
	// Client carries the tree operations (Create, Get, Set, Delete, Exists,
	// Children, Multi, ...) for a caller with no identities and local reads.
	Client

	r           *replica
	lock        *os.File
	superDigest string // Config.SuperDigest
	watches     *watchManager
	nonce       uint64 // this incarnation, carried by its session creates
	reaper      *reaper

	// useMu guards the tree against Close: reads hold it shared, Close
	// exclusively, so no read ever touches a closed store.
	useMu   sync.RWMutex
	closeMu sync.Mutex
	closed  atomic.Bool
	// closing ends when Close begins, so long calls holding useMu (Backup)
	// stop instead of holding Close up.
	closing       context.Context
	cancelClosing context.CancelFunc
}

// lockFile is the flock'ed file guarding a data dir.
const lockFile = "LOCK"

// Open opens (creating if needed) the member's data dir, replays its raft
// log from the tree's applied index, joins the cluster over cfg.Transport
// and returns its handle. It does not wait for a leader: see WaitLeader.
//
// Open refuses a dir held by another Node (ErrLocked), a raft log whose
// tail is damaged (ErrCorrupt) and data of another cluster
// (ErrWrongCluster); it never starts afresh over existing data.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	return open(ctx, cfg, openOptions{})
}

func open(ctx context.Context, cfg Config, o openOptions) (n *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if o.openStateMachine == nil {
		o.openStateMachine = openTreeDir
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("keeper: create data dir: %w", err)
	}
	lock, err := lockDir(filepath.Join(cfg.Dir, lockFile))
	if err != nil {
		return nil, err
	}
	// A crash in the middle of a snapshot install is finished or undone
	// before anything is opened (storage/install.go), and an online
	// restore's leftover spool removed.
	if err := errors.Join(storage.RecoverInstall(cfg.Dir), removeStaleSpools(cfg.Dir)); err != nil {
		unlockDir(lock)
		return nil, fmt.Errorf("keeper: clean up after a crash: %w", err)
	}
	var sm stateMachine
	var wal *storage.RaftLog
	defer func() {
		if err == nil {
			return
		}
		if wal != nil {
			wal.Close()
		}
		if c, ok := sm.(stateMachineCloser); ok {
			c.close()
		}
		unlockDir(lock)
	}()

	clusterID := cfg.clusterID()
	if cfg.ClusterID == 0 {
		// An existing dir keeps the id it was created or restored with.
		id, ok, err := storage.PeekClusterID(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("keeper: open state machine: %w", err)
		}
		if ok {
			clusterID = id
		}
	}
	sm, err = o.openStateMachine(cfg.Dir, clusterID)
	if err != nil {
		return nil, fmt.Errorf("keeper: open state machine: %w", err)
	}
	applied := sm.applied()
	ms := &raftStorage{MemoryStorage: raft.NewMemoryStorage(), cs: &raftpb.ConfState{}}
	meta := wire.EncodeLogMeta(clusterID, cfg.ID, cfg.Peers)
	if cfg.Join {
		// A joining member has no initial membership: it learns it from the
		// leader's log, bootstrap entries included.
		meta = wire.EncodeLogMeta(clusterID, cfg.ID, nil)
	}

	var hs *raftpb.HardState
	bootstrap := false
	if storage.LogExists(cfg.Dir) {
		var rep *storage.Replayed
		wal, rep, err = storage.OpenLog(cfg.Dir, applied)
		if err != nil {
			if errors.Is(err, storage.ErrCorruptLog) {
				return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
			}
			return nil, fmt.Errorf("keeper: open raft log: %w", err)
		}
		gotCluster, gotID, initial, err := wire.DecodeLogMeta(rep.Metadata)
		if err != nil {
			return nil, err
		}
		if gotCluster != clusterID {
			return nil, fmt.Errorf("%w: raft log of cluster %x, config names %x", ErrWrongCluster, gotCluster, clusterID)
		}
		if gotID != cfg.ID {
			return nil, fmt.Errorf("%w: raft log of member %d, config names %d", ErrWrongCluster, gotID, cfg.ID)
		}
		if err := finishInstall(sm, wal, rep); err != nil {
			return nil, err
		}
		if rep.Start.Index > 0 {
			snap := &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{
				Index: new(rep.Start.Index), Term: new(rep.Start.Term), ConfState: &raftpb.ConfState{},
			}}
			if err := ms.ApplySnapshot(snap); err != nil {
				return nil, fmt.Errorf("keeper: restore raft log start: %w", err)
			}
		}
		hs = rep.HardState
		if err := ms.SetHardState(hs); err != nil {
			return nil, fmt.Errorf("keeper: restore hard state: %w", err)
		}
		if err := ms.Append(rep.Entries); err != nil {
			return nil, fmt.Errorf("keeper: restore raft log: %w", err)
		}
		last, _ := ms.LastIndex()
		if applied > last {
			return nil, fmt.Errorf("%w: tree applied index %d is beyond the raft log (commit %d, last %d)", ErrCorrupt, applied, hs.GetCommit(), last)
		}
		if applied > hs.GetCommit() {
			// Only committed entries are applied, and a hard state that
			// merely advances the commit index is not fsynced (raft does
			// not require it): after a crash the tree may be ahead of the
			// logged commit index. What the tree applied was committed.
			hs = proto.Clone(hs).(*raftpb.HardState)
			hs.Commit = new(applied)
			if err := ms.SetHardState(hs); err != nil {
				return nil, fmt.Errorf("keeper: restore hard state: %w", err)
			}
		}
		if m := sm.membership(); m != nil {
			cs, err := wire.DecodeMembership(m)
			if err != nil {
				return nil, err
			}
			ms.cs = cs
		} else {
			// Nothing applied yet, not even the bootstrap entries: start
			// from the membership a fresh bootstrap gives raft before it
			// applies them, so replaying them yields the same memberships.
			ms.cs = &raftpb.ConfState{Voters: initial}
		}
	} else {
		if applied > 0 {
			return nil, fmt.Errorf("%w: tree at index %d but the raft log is missing", ErrCorrupt, applied)
		}
		wal, err = storage.CreateLog(cfg.Dir, meta)
		if err != nil {
			return nil, fmt.Errorf("keeper: create raft log: %w", err)
		}
		bootstrap = !cfg.Join
	}

	log := cfg.logger().With("member", cfg.ID)
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        cfg.ID,
		ElectionTick:              cfg.electionTicks(),
		HeartbeatTick:             cfg.heartbeatTicks(),
		Storage:                   ms,
		Applied:                   applied,
		MaxSizePerMsg:             cfg.maxSizePerMsg(),
		MaxCommittedSizePerReady:  8 * cfg.maxSizePerMsg(),
		MaxUncommittedEntriesSize: 64 << 20,
		MaxInflightMsgs:           cfg.maxInflightMsgs(),
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		Logger:                    raftLogger{log},
	})
	if err != nil {
		return nil, fmt.Errorf("keeper: start raft: %w", err)
	}
	if bootstrap {
		peers := make([]raft.Peer, 0, len(cfg.Peers))
		for _, id := range slices.Sorted(slices.Values(cfg.Peers)) {
			peers = append(peers, raft.Peer{ID: id})
		}
		if err := rn.Bootstrap(peers); err != nil {
			return nil, fmt.Errorf("keeper: bootstrap raft: %w", err)
		}
	}
	nonce := rand.Uint64() | 1
	wm := newWatchManager(cfg.ID, nonce)
	if t, ok := sm.(*tree); ok {
		t.publish = wm.publish
	}
	r := &replica{
		heard:     make(map[uint64]uint64),
		id:        cfg.ID,
		clusterID: clusterID,
		cfg:       cfg,
		log:       log,
		tr:        cfg.Transport,
		sm:        sm,
		wal:       wal,
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
		term:      hs.GetTerm(),
		commit:    hs.GetCommit(),
		conf:      ms.cs,
		members:   membersOf(ms.cs),
		meters:    newMeters(cfg.ID),
	}
	r.expiry = newSessionExpiry(r, wm, nonce)
	r.snap = newSnapState(r.meters.streams(cfg.Transport), cfg.Dir)
	ms.snapshot = r.raftSnapshot
	r.snap.resynced = wm.resync
	r.seq.Store(rand.Uint64() >> 1)
	if wal != nil && !bootstrap {
		// The tree is durable at least up to the mark the WAL reopened at.
		r.releasedTo, _ = ms.FirstIndex()
		r.releasedTo--
	}
	if err := cfg.Transport.Attach(r.deliver); err != nil {
		return nil, fmt.Errorf("keeper: attach transport: %w", err)
	}
	if r.snap.st != nil {
		if err := r.snap.st.AttachStream(r.receiveSnapshot); err != nil {
			cfg.Transport.Detach()
			return nil, fmt.Errorf("keeper: attach transport streams: %w", err)
		}
	}
	if bootstrap && len(cfg.Peers) == 1 {
		// A lone member need not wait an election timeout.
		if err := rn.Campaign(); err != nil {
			cfg.Transport.Detach()
			return nil, fmt.Errorf("keeper: campaign: %w", err)
		}
	}
	node := &Node{r: r, lock: lock, superDigest: cfg.SuperDigest, watches: wm, nonce: nonce}
	node.closing, node.cancelClosing = context.WithCancel(context.Background())
	node.Client = Client{n: node}
	r.snap.lockReads = func() func() {
		wm.vis.Lock()
		node.useMu.Lock()
		return func() {
			node.useMu.Unlock()
			wm.vis.Unlock()
		}
	}
	r.start()
	node.reaper = startReaper(node, cfg.reapInterval())
	return node, nil
}

// ID returns this member's id.
func (n *Node) ID() uint64 { return n.r.id }

// Status returns the member's latest published status. It never blocks.
func (n *Node) Status() Status {
	st := *n.r.status.Load()
	st.Members = slices.Clone(st.Members)
	st.View = slices.Clone(st.View)
	st.Learners = slices.Clone(st.Learners)
	st.SnapshotsSent, st.SnapshotsInstalled = n.r.snapshotStats()
	st.RepairsSent, st.RepairsInstalled = n.r.snap.repairsSent.Load(), n.r.snap.repairsInstalled.Load()
	return st
}

// isClosed reports whether Close was called.
func (n *Node) isClosed() bool { return n.closed.Load() }

// withTree runs fn on the tree unless the Node is closed; Close waits for it.
func (n *Node) withTree(fn func(t *tree) error) error {
	n.useMu.RLock()
	defer n.useMu.RUnlock()
	if n.closed.Load() {
		return ErrClosed
	}
	if n.r.corrupt() {
		return ErrReplicaCorrupt
	}
	t, ok := n.r.sm.(*tree)
	if !ok {
		return fmt.Errorf("%w: this member's state machine has no tree", ErrUnimplemented)
	}
	if t.st == nil {
		// A snapshot install failed half-way; the member has stopped.
		return fmt.Errorf("%w: the tree is being replaced", ErrClosed)
	}
	return fn(t)
}

// WaitLeader waits until a leader is known and returns its id, or returns
// ctx's error when ctx ends first.
func (n *Node) WaitLeader(ctx context.Context) (uint64, error) {
	for {
		if n.isClosed() {
			return 0, ErrClosed
		}
		ch := n.r.leaderWait()
		if l := n.r.status.Load().Leader; l != 0 {
			return l, nil
		}
		select {
		case <-ch:
		case <-n.r.donec:
			return 0, n.r.closedErr()
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// barrier waits until this member has applied every write committed
// cluster-wide before the call (raft ReadIndex), so local reads after it are
// linearizable. It writes nothing; ErrNoLeader and ctx errors may be retried.
//
// With no leader known it first waits for one, as long as ctx allows: a
// member that just started or lost its leader answers once a leader is back.
func (n *Node) barrier(ctx context.Context) error {
	if n.isClosed() {
		return ErrClosed
	}
	if n.r.status.Load().Leader == 0 {
		if _, err := n.WaitLeader(ctx); err != nil {
			return err
		}
	}
	return n.r.barrier(ctx)
}

// propose replicates payload as one entry and returns its apply result on
// this member. It fails fast with ErrNoLeader (nothing proposed) when no
// leader is known, and with an error matching ErrIndeterminate when the
// entry was proposed but its fate is unknown (leader or term change,
// shutdown, ctx ended, or no outcome after 50 election timeouts). ctx bounds
// the wait, never the apply. It never retries by itself.
func (n *Node) propose(ctx context.Context, payload []byte) (*applyResult, error) {
	if n.isClosed() {
		return nil, ErrClosed
	}
	if n.r.corrupt() {
		return nil, ErrReplicaCorrupt
	}
	start := time.Now()
	res, err := n.r.proposeWait(ctx, payload)
	n.r.meters.proposed(start, res, err)
	return res, err
}

// Close stops the member: pending writes fail with ErrIndeterminate, the
// tree is synced, the raft log closed and the data dir unlocked. Close is
// idempotent; later calls return nil.
func (n *Node) Close() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if !n.stop() {
		return nil
	}
	r := n.r
	errs := []error{}
	if err := r.sm.sync(); err != nil {
		errs = append(errs, fmt.Errorf("keeper: sync state machine: %w", err))
	}
	if c, ok := r.sm.(stateMachineCloser); ok {
		if err := c.close(); err != nil {
			errs = append(errs, fmt.Errorf("keeper: close state machine: %w", err))
		}
	}
	if err := r.wal.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := unlockDir(n.lock); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// stop marks the Node closed, waiting for reads in progress, and stops its
// goroutines: the reaper, the raft loop, the transport's delivery and the
// watches. It reports false if the Node was already closed. The caller holds
// closeMu.
func (n *Node) stop() bool {
	if n.closed.Load() {
		return false
	}
	n.cancelClosing()
	n.useMu.Lock()
	n.closed.Store(true)
	n.useMu.Unlock()
	n.reaper.stop()
	n.r.stopLoop()
	n.r.tr.Detach()
	n.watches.closeAll()
	return true
}

// crash stops the member almost as a killed process would: the loop stops
// after its current step, nothing more is synced, handles are dropped. It is
// gentler than a real kill in one way: closing the WAL flushes its user-space
// write buffer, which SIGKILL loses (the child-process tests in crash_test.go
// cover that case).
func (n *Node) crash() {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if !n.stop() {
		return
	}
	r := n.r
	if c, ok := r.sm.(stateMachineCrasher); ok {
		c.crash()
	} else if c, ok := r.sm.(stateMachineCloser); ok {
		c.close()
	}
	r.wal.Close()
	unlockDir(n.lock)
}

// Crash is for this module's test helpers (keepertest) and does nothing
// without a key only they can build: it stops the member as a killed
// process would, without syncing the tree, so a restart exercises WAL replay.
func (n *Node) Crash(k crashtest.Key) {
	if k.Valid() {
		n.crash()
	}
}

// finishInstall completes, in the raft log, a snapshot install that a crash
// interrupted after the tree was swapped: when the tree was built from a raft
// snapshot at exactly its applied index and the log has no release mark
// there, the mark and a hard state committing it are written now and the
// replay restarts at the mark. It also drops entries read after the mark
// whose term is below the mark's: entries of the log before an install,
// which raft discarded. A tree replaced by a repair (repair.go) carries
// no install mark: a repair leaves the raft log as it is, and Open replays
// the entries past the repaired tree's index from it.
func finishInstall(sm stateMachine, wal *storage.RaftLog, rep *storage.Replayed) error {
	if t, ok := sm.(*tree); ok {
		m, ok, err := t.installedMark()
		if err != nil {
			return err
		}
		if ok && m.Index == t.applied() && rep.Start.Index < m.Index {
			cs := &raftpb.ConfState{}
			if b := t.membership(); b != nil {
				if cs, err = wire.DecodeMembership(b); err != nil {
					return err
				}
			}
			hs := &raftpb.HardState{}
			if rep.HardState != nil {
				hs = proto.Clone(rep.HardState).(*raftpb.HardState)
			}
			hs.Term = new(max(hs.GetTerm(), m.Term))
			hs.Commit = new(max(hs.GetCommit(), m.Index))
			hs.Vote = new(hs.GetVote())
			if err := wal.Install(m, hs, cs.GetVoters(), cs.GetLearners()); err != nil {
				return fmt.Errorf("keeper: finish snapshot install: %w", err)
			}
			rep.Start, rep.HardState, rep.Entries = m, hs, nil
		}
	}
	for i, e := range rep.Entries {
		if e.GetIndex() <= rep.Start.Index || e.GetTerm() < rep.Start.Term {
			rep.Entries = rep.Entries[:i]
			break
		}
	}
	return nil
}
