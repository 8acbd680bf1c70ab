package keeper

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/treefiles"
	"github.com/keeper-go/keeper/internal/wire"
	"github.com/keeper-go/keeper/transport"
)

// repairOutcome is a repair transfer a member received and what its
// receiver returned.
type repairOutcome struct {
	from uint64
	h    wire.RepairHeader
	err  error
}

// repairSpy is a member's endpoint whose stream receiver records every repair
// transfer's outcome. A transfer whose number (from 0, in arrival order) is
// held waits, after announcing its header on arrived, until its hold channel
// is closed; rewrite, if set, changes the header of transfer 0 before the
// member sees it.
type repairSpy struct {
	*transport.Endpoint
	stop    chan struct{} // closed at cleanup: held transfers go on
	arrived chan wire.RepairHeader

	mu       sync.Mutex
	holds    map[int]chan struct{}
	rewrite  func([]byte) []byte
	n        int
	outcomes []repairOutcome
}

func (s *repairSpy) AttachStream(receive func(from uint64, header []byte, body io.Reader) error) error {
	return s.Endpoint.AttachStream(func(from uint64, header []byte, body io.Reader) error {
		if _, ok := repairHeaderOf(header); !ok {
			return receive(from, header, body)
		}
		s.mu.Lock()
		n := s.n
		s.n++
		hold := s.holds[n]
		rewrite := s.rewrite
		s.mu.Unlock()
		if hold != nil {
			h, _ := repairHeaderOf(header)
			s.arrived <- h
			select {
			case <-hold:
			case <-s.stop:
			}
		}
		if n == 0 && rewrite != nil {
			header = rewrite(slices.Clone(header))
		}
		err := receive(from, header, body)
		h, _ := repairHeaderOf(header)
		s.mu.Lock()
		s.outcomes = append(s.outcomes, repairOutcome{from: from, h: h, err: err})
		s.mu.Unlock()
		return err
	})
}

// repairHeaderOf decodes a stream header that announces a repair
// transfer, and reports whether it does (a damaged one decodes as zero).
func repairHeaderOf(header []byte) (wire.RepairHeader, bool) {
	_, kind, body, ok := wire.SplitStreamHeader(header)
	if !ok || kind != wire.StreamRepair {
		return wire.RepairHeader{}, false
	}
	h, _ := wire.DecodeRepairHeader(body)
	return h, true
}

// hold makes repair transfer n wait until the returned channel is closed.
func (s *repairSpy) hold(n int) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.holds[n] = ch
	return ch
}

// outcome waits for the outcome of repair transfer n.
func (s *repairSpy) outcome(t *testing.T, n int) repairOutcome {
	t.Helper()
	var o repairOutcome
	waitFor(t, 20*time.Second, fmt.Sprintf("the outcome of repair transfer %d", n), func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.outcomes) <= n {
			return false
		}
		o = s.outcomes[n]
		return true
	})
	return o
}

// nextArrival waits for the header of the next held repair transfer.
func (s *repairSpy) nextArrival(t *testing.T) wire.RepairHeader {
	t.Helper()
	select {
	case h := <-s.arrived:
		return h
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for a repair transfer")
		return wire.RepairHeader{}
	}
}

// newSpiedCluster starts a 3-member tree cluster with the consistency check
// every 100 ms, OnCorrupt RepairCorrupt, then set's changes (if set is not
// nil), and every member's endpoint wrapped in a repairSpy, and creates /a
// ("hello") and 20 more znodes.
func newSpiedCluster(t *testing.T, set func(*Config)) (*testCluster, map[uint64]*repairSpy) {
	t.Helper()
	stop := make(chan struct{})
	spies := make(map[uint64]*repairSpy)
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.CheckInterval = 100 * time.Millisecond
		cfg.OnCorrupt = RepairCorrupt
		if set != nil {
			set(cfg)
		}
		s, ok := spies[cfg.ID]
		if !ok {
			s = &repairSpy{Endpoint: cfg.Transport.(*transport.Endpoint), stop: stop,
				arrived: make(chan wire.RepairHeader, 8), holds: make(map[int]chan struct{})}
			spies[cfg.ID] = s
		}
		cfg.Transport = s
	})
	t.Cleanup(func() { close(stop) })
	if _, err := c.waitLeader().Create(ctxTimeout(t, 10*time.Second), "/a", []byte("hello"), Persistent); err != nil {
		t.Fatal(err)
	}
	createMany(t, c, "/k", 20)
	c.waitConverged(0)
	return c, spies
}

