package zkserver_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/keeper-go/keeper/internal/jute"
)

// Digest authentication and ACLs as ZooKeeper checks them; an auth scheme
// keeper does not serve fails with AUTHFAILED.
func TestClientDigestACL(t *testing.T) {
	e := newEnsemble(t, 1)
	owner, _ := connect(t, e.hosts(), 10*time.Second)
	if err := owner.AddAuth("digest", []byte("alice:secret")); err != nil {
		t.Fatal(err)
	}
	acl := zk.DigestACL(zk.PermAll, "alice", "secret")
	if _, err := owner.Create("/private", []byte("x"), 0, acl); err != nil {
		t.Fatal(err)
	}
	if data, _, err := owner.Get("/private"); err != nil || string(data) != "x" {
		t.Fatalf("owner's read: %q %v", data, err)
	}
	got, _, err := owner.GetACL("/private")
	if err != nil || len(got) != 1 || got[0].Scheme != "digest" || got[0].ID != acl[0].ID {
		t.Fatalf("getACL: %+v %v", got, err)
	}
	stranger, _ := connect(t, e.hosts(), 10*time.Second)
	if _, _, err := stranger.Get("/private"); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("a stranger's read: %v, want ErrNoAuth", err)
	}
	if _, err := stranger.Set("/private", nil, -1); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("a stranger's write: %v, want ErrNoAuth", err)
	}
	if _, err := owner.Create("/bad", nil, 0, []zk.ACL{}); !errors.Is(err, zk.ErrInvalidACL) {
		t.Fatalf("create with an empty ACL: %v, want ErrInvalidACL", err)
	}
	c := dialRaw(t, e.hosts()[0])
	c.session(4000)
	c.xid = 0
	c.write(&jute.RequestHeader{Xid: jute.XidAuth, Type: jute.OpAuth}, &jute.AuthPacket{Scheme: "kerberos", Auth: []byte("x")})
	pkt, err := c.read()
	if err != nil {
		t.Fatal(err)
	}
	var h jute.ReplyHeader
	if err := jute.Unmarshal(pkt, &h); err != nil || h.Xid != jute.XidAuth || h.Err != jute.CodeAuthFailed {
		t.Fatalf("auth with an unknown scheme: %+v %v, want AUTHFAILED", h, err)
	}
	if !c.closed() {
		t.Fatal("a failed auth left the connection open")
	}
}

