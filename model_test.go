package keeper

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	flagSeed  = flag.Uint64("seed", 0, "replay the model test with this seed")
	flagSeeds = flag.Int("model.seeds", 0, "number of model test seeds (default 6, 2 with -short; 100 with KEEPER_LONG=1)")
)

// refNode is a znode of the reference tree: a plain map, written only for this
// test, following the Programmer's Guide directly.
type refNode struct {
	stat     Stat // stat.Cversion counts creates of children: it names sequential ones
	data     string
	acl      []ACL
	children map[string]bool
	// changes counts changes to the child list (creates and deletes),
	// less the children the node started with: the Cversion callers read.
	changes int32
}

// view is the Stat a read of n returns.
func (n *refNode) view() Stat {
	s := n.stat
	s.Cversion = n.changes
	return s
}

type refTree map[string]*refNode

func newRefTree() refTree {
	return refTree{
		"/":          {stat: Stat{NumChildren: 1}, acl: OpenACL(), children: map[string]bool{"zookeeper": true}, changes: -1},
		"/zookeeper": {acl: OpenACL(), children: map[string]bool{}},
	}
}

func (r refTree) clone() refTree {
	c := make(refTree, len(r))
	for p, n := range r {
		m := *n
		m.children = maps.Clone(n.children)
		c[p] = &m
	}
	return c
}

func refParent(p string) (string, string) {
	i := strings.LastIndex(p, "/")
	if i == 0 {
		return "/", p[1:]
	}
	return p[:i], p[i+1:]
}

func refAllowed(acl []ACL, perm Perm, auth []Identity) bool {
	for _, id := range auth {
		if id.Scheme == "super" {
			return true
		}
	}
	for _, a := range acl {
		if a.Perms&perm != 0 && a.Scheme == "world" {
			return true
		}
	}
	return false
}

func refReserved(p string) bool { return p == "/zookeeper" || strings.HasPrefix(p, "/zookeeper/") }

// do runs one op on r (which it may change even on failure: callers clone).
func (r refTree) do(req *request, op *Op, zxid int64) (OpResult, error) {
	switch op.kind {
	case opCreate:
		acl := OpenACL()
		if op.aclSet {
			acl = op.acl
		}
		pp, _ := refParent(op.path)
		parent := r[pp]
		if parent == nil {
			return OpResult{}, ErrNoNode
		}
		if !refAllowed(parent.acl, PermCreate, req.Auth) {
			return OpResult{}, ErrNoAuth
		}
		path := op.path
		if op.mode.IsSequential() {
			path += fmt.Sprintf("%010d", parent.stat.Cversion)
		}
		if refReserved(path) {
			return OpResult{}, ErrBadArguments
		}
		if r[path] != nil {
			return OpResult{}, ErrNodeExists
		}
		if parent.stat.EphemeralOwner != 0 {
			return OpResult{}, ErrNoChildrenForEphemerals
		}
		n := &refNode{stat: Stat{Czxid: Zxid(zxid), Mzxid: Zxid(zxid), Pzxid: Zxid(zxid), Ctime: req.Time, Mtime: req.Time, DataLength: int32(len(op.data))},
			data: string(op.data), acl: acl, children: map[string]bool{}}
		if op.mode.IsEphemeral() {
			n.stat.EphemeralOwner = SessionID(req.Session)
		}
		r[path] = n
		_, name := refParent(path)
		parent.children[name] = true
		parent.stat.Cversion++
		parent.changes++
		parent.stat.Pzxid = Zxid(zxid)
		parent.stat.NumChildren = int32(len(parent.children))
		return OpResult{Path: path, Stat: n.view()}, nil
	case opDelete:
		if op.path == "/" || refReserved(op.path) {
			return OpResult{}, ErrBadArguments
		}
		pp, name := refParent(op.path)
		parent, n := r[pp], r[op.path]
		if parent == nil {
			return OpResult{}, ErrNoNode
		}
		if !refAllowed(parent.acl, PermDelete, req.Auth) {
			return OpResult{}, ErrNoAuth
		}
		if n == nil {
			return OpResult{}, ErrNoNode
		}
		if op.version != -1 && op.version != n.stat.Version {
			return OpResult{}, ErrBadVersion
		}
		if len(n.children) > 0 {
			return OpResult{}, ErrNotEmpty
		}
		delete(r, op.path)
		delete(parent.children, name)
		parent.changes++
		parent.stat.NumChildren = int32(len(parent.children))
		parent.stat.Pzxid = Zxid(zxid)
		return OpResult{}, nil
	case opSet:
		if refReserved(op.path) {
			return OpResult{}, ErrBadArguments
		}
		n := r[op.path]
		if n == nil {
			return OpResult{}, ErrNoNode
		}
		if !refAllowed(n.acl, PermWrite, req.Auth) {
			return OpResult{}, ErrNoAuth
		}
		if op.version != -1 && op.version != n.stat.Version {
			return OpResult{}, ErrBadVersion
		}
		n.data = string(op.data)
		n.stat.Version++
		n.stat.Mzxid, n.stat.Mtime, n.stat.DataLength = Zxid(zxid), req.Time, int32(len(op.data))
		return OpResult{Stat: n.view()}, nil
	case opSetACL:
		if refReserved(op.path) {
			return OpResult{}, ErrBadArguments
		}
		n := r[op.path]
		if n == nil {
			return OpResult{}, ErrNoNode
		}
		if !refAllowed(n.acl, PermAdmin, req.Auth) {
			return OpResult{}, ErrNoAuth
		}
		if op.version != -1 && op.version != n.stat.Aversion {
			return OpResult{}, ErrBadVersion
		}
		n.acl = op.acl
		n.stat.Aversion++
		return OpResult{Stat: n.view()}, nil
	case opCheck:
		n := r[op.path]
		if n == nil {
			return OpResult{}, ErrNoNode
		}
		if !refAllowed(n.acl, PermRead, req.Auth) {
			return OpResult{}, ErrNoAuth
		}
		if op.version != -1 && op.version != n.stat.Version {
			return OpResult{}, ErrBadVersion
		}
		return OpResult{}, nil
	}
	panic("unknown op")
}

