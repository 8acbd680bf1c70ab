package keeper_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/keeper-go/keeper"
)

// The two systems of the differential test, behind one interface: ZooKeeper
// through go-zookeeper, keeper through its API. Both answer in keeper's types;
// ZooKeeper's errors are mapped to keeper's sentinels.

// zdResult is one answer.
type zdResult struct {
	err     error
	path    string // create: the created path
	data    []byte
	stat    keeper.Stat
	hasStat bool
	names   []string // children, sorted
	acl     []keeper.ACL
	exists  bool
	multi   []zdResult
}

type zdSystem interface {
	do(ctx context.Context, op *zdOp) zdResult
	// reopen closes client's session (its ephemerals go) and opens another
	// with the same identities.
	reopen(ctx context.Context, client int) error
	session(client int) int64
}

const zdSessionTimeout = 20 * time.Second

// ---- ZooKeeper ----

type zkSystem struct {
	t     testing.TB
	addr  string
	conns []*zk.Conn
}

func newZKSystem(t testing.TB, addr string) *zkSystem {
	s := &zkSystem{t: t, addr: addr, conns: make([]*zk.Conn, len(zdClients))}
	for i := range zdClients {
		if err := s.connect(i); err != nil {
			t.Fatalf("zookeeper client %d: %v", i, err)
		}
	}
	t.Cleanup(func() {
		for _, c := range s.conns {
			if c != nil {
				c.Close()
			}
		}
	})
	return s
}

type zdNopLogger struct{}

func (zdNopLogger) Printf(string, ...any) {}

func (s *zkSystem) connect(i int) error {
	has := make(chan struct{}, 1)
	c, _, err := zk.Connect([]string{s.addr}, zdSessionTimeout, zk.WithLogger(zdNopLogger{}), zk.WithLogInfo(false),
		zk.WithEventCallback(func(ev zk.Event) {
			if ev.Type == zk.EventSession && ev.State == zk.StateHasSession {
				select {
				case has <- struct{}{}:
				default:
				}
			}
		}))
	if err != nil {
		return err
	}
	select {
	case <-has:
	case <-time.After(30 * time.Second):
		c.Close()
		return errors.New("no session after 30s")
	}
	for _, id := range zdClients[i] {
		if err := c.AddAuth("digest", []byte(id[0]+":"+id[1])); err != nil {
			c.Close()
			return fmt.Errorf("add auth %s: %w", id[0], err)
		}
	}
	s.conns[i] = c
	return nil
}

func (s *zkSystem) session(i int) int64 { return s.conns[i].SessionID() }

func (s *zkSystem) reopen(ctx context.Context, i int) error {
	old := s.conns[i].SessionID()
	s.conns[i].Close()
	if err := s.connect(i); err != nil {
		return err
	}
	// Close waits for ZooKeeper's answer for a second at most: wait until
	// the session's ephemerals are gone.
	for {
		left, err := zdEphemeralsOf(ctx, s, old)
		if err != nil {
			return err
		}
		if len(left) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ephemerals of closed session %#x still there: %v", old, left)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

func zkACL(acl []keeper.ACL) []zk.ACL {
	out := make([]zk.ACL, len(acl))
	for i, a := range acl {
		out[i] = zk.ACL{Perms: int32(a.Perms), Scheme: a.Scheme, ID: a.ID}
	}
	return out
}

func fromZKACL(acl []zk.ACL) []keeper.ACL {
	out := make([]keeper.ACL, len(acl))
	for i, a := range acl {
		out[i] = keeper.ACL{Perms: keeper.Perm(a.Perms), Scheme: a.Scheme, ID: a.ID}
	}
	return out
}

func fromZKStat(st *zk.Stat) keeper.Stat {
	if st == nil {
		return keeper.Stat{}
	}
	return keeper.Stat{Czxid: keeper.Zxid(st.Czxid), Mzxid: keeper.Zxid(st.Mzxid), Pzxid: keeper.Zxid(st.Pzxid), Ctime: st.Ctime, Mtime: st.Mtime,
		Version: st.Version, Cversion: st.Cversion, Aversion: st.Aversion, EphemeralOwner: keeper.SessionID(st.EphemeralOwner),
		DataLength: st.DataLength, NumChildren: st.NumChildren}
}

// zkFlags is ZooKeeper's CreateMode flag of each keeper mode.
var zkFlags = map[keeper.CreateMode]int32{
	keeper.Persistent: zk.FlagPersistent, keeper.Ephemeral: zk.FlagEphemeral, keeper.PersistentSequential: zk.FlagSequence,
	keeper.EphemeralSequential: zk.FlagEphemeralSequential, keeper.Container: zk.FlagContainer,
	keeper.PersistentWithTTL: zk.FlagTTL, keeper.PersistentSequentialWithTTL: zk.FlagPersistentSequentialWithTTL,
}

// zkErr maps a go-zookeeper error to the keeper sentinel of the same
// ZooKeeper code; go-zookeeper's client-side path check maps to
// ErrInvalidPath. Anything else is returned as it is, and fails the test.
func zkErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, zk.ErrNoNode):
		return keeper.ErrNoNode
	case errors.Is(err, zk.ErrNodeExists):
		return keeper.ErrNodeExists
	case errors.Is(err, zk.ErrBadVersion):
		return keeper.ErrBadVersion
	case errors.Is(err, zk.ErrNotEmpty):
		return keeper.ErrNotEmpty
	case errors.Is(err, zk.ErrNoChildrenForEphemerals):
		return keeper.ErrNoChildrenForEphemerals
	case errors.Is(err, zk.ErrInvalidACL):
		return keeper.ErrInvalidACL
	case errors.Is(err, zk.ErrNoAuth):
		return keeper.ErrNoAuth
	case errors.Is(err, zk.ErrBadArguments):
		return keeper.ErrBadArguments
	case errors.Is(err, zk.ErrInvalidPath):
		return keeper.ErrInvalidPath
	case err.Error() == "unknown error: -2":
		return keeper.ErrRuntimeInconsistency
	case err.Error() == "unknown error: -6":
		return keeper.ErrUnimplemented
	}
	return fmt.Errorf("unmapped zookeeper error: %w", err)
}

