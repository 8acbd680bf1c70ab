package keeper_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/transport"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TestHeadOfLineTCP: over transport.TCP, heartbeats never wait behind bulk
// traffic. Five members: the leader's link to follower A is slowed to 256
// KiB/s while writers flood 128 KiB values, which commit through the two
// healthy followers, so appends to A queue up for many seconds; at the same
// time follower B, restarted after falling behind the leader's retained
// log, receives a raft snapshot of a tree of 1 KiB znodes, paced to 1 MiB/s
// so that the stream lasts a while. The leader measures, from the frames it
// sends and receives, the time from each heartbeat to a follower until that
// follower's next heartbeat response: for A over the whole flood, for B
// while its stream is under way (the install that follows holds B's raft
// loop for a moment by design; that is not the network's doing). Asserted:
// A fell at least 16 entries (2 MiB, 8 s of its link) behind the leader's
// commit (the flood is real); heartbeats to A and to B were answered within
// the election timeout; no member changed term or leader; the sessions on
// the leader and on A did not expire (their ephemerals are there). Session
// renewals ride on the traffic the leader hears from a member, so a
// heartbeat stuck behind appends would expire sessions, not just move the
// leader. KEEPER_LONG=1 floods longer with a larger tree.
func TestHeadOfLineTCP(t *testing.T) {
	const (
		tick          = 20 * time.Millisecond
		electionTicks = 50 // a 1 s election timeout: a margin for a loaded machine
		rate          = 256 << 10
		value         = 128 << 10
	)
	election := electionTicks * tick
	znodes, flood := 2_000, 2*time.Second
	if os.Getenv("KEEPER_LONG") != "" {
		znodes, flood = 20_000, 15*time.Second
	}
	var (
		slowFrom atomic.Uint64 // the member whose dialled connections to slowTo are slowed
		slowTo   atomic.Pointer[string]
		probesMu sync.Mutex
		probes   = map[uint64]*rttProbe{}
	)
	none := ""
	slowTo.Store(&none)
	c := newTCPCluster(t, 5, tcpOptions{
		seed: 1,
		config: func(cfg *keeper.Config) {
			cfg.TickInterval, cfg.ElectionTicks = tick, electionTicks
			cfg.KeepEntries = 20
			cfg.MinSessionTimeout = time.Second
			cfg.CheckInterval = -1
			cfg.SnapshotRate = 1 << 20
		},
		dial: func(from uint64, addr string, conn net.Conn) net.Conn {
			return &slowConn{Conn: conn, rate: rate, on: func() bool { return slowFrom.Load() == from && *slowTo.Load() == addr }}
		},
		wrap: func(id uint64, tr *transport.TCP) keeper.Transport {
			p := &rttProbe{TCP: tr}
			probesMu.Lock()
			probes[id] = p
			probesMu.Unlock()
			return p
		},
	})
	ctx := ctxFor(t, 5*time.Minute)
	leader := c.WaitLeader()
	others := c.Others(leader.ID())
	a, b := others[0], others[1]
	t.Logf("leader %d; follower %d gets the slowed appends, follower %d the snapshot, followers %v make the quorum", leader.ID(), a, b, others[2:])

	// A tree whose snapshot takes a couple of seconds at 1 MiB/s.
	rng := rand.NewChaCha8([32]byte{1})
	for start := 0; start < znodes; start += 1000 {
		ops := make([]keeper.Op, 0, 1000)
		for i := start; i < min(start+1000, znodes); i++ {
			data := make([]byte, 1024) // incompressible: the stream is as large as the tree
			_, _ = rng.Read(data)
			ops = append(ops, keeper.CreateOp(fmt.Sprintf("/t%06d", i), data, keeper.Persistent))
		}
		if _, err := leader.Multi(ctx, ops...); err != nil {
			t.Fatal(err)
		}
	}
	// Sessions on the leader and on A, each holding an ephemeral.
	var sessions []*keeper.Session
	for _, n := range []*keeper.Node{leader, c.Node(a)} {
		s, err := n.NewSession(ctx, keeper.SessionOptions{Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, fmt.Sprintf("/eph-%d", n.ID()), nil, keeper.Ephemeral); err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	// B falls behind the retained log: 320 entries, past the 10×KeepEntries
	// the leader may keep for a follower it heard from lately.
	c.Stop(b)
	var behind sync.WaitGroup
	for range 8 {
		behind.Add(1)
		go func() {
			defer behind.Done()
			for range 40 {
				if _, err := leader.Create(ctx, "/behind-", nil, keeper.PersistentSequential); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	behind.Wait()
	if t.Failed() {
		t.FailNow()
	}
	term := leader.Status().Term

	// The flood: A's link slowed, 4 writers of 128 KiB values.
	addrA := c.addr(a)
	slowTo.Store(&addrA)
	slowFrom.Store(leader.ID())
	fctx, stopFlood := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var written atomic.Int64
	var floodErr atomic.Value
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			big := make([]byte, value)
			p := fmt.Sprintf("/flood-%d", w)
			if _, err := leader.Create(fctx, p, nil, keeper.Persistent); err != nil && !errors.Is(err, keeper.ErrNodeExists) {
				if fctx.Err() == nil {
					floodErr.CompareAndSwap(nil, err)
				}
				return
			}
			for fctx.Err() == nil {
				if _, err := leader.Set(fctx, p, big, keeper.AnyVersion); err != nil {
					if fctx.Err() == nil {
						floodErr.CompareAndSwap(nil, err)
					}
					return
				}
				written.Add(value)
			}
		}()
	}
	defer func() { stopFlood(); wg.Wait() }()

	// B comes back and is sent the snapshot while the flood goes on.
	c.Restart(b)
	probesMu.Lock()
	lp := probes[leader.ID()]
	probesMu.Unlock()
	lp.reset(func(id uint64) bool {
		// B's heartbeats count while it has not installed the snapshot.
		n := c.Node(id)
		return id != b || (n != nil && n.Status().SnapshotsInstalled == 0)
	})
	start := time.Now()
	deadline := start.Add(time.Minute)
	var lagA keeper.Zxid // entries A was behind the leader's commit, at most
	for time.Now().Before(deadline) {
		lagA = max(lagA, leader.Status().Commit-min(leader.Status().Commit, c.Node(a).Status().Applied))
		if c.Node(b).Status().SnapshotsInstalled > 0 && time.Since(start) > flood && lagA >= 16 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopFlood()
	wg.Wait()
	slowFrom.Store(0) // A catches up
	if err, _ := floodErr.Load().(error); err != nil {
		t.Fatalf("flood write: %v", err)
	}
	window := time.Since(start)
	res := lp.results()
	stopFlood()
	t.Logf("%v, %d MiB written by the flood", window.Round(time.Millisecond), written.Load()>>20)
	for _, id := range []uint64{a, b} {
		t.Logf("member %d: heartbeat round trips %v", id, res[id])
	}

	t.Logf("member %d was up to %d entries behind the leader's commit", a, lagA)
	if lagA < 16 {
		t.Errorf("member %d was at most %d entries behind: the flood did not back up its link (the test proves nothing)", a, lagA)
	}
	if st := c.Node(b).Status(); st.SnapshotsInstalled == 0 {
		t.Errorf("member %d installed no snapshot (the test proves nothing): %+v", b, st)
	}
	for _, id := range []uint64{a, b} {
		hb := res[id]
		if hb.n < 3 {
			t.Errorf("only %d heartbeat round trips to member %d in %v", hb.n, id, window)
		}
		if hb.max >= election {
			t.Errorf("a heartbeat to member %d took %v to be answered, at or over the election timeout %v", id, hb.max, election)
		}
	}
	for _, n := range c.Nodes() {
		if st := n.Status(); st.Term != term || st.Leader != leader.ID() {
			t.Errorf("member %d: term %d leader %d, want term %d leader %d: the leadership moved", n.ID(), st.Term, st.Leader, term, leader.ID())
		}
	}
	for _, s := range sessions {
		if st := s.State(); st != keeper.StateConnected {
			t.Errorf("session %x: state %v after the flood", s.ID(), st)
		}
	}
	for _, n := range []*keeper.Node{leader, c.Node(a)} {
		if _, ok, err := leader.Linearizable().Exists(ctx, fmt.Sprintf("/eph-%d", n.ID())); err != nil || !ok {
			t.Errorf("the ephemeral of member %d's session is gone (%v): the session expired", n.ID(), err)
		}
	}
}

// slowConn paces the writes of a dialled connection to rate bytes per
// second while on() holds: a slow link. One writer at a time.
type slowConn struct {
	net.Conn
	rate float64
	on   func() bool
	next time.Time
}

func (c *slowConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), 16<<10)
		if c.on() {
			now := time.Now()
			if c.next.Before(now) {
				c.next = now
			}
			wait := c.next.Sub(now)
			c.next = c.next.Add(time.Duration(float64(n) / c.rate * float64(time.Second)))
			time.Sleep(wait)
		}
		m, err := c.Conn.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// rttProbe passes a member's frames to its TCP and, as the leader sees them,
// times each follower's heartbeats: from the oldest one not yet answered
// until the follower's next heartbeat response.
type rttProbe struct {
	*transport.TCP
	mu      sync.Mutex
	pending map[uint64]time.Time // by follower
	stats   map[uint64]probeStat
	counts  func(follower uint64) bool // whether a response now is counted
}

type probeStat struct {
	n   int
	max time.Duration
	all []time.Duration
}

func (s probeStat) String() string {
	if s.n == 0 {
		return fmt.Sprintf("none (oldest unanswered %v)", s.max)
	}
	sorted := slices.Sorted(slices.Values(s.all))
	return fmt.Sprintf("%d, p50 %v, p99 %v, max %v", s.n, sorted[len(sorted)/2].Round(time.Microsecond),
		sorted[len(sorted)*99/100].Round(time.Microsecond), s.max.Round(time.Microsecond))
}

// heartbeat reports whether frame is a raft heartbeat or a response to
// one; the raft message follows the 8-byte cluster id.
func heartbeat(frame []byte) (hb, resp bool) {
	if len(frame) > 512 || len(frame) < 9 || keeper.BulkFrame(frame) {
		return false, false
	}
	var m raftpb.Message
	if proto.Unmarshal(frame[8:], &m) != nil {
		return false, false
	}
	return m.GetType() == raftpb.MsgHeartbeat, m.GetType() == raftpb.MsgHeartbeatResp
}

func (p *rttProbe) Send(to uint64, frame []byte) {
	if hb, _ := heartbeat(frame); hb {
		p.mu.Lock()
		if _, ok := p.pending[to]; !ok && p.pending != nil {
			p.pending[to] = time.Now()
		}
		p.mu.Unlock()
	}
	p.TCP.Send(to, frame)
}

func (p *rttProbe) Attach(deliver func(from uint64, frame []byte)) error {
	return p.TCP.Attach(func(from uint64, frame []byte) {
		if _, resp := heartbeat(frame); resp {
			p.mu.Lock()
			if sent, ok := p.pending[from]; ok && p.counts(from) {
				d := time.Since(sent)
				s := p.stats[from]
				s.n, s.max, s.all = s.n+1, max(s.max, d), append(s.all, d)
				p.stats[from] = s
			}
			delete(p.pending, from)
			p.mu.Unlock()
		}
		deliver(from, frame)
	})
}

// reset starts measuring afresh, counting the responses of a follower
// while counts says so.
func (p *rttProbe) reset(counts func(follower uint64) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending, p.stats, p.counts = map[uint64]time.Time{}, map[uint64]probeStat{}, counts
}

// results returns what was measured since reset, by follower; a heartbeat
// still unanswered counts with its age.
func (p *rttProbe) results() map[uint64]probeStat {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[uint64]probeStat{}
	for id, s := range p.stats {
		s.all = slices.Clone(s.all)
		out[id] = s
	}
	for id, sent := range p.pending {
		if !p.counts(id) {
			continue
		}
		s := out[id]
		s.max = max(s.max, time.Since(sent))
		out[id] = s
	}
	return out
}
