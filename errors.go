package keeper

import (
	"errors"
	"fmt"

	"github.com/keeper-go/keeper/internal/raftlog"
	"github.com/keeper-go/keeper/internal/stream"
	"github.com/keeper-go/keeper/internal/wire"
	"github.com/keeper-go/keeper/storage"
)

// Errors with ZooKeeper's meanings. Every refusal the library returns matches one
// of these with errors.Is; the error text may carry the path or field involved.
var (
	// ErrNoNode reports that the znode (or, for create, its parent) does not exist.
	ErrNoNode = errors.New("keeper: node does not exist")
	// ErrNodeExists reports that a create named a znode that already exists.
	ErrNodeExists = errors.New("keeper: node already exists")
	// ErrBadVersion reports that the expected version did not match the znode's.
	ErrBadVersion = errors.New("keeper: version does not match")
	// ErrNotEmpty reports a delete of a znode that still has children.
	ErrNotEmpty = errors.New("keeper: node has children")
	// ErrNoChildrenForEphemerals reports a create under an ephemeral znode.
	ErrNoChildrenForEphemerals = errors.New("keeper: ephemeral nodes may not have children")
	// ErrBadArguments reports a request that is malformed whatever the tree holds.
	ErrBadArguments = errors.New("keeper: bad arguments")
	// ErrInvalidPath reports a path that breaks ZooKeeper's path rules; it also
	// matches ErrBadArguments.
	ErrInvalidPath = fmt.Errorf("keeper: invalid path: %w", ErrBadArguments)
	// ErrInvalidACL reports an empty or malformed ACL.
	ErrInvalidACL = errors.New("keeper: invalid ACL")
	// ErrNoAuth reports that the caller's identities lack the permission the
	// operation needs.
	ErrNoAuth = errors.New("keeper: not authorized")
	// ErrRuntimeInconsistency is the result ZooKeeper reports for the operations of
	// a failed multi that come after the one that failed.
	ErrRuntimeInconsistency = errors.New("keeper: multi rolled back")
	// ErrUnimplemented reports an operation this version does not support.
	ErrUnimplemented = errors.New("keeper: operation not implemented")

	// ErrSessionExpired reports that the session was expired by the cluster.
	ErrSessionExpired = errors.New("keeper: session expired")
	// ErrSessionClosed reports use of a session after its Close.
	ErrSessionClosed = errors.New("keeper: session closed")
	// ErrSessionMoved reports use of a resumable session through a member
	// it has moved away from: its client resumed it on another member
	// (ZooKeeper's SESSIONMOVED).
	ErrSessionMoved = errors.New("keeper: session moved to another member")
	// ErrNoWatcher reports that RemoveWatches found no watch to remove.
	ErrNoWatcher = errors.New("keeper: no such watcher")
	// ErrWatchOverflow is the Err of a WatchOverflowed event: the watch's
	// consumer fell a whole buffer behind and the watch was dropped.
	ErrWatchOverflow = errors.New("keeper: watch overflowed; events dropped from here on")
	// ErrConnectionLoss reports that the member serving the call is cut off from
	// the quorum; the call may be retried.
	ErrConnectionLoss = errors.New("keeper: connection to the quorum lost")

	// ErrClosed reports use of a Node after Close.
	ErrClosed = errors.New("keeper: closed")
	// ErrNoLeader reports that no leader is known, so the request was not
	// proposed. Retrying is safe: the write did not happen.
	ErrNoLeader = errors.New("keeper: no leader; request not proposed")
	// ErrIndeterminate reports a write whose fate is unknown: it was proposed but
	// the member lost track of it (leader change, shutdown, or the caller's
	// context ended). It may or may not have been applied; read before retrying.
	ErrIndeterminate = errors.New("keeper: outcome unknown")
	// ErrInvalidConfig reports a Config field that cannot work; the message names it.
	ErrInvalidConfig = errors.New("keeper: invalid config")
	// ErrLocked reports a data dir already opened by another Node or process.
	ErrLocked = errors.New("keeper: data dir in use")
	// ErrWrongCluster reports a data dir that belongs to a different cluster.
	ErrWrongCluster = storage.ErrWrongCluster
	// ErrFormatTooNew reports a data dir or stream written by a newer format.
	ErrFormatTooNew = storage.ErrFormatTooNew
	// ErrCorrupt reports damaged local data (a bad WAL tail, an undecodable record).
	ErrCorrupt = storage.ErrCorrupt
	// ErrCorruptEntry reports a log entry that cannot be decoded.
	ErrCorruptEntry = wire.ErrCorruptEntry

	// ErrCorruptBackup reports a backup stream that cannot be trusted: damaged,
	// truncated, not a keeper stream at all, written by a newer keeper, or whose
	// znodes do not match its footer. Every such stream is refused with an
	// error matching it; a stream from a newer keeper also matches
	// ErrFormatTooNew.
	ErrCorruptBackup = stream.ErrCorrupt
	// ErrBackupTruncated reports a backup stream that ends early; it matches
	// ErrCorruptBackup.
	ErrBackupTruncated = stream.ErrTruncated
	// ErrBackupKey reports an encrypted backup read without a key or with a key
	// other than the one it was written with. It does not match
	// ErrCorruptBackup: the stream may be sound.
	ErrBackupKey = stream.ErrWrongKey
	// ErrBackupNotEncrypted reports a key given for a plaintext backup. Such a
	// stream is refused, since the caller expects an authenticated one.
	ErrBackupNotEncrypted = stream.ErrNotEncrypted
	// ErrDirNotEmpty reports a restore into a directory that already holds
	// files; restore never overwrites data.
	ErrDirNotEmpty = errors.New("keeper: directory not empty")

	// ErrReplicaCorrupt reports that this member found its own tree damaged
	// by a consistency check (see Config.CheckInterval): it refuses reads and
	// writes until it is repaired. Other members may serve the call. It
	// matches ErrCorrupt.
	ErrReplicaCorrupt = fmt.Errorf("keeper: this replica failed a consistency check: %w", ErrCorrupt)
	// ErrNotLeader reports that a member does not lead; the message names the
	// leader when one is known. Membership calls made off the leader follow
	// the leader by themselves; TransferLeadership returns it when no leader
	// is known. Retry on it. The error returned is a *NotLeaderError, which
	// errors.As reaches for the leader's id.
	ErrNotLeader = errors.New("keeper: not the leader")
	// ErrConfChangeInProgress reports a membership change refused because
	// another one has not applied yet. Retry once it has.
	ErrConfChangeInProgress = errors.New("keeper: a membership change is in progress")
	// ErrUnknownMember reports a membership call naming an id that is not a
	// member (or, for PromoteMember, not a learner).
	ErrUnknownMember = errors.New("keeper: no such member")
	// ErrMemberExists reports AddMember of an id that is already a member.
	ErrMemberExists = errors.New("keeper: member already exists")
	// ErrUnsafeConfChange reports a membership change refused because it
	// would leave the cluster unable to work: removing the last voter, the
	// leader removing itself, promoting a learner that has not caught up.
	ErrUnsafeConfChange = errors.New("keeper: unsafe membership change")
	// ErrQuorumIntact reports RecoverQuorum refusing to rewrite a member
	// whose named survivors still form a majority of the old membership: that
	// cluster can elect a leader by itself, so no recovery is needed.
	ErrQuorumIntact = errors.New("keeper: survivors still form a quorum; recovery refused")
)

