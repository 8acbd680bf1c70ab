package keeper

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"time"
)

// VersionOp says how a Version changed its znode.
type VersionOp uint8

const (
	// VersionCreated is a create of the znode.
	VersionCreated VersionOp = iota + 1
	// VersionSet is a change of the znode's data.
	VersionSet
	// VersionDeleted is a delete of the znode: a Delete, or the end of the
	// session that owned an ephemeral znode.
	VersionDeleted
	// VersionACLSet is a change of the znode's ACL.
	VersionACLSet
)

func (o VersionOp) String() string {
	switch o {
	case VersionCreated:
		return "created"
	case VersionSet:
		return "set"
	case VersionDeleted:
		return "deleted"
	case VersionACLSet:
		return "acl set"
	}
	return fmt.Sprintf("VersionOp(%d)", uint8(o))
}

// Version is one change of a znode as the archive holds it (see
// Archive.History).
type Version struct {
	// Path is the znode's path.
	Path string
	// Zxid is the zxid of the request that made the change; the ops of
	// one multi share it.
	Zxid Zxid
	// Time is the proposer's clock when the request was proposed, as the
	// znode's mtime records it.
	Time time.Time
	// Op says what the change was.
	Op VersionOp
	// Session is the session that sent the request, 0 if none; for a
	// delete at the end of a session, the session that ended.
	Session SessionID
	// Identities are the identities the request was authenticated with
	// (a digest identity as user:base64(sha1(user:password)), as ACLs
	// hold it; never a password). A session's end carries none.
	Identities []Identity
	// Data is the znode's data after the change; nil after a delete, and
	// never nil (maybe empty) while the znode exists.
	Data []byte
	// Before is the znode's data before the change, nil if it did not
	// exist.
	Before []byte
	// DataVersion and ACLVersion are the znode's Stat.Version and
	// Stat.Aversion after the change; after a delete, the ones it had.
	DataVersion, ACLVersion int32
	// ACL is the znode's ACL after the change, nil after a delete.
	ACL []ACL
	// Multi says the change was one op of a multi.
	Multi bool
	// Uncertain says whether the change applied depended on znodes
	// History does not follow, and History assumed it did: the parent of
	// a created or deleted znode (it must exist and grant CREATE or
	// DELETE), the children of a deleted one (it must have none), and the
	// other ops of a multi. With Subtree, History follows every znode in
	// the subtree, so only changes of the subtree's root and multis
	// reaching outside it can be uncertain.
	Uncertain bool
}

// HistoryOption narrows what Archive.History lists.
type HistoryOption func(*historyOptions)

type historyOptions struct {
	since, until int64 // Unix ms; 0 and MaxInt64 when not set
	from, to     uint64
	subtree      bool
}

// Since lists only changes proposed at or after t.
func Since(t time.Time) HistoryOption {
	return func(o *historyOptions) { o.since = t.UnixMilli() }
}

// Until lists only changes proposed at or before t.
func Until(t time.Time) HistoryOption {
	return func(o *historyOptions) { o.until = t.UnixMilli() }
}

// FromZxid lists only changes at or after zxid z.
func FromZxid(z Zxid) HistoryOption { return func(o *historyOptions) { o.from = uint64(z) } }

// ToZxid lists only changes at or before zxid z.
func ToZxid(z Zxid) HistoryOption { return func(o *historyOptions) { o.to = uint64(z) } }

// Subtree lists the changes of every znode at or below the path, not only
// of the path itself. It reads every log segment in the range, where a
// single path reads only those that touch it.
func Subtree() HistoryOption { return func(o *historyOptions) { o.subtree = true } }

// History lists the changes of the znode at path that the archive holds,
// in zxid order: every create, data change, ACL change and delete that
// applied, with who made it (session and identities), when, and the data
// before and after. Ops that failed at apply changed nothing and are not
// listed; a check op is never listed.
//
// History starts from a base backup, the newest at or before the start of
// the range asked for (Since, FromZxid; the oldest base when none is
// given), reads the path's state there, and follows it through the
// archived requests that name the path, running the checks the tree's
// apply runs: a create fails if the znode exists, a set, delete, setACL or
// check if it does not, if the version differs, or if its ACL denies the
// request's identities; a multi fails if any op on the path fails.
// Outcomes that depended on other znodes are assumed to have applied and
// are marked Uncertain (see Version). Not checked at all: whether the
// request's session had already expired when it applied, which makes a
// request fail that raced with its session's expiry.
//
// To find the requests that name the path, History reads the path index
// the archiver writes beside each log segment, and then only the segments
// with hits. A segment whose index is missing or damaged is read whole (a
// damaged index is logged, and is not an error). A sequential create is
// indexed under its prefix and under the name apply made, which the
// member that archived it knew unless it restarted between the apply and
// the archive; where the index lacks the name (or the segment is read
// whole), History of a sequential znode starts only at the first base
// that holds it. History
// does not follow a znode across an online restore that replaced it: it
// ends with an error matching ErrNotArchived at such a restore. It also
// ends with ErrNotArchived where the log has a hole (a recorded gap or a
// missing segment) before the range's end, after listing what came
// before; with ErrArchiveCorrupt at a damaged segment or base.
//
// The sequence yields each Version with a nil error, and at most one
// error, last. Breaking out of the loop stops History.
func (a *Archive) History(ctx context.Context, path string, opts ...HistoryOption) iter.Seq2[Version, error] {
	o := historyOptions{until: math.MaxInt64, to: math.MaxUint64}
	for _, f := range opts {
		f(&o)
	}
	return func(yield func(Version, error) bool) {
		err := a.history(ctx, path, o, yield)
		if err != nil && !errors.Is(err, errHistoryStopped) {
			yield(Version{}, err)
		}
	}
}

// errHistoryStopped ends a History whose caller broke out of the loop.
var errHistoryStopped = errors.New("keeper: history: stopped")