// onLoopOf runs f on member n's raft loop and waits for it.
func onLoopOf(t *testing.T, n *Node, f func(r *replica)) {
	t.Helper()
	done := make(chan struct{})
	if !n.r.onLoop(ctxTimeout(t, 10*time.Second), func() { f(n.r); close(done) }) {
		t.Fatalf("member %d: its loop is gone", n.ID())
	}
	<-done
}

// rawGet reads path's data from member n's tree as stored, bypassing the
// corrupt member's refusal of reads.
func rawGet(t *testing.T, n *Node, path string) string {
	t.Helper()
	var data []byte
	err := n.gate.use(func() error {
		var err error
		data, _, err = n.r.sm.get(path, nil)
		return err
	})
	if err != nil {
		t.Fatalf("member %d: raw read of %s: %v", n.ID(), path, err)
	}
	return string(data)
}

// sendRepair has member from start a repair transfer to member to, and
// returns the outcome, the spy's n-th.
func sendRepair(t *testing.T, c *testCluster, spies map[uint64]*repairSpy, from, to uint64, n int) repairOutcome {
	t.Helper()
	onLoopOf(t, c.node(from), func(r *replica) { r.repair.start(to) })
	o := spies[to].outcome(t, n)
	if o.from != from {
		t.Fatalf("repair transfer %d to member %d came from %d, sent by %d", n, to, o.from, from)
	}
	return o
}

