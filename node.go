package keeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keeper-go/keeper/internal/crashtest"
	"github.com/keeper-go/keeper/internal/raftlog"
	"github.com/keeper-go/keeper/internal/treefiles"
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
	// Commit is the highest zxid (log index) known committed.
	Commit Zxid
	// Applied is the highest zxid (log index) applied to the tree.
	Applied Zxid
	// Digest is the tree digest at Applied. Members at the same Applied
	// index must have the same Digest.
	Digest uint64
	// Members lists the ids of the cluster's members, sorted, as of Applied.
	Members []uint64
	// Role is this member's raft role.
	Role Role
	// Learners lists the non-voting members among Members.
	Learners []uint64
	// MembershipZxid is the zxid (log index) of the membership change that
	// made Members: it rises with every change, and members that know it
	// agree on it. A new cluster's initial Peers count as changes (their
	// bootstrap entries, zxids 1 to len(Peers)). It is 0 when this member
	// does not know it: it restarted after its raft log released the
	// change's entry, or its tree came from a raft snapshot or a restore
	// since the last change.
	MembershipZxid Zxid

	// ClusterID is the cluster's id; a member joining it (Config.Join)
	// needs it.
	ClusterID uint64
	// Corrupt is true once this member failed a consistency check; it then
	// refuses reads and writes with ErrReplicaCorrupt.
	Corrupt bool
	// CheckZxid is the zxid of the last consistency check applied here.
	CheckZxid Zxid
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

	// The archive (Config.Archive; all zero without one). Archiving is
	// true on the member that archives now. ArchivedZxid is the last zxid
	// the archive holds as this member knows it, ArchiveLag how many
	// applied entries it does not hold yet (0 when they are only the
	// archive's own marks, as on a quiet cluster), and, on the archiving
	// member,
	// ArchiveLagTime how long the oldest of them has waited. ArchiveGaps
	// counts the gaps this member recorded since Open (entries the raft log
	// released before the archive had them: see ArchiveConfig.HoldEntries),
	// and ArchiveErr is the target's last error while it keeps failing.
	Archiving      bool
	ArchivedZxid   Zxid
	ArchiveLag     uint64
	ArchiveLagTime time.Duration
	ArchiveGaps    uint64
	ArchiveErr     string

	// Sessions counts the sessions this member serves (their handles
	// here: created here, or resumed here), and Watches their watches.
	Sessions int
	Watches  int
}

// openOptions are Open's internal knobs, for tests and for the merge with
// the tree.
type openOptions struct {
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
	watches     *sessionRegistry
	nonce       uint64 // this incarnation, carried by its session creates
	reaper      *reaper

	// gate orders reads against apply's commits and tree swaps, and the
	// tree against Close: reads use it, Close shuts it, so no read ever
	// touches a closed store (see readGate).
	gate    *readGate
	closeMu sync.Mutex
	closed  atomic.Bool
	// closing ends when Close begins, so long calls using the gate
	// (Backup) stop instead of holding Close up.
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
	n, err := open(ctx, cfg, openOptions{})
	if h := crashtest.FromContext(ctx); h != nil && err == nil {
		h.Set(n.crash)
	}
	return n, err
}

// Raft knobs keeper sets for every member; the others come from Config.
const (
	// committedReadyMsgs bounds, in Config.MaxSizePerMsg units, the committed
	// entries one Ready hands the loop, which applies them as one group in
	// one Pebble batch: a follower catching up applies in groups this big,
	// so its batches and its pauses between ticks stay bounded, while eight
	// messages' worth still amortizes the group's commit well.
	committedReadyMsgs = 8
	// maxUncommittedBytes is how much proposed but uncommitted data the
	// leader holds in its log before it drops new proposals (the caller gets
	// ErrNoLeader: nothing was proposed): it bounds the leader's memory
	// while its followers cannot keep up, and still holds 64 writes of the
	// largest znode (1 MiB).
	maxUncommittedBytes = 64 << 20
)

// open is Open in four phases: the data dir (openDataDir), the raft log
// (replayLog), raft (startRaft) and the member built on them (newMember).
func open(ctx context.Context, cfg Config, o openOptions) (n *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	nonce := rand.Uint64() | 1
	sessions := newSessionRegistry(cfg.ID, nonce)
	gate := newReadGate(sessions)
	d, err := openDataDir(cfg, gate)
	if err != nil {
		return nil, err
	}
	var lg *replayedLog
	defer func() {
		if err == nil {
			return
		}
		if lg != nil {
			lg.wal.Close()
		}
		d.close()
	}()
	if lg, err = replayLog(cfg, d); err != nil {
		return nil, err
	}
	log := cfg.logger().With("member", cfg.ID)
	rn, err := startRaft(cfg, lg, d.tree.applied(), log)
	if err != nil {
		return nil, err
	}
	return newMember(cfg, o, d, lg, rn, log, nonce, sessions, gate)
}

