package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keeper-go/keeper"
)

// The load endpoints drive this member's Client from inside its process, as
// a host service would call keeper, and report what they measured in the
// JSON shape of ../shared/peers/zkbench, so benchmark scripts print keeper
// beside ZooKeeper and etcd.

// loadResult is one load run's figures.
type loadResult struct {
	Sys     string  `json:"sys"`
	Member  uint64  `json:"member"`
	Op      string  `json:"op"`
	Callers int     `json:"conc"`
	Ops     int64   `json:"ops"`
	Errors  int64   `json:"errors"`
	FirstEr string  `json:"first_error,omitempty"`
	Wall    float64 `json:"wall_s"`
	OpsPerS float64 `json:"ops_s"`
	P50     float64 `json:"p50_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
	Size    int     `json:"valsize,omitempty"`
	Retries int64   `json:"retries,omitempty"`
}

// runLoad calls fn n times from callers goroutines and measures it.
func runLoad(ctx context.Context, callers, n int, fn func(ctx context.Context, caller, seq int) error) loadResult {
	var next atomic.Int64
	var errs atomic.Int64
	var firstErr atomic.Value
	lats := make([][]time.Duration, callers)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				seq := int(next.Add(1)) - 1
				if seq >= n {
					return
				}
				t0 := time.Now()
				if err := fn(ctx, c, seq); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lats[c] = append(lats[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	all := slices.Concat(lats...)
	slices.Sort(all)
	res := loadResult{
		Sys: "keeper", Callers: callers, Ops: int64(len(all)), Errors: errs.Load(),
		Wall: round3(wall.Seconds()), OpsPerS: round1(float64(len(all)) / wall.Seconds()),
		P50: pctMillis(all, 0.50), P99: pctMillis(all, 0.99), Max: pctMillis(all, 1),
	}
	if e, ok := firstErr.Load().(string); ok {
		res.FirstEr = e
	}
	return res
}

func pctMillis(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return round3(sorted[int(float64(len(sorted)-1)*p)].Seconds() * 1000)
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// loadParams reads the load endpoints' query parameters.
func loadParams(r *http.Request, callers, n, size int) (int, int, int, int, error) {
	c, err1 := queryInt(r, "callers", callers)
	nn, err2 := queryInt(r, "n", n)
	sz, err3 := queryInt(r, "size", size)
	warm, err4 := queryInt(r, "warm", 0)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return 0, 0, 0, 0, err
	}
	if c < 1 {
		return 0, 0, 0, 0, fmt.Errorf("%w: ?callers must be at least 1", keeper.ErrBadArguments)
	}
	return c, nn, sz, warm, nil
}

// ensure creates p with data unless it exists.
func ensure(ctx context.Context, n *keeper.Node, p string, data []byte) error {
	_, err := n.Create(ctx, p, data, keeper.Persistent)
	if err != nil && !errors.Is(err, keeper.ErrNodeExists) {
		return err
	}
	return nil
}

// loadCreate runs size-byte sequential creates under /load: warm of them
// unmeasured, then n measured.
func (a *admin) loadCreate(w http.ResponseWriter, r *http.Request) {
	callers, n, size, warm, err := loadParams(r, 1, 20000, 100)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	if err := ensure(ctx, a.node, "/load", nil); err != nil {
		writeError(w, err)
		return
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = 'a' + byte(i%26)
	}
	create := func(ctx context.Context, _, _ int) error {
		_, err := a.node.Create(ctx, "/load/k-", data, keeper.PersistentSequential)
		return err
	}
	a.measure(ctx, w, "create", callers, warm, n, size, create)
}

// measure runs fn warm times unmeasured, then n times measured, and
// answers with the figures.
func (a *admin) measure(ctx context.Context, w http.ResponseWriter, op string, callers, warm, n, size int, fn func(ctx context.Context, caller, seq int) error) {
	runLoad(ctx, callers, warm, fn)
	res := runLoad(ctx, callers, n, fn)
	res.Op, res.Member, res.Size = op, a.node.ID(), size
	writeJSON(w, http.StatusOK, res)
}

// readKeys is how many znodes /load/get reads at random.
const readKeys = 1000

// loadGet runs local (sequentially consistent) reads of random znodes out
// of 1000 it creates first.
func (a *admin) loadGet(w http.ResponseWriter, r *http.Request) {
	callers, n, size, warm, err := loadParams(r, 16, 100000, 100)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	if err := ensure(ctx, a.node, "/load-read", nil); err != nil {
		writeError(w, err)
		return
	}
	data := make([]byte, size)
	key := func(i int) string { return fmt.Sprintf("/load-read/k%05d", i) }
	// Only the missing znodes are created, so runs on several members at
	// once start reading together once one of them made the znodes.
	if err := a.node.Sync(ctx, "/load-read"); err != nil {
		writeError(w, err)
		return
	}
	if fill := runLoad(ctx, 16, readKeys, func(ctx context.Context, _, seq int) error {
		if _, ok, err := a.node.Exists(ctx, key(seq)); err != nil || ok {
			return err
		}
		return ensure(ctx, a.node, key(seq), data)
	}); fill.Errors > 0 {
		writeError(w, fmt.Errorf("creating the znodes to read: %d failed, first: %s", fill.Errors, fill.FirstEr))
		return
	}
	rngs := make([]*rand.Rand, callers)
	for i := range rngs {
		rngs[i] = rand.New(rand.NewPCG(uint64(i), 1))
	}
	get := func(ctx context.Context, caller, _ int) error {
		_, _, err := a.node.Get(ctx, key(rngs[caller].IntN(readKeys)))
		return err
	}
	a.measure(ctx, w, "get", callers, warm, n, size, get)
}

// fillBatch is how many creates /load/fill puts in one transaction.
const fillBatch = 1000

// loadFill creates n znodes of size random bytes under /<prefix> (default
// /fill), fillBatch to a transaction, four transactions at a time: a large
// tree quickly, for catch-up and backup benchmarks.
func (a *admin) loadFill(w http.ResponseWriter, r *http.Request) {
	_, n, size, _, err := loadParams(r, 1, 100000, 64)
	if err != nil {
		writeError(w, err)
		return
	}
	parent := "/" + r.URL.Query().Get("prefix")
	if parent == "/" {
		parent = "/fill"
	}
	ctx := r.Context()
	if err := ensure(ctx, a.node, parent, nil); err != nil {
		writeError(w, err)
		return
	}
	rngs := make([]*rand.ChaCha8, 4)
	for i := range rngs {
		rngs[i] = rand.NewChaCha8([32]byte{byte(i), byte(size)})
	}
	var retries atomic.Int64
	res := runLoad(ctx, 4, (n+fillBatch-1)/fillBatch, func(ctx context.Context, caller, batch int) error {
		ops := make([]keeper.Op, 0, fillBatch)
		for j := batch * fillBatch; j < min((batch+1)*fillBatch, n); j++ {
			d := make([]byte, size) // incompressible, distinct
			_, _ = rngs[caller].Read(d)
			ops = append(ops, keeper.CreateOp(fmt.Sprintf("%s/n%08d", parent, j), d, keeper.Persistent))
		}
		return multiRetry(ctx, a.node, ops, &retries)
	})
	res.Op, res.Member, res.Size, res.Retries = "fill", a.node.ID(), size, retries.Load()
	if res.Errors > 0 {
		writeJSON(w, http.StatusInternalServerError, res)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// multiRetry runs a transaction of creates until it is known to have
// applied: a transaction that failed with ErrNoLeader was not proposed and
// is retried; one whose outcome is unknown is retried too, and if the retry
// finds its first znode there, the first attempt applied (a transaction
// applies whole or not at all).
func multiRetry(ctx context.Context, n *keeper.Node, ops []keeper.Op, retries *atomic.Int64) error {
	unsure := false
	for attempt := 0; ; attempt++ {
		_, err := n.Multi(ctx, ops...)
		var me *keeper.MultiError
		switch {
		case err == nil:
			return nil
		case unsure && errors.As(err, &me) && me.Index == 0 && errors.Is(err, keeper.ErrNodeExists):
			return nil
		case attempt >= 20 || ctx.Err() != nil:
			return err
		case errors.Is(err, keeper.ErrIndeterminate):
			unsure = true
		case !errors.Is(err, keeper.ErrNoLeader):
			return err
		}
		retries.Add(1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
