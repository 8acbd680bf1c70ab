package zkfile

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/keeper-go/keeper/internal/keys"
)

// Keep decides which znodes a Walk hands on; a znode it leaves out must not
// have children it keeps.
type Keep func(path string, s *Stat) bool

// Counts is what Count found among the znodes Keep keeps.
type Counts struct {
	// Znodes is the number of znodes kept.
	Znodes int64
	// MaxZxid is the largest czxid, mzxid or pzxid among them.
	MaxZxid int64
}

// Count counts, for every znode, the children keep keeps, and stores the
// counts for Walk, which must follow with the same keep. It reads the tree
// once in key order, where the children of one parent are contiguous.
func (t *Tree) Count(ctx context.Context, keep Keep) (Counts, error) {
	var c Counts
	if err := t.flush(true); err != nil {
		return c, err
	}
	if err := t.db.DeleteRange([]byte{prefixCount}, []byte{prefixCount + 1}, pebble.NoSync); err != nil {
		return c, fmt.Errorf("zkfile: %w", err)
	}
	lo, hi := keys.NodeSpan()
	it, err := t.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return c, fmt.Errorf("zkfile: %w", err)
	}
	defer it.Close()
	var (
		parent []byte // the parent part of the current run's keys
		run    int64  // children kept in the current run
		s      Stat
	)
	emit := func() error {
		if run == 0 {
			return nil
		}
		pp := "/"
		if len(parent) > 0 {
			pp = string(parent)
		}
		t.key = keys.NodeKey(append(t.key[:0], prefixCount), pp)
		if err := t.b.Set(t.key, binary.AppendUvarint(nil, uint64(run)), nil); err != nil {
			return fmt.Errorf("zkfile: %w", err)
		}
		run = 0
		return t.flush(false)
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		path, ok := keys.NodePath(k)
		if !ok {
			return c, corruptf("stored key %q", k)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return c, fmt.Errorf("zkfile: %w", err)
		}
		if err := decodeStat(v, &s); err != nil {
			return c, err
		}
		if !keep(path, &s) {
			continue
		}
		c.Znodes++
		c.MaxZxid = max(c.MaxZxid, s.Czxid, s.Mzxid, s.Pzxid)
		if len(k) == 1 {
			continue // the root has no parent
		}
		pp := k[1:bytes.LastIndexByte(k, 0)]
		if !bytes.Equal(pp, parent) {
			if err := emit(); err != nil {
				return c, err
			}
			parent = append(parent[:0], pp...)
		}
		run++
		if c.Znodes%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return c, err
			}
		}
	}
	if err := it.Error(); err != nil {
		return c, fmt.Errorf("zkfile: %w", err)
	}
	if err := emit(); err != nil {
		return c, err
	}
	return c, t.flush(true)
}

// Walk hands every znode keep keeps to visit, in keeper's key order
// (keys.NodeKey: the root, then by parent path and name), with the
// number of its children keep keeps, as Count stored them. A znode that
// has children but is not in the tree, and one keep leaves out whose
// children it keeps, are refused with ErrCorrupt. The Node and its slices
// are valid only during the call.
func (t *Tree) Walk(ctx context.Context, keep Keep, visit func(n *Node, children int32) error) error {
	lo, hi := keys.NodeSpan()
	it, err := t.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("zkfile: %w", err)
	}
	defer it.Close()
	ci, err := t.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixCount}, UpperBound: []byte{prefixCount + 1}})
	if err != nil {
		return fmt.Errorf("zkfile: %w", err)
	}
	defer ci.Close()
	orphans := func(p []byte) error {
		path, _ := keys.NodePath(p)
		return corruptf("znode %s has children but is not in the tree", path)
	}
	more := ci.First()
	var (
		nd    Node
		n     node
		count int64
	)
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if more && bytes.Compare(ci.Key()[1:], k) < 0 {
			return orphans(ci.Key()[1:])
		}
		children := int32(0)
		if more && bytes.Equal(ci.Key()[1:], k) {
			cv, err := ci.ValueAndErr()
			if err != nil {
				return fmt.Errorf("zkfile: %w", err)
			}
			c, l := binary.Uvarint(cv)
			if l <= 0 || c > 1<<31-1 {
				return corruptf("stored child count %x", cv)
			}
			children = int32(c)
			more = ci.Next()
		}
		nd.Path, _ = keys.NodePath(k)
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("zkfile: %w", err)
		}
		if err := decodeNode(v, &n); err != nil {
			return err
		}
		nd.Stat, nd.ACL, nd.Data = n.stat, n.acl, n.data
		if !keep(nd.Path, &nd.Stat) {
			if children > 0 {
				return corruptf("znode %s is left out but %d of its children are not", nd.Path, children)
			}
			continue
		}
		if err := visit(&nd, children); err != nil {
			return err
		}
		count++
		if count%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("zkfile: %w", err)
	}
	if more {
		return orphans(ci.Key()[1:])
	}
	return ci.Error()
}
