package zkfile

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2"
)

// LoadSnapshot reads a snapshot file into the tree, which must be empty,
// as ZooKeeper's DataTree.deserialize does: its sessions, and its znodes
// with their ACLs resolved. The parents of the znodes are checked by Walk.
func (t *Tree) LoadSnapshot(ctx context.Context, file string, r io.Reader) (SnapshotInfo, error) {
	return ReadSnapshot(ctx, file, r, SnapshotVisitor{
		Session: func(id int64, timeout int32) error { return t.setSession(id, timeout, true) },
		Node:    t.add,
	})
}

// Seed adds znodes to the tree as a snapshot would (ZooKeeper's initial
// tree, for one).
func (t *Tree) Seed(nodes []Node) error {
	for i := range nodes {
		if err := t.add(&nodes[i]); err != nil {
			return err
		}
	}
	return nil
}

// add stores a znode read from a snapshot.
func (t *Tree) add(n *Node) error {
	if err := t.put(n.Path, &n.Stat, n.ACL, n.Data); err != nil {
		return err
	}
	return t.setIndex(n.Path, n.Stat.EphemeralOwner, true)
}

// zkErr is a ZooKeeper error code of a transaction that failed as the tree
// stands; replay ignores it, as ZooKeeper does.
type zkErr int

const (
	zkOK zkErr = iota
	zkNoNode
	zkNodeExists
)

// Apply applies one logged transaction as ZooKeeper's DataTree.processTxn
// does while a server replays its log: a transaction that fails against the
// tree (a znode already there or already gone, as a fuzzy snapshot leaves
// them) changes what ZooKeeper's would and no more. It returns an error
// only for a transaction ZooKeeper's DataTree cannot apply at all (a path
// without a parent part, a TTL out of range: ErrCorrupt) or a store
// failure.
func (t *Tree) Apply(tx *Txn) error { return t.ApplyAll([]*Txn{tx}, nil) }

// ApplyAll applies txns in order, as Apply does each, reading the znodes
// they touch ahead in one pass over the store. after, when not nil, is
// called after each transaction with its index (the tree then reflects it
// and Digest is its digest); an error from it stops ApplyAll. An error
// leaves the tree in between: the caller discards it.
func (t *Tree) ApplyAll(txns []*Txn, after func(i int) error) error {
	if err := t.indexed(); err != nil {
		return err
	}
	if t.ov.m == nil {
		t.ov.m = make(map[string]*slot)
	}
	t.ov.on = true
	defer func() { t.ov.on = false }()
	if len(txns) > 1 {
		var paths []string
		for _, tx := range txns {
			paths = txnPaths(paths, tx)
		}
		if err := t.prefetch(paths); err != nil {
			return err
		}
	}
	for i, tx := range txns {
		if _, err := t.apply(tx); err != nil {
			return err
		}
		if after != nil {
			if err := after(i); err != nil {
				return err
			}
		}
		if t.ov.bytes > overlayLimit {
			if err := t.writeBack(); err != nil {
				return err
			}
		}
	}
	return t.writeBack()
}

func (t *Tree) apply(tx *Txn) (zkErr, error) {
	var code zkErr
	var err error
	switch tx.Type {
	case OpCreate, OpCreate2:
		var owner int64
		if tx.Ephemeral {
			owner = tx.ClientID
		}
		code, err = t.createNode(tx.Path, tx.Data, tx.ACL, owner, tx.ParentCVersion, tx.Zxid, tx.Time)
	case OpCreateTTL:
		if tx.TTL <= 0 || tx.TTL > maxTTL {
			return 0, corruptf("txn 0x%x: TTL %d out of range", tx.Zxid, tx.TTL)
		}
		code, err = t.createNode(tx.Path, tx.Data, tx.ACL, OwnerOf(TTL, 0, tx.TTL), tx.ParentCVersion, tx.Zxid, tx.Time)
	case OpCreateContainer:
		code, err = t.createNode(tx.Path, tx.Data, tx.ACL, containerOwner, tx.ParentCVersion, tx.Zxid, tx.Time)
	case OpDelete, OpDeleteContainer:
		code, err = t.deleteNode(tx.Path, tx.Zxid)
	case OpSetData, OpReconfig:
		code, err = t.change(tx.Path, tx.Zxid, func(n *node) {
			n.data = tx.Data
			n.stat.Mtime = tx.Time
			n.stat.Mzxid = tx.Zxid
			n.stat.Version = tx.Version
		})
	case OpSetACL:
		code, err = t.change(tx.Path, tx.Zxid, func(n *node) {
			n.stat.Aversion = tx.Version
			n.acl = tx.ACL
		})
	case OpCreateSession:
		err = t.setSession(tx.ClientID, tx.Timeout, true)
	case OpCloseSession:
		if err = t.setSession(tx.ClientID, 0, false); err == nil {
			err = t.killSession(tx)
		}
	case OpMulti:
		failed := false
		for i := range tx.Ops {
			failed = failed || tx.Ops[i].Type == OpError
		}
		for i := range tx.Ops {
			if failed {
				continue // every op is an error then: nothing changes
			}
			if _, err := t.apply(&tx.Ops[i]); err != nil {
				return 0, err
			}
		}
	}
	if err != nil {
		return 0, err
	}
	// A create replayed over a znode the fuzzy snapshot already holds still
	// sets the parent's cversion and pzxid (DataTree.processTxn, create only).
	if tx.Type == OpCreate && code == zkNodeExists {
		p, _ := splitPath(tx.Path)
		if _, err := t.setCversionPzxid(p, tx.ParentCVersion, tx.Zxid); err != nil {
			return 0, err
		}
	}
	return code, nil
}

