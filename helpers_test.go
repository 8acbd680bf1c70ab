package keeper

import (
	"testing"

	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/storage"
)

// harness drives a tree over a fresh store, one entry per call.
type harness struct {
	t   testing.TB
	dir string
	st  *storage.Store
	tr  *tree
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir()}
	h.open()
	t.Cleanup(func() { h.close() })
	return h
}

func (h *harness) open() {
	h.t.Helper()
	st, err := storage.Open(h.dir, storage.Options{ClusterID: 1})
	if err != nil {
		h.t.Fatal(err)
	}
	tr, err := openTree(st)
	if err != nil {
		h.t.Fatal(err)
	}
	h.st, h.tr = st, tr
}

func (h *harness) close() {
	if h.st != nil {
		_ = h.st.Close()
		h.st, h.tr = nil, nil
	}
}

func (h *harness) reopen() {
	h.t.Helper()
	h.close()
	h.open()
}

// do applies r (encoded without the proposer's validation, so apply's own
// checks run) as the next entry.
func (h *harness) do(r request) *applyResult {
	h.t.Helper()
	ents := []committed{{Index: h.tr.applied() + 1, Kind: entryOp, Data: appendRequest(nil, &r)}}
	res, err := h.tr.apply(ents)
	if err != nil {
		h.t.Fatalf("apply: %v", err)
	}
	return res[0]
}

// one applies a single op with the given auth.
func (h *harness) one(op Op, auth ...Identity) *applyResult {
	h.t.Helper()
	return h.do(request{Time: 1000 + int64(h.tr.applied()), Session: 0x55, Auth: auth, Ops: []Op{op}})
}

// must applies a single op and fails the test if it fails.
func (h *harness) must(op Op, auth ...Identity) OpResult {
	h.t.Helper()
	res := h.one(op, auth...)
	if res.Err != nil {
		h.t.Fatalf("%v %s: %v", op.kind, op.path, res.Err)
	}
	return res.Ops[0]
}

// scanStore calls fn with every key and value of st, in key order.
func scanStore(t testing.TB, st *storage.Store, fn func(k, v []byte)) {
	t.Helper()
	it, err := st.NewIter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.Value()
		if err != nil {
			t.Fatal(err)
		}
		fn(it.Key(), v)
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
}

// scanNodes calls fn with every node's path and stored value, in key order.
func scanNodes(t testing.TB, h *harness, fn func(path string, v []byte)) {
	t.Helper()
	lo, hi := keys.NodeSpan()
	it, err := h.st.NewIter(lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		p, ok := keys.NodePath(it.Key())
		if !ok {
			t.Fatalf("bad node key %q", it.Key())
		}
		v, err := it.Value()
		if err != nil {
			t.Fatal(err)
		}
		fn(p, v)
	}
}
