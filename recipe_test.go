package keeper_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// recipe is ZooKeeper's lock / leader-election recipe ("ZooKeeper Recipes
// and Solutions"): each contender creates an ephemeral sequential znode
// under dir, holds the lock while its znode is the lowest, and otherwise
// watches only its predecessor. holders counts contenders that believe they
// hold; it must never exceed one.
type recipe struct {
	t       *testing.T
	dir     string
	hold    time.Duration // 0: hold until the member dies (election)
	holders atomic.Int32
	wins    atomic.Int32
}

// contend runs one contender on n until dead is closed (its member "dies":
// the contender stops at once, as a killed process would) or ctx ends.
func (rc *recipe) contend(ctx context.Context, n *keeper.Node, dead <-chan struct{}) {
	gone := func() bool {
		select {
		case <-dead:
			return true
		default:
			return ctx.Err() != nil
		}
	}
	pause := func() bool {
		select {
		case <-dead:
			return false
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
			return true
		}
	}
	for !gone() {
		s, err := n.NewSession(ctx, keeper.SessionOptions{Timeout: time.Second})
		if err != nil {
			if !pause() {
				return
			}
			continue
		}
		rc.session(ctx, s, dead, gone, pause)
	}
}

// session runs the recipe in one session until it ends.
func (rc *recipe) session(ctx context.Context, s *keeper.Session, dead <-chan struct{}, gone func() bool, pause func() bool) {
	defer s.Close(context.Background())
	for !gone() {
		if st := s.State(); st == keeper.StateExpired || st == keeper.StateClosed {
			return
		}
		p, err := s.Create(ctx, rc.dir+"/c-", nil, keeper.EphemeralSequential)
		if errors.Is(err, keeper.ErrIndeterminate) {
			// It may have been created: getEphemerals tells.
			var eph []string
			for {
				eph, err = s.Ephemerals(ctx, rc.dir+"/")
				if err == nil || gone() || !pause() {
					break
				}
			}
			if len(eph) > 0 {
				p, err = eph[0], nil
			}
		}
		if err != nil {
			if !pause() {
				return
			}
			continue
		}
		if !rc.acquireAndHold(ctx, s, p, dead, gone, pause) {
			return
		}
	}
}

// acquireAndHold waits until p is the lowest znode, then holds. It returns
// false when the contender must stop or its session is gone.
func (rc *recipe) acquireAndHold(ctx context.Context, s *keeper.Session, p string, dead <-chan struct{}, gone func() bool, pause func() bool) bool {
	name := p[strings.LastIndexByte(p, '/')+1:]
	for !gone() {
		names, _, err := s.Children(ctx, rc.dir)
		if err != nil {
			if errors.Is(err, keeper.ErrSessionExpired) || errors.Is(err, keeper.ErrSessionClosed) || !pause() {
				return false
			}
			continue
		}
		slices.Sort(names)
		i := slices.Index(names, name)
		if i < 0 {
			return false // our znode is gone: the session expired
		}
		if i == 0 {
			if h := rc.holders.Add(1); h != 1 {
				rc.t.Errorf("%s: %d holders at once", rc.dir, h)
			}
			rc.wins.Add(1)
			held := rc.hold
			if held == 0 {
				held = time.Hour
			}
			select {
			case <-dead:
				rc.holders.Add(-1)
				return false
			case <-ctx.Done():
				rc.holders.Add(-1)
				return false
			case <-time.After(held):
			}
			rc.holders.Add(-1)
			for s.Delete(ctx, p, -1) != nil && !gone() {
				if _, ok, err := s.Exists(ctx, p); err == nil && !ok {
					break
				}
				pause()
			}
			return true
		}
		_, ok, w, err := s.ExistsW(ctx, rc.dir+"/"+names[i-1])
		if err != nil {
			if !pause() {
				return false
			}
			continue
		}
		if !ok {
			_ = s.RemoveAllWatches(ctx, rc.dir+"/"+names[i-1])
			continue
		}
		select {
		case <-w.Events():
		case <-dead:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return false
}

// The lock and leader-election recipes across members while members are
// killed and restarted: never two holders at once, and both make progress.
func TestLockAndElectionRecipesUnderKills(t *testing.T) {
	if testing.Short() {
		t.Skip("long cluster test")
	}
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("recipe seed %d", seed)
		}
	})
	c := keepertest.NewCluster(t, 3, fastSessions(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, dir := range []string{"/lock", "/election"} {
		retry(ctx, t, func() error { _, err := c.Node(1).Create(ctx, dir, nil, keeper.Persistent); return err })
	}
	lock := &recipe{t: t, dir: "/lock", hold: 20 * time.Millisecond}
	election := &recipe{t: t, dir: "/election", hold: 700 * time.Millisecond}

	type member struct {
		dead chan struct{}
		wg   sync.WaitGroup
	}
	members := make(map[uint64]*member)
	start := func(id uint64) {
		m := &member{dead: make(chan struct{})}
		members[id] = m
		n := c.Node(id)
		for _, rc := range []*recipe{lock, lock, election} {
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				rc.contend(ctx, n, m.dead)
			}()
		}
	}
	for _, id := range c.IDs() {
		start(id)
	}
	for round := 0; round < 4; round++ {
		time.Sleep(time.Duration(800+rng.IntN(700)) * time.Millisecond)
		id := c.IDs()[rng.IntN(3)]
		m := members[id]
		close(m.dead) // the "process" dies: its contenders stop at once
		m.wg.Wait()
		c.Kill(id)
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		c.Restart(id)
		start(id)
	}
	time.Sleep(time.Second)
	for _, m := range members {
		close(m.dead)
		m.wg.Wait()
	}
	t.Logf("lock acquired %d times, leadership %d times", lock.wins.Load(), election.wins.Load())
	if lock.wins.Load() < 10 || election.wins.Load() < 3 {
		t.Fatalf("too little progress: lock %d, election %d", lock.wins.Load(), election.wins.Load())
	}
}