// MultiError reports the operation of a Multi that failed. Unwrap returns that
// operation's error, so errors.Is(err, ErrBadVersion) works on the whole call.
type MultiError struct {
	// Index is the position of the failed operation in the Multi's op list.
	Index int
	// Err is why it failed.
	Err error
}

func (e *MultiError) Error() string {
	return fmt.Sprintf("keeper: multi op %d failed: %v", e.Index, e.Err)
}

// Unwrap returns the failed operation's error.
func (e *MultiError) Unwrap() error { return e.Err }

// ErrInstallPending reports a data dir given to InspectDir or RecoverQuorum
// whose member stopped in the middle of installing a raft snapshot it had
// decided to take: its tree is being replaced. Open finishes the install;
// open and close the member once, then call again.
var ErrInstallPending = errors.New("keeper: a raft snapshot install is pending in this data dir; open and close the member once to finish it")

// ErrNoLog reports a data dir holding no raft log, given to InspectDir or
// RecoverQuorum.
var ErrNoLog = raftlog.ErrNoLog

// ErrCorruptLog reports a raft log that cannot be read back: a damaged
// record with records after it, which was synced once and lost later (a
// torn last record, as a killed process leaves it, is cut on Open and is
// not an error). Open, RecoverQuorum and
// InspectDir wrap it together with ErrCorrupt, so errors.Is matches either.
var ErrCorruptLog = raftlog.ErrCorruptLog

// raftLogError wraps err, from reading the raft log while doing what, the
// one way every caller reports it: damage matches both ErrCorrupt and
// ErrCorruptLog, anything else (a permission error, a full disk) neither.
func raftLogError(what string, err error) error {
	if errors.Is(err, raftlog.ErrCorruptLog) {
		return fmt.Errorf("%w: %s: %w", ErrCorrupt, what, err)
	}
	return fmt.Errorf("keeper: %s: %w", what, err)
}

// NotLeaderError reports that a member does not lead, and which member it
// takes for the leader. It matches ErrNotLeader with errors.Is.
type NotLeaderError struct {
	// Leader is the id of the member this one takes for the leader, 0 if it
	// knows none.
	Leader uint64
}

// Error names the leader, or says that none is known.
func (e *NotLeaderError) Error() string {
	if e.Leader == 0 {
		return "keeper: not the leader: no leader known"
	}
	return fmt.Sprintf("keeper: not the leader: member %d leads", e.Leader)
}

// Is reports whether target is ErrNotLeader.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }
