package keeper

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestApplyContract(t *testing.T) {
	h := newHarness(t)
	// A gap in indexes is a caller bug: an error, nothing applied.
	if _, err := h.tr.apply([]committed{{Index: 2, Kind: entryNoop}}); err == nil {
		t.Fatal("apply accepted a gap")
	}
	// Noop and conf advance the index; conf is kept and survives a reopen;
	// a damaged entry fails as a request (ErrCorruptEntry), not as storage.
	res, err := h.tr.apply([]committed{
		{Index: 1, Kind: entryNoop},
		{Index: 2, Kind: entryConf, Data: []byte("members-v1")},
		{Index: 3, Kind: entryOp, Data: []byte{1, 2}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0] != nil || res[1] != nil || !errors.Is(res[2].Err, ErrCorruptEntry) {
		t.Fatalf("results %v %v %+v", res[0], res[1], res[2])
	}
	h.reopen()
	if h.tr.applied() != 3 || string(h.tr.membership()) != "members-v1" {
		t.Fatalf("after reopen: applied %d membership %q", h.tr.applied(), h.tr.membership())
	}
}

func TestIndexes(t *testing.T) {
	h := newHarness(t)
	h.must(CreateOp("/c", nil, Container))
	h.must(CreateOp("/t", nil, PersistentWithTTL, WithTTL(5*time.Second)))
	h.must(CreateOp("/e1", nil, Ephemeral))
	h.must(CreateOp("/c/e2", nil, EphemeralSequential))
	cs, err := h.tr.containers()
	if err != nil || !slices.Equal(cs, []indexedNode{{Path: "/c"}}) {
		t.Fatalf("containers %v %v", cs, err)
	}
	ts, err := h.tr.ttlNodes()
	if err != nil || !slices.Equal(ts, []indexedNode{{Path: "/t", TTL: 5000}}) {
		t.Fatalf("ttl nodes %v %v", ts, err)
	}
	if e, _ := h.tr.ephemerals(0x55, "/c"); !slices.Equal(e, []string{"/c/e20000000000"}) {
		t.Fatalf("ephemerals under /c: %v", e)
	}
	h.must(DeleteOp("/c/e20000000000", AnyVersion))
	h.must(DeleteOp("/c", AnyVersion))
	h.must(DeleteOp("/t", AnyVersion))
	cs, _ = h.tr.containers()
	ts, _ = h.tr.ttlNodes()
	e, _ := h.tr.ephemerals(0x55, "")
	if len(cs) != 0 || len(ts) != 0 || !slices.Equal(e, []string{"/e1"}) {
		t.Fatalf("after deletes: %v %v %v", cs, ts, e)
	}
}

// TestConcurrentReads runs reads while apply writes (run with -race).
func TestConcurrentReads(t *testing.T) {
	h := newHarness(t)
	h.must(CreateOp("/r", nil, Persistent))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				kids, st, err := h.tr.children("/r", nil)
				if err != nil || int(st.NumChildren) != len(kids) {
					t.Errorf("children: %d names, stat says %d, %v", len(kids), st.NumChildren, err)
					return
				}
				_ = h.tr.digest()
			}
		})
	}
	for i := range 300 {
		h.must(CreateOp(fmt.Sprintf("/r/%d", i), nil, Persistent))
	}
	close(stop)
	wg.Wait()
}
