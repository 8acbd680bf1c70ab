package zkserver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/keeper-go/keeper/keepertest"
	"github.com/keeper-go/keeper/zkserver"
)

// ensemble is a keeper cluster whose members each serve ZooKeeper's
// protocol on a loopback port.
type ensemble struct {
	t     testing.TB
	c     *keepertest.Cluster
	srvs  map[uint64]*zkserver.Server
	addrs map[uint64]string
}

func newEnsemble(t testing.TB, n int, opts ...keepertest.Option) *ensemble {
	t.Helper()
	e := &ensemble{t: t, c: keepertest.NewCluster(t, n, opts...), srvs: map[uint64]*zkserver.Server{}, addrs: map[uint64]string{}}
	for _, id := range e.c.IDs() {
		e.serve(id)
	}
	e.c.WaitLeader()
	return e
}

// serve starts member id's server on a fresh loopback port.
func (e *ensemble) serve(id uint64) {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	srv := zkserver.New(e.c.Node(id), zkserver.Options{FourLetterWords: []string{"*"}})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	e.srvs[id], e.addrs[id] = srv, ln.Addr().String()
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			e.t.Errorf("shutdown of member %d's server: %v", id, err)
		}
		if err := <-done; !errors.Is(err, zkserver.ErrServerClosed) {
			e.t.Errorf("Serve of member %d returned %v", id, err)
		}
	})
}

// stop shuts member id's server down, as a ZooKeeper server going away.
func (e *ensemble) stop(id uint64) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srvs[id].Shutdown(ctx); err != nil {
		e.t.Fatal(err)
	}
}

// hosts lists the servers' addresses for a client.
func (e *ensemble) hosts(ids ...uint64) []string {
	if len(ids) == 0 {
		ids = e.c.IDs()
	}
	var out []string
	for _, id := range ids {
		out = append(out, e.addrs[id])
	}
	return out
}

// connect opens a go-zookeeper client on hosts and waits for its session.
func connect(t testing.TB, hosts []string, timeout time.Duration) (*zk.Conn, <-chan zk.Event) {
	t.Helper()
	conn, events, err := zk.Connect(hosts, timeout, zk.WithLogInfo(false), zk.WithLogger(quiet{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				return conn, events
			}
		case <-deadline:
			t.Fatalf("no session from %v within 20s", hosts)
		}
	}
}

// A ZooKeeper client creates, reads, changes and deletes znodes, with the
// Stats and errors ZooKeeper gives.
func TestClientBasics(t *testing.T) {
	e := newEnsemble(t, 1)
	conn, _ := connect(t, e.hosts(), 10*time.Second)
	p, err := conn.Create("/app", []byte("v1"), 0, zk.WorldACL(zk.PermAll))
	if err != nil || p != "/app" {
		t.Fatalf("create: %q, %v", p, err)
	}
	if _, err := conn.Create("/app", nil, 0, zk.WorldACL(zk.PermAll)); !errors.Is(err, zk.ErrNodeExists) {
		t.Fatalf("second create: %v, want ErrNodeExists", err)
	}
	data, st, err := conn.Get("/app")
	if err != nil || string(data) != "v1" || st.Version != 0 || st.DataLength != 2 || st.Czxid == 0 || st.Czxid != st.Mzxid {
		t.Fatalf("get: %q %+v %v", data, st, err)
	}
	st2, err := conn.Set("/app", []byte("v2"), 0)
	if err != nil || st2.Version != 1 || st2.Mzxid <= st.Mzxid {
		t.Fatalf("set: %+v %v", st2, err)
	}
	if _, err := conn.Set("/app", []byte("v3"), 0); !errors.Is(err, zk.ErrBadVersion) {
		t.Fatalf("set at a stale version: %v, want ErrBadVersion", err)
	}
	seq, err := conn.Create("/app/job-", nil, zk.FlagSequence, zk.WorldACL(zk.PermAll))
	if err != nil || seq != "/app/job-0000000000" {
		t.Fatalf("sequential create: %q %v", seq, err)
	}
	kids, _, err := conn.Children("/app")
	if err != nil || len(kids) != 1 || kids[0] != "job-0000000000" {
		t.Fatalf("children: %v %v", kids, err)
	}
	root, _, err := conn.Children("/")
	if err != nil || !strings.Contains(strings.Join(root, ","), "zookeeper") {
		t.Fatalf("children of /: %v %v", root, err)
	}
	sys, _, err := conn.Children("/zookeeper")
	if err != nil || strings.Join(sys, ",") != "config,quota" {
		t.Fatalf("children of /zookeeper: %v %v", sys, err)
	}
	if err := conn.Delete("/app", -1); !errors.Is(err, zk.ErrNotEmpty) {
		t.Fatalf("delete of a parent: %v, want ErrNotEmpty", err)
	}
	if ok, _, err := conn.Exists("/nope"); ok || err != nil {
		t.Fatalf("exists of a missing node: %v %v", ok, err)
	}
	if _, _, err := conn.Get("/nope"); !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("get of a missing node: %v, want ErrNoNode", err)
	}
	if err := conn.Delete(seq, -1); err != nil {
		t.Fatal(err)
	}
	if err := conn.Delete("/app", 1); err != nil {
		t.Fatal(err)
	}
}

