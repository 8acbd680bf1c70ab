package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestKillLeaderProcess runs three member processes over TCP with mutual
// TLS. Writers create znodes through every member's admin port and record
// each acknowledged write. The leader process is killed with SIGKILL in the
// middle of the load; the survivors elect a new leader and writes go on;
// every acknowledged write then reads back linearizably with its value. The
// killed member restarts and catches up by a raft snapshot streamed over the
// network: the members keep only 10 entries behind their applied index, and
// hundreds of writes were acknowledged while it was down. At the end every
// member holds the same tree (applied index and digest) and every
// acknowledged write is in each member's local copy; SIGTERM then closes
// every member with exit status 0.
//
// KEEPER_LONG=1 kills the leader five times, with more writes each time.
func TestKillLeaderProcess(t *testing.T) {
	rounds, perRound := 1, int64(300)
	if os.Getenv("KEEPER_LONG") != "" {
		rounds, perRound = 5, 3000
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	c := startProcCluster(t, 3, "-keep-entries", "10")
	w := startWriters(c, 4, seed)
	defer w.stop()
	for round := range rounds {
		old := c.leader(20 * time.Second)
		w.waitAcked(t, w.count()+50, 30*time.Second)
		c.kill(old)
		killedAt := w.count()
		lead := c.leader(20 * time.Second)
		w.waitAcked(t, killedAt+perRound, 60*time.Second)
		t.Logf("round %d: leader %d killed after %d acknowledged writes; member %d leads; %d more acknowledged",
			round, old, killedAt, lead, w.count()-killedAt)

		want, err := c.status(lead)
		if err != nil {
			t.Fatal(err)
		}
		c.restart(old)
		st := c.waitStatus(old, 60*time.Second, func(st statusJSON) bool {
			return st.SnapshotsInstalled >= 1 && st.Applied >= want.Applied
		})
		t.Logf("round %d: member %d restarted, installed %d raft snapshot(s), applied %d (leader was at %d)",
			round, old, st.SnapshotsInstalled, st.Applied, want.Applied)
	}
	w.stop()
	acked := w.acknowledged()
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged")
	}
	if w.errs.Load() > 0 {
		t.Logf("%d writes failed (not acknowledged, so not checked); first: %v", w.errs.Load(), w.firstErr.Load())
	}
	c.leader(20 * time.Second)
	checkAcked(t, c, acked, true)
	c.converged(30 * time.Second)
	checkAcked(t, c, acked, false)
	// SIGTERM closes each member cleanly: exit status 0.
	for _, id := range c.ids {
		c.stop(id)
	}
}

// checkAcked reads every acknowledged write back, spread over the running
// members: linearizably, or from each member's local copy.
func checkAcked(t *testing.T, c *procCluster, acked map[string]string, linearizable bool) {
	t.Helper()
	ids := c.running()
	type job struct{ path, value string }
	jobs := make(chan job)
	var lost atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for j := range jobs {
				n++
				readers := ids
				if linearizable {
					readers = ids[(i+n)%len(ids) : (i+n)%len(ids)+1]
				}
				for _, id := range readers {
					z, err := c.get(id, j.path, linearizable)
					if err != nil || z.Data == nil || *z.Data != j.value {
						if lost.Add(1) <= 5 {
							t.Errorf("acknowledged write %s=%q read back from member %d (linearizable %v): %+v, %v", j.path, j.value, id, linearizable, z, err)
						}
					}
				}
			}
		}()
	}
	for p, v := range acked {
		jobs <- job{p, v}
	}
	close(jobs)
	wg.Wait()
	if n := lost.Load(); n > 0 {
		t.Fatalf("%d of %d acknowledged writes missing or wrong (linearizable %v)", n, len(acked), linearizable)
	}
}

// waitStatus polls member id's status until ok holds, and returns it.
func (c *procCluster) waitStatus(id uint64, within time.Duration, ok func(statusJSON) bool) statusJSON {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var st statusJSON
	var err error
	for time.Now().Before(deadline) {
		if st, err = c.status(id); err == nil && ok(st) {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("member %d: condition not met within %v; last status %+v, %v", id, within, st, err)
	return st
}

// writers create distinct znodes through random members' admin ports and
// record the acknowledged ones.
type writers struct {
	c        *procCluster
	quit     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
	mu       sync.Mutex
	acked    map[string]string
	n        atomic.Int64
	errs     atomic.Int64
	firstErr atomic.Value
}

func startWriters(c *procCluster, n int, seed int64) *writers {
	w := &writers{c: c, quit: make(chan struct{}), acked: map[string]string{}}
	for i := range n {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
			for seq := 0; ; seq++ {
				select {
				case <-w.quit:
					return
				default:
				}
				id := c.ids[rng.IntN(len(c.ids))]
				path := fmt.Sprintf("/acked/w%d-%07d", i, seq)
				value := fmt.Sprintf("v%d.%d", i, seq)
				if err := c.put(id, path, value, 3*time.Second); err != nil {
					w.errs.Add(1)
					w.firstErr.CompareAndSwap(nil, fmt.Sprintf("member %d: %v", id, err))
					time.Sleep(5 * time.Millisecond) // the member may be down
					continue
				}
				w.mu.Lock()
				w.acked[path] = value
				w.mu.Unlock()
				w.n.Add(1)
			}
		}()
	}
	return w
}

func (w *writers) count() int64 { return w.n.Load() }

// waitAcked waits until at least n writes were acknowledged.
func (w *writers) waitAcked(t *testing.T, n int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for w.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes acknowledged, waited for %d for %v; first error: %v", w.count(), n, within, w.firstErr.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (w *writers) stop() {
	w.once.Do(func() { close(w.quit) })
	w.wg.Wait()
}

func (w *writers) acknowledged() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]string, len(w.acked))
	for k, v := range w.acked {
		out[k] = v
	}
	return out
}
