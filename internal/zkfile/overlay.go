package zkfile

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/keeper-go/keeper/internal/keys"
)

// Replay reads and writes znodes through an overlay: a map of the znodes the
// transactions of one chunk work on, filled ahead of them by one pass over
// the store in key order (a sorted seek costs a fraction of a random
// lookup), and written back when the chunk is done or the overlay holds
// overlayLimit bytes, so memory stays bounded whatever the chunk touches.
type overlay struct {
	on    bool // replay is running through it
	m     map[string]*slot
	bytes int
}

// slot is one path's state in the overlay.
type slot struct {
	n     *node // nil: no znode at the path
	dirty bool  // changed since it was read: written back
}

// overlayLimit is the size of znode data the overlay holds before it
// writes back and empties.
const overlayLimit = 64 << 20

// size is what a slot accounts for in overlay.bytes.
func (n *node) size(path string) int {
	if n == nil {
		return len(path) + 64
	}
	return len(path) + len(n.data) + 128
}

// lookup returns path's slot, reading the store on a miss.
func (t *Tree) lookup(path string) (*slot, error) {
	if s := t.ov.m[path]; s != nil {
		return s, nil
	}
	n, err := t.read(path)
	if err != nil {
		return nil, err
	}
	s := &slot{n: n}
	t.ov.m[path] = s
	t.ov.bytes += n.size(path)
	return s, nil
}

// set records n (nil: deleted) at path as changed.
func (t *Tree) set(path string, n *node) {
	s := t.ov.m[path]
	if s == nil {
		s = &slot{}
		t.ov.m[path] = s
	} else {
		t.ov.bytes -= s.n.size(path)
	}
	s.n, s.dirty = n, true
	t.ov.bytes += n.size(path)
}

// prefetch reads the znodes at paths into the overlay, in key order, with
// one iterator.
func (t *Tree) prefetch(paths []string) error {
	type want struct {
		key  []byte
		path string
	}
	var ws []want
	for _, p := range paths {
		if _, ok := t.ov.m[p]; ok {
			continue
		}
		ws = append(ws, want{keys.NodeKey(nil, p), p})
	}
	if len(ws) == 0 {
		return nil
	}
	slices.SortFunc(ws, func(a, b want) int { return bytes.Compare(a.key, b.key) })
	lo, hi := keys.NodeSpan()
	it, err := t.b.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("zkfile: %w", err)
	}
	defer it.Close()
	for i, w := range ws {
		if i > 0 && bytes.Equal(w.key, ws[i-1].key) {
			continue
		}
		s := &slot{}
		if it.SeekGE(w.key) && bytes.Equal(it.Key(), w.key) {
			v, err := it.ValueAndErr()
			if err != nil {
				return fmt.Errorf("zkfile: %w", err)
			}
			s.n = &node{}
			if err := decodeNode(v, s.n); err != nil {
				return err
			}
			s.n.data = bytes.Clone(s.n.data)
		}
		t.ov.m[w.path] = s
		t.ov.bytes += s.n.size(w.path)
	}
	return it.Error()
}

// writeBack writes the overlay's changes to the store and empties it.
func (t *Tree) writeBack() error {
	for p, s := range t.ov.m {
		if !s.dirty {
			continue
		}
		t.key = keys.NodeKey(t.key[:0], p)
		var err error
		if s.n == nil {
			err = t.b.Delete(t.key, nil)
		} else {
			t.val = encodeNode(t.val[:0], &s.n.stat, s.n.acl, s.n.data)
			err = t.b.Set(t.key, t.val, nil)
		}
		if err != nil {
			return fmt.Errorf("zkfile: %w", err)
		}
		if err := t.flush(false); err != nil {
			return err
		}
	}
	clear(t.ov.m)
	t.ov.bytes = 0
	return nil
}

// txnPaths appends the paths tx reads: each op's znode and its parent.
func txnPaths(dst []string, tx *Txn) []string {
	add := func(p string) {
		if checkPath(p) == nil {
			pp, _ := splitPath(p)
			dst = append(dst, p, pp)
		}
	}
	switch tx.Type {
	case OpMulti:
		for i := range tx.Ops {
			dst = txnPaths(dst, &tx.Ops[i])
		}
	case OpCloseSession:
		for _, p := range tx.Paths {
			add(p)
		}
	default:
		if tx.Path == "/" {
			dst = append(dst, "/")
		} else if tx.Path != "" {
			add(tx.Path)
		}
	}
	return dst
}