// dataDir is a member's data dir as Open's first phase leaves it: locked,
// cleaned up after a crash, its tree open.
type dataDir struct {
	lock      *os.File
	clusterID uint64
	tree      *tree
}

// openDataDir creates (if needed) and locks cfg.Dir, finishes or undoes
// what a crash interrupted there, and opens its tree under the cluster id
// the dir holds (or cfg's for a new dir), publishing through pub.
func openDataDir(cfg Config, pub publisher) (*dataDir, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("keeper: create data dir: %w", err)
	}
	lock, err := lockDir(filepath.Join(cfg.Dir, lockFile))
	if err != nil {
		return nil, err
	}
	d := &dataDir{lock: lock, clusterID: cfg.clusterID()}
	// A crash in the middle of a raft snapshot install is finished or
	// undone before anything is opened (internal/treefiles), and an online
	// restore's leftover spool removed.
	if err := errors.Join(treefiles.RecoverInstall(cfg.Dir), removeStaleSpools(cfg.Dir)); err != nil {
		d.close()
		return nil, fmt.Errorf("keeper: clean up after a crash: %w", err)
	}
	if cfg.ClusterID == 0 {
		// An existing dir keeps the id it was created or restored with.
		id, ok, err := storage.PeekClusterID(cfg.Dir)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("keeper: open state machine: %w", err)
		}
		if ok {
			d.clusterID = id
		}
	}
	if d.tree, err = openTreeDir(cfg.Dir, d.clusterID, pub); err != nil {
		d.close()
		return nil, fmt.Errorf("keeper: open state machine: %w", err)
	}
	return d, nil
}

// close closes the tree, if open, and unlocks the dir.
func (d *dataDir) close() {
	if d.tree != nil {
		d.tree.close()
	}
	unlockDir(d.lock)
}

// replayedLog is the raft log as Open's second phase leaves it: the WAL
// open for appends and its entries after the tree's applied index in raft's
// in-memory storage.
type replayedLog struct {
	wal *raftlog.RaftLog
	ms  *raftStorage
	hs  *raftpb.HardState
	// bootstrap is set for a new member of a new cluster: raft is given
	// the initial peers.
	bootstrap bool
	// confIndex is the index of the last configuration change among the
	// replayed entries the tree applied already, or 0.
	confIndex uint64
}

// replayLog opens the member's raft log, or creates it for a new member,
// and loads it into raft's storage from the tree's applied index.
func replayLog(cfg Config, d *dataDir) (*replayedLog, error) {
	lg := &replayedLog{ms: &raftStorage{MemoryStorage: raft.NewMemoryStorage(), cs: &raftpb.ConfState{}}}
	applied := d.tree.applied()
	if !raftlog.LogExists(cfg.Dir) {
		if applied > 0 {
			return nil, fmt.Errorf("%w: tree at index %d but the raft log is missing", ErrCorrupt, applied)
		}
		meta := wire.EncodeLogMeta(d.clusterID, cfg.ID, cfg.Peers)
		if cfg.Join {
			// A joining member has no initial membership: it learns it from
			// the leader's log, bootstrap entries included.
			meta = wire.EncodeLogMeta(d.clusterID, cfg.ID, nil)
		}
		wal, err := raftlog.CreateLog(cfg.Dir, meta)
		if err != nil {
			return nil, fmt.Errorf("keeper: create raft log: %w", err)
		}
		lg.wal, lg.bootstrap = wal, !cfg.Join
		return lg, nil
	}
	wal, rep, err := raftlog.OpenLog(cfg.Dir, applied)
	if err != nil {
		return nil, raftLogError("open raft log", err)
	}
	if rep.TornBytes > 0 {
		cfg.logger().Warn("cut a torn last record from the raft log", "member", cfg.ID, "bytes", rep.TornBytes)
	}
	lg.wal = wal
	if err := lg.load(cfg, d, rep); err != nil {
		wal.Close()
		return nil, err
	}
	return lg, nil
}