// A multi applies at one zxid or not at all; a failed one reports the op
// that failed, as ZooKeeper's.
func TestClientMulti(t *testing.T) {
	e := newEnsemble(t, 1)
	conn, _ := connect(t, e.hosts(), 10*time.Second)
	res, err := conn.Multi(
		&zk.CreateRequest{Path: "/m", Data: []byte("x"), Acl: zk.WorldACL(zk.PermAll)},
		&zk.SetDataRequest{Path: "/m", Data: []byte("y"), Version: 0},
		&zk.CheckVersionRequest{Path: "/m", Version: 1},
	)
	if err != nil || len(res) != 3 || res[0].String != "/m" {
		t.Fatalf("multi: %+v %v", res, err)
	}
	_, err = conn.Multi(
		&zk.SetDataRequest{Path: "/m", Data: []byte("z"), Version: 1},
		&zk.DeleteRequest{Path: "/missing", Version: -1},
	)
	if !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("failed multi: %v, want ErrNoNode", err)
	}
	data, _, err := conn.Get("/m")
	if err != nil || string(data) != "y" {
		t.Fatalf("after a failed multi /m holds %q (%v), want y", data, err)
	}
}

// A watch fires once, and its event reaches the client before any reply
// that shows the change.
func TestClientWatches(t *testing.T) {
	e := newEnsemble(t, 1)
	conn, _ := connect(t, e.hosts(), 10*time.Second)
	other, _ := connect(t, e.hosts(), 10*time.Second)
	if _, err := conn.Create("/w", []byte("0"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		_, _, ch, err := conn.GetW("/w")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Set("/w", []byte(fmt.Sprint(i)), -1); err != nil {
			t.Fatal(err)
		}
		// Whatever this read returns, if it shows the change, the event
		// came first.
		data, _, err := conn.Get("/w")
		if err != nil {
			t.Fatal(err)
		}
		if string(data) == fmt.Sprint(i) {
			select {
			case ev := <-ch:
				if ev.Type != zk.EventNodeDataChanged || ev.Path != "/w" {
					t.Fatalf("watch event %+v", ev)
				}
			default:
				t.Fatalf("round %d: the read showed the change before its watch event", i)
			}
		} else if ev := <-ch; ev.Type != zk.EventNodeDataChanged {
			t.Fatalf("watch event %+v", ev)
		}
	}
	_, _, ch, err := conn.ChildrenW("/w")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Create("/w/c", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if ev := <-ch; ev.Type != zk.EventNodeChildrenChanged || ev.Path != "/w" {
		t.Fatalf("child watch event %+v", ev)
	}
}

// A client whose member goes away resumes its session on another member:
// its ephemerals stay, its watches are set again and fire.
func TestClientSessionMoves(t *testing.T) {
	e := newEnsemble(t, 3)
	conn, _ := connect(t, e.hosts(), 4*time.Second)
	var first uint64
	for id, a := range e.addrs {
		if a == conn.Server() {
			first = id
		}
	}
	if first == 0 {
		t.Fatalf("the client is on %s, none of %v", conn.Server(), e.addrs)
	}
	if _, err := conn.Create("/eph", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Create("/watched", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	_, _, ch, err := conn.GetW("/watched")
	if err != nil {
		t.Fatal(err)
	}
	sid := conn.SessionID()
	// Its member goes away.
	e.stop(first)
	other, _ := connect(t, e.hosts(e.c.Others(first)...), 10*time.Second)
	waitCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for conn.State() != zk.StateHasSession || conn.Server() == e.addrs[first] {
		if waitCtx.Err() != nil {
			t.Fatalf("the client did not resume on another member: state %v", conn.State())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if conn.SessionID() != sid {
		t.Fatalf("session %#x after the move, want %#x", conn.SessionID(), sid)
	}
	if ok, st, err := other.Exists("/eph"); !ok || err != nil || st.EphemeralOwner != sid {
		t.Fatalf("the ephemeral after the move: %v %+v %v", ok, st, err)
	}
	if _, err := other.Set("/watched", []byte("x"), -1); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-ch:
		if ev.Type != zk.EventNodeDataChanged {
			t.Fatalf("watch event after the move %+v", ev)
		}
	case <-waitCtx.Done():
		t.Fatal("the watch set before the move did not fire after it")
	}
}

// quiet drops the client library's log lines.
type quiet struct{}

func (quiet) Printf(string, ...any) {}