// checkServes checks healthy member id has the digest it had in before,
// installed repairs repairs, and serves reads and writes.
func checkServes(t *testing.T, c *testCluster, id uint64, before Status, repairs uint64) {
	t.Helper()
	n := c.node(id)
	c.waitConverged(0)
	// The sender learns the outcome before the member counts the install.
	waitFor(t, 10*time.Second, "the member's count of repairs", func() bool { return n.Status().RepairsInstalled >= repairs })
	st := n.Status()
	if st.Digest != before.Digest || st.Corrupt || st.RepairsInstalled != repairs {
		t.Fatalf("member %d: digest %x (was %x), corrupt %v, repairs installed %d (want %d)",
			id, st.Digest, before.Digest, st.Corrupt, st.RepairsInstalled, repairs)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	if data, _, err := n.Get(ctx, "/a"); err != nil || string(data) != "hello" {
		t.Fatalf("read on member %d: %q %v", id, data, err)
	}
	if _, err := n.Create(ctx, fmt.Sprintf("/after-%d", st.Applied), nil, Persistent); err != nil {
		t.Fatalf("write through member %d: %v", id, err)
	}
	c.waitConverged(0)
}

// TestRepairNotWanted sends repair transfers to healthy members. A member
// whose scan verified its tree refuses the leader's with errRepairNotWanted;
// with checks off (nothing verified, so a repair from the leader is taken)
// a member refuses one from a member that is not its leader, and one while
// its OnCorrupt is AlarmCorrupt. A refusing member keeps its tree and
// serves on.
func TestRepairNotWanted(t *testing.T) {
	t.Run("verified", func(t *testing.T) {
		c, spies := newSpiedCluster(t, nil)
		l := c.waitLeader()
		f := follower(c)
		waitFor(t, 10*time.Second, "the member's scan to verify its tree", func() bool {
			var v uint64
			onLoopOf(t, c.node(f), func(r *replica) { v = r.cons.verified })
			return v != 0
		})
		before := c.node(f).Status()
		if o := sendRepair(t, c, spies, l.ID(), f, 0); !errors.Is(o.err, errRepairNotWanted) {
			t.Fatalf("repair transfer to a verified member: %v, want errRepairNotWanted", o.err)
		}
		checkServes(t, c, f, before, 0)
		if n := l.Status().RepairsSent; n != 0 {
			t.Fatalf("leader counts %d repairs taken", n)
		}
	})
	t.Run("unverified", func(t *testing.T) {
		onCorrupt := RepairCorrupt
		c, spies := newSpiedCluster(t, func(cfg *Config) {
			cfg.CheckInterval = -1
			cfg.OnCorrupt = onCorrupt
		})
		l := c.waitLeader()
		f := follower(c)
		var other uint64
		for _, id := range c.ids {
			if id != l.ID() && id != f {
				other = id
			}
		}
		step := func(what string, from uint64, n int, want error, repairs uint64) {
			t.Helper()
			before := c.node(f).Status()
			o := sendRepair(t, c, spies, from, f, n)
			if !errors.Is(o.err, want) {
				t.Fatalf("repair transfer %s: %v, want %v", what, o.err, want)
			}
			checkServes(t, c, f, before, repairs)
		}
		restartAs := func(a CorruptAction) (leader uint64) {
			onCorrupt = a
			c.stop(f)
			c.start(f)
			return c.waitLeader().ID()
		}
		step("from a member that does not lead", other, 0, errRepairNotWanted, 0)
		step("to an alarm-only member", restartAs(AlarmCorrupt), 1, errRepairNotWanted, 0)
		step("from the leader to an unverified member", restartAs(RepairCorrupt), 2, nil, 1)
	})
}

// refusalCase corrupts a follower (/a rots on disk) and holds the leader's
// first two repair transfers to it. With transfer 0 held (the leader's tree
// fixed at its index A) it runs during; rewrite, if set, changes transfer
// 0's header. Transfer 0 must be refused with errRepairRefused for why,
// leaving the member corrupt with its own tree; transfer 1, at a newer
// index when newer is set, must repair it, and the leader's view returns to
// 3 of 3 consistent.
func refusalCase(t *testing.T, keep uint64, why string, newer bool, rewrite func([]byte) []byte, during func(c *testCluster, victim uint64, h wire.RepairHeader)) {
	c, spies := newSpiedCluster(t, func(cfg *Config) { cfg.KeepEntries = keep })
	victim := follower(c)
	spy := spies[victim]
	release0, release1 := spy.hold(0), spy.hold(1)
	spy.mu.Lock()
	spy.rewrite = rewrite
	spy.mu.Unlock()
	c.stop(victim)
	rotStored(t, c.dirs[victim], "/a")
	c.start(victim)
	vn := c.node(victim)

	h0 := spy.nextArrival(t)
	if during != nil {
		during(c, victim, h0)
	}
	c.waitConverged(0)
	before := vn.Status()
	if !before.Corrupt {
		t.Fatal("the victim does not know it is corrupt")
	}
	close(release0)
	o := spy.outcome(t, 0)
	if !errors.Is(o.err, errRepairRefused) || !strings.Contains(o.err.Error(), why) {
		t.Fatalf("repair transfer at %d: %v, want errRepairRefused (%s)", h0.Zxid, o.err, why)
	}
	st := vn.Status()
	if !st.Corrupt || st.RepairsInstalled != 0 || st.Digest != before.Digest {
		t.Fatalf("victim after the refusal: corrupt %v, repairs installed %d, digest %x (was %x)",
			st.Corrupt, st.RepairsInstalled, st.Digest, before.Digest)
	}
	if got := rawGet(t, vn, "/a"); got == "hello" {
		t.Fatal("the refused repair replaced the victim's tree")
	}
	if _, err := os.Stat(treefiles.BuildDir(c.dirs[victim])); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the refused repair tree is left on disk: %v", err)
	}
	if _, _, err := vn.Get(ctxTimeout(t, 10*time.Second), "/a"); !errors.Is(err, ErrReplicaCorrupt) {
		t.Fatalf("read on the corrupt victim: %v", err)
	}

	h1 := spy.nextArrival(t)
	if newer && h1.Zxid <= h0.Zxid {
		t.Fatalf("the leader retried at %d, refused at %d", h1.Zxid, h0.Zxid)
	}
	close(release1)
	if o := spy.outcome(t, 1); o.err != nil {
		t.Fatalf("retried repair transfer at %d: %v", h1.Zxid, o.err)
	}
	waitFor(t, 20*time.Second, "the leader's view back to 3 of 3", func() bool {
		st := c.waitLeader().Status()
		return st.ConsistentMembers == 3 && st.Consistency == 1 && !vn.Status().Corrupt
	})
	c.waitConverged(0)
	if n := vn.Status().RepairsInstalled; n != 1 {
		t.Fatalf("victim installed %d repairs, want 1", n)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	if data, _, err := vn.Get(ctx, "/a"); err != nil || string(data) != "hello" {
		t.Fatalf("read on the repaired victim: %q %v", data, err)
	}
	if _, err := vn.Create(ctx, "/after", nil, Persistent); err != nil {
		t.Fatalf("write through the repaired victim: %v", err)
	}
	c.waitConverged(0)
}

// TestRepairRefusedBelowLog: while the repair transfer at A is held, the
// victim applies and compacts its in-memory log past A; it refuses the
// transfer, and the leader's retry at a newer index repairs it.
func TestRepairRefusedBelowLog(t *testing.T) {
	const keep = 20
	refusalCase(t, keep, "below the in-memory log", true, nil, func(c *testCluster, victim uint64, h wire.RepairHeader) {
		first := func() uint64 {
			var i uint64
			onLoopOf(t, c.node(victim), func(r *replica) { i, _ = r.ms.FirstIndex() })
			return i
		}
		for i := 0; first() <= h.Zxid+1; i++ {
			if i == 20 {
				t.Fatalf("the victim's log still starts at %d, the transfer is at %d", first(), h.Zxid)
			}
			createMany(t, c, fmt.Sprintf("/w%d", i), keep)
			c.waitConverged(0)
		}
	})
}

// TestRepairRefusedTermMismatch: a repair transfer whose header gives entry
// A another term than the victim's log is refused (a committed entry has
// one term on every member, so the header is altered in flight); the
// leader's retry repairs the victim.
func TestRepairRefusedTermMismatch(t *testing.T) {
	refusalCase(t, 0, "has term", false, func(b []byte) []byte {
		binary.BigEndian.PutUint64(b[18:], binary.BigEndian.Uint64(b[18:])+1)
		return b
	}, nil)
}

// TestRepairRefusedConfChange: while the repair transfer at A is held, a
// learner is added and removed; the victim, having applied both changes
// after A, refuses the transfer, and the leader's retry at a newer index
// repairs it.
func TestRepairRefusedConfChange(t *testing.T) {
	refusalCase(t, 0, "configuration change", true, nil, func(c *testCluster, victim uint64, _ wire.RepairHeader) {
		ctx := ctxTimeout(t, 20*time.Second)
		l := c.waitLeader()
		if err := l.AddMember(ctx, 4, AsLearner); err != nil {
			t.Fatal(err)
		}
		if err := l.RemoveMember(ctx, 4); err != nil {
			t.Fatal(err)
		}
		var removed uint64
		onLoopOf(t, l, func(r *replica) { removed = r.sm.applied() })
		vn := c.node(victim)
		waitFor(t, 10*time.Second, "the victim to apply both changes", func() bool { return uint64(vn.Status().Applied) >= removed })
		if m := vn.Status().Members; !slices.Equal(m, c.ids) {
			t.Fatalf("victim's members after the changes: %v", m)
		}
	})
}
