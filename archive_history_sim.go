package keeper

import (
	"slices"
	"strings"
)

// historySim follows the state of the znodes a History call lists (one
// path, or a subtree) through the archived requests that touch them, with
// the checks the tree's apply makes, so that a request that failed at
// apply is not listed as a change. Whatever a check needs of a znode the
// sim does not follow (a create's parent when only the path is followed,
// the children of a deleted znode, a multi's other paths) it cannot know:
// it assumes the check passed and marks the change uncertain.
type historySim struct {
	scope   string
	subtree bool
	nodes   map[string]*znode // followed znodes that exist
	over    map[string]*znode // the current request's changes; nil deletes
	// madeScope holds the zxids whose sequential create made scope, as
	// the path index says (archive_seqnames.go).
	madeScope map[uint64]bool
	madeNow   bool // the current request's sequential create made scope
}

func newHistorySim(scope string, subtree bool) *historySim {
	return &historySim{scope: scope, subtree: subtree, nodes: map[string]*znode{}, over: map[string]*znode{}, madeScope: map[uint64]bool{}}
}

// madeByIndex notes that the path index lists a create of scope at zxid.
func (h *historySim) madeByIndex(zxid uint64) { h.madeScope[zxid] = true }

// follows reports whether the sim knows the state of path.
func (h *historySim) follows(path string) bool {
	if !h.subtree {
		return path == h.scope
	}
	return path == h.scope || h.scope == "/" || strings.HasPrefix(path, h.scope+"/")
}

// childrenKnown reports whether the sim follows every child of path.
func (h *historySim) childrenKnown(path string) bool { return h.subtree && h.follows(path) }

func (h *historySim) get(path string) *znode {
	if n, ok := h.over[path]; ok {
		return n
	}
	return h.nodes[path]
}

// simChange is one change a request made to a followed znode.
type simChange struct {
	path          string
	op            VersionOp
	before, after *znode
}

// apply runs request r, entry zxid, against the followed state. It
// returns the changes to followed znodes if the request applied (or may
// have: uncertain), and none if it certainly failed; the state moves on
// only in the first case.
func (h *historySim) apply(r *request, zxid uint64) (changes []simChange, uncertain bool) {
	clear(h.over)
	h.madeNow = false
	if !r.Multi && len(r.Ops) != 1 {
		return nil, false
	}
	for i := range r.Ops {
		op := &r.Ops[i]
		c, ok, unsure := h.applyOp(r, op, int64(zxid))
		if !ok {
			clear(h.over)
			return nil, false
		}
		uncertain = uncertain || unsure
		changes = append(changes, c...)
	}
	if h.madeNow {
		// The archiver indexed the name the entry's create made, which
		// it does only for an entry that applied.
		uncertain = false
	}
	h.commit()
	return changes, uncertain
}

// commit makes the current request's changes the followed state.
func (h *historySim) commit() {
	for path, n := range h.over {
		if n == nil {
			delete(h.nodes, path)
		} else {
			h.nodes[path] = n
		}
	}
	clear(h.over)
}