// apply runs a request as apply should, returning the new tree and results.
func (r refTree) apply(req *request, zxid int64) (refTree, []OpResult, error) {
	next := r.clone()
	res := make([]OpResult, len(req.Ops))
	for i := range req.Ops {
		or, err := next.do(req, &req.Ops[i], zxid)
		if err != nil {
			for j := i + 1; j < len(res); j++ {
				res[j].Err = ErrRuntimeInconsistency
			}
			for j := 0; j < i; j++ {
				res[j] = OpResult{}
			}
			res[i] = OpResult{Err: err}
			if req.Multi {
				return r, res, &MultiError{Index: i, Err: err}
			}
			return r, res, err
		}
		res[i] = or
	}
	return next, res, nil
}

var sentinels = []error{ErrNoNode, ErrNodeExists, ErrBadVersion, ErrNotEmpty, ErrNoChildrenForEphemerals,
	ErrInvalidPath, ErrBadArguments, ErrInvalidACL, ErrNoAuth, ErrRuntimeInconsistency}

func errCode(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}

// randomRequest draws a request over a small path space so that ops collide.
func randomRequest(rng *rand.Rand, now int64) request {
	names := []string{"a", "b", "c"}
	randPath := func() string {
		d := 1 + rng.IntN(3)
		var sb strings.Builder
		for range d {
			sb.WriteString("/" + names[rng.IntN(len(names))])
		}
		if rng.IntN(20) == 0 {
			return "/zookeeper"
		}
		return sb.String()
	}
	version := func() int32 { return int32(rng.IntN(4)) - 1 }
	randOp := func() Op {
		switch k := rng.IntN(10); {
		case k < 4:
			modes := []CreateMode{Persistent, Persistent, PersistentSequential, Ephemeral, EphemeralSequential, Container, PersistentWithTTL}
			m := modes[rng.IntN(len(modes))]
			var opts []CreateOption
			if m.IsTTL() {
				opts = append(opts, WithTTL(time.Duration(1+rng.IntN(1000))*time.Millisecond))
			}
			return CreateOp(randPath(), []byte(strconv.Itoa(rng.IntN(100))), m, opts...)
		case k < 6:
			return DeleteOp(randPath(), version())
		case k < 8:
			return SetOp(randPath(), []byte(strconv.Itoa(rng.IntN(100))), version())
		case k < 9:
			return CheckOp(randPath(), version())
		default:
			acl := OpenACL()
			if rng.IntN(2) == 0 {
				acl = ReadACL()
			}
			return SetACLOp(randPath(), acl, version())
		}
	}
	r := request{Time: now, Session: int64(1 + rng.IntN(3))}
	if rng.IntN(4) == 0 {
		r.Auth = []Identity{{Scheme: "super"}}
	}
	if rng.IntN(5) == 0 {
		r.Multi = true
		for range rng.IntN(5) {
			r.Ops = append(r.Ops, randOp())
		}
	} else {
		r.Ops = []Op{randOp()}
	}
	return r
}

func modelSeeds(t *testing.T) []uint64 {
	if *flagSeed != 0 {
		return []uint64{*flagSeed}
	}
	if s := os.Getenv("KEEPER_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("KEEPER_SEED: %v", err)
		}
		return []uint64{v}
	}
	n := *flagSeeds
	if n == 0 {
		// Each seed compares every znode after every group: about 35 s
		// under the race detector on a busy 2-core machine.
		switch {
		case testing.Short():
			n = 2
		case os.Getenv("KEEPER_LONG") != "":
			n = 100
		default:
			n = 6
		}
	}
	base := uint64(time.Now().UnixNano())
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = base + uint64(i)*7919
	}
	return seeds
}

