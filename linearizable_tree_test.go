package keeper_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// A porcupine check of the real znode tree: concurrent clients create, set,
// delete, compare-and-set (Multi of CheckOp and SetOp) and linearizably read
// (Linearizable().Get) a few znodes through every member of a keepertest
// cluster while the network drops, delays and partitions and members are
// killed and restarted, all from one seed. Calls whose outcome is unknown
// (ErrIndeterminate, a ctx error, the member closing under the call) are
// kept with an infinite return time: porcupine may place them anywhere
// after their call, or after everything (they did not happen). Calls that
// fail with ErrNoLeader were never proposed and are dropped.

const (
	linEnvRuns = "KEEPER_LIN_RUNS" // seeded runs per test (long runs)
	linEnvSeed = "KEEPER_LIN_SEED" // first seed (replay)
	linEnvDup  = "KEEPER_LIN_DUP"  // fraction of frames duplicated (off by default: see TestDuplicateProposalAppliedOnce)
	linParent  = "/lin"
	linKeys    = 3
)

type linKind uint8

const (
	linCreate linKind = iota + 1
	linSet
	linDelete
	linGet
	linCAS
)

func (k linKind) String() string {
	return [...]string{"?", "create", "set", "delete", "get", "cas"}[k]
}

// linInput is one call. version is the expected version of a CAS.
type linInput struct {
	kind    linKind
	key     string
	value   string
	version int32
}

// linOutput is a call's outcome. err is "", "nonode", "exists" or
// "badversion"; value and version are a read's (exists) or a write's new
// version. unknown marks a write whose fate is unknown.
type linOutput struct {
	unknown bool
	err     string
	value   string
	version int32
}

// linState is one znode: absent, or present with its data and version.
type linState struct {
	exists  bool
	value   string
	version int32
}

// linStep is the sequential specification of one znode. A call of unknown
// outcome takes the step the tree would take, whatever it returned.
func linStep(s linState, in linInput, out linOutput) (bool, linState) {
	ok := func(cond bool) bool { return out.unknown || cond }
	switch in.kind {
	case linCreate:
		if s.exists {
			return ok(out.err == "exists"), s
		}
		return ok(out.err == ""), linState{exists: true, value: in.value}
	case linSet:
		if !s.exists {
			return ok(out.err == "nonode"), s
		}
		next := linState{exists: true, value: in.value, version: s.version + 1}
		return ok(out.err == "" && out.version == next.version), next
	case linDelete:
		if !s.exists {
			return ok(out.err == "nonode"), s
		}
		return ok(out.err == ""), linState{}
	case linCAS:
		if !s.exists {
			return ok(out.err == "nonode"), s
		}
		if s.version != in.version {
			return ok(out.err == "badversion"), s
		}
		next := linState{exists: true, value: in.value, version: s.version + 1}
		return ok(out.err == "" && out.version == next.version), next
	case linGet:
		if !s.exists {
			return out.err == "nonode", s
		}
		return out.err == "" && out.value == s.value && out.version == s.version, s
	}
	return false, s
}

var linTreeModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(linInput).key
			byKey[k] = append(byKey[k], op)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return linState{} },
	Step: func(state, input, output any) (bool, any) {
		return linStep(state.(linState), input.(linInput), output.(linOutput))
	},
	Equal: func(a, b any) bool { return a.(linState) == b.(linState) },
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		args := in.key
		switch in.kind {
		case linCreate, linSet:
			args += ", " + in.value
		case linCAS:
			args += fmt.Sprintf(", v%d → %s", in.version, in.value)
		}
		res := "ok"
		switch {
		case out.unknown:
			res = "unknown"
		case out.err != "":
			res = out.err
		case in.kind == linGet:
			res = fmt.Sprintf("%s v%d", out.value, out.version)
		case in.kind == linSet || in.kind == linCAS:
			res = fmt.Sprintf("v%d", out.version)
		}
		return fmt.Sprintf("%s(%s) → %s", in.kind, args, res)
	},
	DescribeState: func(state any) string {
		s := state.(linState)
		if !s.exists {
			return "absent"
		}
		return fmt.Sprintf("%s v%d", s.value, s.version)
	},
}

