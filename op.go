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

// Op is one operation of a Multi. Build it with CreateOp, SetOp, DeleteOp or
// CheckOp; the zero Op is invalid.
type Op struct {
	kind    opKind
	path    string
	data    []byte
	version int32
	mode    CreateMode
	acl     []ACL
	ttl     time.Duration
}

// CreateOption adjusts a create: WithACL, WithTTL.
type CreateOption func(*Op)

// WithACL sets the new znode's ACL (default OpenACL).
func WithACL(acl ...ACL) CreateOption { return func(o *Op) { o.acl = acl } }

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

// OpResult is the outcome of one operation of a Multi, or of a single write.
type OpResult struct {
	// Err is nil for an operation that took effect. In a failed Multi nothing
	// took effect; as ZooKeeper reports it, the ops before the failed one have a
	// nil Err, the failed op its own error, and the ops after it
	// ErrRuntimeInconsistency.
	Err error
	// Path is the created path for a create (with its sequence suffix).
	Path string
	// Stat is the znode's Stat after a create or set (nil-valued otherwise).
	Stat Stat
}