// applyOp runs one op: ok is false if it certainly failed, unsure true if
// a check it needs is of a znode not followed.
func (h *historySim) applyOp(r *request, op *Op, zxid int64) (changes []simChange, ok, unsure bool) {
	acl, err := preTree(r, op)
	if err != nil {
		return nil, false, false
	}
	path := op.path
	if !strings.HasPrefix(path, "/") {
		return nil, false, false
	}
	switch op.kind {
	case opCreate:
		parentPath, _ := parentOf(path)
		var parent *znode
		if h.follows(parentPath) {
			if parent = h.get(parentPath); parent == nil || checkACL(parent.acl, PermCreate, r.Auth) != nil {
				return nil, false, false
			}
			if op.mode.IsSequential() {
				path = sequentialName(path, parent.stat.Cversion)
			}
		} else if op.mode.IsSequential() {
			// The name depends on the parent's counter, which the sim
			// does not follow; the path index says which create made
			// scope, and that it applied.
			_, taken := h.over[h.scope] // by an earlier op of this multi
			if taken || !h.madeScope[uint64(zxid)] || !isSequentialOf(h.scope, path) {
				return nil, true, true
			}
			path, h.madeNow = h.scope, true
		} else {
			unsure = true
		}
		if validatePath(path, false) != nil || refuseReserved(path) != nil || path == "/" {
			return nil, false, false
		}
		if h.follows(path) {
			if h.get(path) != nil {
				return nil, false, false
			}
		} else {
			unsure = true
		}
		if parent != nil {
			if parent.stat.EphemeralOwner != 0 {
				return nil, false, false
			}
			p := parent.clone()
			p.stat.Cversion++
			p.stat.Pzxid = Zxid(zxid)
			p.stat.NumChildren++
			h.over[parentPath] = p
		}
		if !h.follows(path) {
			return nil, true, unsure
		}
		n := &znode{
			stat: Stat{Czxid: Zxid(zxid), Mzxid: Zxid(zxid), Pzxid: Zxid(zxid), Ctime: r.Time, Mtime: r.Time, DataLength: int32(len(op.data))},
			mode: op.mode, acl: acl, data: op.data,
		}
		if op.mode.IsEphemeral() {
			n.stat.EphemeralOwner = SessionID(r.Session)
		}
		if op.mode.IsTTL() {
			n.ttl = op.ttl.Milliseconds()
		}
		h.over[path] = n
		return []simChange{{path: path, op: VersionCreated, after: n}}, true, unsure
	case opDelete:
		parentPath, _ := parentOf(path)
		var parent *znode
		if h.follows(parentPath) {
			if parent = h.get(parentPath); parent == nil || checkACL(parent.acl, PermDelete, r.Auth) != nil {
				return nil, false, false
			}
		} else {
			unsure = true
		}
		if !h.follows(path) {
			return nil, true, true
		}
		n := h.get(path)
		if n == nil || checkVersion(op.version, n.stat.Version, path) != nil {
			return nil, false, false
		}
		if h.childrenKnown(path) {
			if n.stat.NumChildren > 0 {
				return nil, false, false
			}
		} else {
			unsure = true
		}
		h.remove(path, zxid)
		return []simChange{{path: path, op: VersionDeleted, before: n}}, true, unsure
	case opSet, opSetACL, opCheck:
		if !h.follows(path) {
			return nil, true, true
		}
		n := h.get(path)
		if n == nil {
			return nil, false, false
		}
		perm, have := PermWrite, n.stat.Version
		switch op.kind {
		case opSetACL:
			perm, have = PermAdmin, n.stat.Aversion
		case opCheck:
			perm = PermRead
		}
		if checkACL(n.acl, perm, r.Auth) != nil || checkVersion(op.version, have, path) != nil {
			return nil, false, false
		}
		c := n.clone()
		switch op.kind {
		case opCheck:
			return nil, true, false
		case opSet:
			c.stat.Version++
			c.stat.Mzxid = Zxid(zxid)
			c.stat.Mtime = r.Time
			c.stat.DataLength = int32(len(op.data))
			c.data = op.data
			h.over[path] = c
			return []simChange{{path: path, op: VersionSet, before: n, after: c}}, true, false
		default:
			c.stat.Aversion++
			c.acl = acl
			h.over[path] = c
			return []simChange{{path: path, op: VersionACLSet, before: n, after: c}}, true, false
		}
	}
	return nil, false, false
}

// remove deletes the followed znode at path, and counts it out of its
// parent if the sim follows that.
func (h *historySim) remove(path string, zxid int64) {
	h.over[path] = nil
	parentPath, _ := parentOf(path)
	if p := h.get(parentPath); p != nil && h.follows(parentPath) {
		c := p.clone()
		c.stat.NumChildren--
		c.stat.Pzxid = max(c.stat.Pzxid, Zxid(zxid))
		h.over[parentPath] = c
	}
}

// endSession deletes the followed ephemerals of session id, as its close
// or expiry at zxid does, and returns the deletes in path order.
func (h *historySim) endSession(id int64, zxid uint64) []simChange {
	clear(h.over)
	var changes []simChange
	for path, n := range h.nodes {
		if n.stat.EphemeralOwner == SessionID(id) {
			changes = append(changes, simChange{path: path, op: VersionDeleted, before: n})
		}
	}
	slices.SortFunc(changes, func(a, b simChange) int { return strings.Compare(a.path, b.path) })
	for _, c := range changes {
		h.remove(c.path, int64(zxid))
	}
	h.commit()
	return changes
}

// ephemeralOwner is the session owning the followed znode at path, or 0.
func (h *historySim) ephemeralOwner(path string) SessionID {
	if n := h.nodes[path]; n != nil {
		return n.stat.EphemeralOwner
	}
	return 0
}