// linOutcome classifies a call's error: keep it (with out filled) or drop
// it. unexpected counts errors the test does not expect.
func linOutcome(in linInput, err error, out *linOutput) (keep, unexpected bool) {
	switch {
	case err == nil:
		return true, false
	case errors.Is(err, keeper.ErrIndeterminate):
		out.unknown = true
		return in.kind != linGet, false
	case errors.Is(err, keeper.ErrNoLeader):
		return false, false // never proposed
	case errors.Is(err, keeper.ErrNoNode):
		out.err = "nonode"
		return true, false
	case errors.Is(err, keeper.ErrNodeExists):
		out.err = "exists"
		return true, false
	case errors.Is(err, keeper.ErrBadVersion):
		out.err = "badversion"
		return true, false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.Is(err, keeper.ErrClosed):
		// A read did nothing; a write may have been proposed.
		out.unknown = true
		return in.kind != linGet, false
	}
	out.unknown = true
	return in.kind != linGet, true
}

// linCall runs in on n.
func linCall(ctx context.Context, n *keeper.Node, in linInput) (linOutput, error) {
	var out linOutput
	p := linParent + "/" + in.key
	switch in.kind {
	case linCreate:
		_, err := n.Create(ctx, p, []byte(in.value), keeper.Persistent)
		return out, err
	case linSet:
		st, err := n.Set(ctx, p, []byte(in.value), keeper.AnyVersion)
		out.version = st.Version
		return out, err
	case linDelete:
		return out, n.Delete(ctx, p, keeper.AnyVersion)
	case linCAS:
		res, err := n.Multi(ctx, keeper.CheckOp(p, in.version), keeper.SetOp(p, []byte(in.value), in.version))
		if err == nil {
			if len(res) != 2 {
				return out, fmt.Errorf("multi returned %d results", len(res))
			}
			out.version = res[1].Stat.Version
		}
		return out, err
	case linGet:
		data, st, err := n.Linearizable().Get(ctx, p)
		out.value, out.version = string(data), st.Version
		return out, err
	}
	panic("unreachable")
}

// linRuns returns how many seeded runs to do.
func linRuns(t *testing.T, short, long int) int {
	if s := os.Getenv(linEnvRuns); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("bad %s=%q", linEnvRuns, s)
		}
		return n
	}
	if testing.Short() {
		return short
	}
	return long
}

func linBaseSeed(t *testing.T) int64 {
	if s := os.Getenv(linEnvSeed); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("bad %s=%q", linEnvSeed, s)
		}
		return n
	}
	return time.Now().UnixNano() % 1e12
}

// TestLinearizableTree3 checks histories on three members.
func TestLinearizableTree3(t *testing.T) { testLinearizableTree(t, 3, linRuns(t, 3, 10), linTreeRun) }

// TestLinearizableTree5 checks histories on five members.
func TestLinearizableTree5(t *testing.T) { testLinearizableTree(t, 5, linRuns(t, 2, 6), linTreeRun) }

// linRun runs one seeded history on members members for about dur and
// checks it; it returns the number of operations in the history and how
// many had an unknown outcome.
type linRun func(t *testing.T, members int, seed int64, dur time.Duration) (int, int)

func testLinearizableTree(t *testing.T, members, runs int, run linRun) {
	dur := 3 * time.Second
	if testing.Short() {
		dur = 1500 * time.Millisecond
	}
	base := linBaseSeed(t)
	var ops, unknown int
	start := time.Now()
	for i := range runs {
		seed := base + int64(i)
		okRun := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			o, u := run(t, members, seed, dur)
			ops += o
			unknown += u
		})
		if !okRun {
			t.Fatalf("run %d failed; replay with %s=%d %s=1", i, linEnvSeed, seed, linEnvRuns)
		}
	}
	t.Logf("%d members: %d runs, %d operations checked (%d of unknown outcome), %v",
		members, runs, ops, unknown, time.Since(start).Round(time.Millisecond))
}

// linConfig is the members' Config in the linearizability runs.
func linConfig(cfg *keeper.Config) { cfg.TickInterval = 10 * time.Millisecond }

// linTreeRun runs one seeded history on an in-memory cluster whose network
// drops, delays and (with KEEPER_LIN_DUP) duplicates frames.
func linTreeRun(t *testing.T, members int, seed int64, dur time.Duration) (int, int) {
	c := keepertest.NewCluster(t, members, keepertest.WithSeed(seed), keepertest.WithConfig(linConfig))
	return linHistory(t, c, members, seed, dur, func(rng *rand.Rand) (string, func()) {
		drop := []float64{0, 0.02, 0.1}[rng.IntN(3)]
		net := c.Network()
		net.DropAll(drop)
		net.Delay(0, time.Duration(rng.IntN(3))*time.Millisecond)
		if s := os.Getenv(linEnvDup); s != "" {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("bad %s=%q", linEnvDup, s)
			}
			net.Duplicate(f)
		}
		return fmt.Sprintf("drop %v", drop), func() { net.DropAll(0) }
	})
}