// TestModel applies random request sequences, in random group sizes, to the
// Pebble tree and to the reference tree, with a close and reopen mid-run, and
// checks that results, Stats, data and listings agree after every group.
// Replay a failure with -seed=N (or KEEPER_SEED=N); -model.seeds=N runs more.
func TestModel(t *testing.T) {
	for _, seed := range modelSeeds(t) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			runModel(t, seed, 1500)
		})
	}
}

func runModel(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 0x6b656570))
	h := newHarness(t)
	ref := newRefTree()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d (replay with -seed=%d): %s", seed, seed, fmt.Sprintf(format, args...))
	}
	reopenAt := steps / 2
	for step := 0; step < steps; {
		group := 1 + rng.IntN(8)
		var ents []committed
		var reqs []request
		for range group {
			req := randomRequest(rng, int64(1000+step))
			reqs = append(reqs, req)
			ents = append(ents, committed{Index: h.tr.applied() + 1 + uint64(len(ents)), Kind: entryOp, Data: appendRequest(nil, &req)})
			step++
		}
		if rng.IntN(10) == 0 {
			ents = append(ents, committed{Index: h.tr.applied() + 1 + uint64(len(ents)), Kind: entryNoop})
			reqs = append(reqs, request{})
		}
		results, err := h.tr.apply(ents)
		if err != nil {
			fail("apply: %v", err)
		}
		for i, e := range ents {
			if e.Kind != entryOp {
				if results[i] != nil {
					fail("noop result %+v", results[i])
				}
				continue
			}
			next, want, werr := ref.apply(&reqs[i], int64(e.Index))
			ref = next
			got := results[i]
			if errCode(got.Err) != errCode(werr) {
				fail("step %d entry %d %+v: err %v, reference %v", step, e.Index, reqs[i].Ops, got.Err, werr)
			}
			var me *MultiError
			if errors.As(werr, &me) {
				var gme *MultiError
				if !errors.As(got.Err, &gme) || gme.Index != me.Index {
					fail("multi error %v, reference %v", got.Err, werr)
				}
			}
			if len(got.Ops) != len(want) {
				fail("%d op results, reference %d", len(got.Ops), len(want))
			}
			for j := range want {
				if errCode(got.Ops[j].Err) != errCode(want[j].Err) || got.Ops[j].Path != want[j].Path || got.Ops[j].Stat != want[j].Stat {
					fail("entry %d op %d: %+v, reference %+v", e.Index, j, got.Ops[j], want[j])
				}
			}
		}
		compareTrees(t, h, ref, fail)
		if step >= reopenAt && reopenAt > 0 {
			reopenAt = 0
			d := h.tr.digest()
			h.reopen()
			if h.tr.digest() != d {
				fail("digest changed across reopen")
			}
			compareTrees(t, h, ref, fail)
		}
	}
	if got := fullDigest(t, h); got != h.tr.digest() {
		fail("digest: full %x, incremental %x", got, h.tr.digest())
	}
}

// compareTrees checks every reference node against the tree's reads, and
// that the tree holds no other node.
func compareTrees(t *testing.T, h *harness, ref refTree, fail func(string, ...any)) {
	t.Helper()
	super := []Identity{{Scheme: "super"}}
	count := 0
	scanNodes(t, h, func(string, []byte) { count++ })
	if count != len(ref) {
		fail("tree has %d nodes, reference %d", count, len(ref))
	}
	eph := map[int64][]string{}
	for p, n := range ref {
		data, st, err := h.tr.get(p, super)
		if err != nil || st != n.view() || string(data) != n.data {
			fail("get %s: %q %+v %v; reference %q %+v", p, data, st, err, n.data, n.view())
		}
		kids, st2, err := h.tr.children(p, super)
		if err != nil || st2 != n.view() || !slices.Equal(kids, slices.Sorted(maps.Keys(n.children))) {
			fail("children %s: %v %v; reference %v", p, kids, err, slices.Sorted(maps.Keys(n.children)))
		}
		acl, _, err := h.tr.getACL(p, super)
		if err != nil || !slices.Equal(acl, n.acl) {
			fail("getACL %s: %v %v; reference %v", p, acl, err, n.acl)
		}
		if n.stat.EphemeralOwner != 0 {
			eph[int64(n.stat.EphemeralOwner)] = append(eph[int64(n.stat.EphemeralOwner)], p)
		}
	}
	for s := int64(1); s <= 3; s++ {
		got, err := h.tr.ephemerals(s, "")
		slices.Sort(eph[s])
		if err != nil || !slices.Equal(got, eph[s]) {
			fail("ephemerals(%d) = %v %v; reference %v", s, got, err, eph[s])
		}
	}
	if n, err := h.tr.allChildrenNumber("/", super); err != nil || n != int64(len(ref)-1) {
		fail("allChildrenNumber(/) = %d %v; reference %d", n, err, len(ref)-1)
	}
}