func (s *zkSystem) do(_ context.Context, op *zdOp) zdResult {
	c := s.conns[op.client]
	acl := zk.WorldACL(zk.PermAll)
	if op.aclSet {
		acl = zkACL(op.acl)
	}
	switch op.kind {
	case zdCreate:
		var p string
		var err error
		flags := zkFlags[op.mode]
		switch {
		case op.mode == keeper.Container:
			p, err = c.CreateContainer(op.path, op.data, flags, acl)
		case op.mode.IsTTL():
			p, err = c.CreateTTL(op.path, op.data, flags, acl, op.ttl)
		default:
			p, err = c.Create(op.path, op.data, flags, acl)
		}
		return zdResult{err: zkErr(err), path: p}
	case zdSet:
		st, err := c.Set(op.path, op.data, op.version)
		return zdResult{err: zkErr(err), stat: fromZKStat(st), hasStat: err == nil}
	case zdDelete:
		return zdResult{err: zkErr(c.Delete(op.path, op.version))}
	case zdSetACL:
		st, err := c.SetACL(op.path, zkACL(op.acl), op.version)
		return zdResult{err: zkErr(err), stat: fromZKStat(st), hasStat: err == nil}
	case zdGet:
		data, st, err := c.Get(op.path)
		return zdResult{err: zkErr(err), data: data, stat: fromZKStat(st), hasStat: err == nil}
	case zdExists:
		ok, st, err := c.Exists(op.path)
		return zdResult{err: zkErr(err), exists: ok, stat: fromZKStat(st), hasStat: ok}
	case zdChildren:
		names, st, err := c.Children(op.path)
		slices.Sort(names)
		return zdResult{err: zkErr(err), names: names, stat: fromZKStat(st), hasStat: err == nil}
	case zdGetACL:
		a, st, err := c.GetACL(op.path)
		return zdResult{err: zkErr(err), acl: fromZKACL(a), stat: fromZKStat(st), hasStat: err == nil}
	case zdMulti:
		return s.multi(c, op)
	}
	panic(fmt.Sprintf("zkSystem: op %v", op.kind))
}

func (s *zkSystem) multi(c *zk.Conn, op *zdOp) zdResult {
	ops := make([]any, len(op.ops))
	for i := range op.ops {
		o := &op.ops[i]
		switch o.kind {
		case zdCreate:
			acl := zk.WorldACL(zk.PermAll)
			if o.aclSet {
				acl = zkACL(o.acl)
			}
			ops[i] = &zk.CreateRequest{Path: o.path, Data: o.data, Acl: acl, Flags: zkFlags[o.mode]}
		case zdSet:
			ops[i] = &zk.SetDataRequest{Path: o.path, Data: o.data, Version: o.version}
		case zdDelete:
			ops[i] = &zk.DeleteRequest{Path: o.path, Version: o.version}
		case zdCheck:
			ops[i] = &zk.CheckVersionRequest{Path: o.path, Version: o.version}
		}
	}
	res, err := c.Multi(ops...)
	out := zdResult{err: zkErr(err)}
	for i, r := range res {
		sub := zdResult{err: zkErr(r.Error), path: r.String}
		if r.Stat != nil && r.Error == nil && op.ops[i].kind == zdSet {
			sub.stat, sub.hasStat = fromZKStat(r.Stat), true
		}
		out.multi = append(out.multi, sub)
	}
	return out
}

// ---- keeper ----

type keeperSystem struct {
	t        testing.TB
	nodes    []*keeper.Node
	sessions []*keeper.Session
	clients  []*keeper.Client
}

func newKeeperSystem(ctx context.Context, t testing.TB, nodes []*keeper.Node) *keeperSystem {
	s := &keeperSystem{t: t, nodes: nodes, sessions: make([]*keeper.Session, len(zdClients)), clients: make([]*keeper.Client, len(zdClients))}
	for i := range zdClients {
		if err := s.connect(ctx, i); err != nil {
			t.Fatalf("keeper client %d: %v", i, err)
		}
	}
	return s
}

