package keeper

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// kvInput is one operation of the linearizability history.
type kvInput struct {
	write bool
	key   string
	value string
}

// registerModel is a set of independent registers, one per key.
var registerModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(kvInput).key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range byKey {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(kvInput)
		if in.write {
			return true, in.value
		}
		return output.(string) == state.(string), state
	},
	Equal: func(a, b any) bool { return a == b },
}

// TestLinearizable checks, with porcupine, that writes through any member
// and reads after Sync on any member form a linearizable history while the
// network drops, duplicates and reorders frames and the leader crashes.
// Writes that fail as indeterminate may take effect at any later time.
func TestLinearizable(t *testing.T) {
	dur := 1500 * time.Millisecond
	if testing.Short() {
		dur = 400 * time.Millisecond
	}
	c := newTestCluster(t, 3, nil)
	rng := rand.New(rand.NewPCG(uint64(c.seed), 3))
	// Each register is the data of znode /k<i>, created empty (the model's
	// initial value) before the history starts.
	for i := range 3 {
		res, err := c.waitLeader().propose(ctxTimeout(t, 10*time.Second), opReq(CreateOp(fmt.Sprint("/k", i), nil, Persistent)))
		if err != nil || res.Err != nil {
			t.Fatalf("create register %d: %v %v", i, err, res)
		}
	}
	c.net.DropAll(0.03)
	c.net.Duplicate(0.03)
	c.net.Delay(0, 2*time.Millisecond)

	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	var mu sync.Mutex
	var history []porcupine.Operation
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for client := 0; client < 6; client++ {
		wg.Add(1)
		seed := rng.Uint64()
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 4))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ns := c.live()
				n := ns[r.IntN(len(ns))]
				in := kvInput{write: r.IntN(2) == 0, key: fmt.Sprint("k", r.IntN(3))}
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				call := now()
				var out string
				var err error
				if in.write {
					in.value = fmt.Sprintf("c%d-%d", client, i)
					_, err = n.propose(ctx, opReq(SetOp("/"+in.key, []byte(in.value), AnyVersion)))
				} else if err = n.barrier(ctx); err == nil {
					err = n.withTree(func(t *tree) error {
						data, _, err := t.get("/"+in.key, nil)
						out = string(data)
						return err
					})
				}
				ret := now()
				cancel()
				switch {
				case err == nil:
				case in.write && errors.Is(err, ErrIndeterminate):
					ret = math.MaxInt64 // may apply at any time after the call
				default:
					continue // a failed read, or a write that did not happen
				}
				mu.Lock()
				history = append(history, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(dur / 2)
	leader := c.waitLeader()
	c.kill(leader.ID())
	c.start(leader.ID())
	time.Sleep(dur / 2)
	close(stop)
	wg.Wait()
	res := porcupine.CheckOperationsTimeout(registerModel, history, 20*time.Second)
	if res == porcupine.Illegal {
		t.Fatalf("history of %d operations is not linearizable", len(history))
	}
	t.Logf("%d operations, check result %v", len(history), res)
}
