package keepertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/leakcheck"
)

// TestTarget checks that the Targets newTarget makes keep every rule of the
// keeper.Target contract: put-if-absent, also under concurrent Puts of one
// name; all-or-nothing Puts when the reader or the context fails half way;
// typed errors for missing objects and bad names; sorted, prefix-filtered
// listings with sizes; idempotent deletes. Each check runs as a subtest on
// a new, empty Target from newTarget, which should register its own
// cleanup with t. Hosts that write their own Target run it from a test:
//
//	func TestMyTarget(t *testing.T) {
//		keepertest.TestTarget(t, func(t *testing.T) keeper.Target {
//			return mytarget.New(t.TempDir())
//		})
//	}
func TestTarget(t *testing.T, newTarget func(t *testing.T) keeper.Target) {
	t.Helper()
	checks := []struct {
		name string
		run  func(t *testing.T, tg keeper.Target)
	}{
		{"PutGet", checkPutGet},
		{"PutTaken", checkPutTaken},
		{"ConcurrentPut", checkConcurrentPut},
		{"GetMissing", checkGetMissing},
		{"List", checkList},
		{"Delete", checkDelete},
		{"BadName", checkBadName},
		{"FailingReader", checkFailingReader},
		{"CancelledPut", checkCancelledPut},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Cleanup(leakcheck.Start(t))
			c.run(t, newTarget(t))
		})
	}
}

// targetWait bounds each call a check makes.
const targetWait = 30 * time.Second

func targetCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), targetWait)
	t.Cleanup(cancel)
	return ctx
}

// objectBytes returns n bytes from seed, different for each seed.
func objectBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x6b656570))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// mustPut puts data under name and fails t on error.
func mustPut(t *testing.T, tg keeper.Target, name string, data []byte) {
	t.Helper()
	if err := tg.Put(targetCtx(t), name, bytes.NewReader(data)); err != nil {
		t.Fatalf("Put(%q): %v", name, err)
	}
}

// wantObject fails t unless name holds want.
func wantObject(t *testing.T, tg keeper.Target, name string, want []byte) {
	t.Helper()
	rc, err := tg.Get(targetCtx(t), name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	got, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("Get(%q): read: %v", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q): %d bytes, not the %d put", name, len(got), len(want))
	}
}

// wantNoObject fails t unless Get and List both say name has no object.
func wantNoObject(t *testing.T, tg keeper.Target, name string) {
	t.Helper()
	rc, err := tg.Get(targetCtx(t), name)
	if err == nil {
		rc.Close()
		t.Fatalf("Get(%q) found an object; want ErrTargetNotFound", name)
	}
	if !errors.Is(err, keeper.ErrTargetNotFound) {
		t.Fatalf("Get(%q) = %v; want ErrTargetNotFound", name, err)
	}
	objs, err := tg.List(targetCtx(t), "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, o := range objs {
		if o.Name == name {
			t.Fatalf("List shows %q after it should be gone: %v", name, objs)
		}
	}
}

func checkPutGet(t *testing.T, tg keeper.Target) {
	for i, size := range []int{0, 1, 100_000} {
		name := fmt.Sprintf("wal/%016x.seg", i)
		data := objectBytes(uint64(i), size)
		mustPut(t, tg, name, data)
		wantObject(t, tg, name, data)
	}
}

func checkPutTaken(t *testing.T, tg keeper.Target) {
	first := objectBytes(1, 5000)
	mustPut(t, tg, "base/0001", first)
	err := tg.Put(targetCtx(t), "base/0001", bytes.NewReader(objectBytes(2, 7000)))
	if !errors.Is(err, keeper.ErrTargetExists) {
		t.Fatalf("second Put of a taken name = %v; want ErrTargetExists", err)
	}
	wantObject(t, tg, "base/0001", first)
}

func checkConcurrentPut(t *testing.T, tg keeper.Target) {
	const writers = 8
	errs := make([]error, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			<-start
			errs[i] = tg.Put(targetCtx(t), "race/0001", bytes.NewReader(objectBytes(uint64(100+i), 20_000)))
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("Puts %d and %d of one name both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, keeper.ErrTargetExists):
			t.Fatalf("concurrent Put %d = %v; want nil or ErrTargetExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("none of %d concurrent Puts succeeded: %v", writers, errs)
	}
	wantObject(t, tg, "race/0001", objectBytes(uint64(100+winner), 20_000))
}

func checkGetMissing(t *testing.T, tg keeper.Target) {
	wantNoObject(t, tg, "base/missing")
}

func checkList(t *testing.T, tg keeper.Target) {
	objs, err := tg.List(targetCtx(t), "")
	if err != nil || len(objs) != 0 {
		t.Fatalf("List on an empty target = %v, %v; want nothing", objs, err)
	}
	sizes := map[string]int{
		"wal/0002.seg": 30, "base/0001": 7, "wal/0001.seg": 20,
		"wal0": 1, "wal/0010.seg": 0, "wal/sub/0001": 3,
	}
	for name, size := range sizes {
		mustPut(t, tg, name, objectBytes(uint64(size), size))
	}
	for _, prefix := range []string{"", "wal", "wal/", "wal/00", "wal/0001.seg", "base/", "none/", "wal/sub/"} {
		var want []keeper.TargetObject
		for name, size := range sizes {
			if strings.HasPrefix(name, prefix) {
				want = append(want, keeper.TargetObject{Name: name, Size: int64(size)})
			}
		}
		slices.SortFunc(want, func(a, b keeper.TargetObject) int { return strings.Compare(a.Name, b.Name) })
		got, err := tg.List(targetCtx(t), prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("List(%q) = %v; want %v", prefix, got, want)
		}
	}
}

func checkDelete(t *testing.T, tg keeper.Target) {
	mustPut(t, tg, "base/0001", objectBytes(3, 10))
	mustPut(t, tg, "base/0002", objectBytes(4, 10))
	if err := tg.Delete(targetCtx(t), "base/0001"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNoObject(t, tg, "base/0001")
	wantObject(t, tg, "base/0002", objectBytes(4, 10))
	if err := tg.Delete(targetCtx(t), "base/0001"); err != nil {
		t.Fatalf("Delete of a deleted object = %v; want nil", err)
	}
	if err := tg.Delete(targetCtx(t), "never/0001"); err != nil {
		t.Fatalf("Delete of a missing object = %v; want nil", err)
	}
	mustPut(t, tg, "base/0001", objectBytes(5, 12))
	wantObject(t, tg, "base/0001", objectBytes(5, 12))
}

func checkBadName(t *testing.T, tg keeper.Target) {
	for _, name := range []string{"", "/abs", "a//b", "a/", "Upper", "a/../b", "./a", "..", "sp ace", "a\\b"} {
		ctx := targetCtx(t)
		if err := tg.Put(ctx, name, bytes.NewReader([]byte("x"))); !errors.Is(err, keeper.ErrTargetName) {
			t.Errorf("Put(%q) = %v; want ErrTargetName", name, err)
		}
		if rc, err := tg.Get(ctx, name); !errors.Is(err, keeper.ErrTargetName) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("Get(%q) = %v; want ErrTargetName", name, err)
		}
		if err := tg.Delete(ctx, name); !errors.Is(err, keeper.ErrTargetName) {
			t.Errorf("Delete(%q) = %v; want ErrTargetName", name, err)
		}
	}
	objs, err := tg.List(targetCtx(t), "")
	if err != nil || len(objs) != 0 {
		t.Fatalf("List after refused Puts = %v, %v; want nothing", objs, err)
	}
}

// errReaderFailed is what halfReader returns once its data runs out.
var errReaderFailed = errors.New("keepertest: reader failed half way")

// halfReader yields n bytes, then calls fail (if set) and returns
// errReaderFailed, or blocks until ctx is done if block is set.
type halfReader struct {
	data  []byte
	fail  func()
	block context.Context
}

func (h *halfReader) Read(p []byte) (int, error) {
	if len(h.data) > 0 {
		n := copy(p, h.data)
		h.data = h.data[n:]
		return n, nil
	}
	if h.fail != nil {
		h.fail()
		h.fail = nil
	}
	if h.block != nil {
		<-h.block.Done()
		return 0, h.block.Err()
	}
	return 0, errReaderFailed
}

func checkFailingReader(t *testing.T, tg keeper.Target) {
	err := tg.Put(targetCtx(t), "base/0001", &halfReader{data: objectBytes(6, 200_000)})
	if err == nil || errors.Is(err, keeper.ErrTargetExists) {
		t.Fatalf("Put from a failing reader = %v; want an error, not ErrTargetExists", err)
	}
	wantNoObject(t, tg, "base/0001")
	mustPut(t, tg, "base/0001", objectBytes(7, 100))
	wantObject(t, tg, "base/0001", objectBytes(7, 100))
}

func checkCancelledPut(t *testing.T, tg keeper.Target) {
	ctx, cancel := context.WithCancel(targetCtx(t))
	defer cancel()
	// The reader cancels the Put's context once half its data is read,
	// then waits for the context to end, as a slow source would.
	r := &halfReader{data: objectBytes(8, 200_000), fail: cancel, block: ctx}
	err := tg.Put(ctx, "wal/0001.seg", io.MultiReader(r, bytes.NewReader(objectBytes(9, 200_000))))
	if err == nil || errors.Is(err, keeper.ErrTargetExists) {
		t.Fatalf("Put with its context cancelled half way = %v; want an error, not ErrTargetExists", err)
	}
	wantNoObject(t, tg, "wal/0001.seg")
	mustPut(t, tg, "wal/0001.seg", objectBytes(10, 100))
	wantObject(t, tg, "wal/0001.seg", objectBytes(10, 100))
}
