package keeper

import "time"

// opKind names a tree operation.
type opKind uint8

const (
	opCreate opKind = iota + 1
	opDelete
	opSet
	opCheck
	opSetACL
)

// Op is one operation of a Multi. Build it with CreateOp, SetOp, DeleteOp,
// CheckOp or SetACLOp; the zero Op is invalid.
type Op struct {
	kind    opKind
	path    string
	data    []byte
	version int32
	mode    CreateMode
	acl     []ACL
	aclSet  bool // acl was given (WithACL, SetACLOp); else a create gets OpenACL
	ttl     time.Duration
}

// CreateOption adjusts a create: WithACL, WithTTL.
type CreateOption func(*Op)

// WithACL sets the new znode's ACL (default OpenACL).
// WithACL with no entries makes the create fail with ErrInvalidACL.
func WithACL(acl ...ACL) CreateOption { return func(o *Op) { o.acl, o.aclSet = acl, true } }

// WithTTL sets the TTL of a PersistentWithTTL or PersistentSequentialWithTTL znode.
func WithTTL(ttl time.Duration) CreateOption { return func(o *Op) { o.ttl = ttl } }

// CreateOp is Create inside a Multi.
func CreateOp(path string, data []byte, mode CreateMode, opts ...CreateOption) Op {
	o := Op{kind: opCreate, path: path, data: data, mode: mode}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// SetOp is Set inside a Multi.
func SetOp(path string, data []byte, version int32) Op {
	return Op{kind: opSet, path: path, data: data, version: version}
}

// DeleteOp is Delete inside a Multi.
func DeleteOp(path string, version int32) Op {
	return Op{kind: opDelete, path: path, version: version}
}

// CheckOp fails the Multi unless path exists with version (AnyVersion: exists).
func CheckOp(path string, version int32) Op {
	return Op{kind: opCheck, path: path, version: version}
}

// SetACLOp replaces the ACL of path if its ACL version (Stat.Aversion) is
// version (AnyVersion skips the check). An empty acl fails with ErrInvalidACL.
func SetACLOp(path string, acl []ACL, version int32) Op {
	return Op{kind: opSetACL, path: path, acl: acl, aclSet: true, version: version}
}

// OpResult is the outcome of one operation of a Multi, or of a single write.
type OpResult struct {
	// Err is nil for an operation that took effect. In a failed Multi nothing
	// took effect; as ZooKeeper reports it, the ops before the failed one have a
	// nil Err, the failed op its own error, and the ops after it
	// ErrRuntimeInconsistency.
	Err error
	// Path is the created path for a create (with its sequence suffix).
	Path string
	// Stat is the znode's Stat after a create, set or setACL, as a read
	// would return it then (zero otherwise).
	Stat Stat
}

// failedResults sets res, the results of a request that failed at op i with
// err, as ZooKeeper reports a failed multi: a zero result (nil Err) for each
// op before i, err at i, ErrRuntimeInconsistency for each op after it.
func failedResults(res []OpResult, i int, err error) {
	for j := range res {
		switch {
		case j < i:
			res[j] = OpResult{}
		case j == i:
			res[j] = OpResult{Err: err}
		default:
			res[j] = OpResult{Err: ErrRuntimeInconsistency}
		}
	}
}
