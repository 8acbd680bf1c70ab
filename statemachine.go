package keeper

// This file is the contract between the raft loop (replicate.go) and the znode
// tree (tree.go): the loop hands committed entries to the state machine in index
// order, in groups, and the state machine applies each group in one Pebble batch.

import (
	"github.com/keeper-go/keeper/internal/raftlog"
	"github.com/keeper-go/keeper/storage"
)

// entryKind says what a committed entry carries.
type entryKind uint8

const (
	// entryNoop is an entry with nothing for the tree (a leader's empty entry);
	// applying it only advances the applied index.
	entryNoop entryKind = iota
	// entryOp carries an encoded tree request (see encodeRequest in entry.go).
	entryOp
	// entryConf carries the membership after a configuration change, encoded by
	// the raft loop; the state machine stores it verbatim so a restart knows the
	// members without replaying old log.
	entryConf
)

// committed is one committed raft entry as the state machine sees it. Data is
// only valid during the apply call.
type committed struct {
	Index uint64
	Kind  entryKind
	Data  []byte
}

// stateMachine is everything the raft loop and the member's features need
// of the state machine, written down in one place. *tree is the one
// implementation, and the loop holds the *tree itself: there are no other
// state machines, no optional methods and nothing to probe for. All methods
// are called from the raft loop's goroutine only (or before it starts, by
// Open, or after it stopped, by Close), except where noted.
type stateMachine interface {
	// apply applies ents, which are consecutive and start at applied()+1, in one
	// unsynced Pebble batch that also records the new applied index, the digest
	// and (for entryConf) the membership. results[i] is the outcome of ents[i]
	// (nil for entryNoop and entryConf). A non-nil error means storage failed;
	// the member must stop, as the tree may be behind the log. Each group's
	// events go to the tree's publisher with its commit.
	apply(ents []committed) (results []*applyResult, err error)
	// withoutEvents runs f with the events of the groups it applies left
	// out (a repair's re-apply: they were delivered the first time).
	withoutEvents(f func() error) error
	// applied is the index of the last applied entry (0 for an empty tree).
	applied() uint64
	// digest is the tree digest at applied(); safe to call from any goroutine.
	digest() uint64
	// membership is the last entryConf's Data stored by apply, or nil.
	membership() []byte
	// sessionTable is the committed session table; callers must not change
	// it.
	sessionTable() map[int64]*sessionRec
	// newSnapshot is a point-in-time view of the store (never one in the
	// middle of an online restore's commit) for a snapshot stream or a
	// digest scan; the caller closes it. Safe from any goroutine.
	newSnapshot() *storage.Snapshot
	// swap replaces the store with the build committed in the data dir
	// (install.go), calling moved once the old store is moved aside, and
	// reloads what the tree keeps in memory from the new one.
	swap(dir string, clusterID uint64, moved func()) error
	// installedMark is the raft snapshot the store was built from, if any.
	installedMark() (raftlog.Mark, bool, error)
	// sync makes everything applied so far durable (fsync).
	sync() error
	// close releases the store.
	close() error
}

// applyResult is the outcome of one entryOp. Ops holds one result per op of
// the request. Err is nil on success; for a failed multi it is a *MultiError,
// for a failed single op that op's error.
type applyResult struct {
	Err error
	Ops []OpResult
	// Session is the session a session request created or ended.
	Session int64
	// Restore describes an applied online restore commit.
	Restore *RestoreOnlineInfo
	// Zxid is a mark's zxid (Node.Mark).
	Zxid int64
}

// treeEventType is what a treeEvent reports: a watch event (the public
// EventType values NodeCreated..NodeChildrenChanged) or a session change.
type treeEventType uint8

const (
	evNodeCreated treeEventType = iota + 1
	evNodeDeleted
	evNodeDataChanged
	evNodeChildrenChanged
	// evSessionCreated: Session was created for Owner's incarnation Nonce.
	evSessionCreated
	// evSessionEnded: Session was closed, or Expired by the leader.
	evSessionEnded
	// evRestored: an online restore replaced the tree, or the subtree at
	// Path, at Zxid; every watch is told (see Restored).
	evRestored
	// evSessionMoved: resumable Session moved to Owner's incarnation Nonce.
	evSessionMoved
)

// treeEvent is one change made by an applied entry, in apply order. Watches
// and sessions are triggered from these.
type treeEvent struct {
	Type    treeEventType
	Zxid    int64
	Path    string
	Session int64
	Owner   uint64
	Nonce   uint64
	Expired bool
}