// linCluster is what a linearizability run needs of a cluster:
// keepertest.Cluster over the in-memory network, or tcpCluster over
// transport.TCP.
type linCluster interface {
	IDs() []uint64
	Others(except ...uint64) []uint64
	Node(id uint64) *keeper.Node
	Nodes() []*keeper.Node
	Leader() *keeper.Node
	WaitLeader() *keeper.Node
	WaitConverged() keeper.Zxid
	Kill(id uint64)
	Restart(id uint64)
	Partition(groups ...[]uint64)
	Heal()
}

// linHistory runs one seeded history on c and checks it; it returns the
// number of operations in the history and how many had an unknown outcome.
// weather sets the network's seeded faults, describes them and returns
// what calms them once the nemesis is done.
func linHistory(t *testing.T, c linCluster, members int, seed int64, dur time.Duration, weather func(*rand.Rand) (string, func())) (int, int) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x11a))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	retry(ctx, t, func() error {
		_, err := c.Leader().Create(ctx, linParent, nil, keeper.Persistent)
		return err
	})
	// Seeded network weather and client patience: short timeouts make
	// more calls of unknown outcome.
	sky, calm := weather(rng)
	timeout := []time.Duration{100 * time.Millisecond, 500 * time.Millisecond}[rng.IntN(2)]

	origin := time.Now()
	now := func() int64 { return int64(time.Since(origin)) }
	var (
		mu         sync.Mutex
		history    []porcupine.Operation
		unknown    int
		unexpected []string
	)
	var stop atomic.Bool
	var wg sync.WaitGroup
	// Registered after the cluster's cleanup, so it runs first: clients stop
	// even when the run fails half-way.
	t.Cleanup(func() { stop.Store(true); wg.Wait() })
	const clients = 5
	for client := range clients {
		wg.Add(1)
		cseed := rng.Uint64()
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(cseed, uint64(client)))
			lastVersion := map[string]int32{}
			for i := 0; !stop.Load(); i++ {
				ns := c.Nodes()
				if len(ns) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				n := ns[r.IntN(len(ns))]
				in := linInput{key: fmt.Sprintf("k%d", r.IntN(linKeys)), value: fmt.Sprintf("c%d.%d", client, i)}
				switch x := r.IntN(20); {
				case x < 3:
					in.kind = linCreate
				case x < 7:
					in.kind = linSet
				case x < 9:
					in.kind = linDelete
				case x < 12:
					in.kind = linCAS
					in.version = lastVersion[in.key]
					if r.IntN(4) == 0 {
						in.version = int32(r.IntN(4))
					}
				default:
					in.kind = linGet
				}
				if in.kind == linDelete || in.kind == linGet {
					in.value = ""
				}
				cctx, ccancel := context.WithTimeout(ctx, timeout)
				call := now()
				out, err := linCall(cctx, n, in)
				ret := now()
				ccancel()
				keep, odd := linOutcome(in, err, &out)
				if err == nil && (in.kind == linGet || in.kind == linSet || in.kind == linCAS) {
					lastVersion[in.key] = out.version
				}
				if !keep {
					continue
				}
				if out.unknown {
					out = linOutput{unknown: true}
					ret = math.MaxInt64 // may take effect at any time after call
				}
				mu.Lock()
				if out.unknown {
					unknown++
				}
				if odd {
					unexpected = append(unexpected, fmt.Sprintf("%v on member %d: %v", in.kind, n.ID(), err))
				}
				history = append(history, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
			}
		}()
	}

	// The nemesis, on the test goroutine: seeded partitions, kills and
	// restarts at seeded intervals, then everything healed and restarted.
	var killed []uint64
	var events []string
	deadline := time.Now().Add(dur)
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(60+rng.IntN(200)) * time.Millisecond)
		leader := linLeader(c)
		switch a := rng.IntN(6); {
		case a == 0 && leader != 0:
			c.Partition([]uint64{leader}, c.Others(leader))
			events = append(events, fmt.Sprintf("isolate leader %d", leader))
		case a == 1:
			ids := c.IDs()
			rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
			minority := ids[:(members-1)/2]
			c.Partition(minority, c.Others(minority...))
			events = append(events, fmt.Sprintf("partition %v", minority))
		case a == 2:
			c.Heal()
			events = append(events, "heal")
		case a == 3 && leader != 0 && len(killed) < (members-1)/2:
			c.Kill(leader)
			killed = append(killed, leader)
			events = append(events, fmt.Sprintf("kill leader %d", leader))
		case a == 4 && len(killed) < (members-1)/2:
			id := c.IDs()[rng.IntN(members)]
			if c.Node(id) != nil {
				c.Kill(id)
				killed = append(killed, id)
				events = append(events, fmt.Sprintf("kill %d", id))
			}
		default:
			for _, id := range killed {
				c.Restart(id)
				events = append(events, fmt.Sprintf("restart %d", id))
			}
			killed = killed[:0]
		}
	}
	c.Heal()
	calm()
	for _, id := range killed {
		c.Restart(id)
	}
	events = append(events, "heal and restart all")
	// Let the clients run a while on a healthy cluster, then stop them.
	c.WaitLeader()
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	c.WaitLeader()
	applied := c.WaitConverged()

	if len(unexpected) > 0 {
		t.Errorf("seed %d: %d unexpected errors (recorded as unknown outcome), first: %s", seed, len(unexpected), unexpected[0])
	}
	res, info := porcupine.CheckOperationsVerbose(linTreeModel, history, time.Minute)
	switch res {
	case porcupine.Illegal:
		f, err := os.CreateTemp("", fmt.Sprintf("keeper-lin-tree-%d-*.html", seed))
		path := "(no file)"
		if err == nil {
			path = f.Name()
			if err := porcupine.Visualize(linTreeModel, info, f); err != nil {
				t.Logf("visualize: %v", err)
			}
			f.Close()
		}
		t.Fatalf("seed %d: history of %d operations (%d unknown) on %d members is not linearizable; visualization: %s\nfaults: %v",
			seed, len(history), unknown, members, path, events)
	case porcupine.Unknown:
		t.Logf("seed %d: porcupine timed out on %d operations (%d unknown): inconclusive", seed, len(history), unknown)
	}
	t.Logf("%d operations (%d unknown outcome), applied %d, %s, timeout %v, faults: %v", len(history), unknown, applied, sky, timeout, events)
	return len(history), unknown
}

