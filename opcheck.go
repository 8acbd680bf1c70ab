package keeper

import (
	"fmt"
	"strings"
	"time"
)

// The checks of one op that need no tree, in ZooKeeper 3.8's order.
//
// ZooKeeper checks each op of a request in turn (PrepRequestProcessor):
// the path, then the ACL given, then the permissions, then existence and
// versions; a multi's op k is checked only once ops 0..k-1 passed. Its clients
// check a call's path before they send it, so a single call with a bad path
// fails with ErrInvalidPath before anything else. Inside a multi the server
// does the path checking itself, and for create and delete only partly
// before it reads the tree: create's parent is looked up before the whole
// path is validated, delete's path is never validated beyond its last "/"
// (a path that is not valid names no znode, so it ends in ErrNoNode).
//
// preTree makes the checks before the first tree read; tree.go makes the
// rest. A proposer runs preTree on a single op and on op 0 of a multi, and
// sendable on every op of a multi, so that what apply would refuse before
// reading the tree is refused without a log entry.

// sendable refuses an op that cannot be sent at all: the zero Op (or an
// unknown kind), data above 1 MiB (ZooKeeper refuses a packet above
// jute.maxbuffer before reading it), a TTL out of range or given to a mode
// without one (ZooKeeper's client refuses such a multi op before sending,
// Op.validate). For a multi these come before every other check.
func sendable(op *Op) error {
	switch op.kind {
	case opCreate:
		if err := checkTTL(op); err != nil {
			return err
		}
	case opSet, opDelete, opCheck, opSetACL:
	default:
		return fmt.Errorf("%w: unknown op kind %d", ErrBadArguments, op.kind)
	}
	return checkDataSize(op.data)
}

// preTree returns the first failure ZooKeeper finds in op, as part of r,
// before it reads the tree, and for a create or setACL the ACL the znode
// will get (auth entries expanded to the caller's identities).
func preTree(r *request, op *Op) ([]ACL, error) {
	if !r.Multi {
		if err := validatePath(op.path, op.kind == opCreate && op.mode.IsSequential()); err != nil {
			return nil, err
		}
	}
	switch op.kind {
	case opCreate:
		// validateCreateRequest, validatePathForCreate, fixupACL.
		if op.mode > PersistentSequentialWithTTL {
			return nil, fmt.Errorf("%w: unknown create mode %d", ErrBadArguments, op.mode)
		}
		if err := checkTTL(op); err != nil {
			return nil, err
		}
		if op.mode.IsEphemeral() && r.Session == 0 {
			return nil, fmt.Errorf("%w: ephemeral create without a session", ErrBadArguments)
		}
		if err := checkDataSize(op.data); err != nil {
			return nil, err
		}
		if err := checkSlash(op.path); err != nil {
			return nil, err
		}
		acl := op.acl
		if !op.aclSet {
			acl = openACLShared
		}
		return fixupACL(acl, r.Auth)
	case opDelete:
		// getParentPathAndValidate.
		if err := checkSlash(op.path); err != nil {
			return nil, err
		}
		if op.path == "/" {
			return nil, fmt.Errorf("%w: the root cannot be deleted", ErrBadArguments)
		}
		return nil, refuseReserved(op.path)
	case opSet:
		if err := checkDataSize(op.data); err != nil {
			return nil, err
		}
		if err := validatePath(op.path, false); err != nil {
			return nil, err
		}
		return nil, refuseReserved(op.path)
	case opSetACL:
		if err := validatePath(op.path, false); err != nil {
			return nil, err
		}
		if err := refuseReserved(op.path); err != nil {
			return nil, err
		}
		return fixupACL(op.acl, r.Auth)
	case opCheck:
		return nil, validatePath(op.path, false)
	}
	return nil, fmt.Errorf("%w: unknown op kind %d", ErrBadArguments, op.kind)
}

// checkTTL is ZooKeeper's EphemeralType.validateTTL: a TTL mode needs a TTL
// of 1 ms to 2^40-1 ms, other modes none.
func checkTTL(op *Op) error {
	ms := int64(op.ttl / time.Millisecond)
	if op.mode.IsTTL() {
		if ms <= 0 || ms > maxTTL {
			return fmt.Errorf("%w: TTL %v out of range (1ms to %dms)", ErrBadArguments, op.ttl, int64(maxTTL))
		}
	} else if op.ttl != 0 {
		return fmt.Errorf("%w: TTL given for mode %v", ErrBadArguments, op.mode)
	}
	return nil
}

func checkDataSize(data []byte) error {
	if len(data) > maxDataSize {
		return fmt.Errorf("%w: data of %d bytes exceeds %d", ErrBadArguments, len(data), maxDataSize)
	}
	return nil
}

// checkSlash is the path check ZooKeeper's server makes on a multi's create
// and delete before reading the tree: the path has a "/" and no null
// character. A single call's path was validated whole already.
func checkSlash(path string) error {
	if !strings.Contains(path, "/") || strings.IndexByte(path, 0) >= 0 {
		return fmt.Errorf("%w: %q", ErrInvalidPath, path)
	}
	return nil
}