// load checks the replayed log belongs to this member and puts its start,
// hard state, entries and membership in raft's storage.
func (lg *replayedLog) load(cfg Config, d *dataDir, rep *raftlog.Replayed) error {
	gotCluster, gotID, initial, err := wire.DecodeLogMeta(rep.Metadata)
	if err != nil {
		return err
	}
	if gotCluster != d.clusterID {
		return fmt.Errorf("%w: raft log of cluster %x, config names %x", ErrWrongCluster, gotCluster, d.clusterID)
	}
	if gotID != cfg.ID {
		return fmt.Errorf("%w: raft log of member %d, config names %d", ErrWrongCluster, gotID, cfg.ID)
	}
	t, ms := d.tree, lg.ms
	if err := finishInstall(t, lg.wal, rep); err != nil {
		return err
	}
	if rep.Start.Index > 0 {
		snap := &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{
			Index: new(rep.Start.Index), Term: new(rep.Start.Term), ConfState: &raftpb.ConfState{},
		}}
		if err := ms.ApplySnapshot(snap); err != nil {
			return fmt.Errorf("keeper: restore raft log start: %w", err)
		}
	}
	lg.hs = rep.HardState
	if err := ms.SetHardState(lg.hs); err != nil {
		return fmt.Errorf("keeper: restore hard state: %w", err)
	}
	if err := ms.Append(rep.Entries); err != nil {
		return fmt.Errorf("keeper: restore raft log: %w", err)
	}
	applied := t.applied()
	lg.confIndex = lastConfIndex(rep.Entries, applied)
	last, _ := ms.LastIndex()
	if applied > last {
		return fmt.Errorf("%w: tree applied index %d is beyond the raft log (commit %d, last %d)", ErrCorrupt, applied, lg.hs.GetCommit(), last)
	}
	if applied > lg.hs.GetCommit() {
		// Only committed entries are applied, and a hard state that merely
		// advances the commit index is not fsynced (raft does not require
		// it): after a crash the tree may be ahead of the logged commit
		// index. What the tree applied was committed.
		lg.hs = proto.Clone(lg.hs).(*raftpb.HardState)
		lg.hs.Commit = new(applied)
		if err := ms.SetHardState(lg.hs); err != nil {
			return fmt.Errorf("keeper: restore hard state: %w", err)
		}
	}
	if m := t.membership(); m != nil {
		cs, err := wire.DecodeMembership(m)
		if err != nil {
			return err
		}
		ms.cs = cs
	} else {
		// Nothing applied yet, not even the bootstrap entries: start from
		// the membership a fresh bootstrap gives raft before it applies
		// them, so replaying them yields the same memberships.
		ms.cs = &raftpb.ConfState{Voters: initial}
	}
	return nil
}

// lastConfIndex returns the index of the last configuration change among
// ents at or below upTo, or 0.
func lastConfIndex(ents []*raftpb.Entry, upTo uint64) uint64 {
	var idx uint64
	for _, e := range ents {
		t := e.GetType()
		if e.GetIndex() <= upTo && (t == raftpb.EntryConfChange || t == raftpb.EntryConfChangeV2) {
			idx = e.GetIndex()
		}
	}
	return idx
}

// startRaft makes the member's raft node over the replayed log, going on
// from the tree's applied index, and bootstraps a new cluster's member.
func startRaft(cfg Config, lg *replayedLog, applied uint64, log *slog.Logger) (*raft.RawNode, error) {
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        cfg.ID,
		ElectionTick:              cfg.electionTicks(),
		HeartbeatTick:             cfg.heartbeatTicks(),
		Storage:                   lg.ms,
		Applied:                   applied,
		MaxSizePerMsg:             cfg.maxSizePerMsg(),
		MaxCommittedSizePerReady:  committedReadyMsgs * cfg.maxSizePerMsg(),
		MaxUncommittedEntriesSize: maxUncommittedBytes,
		MaxInflightMsgs:           cfg.maxInflightMsgs(),
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		Logger:                    raftLogger{log},
	})
	if err != nil {
		return nil, fmt.Errorf("keeper: start raft: %w", err)
	}
	if lg.bootstrap {
		peers := make([]raft.Peer, 0, len(cfg.Peers))
		for _, id := range slices.Sorted(slices.Values(cfg.Peers)) {
			peers = append(peers, raft.Peer{ID: id})
		}
		if err := rn.Bootstrap(peers); err != nil {
			return nil, fmt.Errorf("keeper: bootstrap raft: %w", err)
		}
	}
	return rn, nil
}