// linLeader returns the leader of the highest term among running members,
// or 0; it never waits.
func linLeader(c linCluster) uint64 {
	var id, term uint64
	for _, n := range c.Nodes() {
		if st := n.Status(); st.Role == keeper.RoleLeader && st.Term >= term {
			id, term = st.ID, st.Term
		}
	}
	return id
}

// TestDuplicateProposalAppliedOnce: a frame the network delivers twice must
// not apply a write twice (DESIGN.md invariant 4). KNOWN BUG: a proposal made
// on a follower travels to the leader as a MsgProp; when the transport
// delivers that frame twice, the leader appends the entry twice and apply
// (replicate.go) runs both copies, since nothing dedupes entries by their
// envelope's (member, seq). A Set through a follower returns version v while
// the tree holds v+1; a sequential create makes two znodes.
func TestDuplicateProposalAppliedOnce(t *testing.T) {
	c := keepertest.NewCluster(t, 3, keepertest.WithSeed(1))
	ctx := ctxFor(t, 20*time.Second)
	leader := c.Leader()
	retry(ctx, t, func() error { _, err := leader.Create(ctx, "/dup", nil, keeper.Persistent); return err })
	follower := c.Node(c.Others(leader.ID())[0])
	c.Network().Duplicate(1) // every frame arrives twice
	st, err := follower.Set(ctx, "/dup", []byte("x"), keeper.AnyVersion)
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := follower.Linearizable().Get(ctx, "/dup")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != st.Version {
		t.Errorf("Set through follower %d returned version %d; a linearizable Get after it reads version %d: the write was applied %d times",
			follower.ID(), st.Version, got.Version, got.Version)
	}
	if _, err := follower.Create(ctx, "/dup/seq-", nil, keeper.PersistentSequential); err != nil {
		t.Fatal(err)
	}
	if err := follower.Sync(ctx, "/dup"); err != nil {
		t.Fatal(err)
	}
	if names, _, err := follower.Children(ctx, "/dup"); err != nil || len(names) != 1 {
		t.Errorf("one sequential create through a follower made children %v (%v)", names, err)
	}
}
