package keeper

import (
	"strings"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/keeper-go/keeper/storage"
)

// Reading ahead: a goroutine other than the apply's reads the nodes the
// entries about to be applied will look up (aheadReader), and hands them to
// the tree (offerAhead), whose loads take them rather than reading the
// store themselves (takeAhead). An archive restore's replay reads its log
// this way, so that its reads of the store run beside its apply.
//
// A node read ahead is the node as the store held it after some commit k
// (an apply group's flush or an online restore commit; the tree counts
// them). A load at commit c may take it only if none of the commits after k
// up to c changed that node: each flush records the paths it wrote, the
// last aheadLag flushes' are kept, and an online restore commit, which
// records none, makes every node read before it stale. So a node taken is
// the node the load would have read, and the apply is the same either way;
// a node not read ahead, or stale, is read by the load as ever.

// aheadLag is how many commits old a node read ahead may be.
const aheadLag = 4

// aheadNode is a node read ahead: the node at path (nil if none) and the
// hash of its stored value, as the store held it after commit seq.
type aheadNode struct {
	path string
	n    *znode
	h    uint64
	seq  uint64
}

// aheadReader reads nodes ahead of the apply, on its own goroutine (not
// the apply's): it decodes each entry's request and reads the nodes its
// ops will look up (each op's path, and the parent of a create or a
// delete), from a view of the store it opens afresh after each commit.
type aheadReader struct {
	st      *storage.Store
	commits *atomic.Uint64
	view    *storage.View
	seq     uint64 // the commits the view has seen, at least
	r       request
	key     []byte
	h       *xxhash.Digest
	seen    map[string]bool
}

// newAheadReader returns a reader of the nodes t's entries will look up,
// for a goroutine other than the apply's. Close it when done.
func (t *tree) newAheadReader() *aheadReader {
	return &aheadReader{st: t.st, commits: &t.commits, h: xxhash.New(), seen: make(map[string]bool)}
}

// read appends to dst the nodes ents will look up, each read once.
func (ar *aheadReader) read(ents []committed, dst []aheadNode) ([]aheadNode, error) {
	// The commit count is read before the view opens: the view has seen at
	// least that many.
	if c := ar.commits.Load(); ar.view == nil || c != ar.seq {
		if ar.view != nil {
			_ = ar.view.Close()
			ar.view = nil
		}
		v, err := ar.st.NewView()
		if err != nil {
			return dst, err
		}
		ar.view, ar.seq = v, c
	}
	clear(ar.seen)
	for i := range ents {
		e := &ents[i]
		if e.Kind != entryOp || decodeRequestInto(&ar.r, e.Data) != nil || ar.r.Kind != reqOps {
			continue
		}
		for j := range ar.r.Ops {
			op := &ar.r.Ops[j]
			var err error
			if op.kind == opCreate || op.kind == opDelete {
				parent, _ := parentOf(op.path)
				if dst, err = ar.readNode(parent, dst); err != nil {
					return dst, err
				}
				if op.kind == opCreate && op.mode.IsSequential() {
					continue // its name comes from the parent's state
				}
			}
			if dst, err = ar.readNode(op.path, dst); err != nil {
				return dst, err
			}
		}
	}
	return dst, nil
}

func (ar *aheadReader) readNode(path string, dst []aheadNode) ([]aheadNode, error) {
	if ar.seen[path] || !strings.HasPrefix(path, "/") {
		return dst, nil
	}
	ar.seen[path] = true
	an := aheadNode{path: path, seq: ar.seq}
	var err error
	if an.n, an.h, ar.key, err = readNode(ar.view.Get, ar.key, ar.h, path); err != nil {
		return dst, err
	}
	return append(dst, an), nil
}

// close releases the reader's view.
func (ar *aheadReader) close() {
	if ar.view != nil {
		_ = ar.view.Close()
		ar.view = nil
	}
}

// offerAhead hands the tree nodes read ahead, for its loads to take; it
// drops those too old to be taken any more. Apply goroutine only.
func (t *tree) offerAhead(nodes []aheadNode) {
	if t.ahead == nil {
		t.ahead = make(map[string]aheadNode)
	}
	c := t.commits.Load()
	if len(t.ahead) > aheadKeep {
		for path, an := range t.ahead {
			if an.seq+aheadLag < c {
				delete(t.ahead, path)
			}
		}
	}
	for _, an := range nodes {
		if old, ok := t.ahead[an.path]; !ok || old.seq <= an.seq {
			t.ahead[an.path] = an
		}
	}
}

// aheadKeep is how many nodes read ahead the tree holds before it drops
// the stale ones.
const aheadKeep = 4 * replayGroup

// takeAhead returns the node at path read ahead, if there is one no commit
// since changed (see above); ok is false otherwise.
func (t *tree) takeAhead(path string) (n *znode, h uint64, ok bool) {
	an, found := t.ahead[path]
	if !found {
		return nil, 0, false
	}
	delete(t.ahead, path)
	c := t.commits.Load()
	if an.seq > c || c-an.seq > aheadLag {
		return nil, 0, false
	}
	for k := an.seq + 1; k <= c; k++ {
		changed := t.changedAt[k%aheadLag]
		if changed == nil || changed[path] {
			return nil, 0, false
		}
	}
	return an.n, an.h, true
}