// Container and TTL znodes, and the reads ZooKeeper 3.6 added.
func TestClientNodeKinds(t *testing.T) {
	e := newEnsemble(t, 1)
	conn, _ := connect(t, e.hosts(), 10*time.Second)
	if p, err := conn.CreateContainer("/box", nil, zk.FlagTTL|zk.FlagSequence, zk.WorldACL(zk.PermAll)); err == nil {
		t.Fatalf("a container created with TTL flags: %s", p)
	}
	if _, err := conn.CreateContainer("/box", nil, 4, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.CreateTTL("/ttl", nil, zk.FlagTTL, zk.WorldACL(zk.PermAll), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.CreateTTL("/ttl0", nil, zk.FlagTTL, zk.WorldACL(zk.PermAll), 0); !errors.Is(err, zk.ErrBadArguments) {
		t.Fatalf("a TTL of 0: %v, want ErrBadArguments", err)
	}
	for _, p := range []string{"/box/a", "/box/b"} {
		if _, err := conn.Create(p, nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	c := dialRaw(t, e.hosts()[0])
	c.session(4000)
	h, body, ok := c.call(jute.OpGetAllChildrenNumber, &jute.PathRecord{Path: "/box"})
	var n jute.GetAllChildrenNumberResponse
	if !ok || h.Err != jute.CodeOK || jute.Unmarshal(body, &n) != nil || n.TotalNumber != 2 {
		t.Fatalf("getAllChildrenNumber: %+v %v %+v", h, ok, n)
	}
	h, body, ok = c.call(jute.OpGetEphemerals, &jute.PathRecord{Path: "/"})
	var eph jute.GetEphemeralsResponse
	if !ok || h.Err != jute.CodeOK || jute.Unmarshal(body, &eph) != nil || len(eph.Ephemerals) != 0 {
		t.Fatalf("getEphemerals of a session with none: %+v %+v", h, eph)
	}
	h, body, ok = c.call(jute.OpWhoAmI, nil)
	var who jute.WhoAmIResponse
	if !ok || h.Err != jute.CodeOK || jute.Unmarshal(body, &who) != nil || len(who.ClientInfo) != 1 || who.ClientInfo[0].AuthScheme != "ip" || who.ClientInfo[0].User != "127.0.0.1" {
		t.Fatalf("whoAmI: %+v %+v", h, who)
	}
}

// Persistent watches (addWatch) stay after firing; a recursive one sees
// the whole subtree; removeWatches and checkWatches answer as ZooKeeper.
func TestClientPersistentWatches(t *testing.T) {
	e := newEnsemble(t, 1)
	writer, _ := connect(t, e.hosts(), 10*time.Second)
	c := dialRaw(t, e.hosts()[0])
	c.session(4000)
	h, body, ok := c.call(jute.OpAddWatch, &jute.AddWatchRequest{Path: "/tree", Mode: jute.AddWatchPersistentRecursive})
	var er jute.ErrorResponse
	if !ok || h.Err != jute.CodeOK || jute.Unmarshal(body, &er) != nil || er.Err != jute.CodeOK {
		t.Fatalf("addWatch: %+v %v, body %x (ZooKeeper sends an ErrorResponse of code 0)", h, ok, body)
	}
	if h, _, ok := c.call(jute.OpCheckWatches, &jute.WatchesRecord{Path: "/tree", Type: jute.WatcherPersistentRecursive}); !ok || h.Err != jute.CodeOK {
		t.Fatalf("checkWatches of a set watch: %+v %v", h, ok)
	}
	if h, _, ok := c.call(jute.OpCheckWatches, &jute.WatchesRecord{Path: "/other", Type: jute.WatcherAny}); !ok || h.Err != jute.CodeNoWatcher {
		t.Fatalf("checkWatches of no watch: %+v %v, want NOWATCHER", h, ok)
	}
	for _, p := range []string{"/tree", "/tree/a", "/tree/a/b"} {
		if _, err := writer.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"/tree", "/tree/a", "/tree/a/b"}
	for _, p := range want {
		pkt, err := c.read()
		if err != nil {
			t.Fatal(err)
		}
		d := jute.NewDecoder(pkt)
		var h jute.ReplyHeader
		var ev jute.WatcherEvent
		d.Decode(&h)
		d.Decode(&ev)
		if d.Err() != nil || h.Xid != jute.XidNotification || ev.Type != jute.EventNodeCreated || ev.Path != p {
			t.Fatalf("notification %+v %+v (%v), want NodeCreated %s", h, ev, d.Err(), p)
		}
	}
	if h, _, ok := c.call(jute.OpRemoveWatches, &jute.WatchesRecord{Path: "/tree", Type: jute.WatcherPersistentRecursive}); !ok || h.Err != jute.CodeOK {
		t.Fatalf("removeWatches: %+v %v", h, ok)
	}
	if h, _, ok := c.call(jute.OpRemoveWatches, &jute.WatchesRecord{Path: "/tree", Type: jute.WatcherAny}); !ok || h.Err != jute.CodeNoWatcher {
		t.Fatalf("removeWatches again: %+v %v, want NOWATCHER", h, ok)
	}
}

// A burst of changes under a recursive watch reaches the client whole, in
// zxid order: a multi of 2,000 creates is 2,000 notifications.
func TestBurstOfNotifications(t *testing.T) {
	e := newEnsemble(t, 1)
	writer, _ := connect(t, e.hosts(), 10*time.Second)
	if _, err := writer.Create("/burst", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, e.hosts()[0])
	c.session(10000)
	if h, _, ok := c.call(jute.OpAddWatch, &jute.AddWatchRequest{Path: "/burst", Mode: jute.AddWatchPersistentRecursive}); !ok || h.Err != jute.CodeOK {
		t.Fatalf("addWatch: %+v %v", h, ok)
	}
	const n = 2000
	ops := make([]any, n)
	for i := range ops {
		ops[i] = &zk.CreateRequest{Path: fmt.Sprintf("/burst/n%04d", i), Acl: zk.WorldACL(zk.PermAll)}
	}
	if _, err := writer.Multi(ops...); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		pkt, err := c.read()
		if err != nil {
			t.Fatalf("after %d notifications: %v", i, err)
		}
		d := jute.NewDecoder(pkt)
		var h jute.ReplyHeader
		var ev jute.WatcherEvent
		d.Decode(&h)
		d.Decode(&ev)
		if want := fmt.Sprintf("/burst/n%04d", i); h.Xid != jute.XidNotification || ev.Type != jute.EventNodeCreated || ev.Path != want {
			t.Fatalf("notification %d: %+v %+v, want NodeCreated %s", i, h, ev, want)
		}
	}
}