// connect opens client i's session on member i mod n, so that the clients
// write through every member. Reads are linearizable: the clients' members
// differ, and ZooKeeper's one server answers every read with every write
// made before it.
func (s *keeperSystem) connect(ctx context.Context, i int) error {
	sess, err := s.nodes[i%len(s.nodes)].NewSession(ctx, keeper.SessionOptions{Timeout: zdSessionTimeout})
	if err != nil {
		return err
	}
	var ids []keeper.Identity
	for _, id := range zdClients[i] {
		ids = append(ids, keeper.DigestIdentity(id[0], id[1]))
	}
	s.sessions[i] = sess
	s.clients[i] = sess.WithAuth(ids...).Linearizable()
	return nil
}

func (s *keeperSystem) session(i int) int64 { return int64(s.sessions[i].ID()) }

func (s *keeperSystem) reopen(ctx context.Context, i int) error {
	if err := s.sessions[i].Close(ctx); err != nil {
		return err
	}
	return s.connect(ctx, i)
}

func keeperCreateOp(o *zdOp) keeper.Op {
	return keeper.CreateOp(o.path, o.data, o.mode, zdCreateOptions(o)...)
}

func (s *keeperSystem) do(ctx context.Context, op *zdOp) zdResult {
	c := s.clients[op.client]
	switch op.kind {
	case zdCreate:
		p, err := c.Create(ctx, op.path, op.data, op.mode, zdCreateOptions(op)...)
		return zdResult{err: err, path: p}
	case zdSet:
		st, err := c.Set(ctx, op.path, op.data, op.version)
		return zdResult{err: err, stat: st, hasStat: err == nil}
	case zdDelete:
		return zdResult{err: c.Delete(ctx, op.path, op.version)}
	case zdSetACL:
		st, err := c.SetACL(ctx, op.path, op.acl, op.version)
		return zdResult{err: err, stat: st, hasStat: err == nil}
	case zdGet:
		data, st, err := c.Get(ctx, op.path)
		return zdResult{err: err, data: data, stat: st, hasStat: err == nil}
	case zdExists:
		st, ok, err := c.Exists(ctx, op.path)
		return zdResult{err: err, exists: ok, stat: st, hasStat: ok}
	case zdChildren:
		names, st, err := c.Children(ctx, op.path)
		return zdResult{err: err, names: names, stat: st, hasStat: err == nil}
	case zdGetACL:
		acl, st, err := c.GetACL(ctx, op.path)
		return zdResult{err: err, acl: acl, stat: st, hasStat: err == nil}
	case zdMulti:
		ops := make([]keeper.Op, len(op.ops))
		for i := range op.ops {
			o := &op.ops[i]
			switch o.kind {
			case zdCreate:
				ops[i] = keeperCreateOp(o)
			case zdSet:
				ops[i] = keeper.SetOp(o.path, o.data, o.version)
			case zdDelete:
				ops[i] = keeper.DeleteOp(o.path, o.version)
			case zdCheck:
				ops[i] = keeper.CheckOp(o.path, o.version)
			}
		}
		res, err := c.Multi(ctx, ops...)
		out := zdResult{err: err}
		for i, r := range res {
			sub := zdResult{err: r.Err, path: r.Path}
			if r.Err == nil && err == nil && op.ops[i].kind == zdSet {
				// ZooKeeper's multi answers a set with its Stat, a create
				// with its path only.
				sub.stat, sub.hasStat = r.Stat, true
			}
			out.multi = append(out.multi, sub)
		}
		return out
	}
	panic(fmt.Sprintf("keeperSystem: op %v", op.kind))
}

func zdCreateOptions(o *zdOp) []keeper.CreateOption {
	var opts []keeper.CreateOption
	if o.aclSet {
		opts = append(opts, keeper.WithACL(o.acl...))
	}
	if o.mode.IsTTL() {
		opts = append(opts, keeper.WithTTL(o.ttl))
	}
	return opts
}

// zdEphemeralsOf walks the tree as the super user and returns the paths of
// session's ephemerals.
func zdEphemeralsOf(ctx context.Context, s zdSystem, session int64) ([]string, error) {
	var out []string
	err := zdWalk(ctx, s, func(p string, r zdResult) {
		if int64(r.stat.EphemeralOwner) == session {
			out = append(out, p)
		}
	})
	return out, err
}

// zdWalk calls fn with every znode's path and Stat (from getChildren, as the
// super user), parents first, below "/" but outside /zookeeper.
func zdWalk(ctx context.Context, s zdSystem, fn func(path string, r zdResult)) error {
	var walk func(p string) error
	walk = func(p string) error {
		r := s.do(ctx, &zdOp{kind: zdChildren, client: zdSuperClient, path: p})
		if errors.Is(r.err, keeper.ErrNoNode) {
			return nil // gone since its parent was listed
		}
		if r.err != nil {
			return fmt.Errorf("children %s: %w", p, r.err)
		}
		fn(p, r)
		for _, name := range r.names {
			child := strings.TrimSuffix(p, "/") + "/" + name
			if child == "/zookeeper" {
				continue
			}
			if err := walk(child); err != nil {
				return err
			}
		}
		return nil
	}
	return walk("/")
}