// splitPath returns the parent's path ("/" for the root) and the name of
// the znode at the non-root path p.
func splitPath(p string) (string, string) {
	i := len(p) - 1
	for i > 0 && p[i] != '/' {
		i--
	}
	if i == 0 {
		return "/", p[1:]
	}
	return p[:i], p[i+1:]
}

// checkTxnPath refuses a transaction path ZooKeeper's DataTree cannot
// apply; root says whether "/" is allowed.
func checkTxnPath(p string, root bool, zxid int64) error {
	if p == "/" && root {
		return nil
	}
	if err := checkPath(p); err != nil {
		return fmt.Errorf("txn 0x%x: %w", zxid, err)
	}
	return nil
}

// createNode is DataTree.createNode.
func (t *Tree) createNode(path string, data []byte, acl []ACL, owner int64, parentCVersion int32, zxid, time int64) (zkErr, error) {
	if err := checkTxnPath(path, false, zxid); err != nil {
		return 0, err
	}
	pp, _ := splitPath(path)
	parent, err := t.get(pp)
	if err != nil || parent == nil {
		return zkNoNode, err
	}
	if n, err := t.get(path); err != nil || n != nil {
		return zkNodeExists, err
	}
	if parentCVersion == -1 {
		parentCVersion = parent.stat.Cversion + 1
	}
	// Replay may meet a create whose znode a fuzzy snapshot already saw
	// created and deleted: only a larger cversion moves the parent.
	if parentCVersion > parent.stat.Cversion {
		old := parent.digest(pp)
		parent.stat.Cversion = parentCVersion
		parent.stat.Pzxid = zxid
		if err := t.rewrite(pp, old, parent); err != nil {
			return 0, err
		}
	}
	s := Stat{Czxid: zxid, Mzxid: zxid, Pzxid: zxid, Ctime: time, Mtime: time, EphemeralOwner: owner}
	if err := t.put(path, &s, acl, data); err != nil {
		return 0, err
	}
	return zkOK, t.setIndex(path, owner, true)
}

// deleteNode is DataTree.deleteNode: the parent's pzxid moves up to zxid
// even when the znode is already gone.
func (t *Tree) deleteNode(path string, zxid int64) (zkErr, error) {
	if err := checkTxnPath(path, false, zxid); err != nil {
		return 0, err
	}
	pp, _ := splitPath(path)
	parent, err := t.get(pp)
	if err != nil || parent == nil {
		return zkNoNode, err
	}
	if zxid > parent.stat.Pzxid {
		old := parent.digest(pp)
		parent.stat.Pzxid = zxid
		if err := t.rewrite(pp, old, parent); err != nil {
			return 0, err
		}
	}
	n, err := t.get(path)
	if err != nil || n == nil {
		return zkNoNode, err
	}
	if err := t.remove(path, n); err != nil {
		return 0, err
	}
	return zkOK, t.setIndex(path, n.stat.EphemeralOwner, false)
}

// change applies f to the znode at path (setData, setACL).
func (t *Tree) change(path string, zxid int64, f func(*node)) (zkErr, error) {
	if err := checkTxnPath(path, true, zxid); err != nil {
		return 0, err
	}
	n, err := t.get(path)
	if err != nil || n == nil {
		return zkNoNode, err
	}
	old := n.digest(path)
	f(n)
	return zkOK, t.rewrite(path, old, n)
}

// setCversionPzxid is DataTree.setCversionPzxid.
func (t *Tree) setCversionPzxid(path string, cversion int32, zxid int64) (zkErr, error) {
	n, err := t.get(path)
	if err != nil || n == nil {
		return zkNoNode, err
	}
	if cversion == -1 {
		cversion = n.stat.Cversion + 1
	}
	if cversion <= n.stat.Cversion {
		return zkOK, nil
	}
	old := n.digest(path)
	n.stat.Cversion = cversion
	n.stat.Pzxid = zxid
	return zkOK, t.rewrite(path, old, n)
}

// killSession is DataTree.killSession: the paths the closeSession names
// (3.6+), then the session's other ephemerals.
func (t *Tree) killSession(tx *Txn) error {
	var paths []string
	named := make(map[string]bool, len(tx.Paths))
	if tx.HasPaths {
		paths = append(paths, tx.Paths...)
		for _, p := range tx.Paths {
			named[p] = true
		}
	}
	prefix := t.ephemeralKey(tx.ClientID, "")
	prefix = append([]byte(nil), prefix...)
	it, err := t.b.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return fmt.Errorf("zkfile: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		p := string(it.Key()[len(prefix):])
		if !named[p] {
			paths = append(paths, p)
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("zkfile: %w", err)
	}
	for _, p := range paths {
		if _, err := t.deleteNode(p, tx.Zxid); err != nil {
			return err
		}
	}
	return nil
}

// prefixEnd returns the smallest key above every key starting with p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}