// newMember builds the member on its opened dir, log and raft node: the
// raft loop and its features, the Node; attaches the transport and starts
// the loop and the reaper. nonce is this incarnation's, sessions its
// session registry and gate the read gate the tree publishes through.
func newMember(cfg Config, o openOptions, d *dataDir, lg *replayedLog, rn *raft.RawNode, log *slog.Logger, nonce uint64, sessions *sessionRegistry, gate *readGate) (*Node, error) {
	r := newReplica(cfg, o, d, lg, rn, log)
	node := &Node{r: r, lock: d.lock, superDigest: cfg.SuperDigest, watches: sessions, nonce: nonce, gate: gate}
	node.closing, node.cancelClosing = context.WithCancel(context.Background())
	node.Client = Client{n: node}
	r.addFeatures(sessions, nonce, gate)
	if err := r.attach(); err != nil {
		return nil, err
	}
	if lg.bootstrap && len(cfg.Peers) == 1 {
		// A lone member need not wait an election timeout.
		if err := rn.Campaign(); err != nil {
			cfg.Transport.Detach()
			return nil, fmt.Errorf("keeper: campaign: %w", err)
		}
	}
	r.start()
	node.reaper = startReaper(node, cfg.reapInterval())
	return node, nil
}

// ID returns this member's id.
func (n *Node) ID() uint64 { return n.r.memberID() }

// Status returns the member's latest published status. It never blocks.
func (n *Node) Status() Status {
	st := *n.r.published()
	st.Members = slices.Clone(st.Members)
	st.View = slices.Clone(st.View)
	st.Learners = slices.Clone(st.Learners)
	n.r.transferCounts(&st)
	st.Sessions, st.Watches = n.watches.counts()
	return st
}

// Applied returns the highest zxid applied to this member's tree, as
// Status().Applied, without copying the rest of the status: for a server
// that stamps each reply with it.
func (n *Node) Applied() Zxid { return n.r.published().Applied }

// Leader returns the member this one believes leads, or 0 if it knows
// none, as Status().Leader, without copying the rest of the status.
func (n *Node) Leader() uint64 { return n.r.published().Leader }

// isClosed reports whether Close was called.
func (n *Node) isClosed() bool { return n.closed.Load() }

// withTree runs fn on the tree unless the Node is closed, using the read
// gate; Close waits for it.
func (n *Node) withTree(fn func(t *tree) error) error {
	return n.gate.use(func() error {
		if n.closed.Load() {
			return ErrClosed
		}
		if n.r.corrupt() {
			return ErrReplicaCorrupt
		}
		t := n.r.tree()
		if t.st == nil {
			// A snapshot install failed half-way; the member has stopped.
			return fmt.Errorf("%w: the tree is being replaced", ErrClosed)
		}
		return fn(t)
	})
}

// WaitLeader waits until a leader is known and returns its id, or returns
// ctx's error when ctx ends first.
func (n *Node) WaitLeader(ctx context.Context) (uint64, error) {
	for {
		if n.isClosed() {
			return 0, ErrClosed
		}
		ch := n.r.leaderWait()
		if l := n.r.published().Leader; l != 0 {
			return l, nil
		}
		select {
		case <-ch:
		case <-n.r.stopped():
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
	if n.r.published().Leader == 0 {
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
	w, err := n.submit(ctx, payload)
	if err != nil {
		return nil, err
	}
	return n.await(ctx, w)
}

// inflight is a proposal submitted and not yet awaited.
type inflight struct {
	p     *proposal
	start time.Time
}

// submit queues payload for proposal, as propose does, without waiting;
// proposals submitted one after another are proposed in that order.
func (n *Node) submit(ctx context.Context, payload []byte) (*inflight, error) {
	if n.isClosed() {
		return nil, ErrClosed
	}
	if n.r.corrupt() {
		return nil, ErrReplicaCorrupt
	}
	start := time.Now()
	p, err := n.r.submit(ctx, payload)
	if err != nil {
		n.r.meters.proposed(start, nil, err)
		return nil, err
	}
	return &inflight{p: p, start: start}, nil
}

// await waits for w's apply result, as propose does.
func (n *Node) await(ctx context.Context, w *inflight) (*applyResult, error) {
	res, err := n.r.await(ctx, w.p)
	n.r.meters.proposed(w.start, res, err)
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
	return errors.Join(n.r.closeStorage(true), unlockDir(n.lock))
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
	n.gate.shut(func() { n.closed.Store(true) })
	n.reaper.stop()
	n.r.stopLoop()
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
	n.r.closeStorage(false)
	unlockDir(n.lock)
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
func finishInstall(t *tree, wal *raftlog.RaftLog, rep *raftlog.Replayed) error {
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
	for i, e := range rep.Entries {
		if e.GetIndex() <= rep.Start.Index || e.GetTerm() < rep.Start.Term {
			rep.Entries = rep.Entries[:i]
			break
		}
	}
	return nil
}
