package zkserver_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/jute"
	"github.com/keeper-go/keeper/keepertest"
)

// fastSessions lets sessions time out in a second.
func fastSessions() keepertest.Option {
	return keepertest.WithConfig(func(c *keeper.Config) {
		c.MinSessionTimeout = time.Second
		c.MaxSessionTimeout = 10 * time.Second
	})
}

// The handshake as ZooKeeper answers it: the negotiated timeout, a random
// 16-byte password, the readOnly byte only to a client that sent it.
func TestHandshake(t *testing.T) {
	e := newEnsemble(t, 1, fastSessions())
	addr := e.hosts()[0]
	c1 := dialRaw(t, addr)
	r1, body1, ok := c1.connect(jute.ConnectRequest{TimeOut: 60000, Passwd: make([]byte, 16)})
	if !ok || r1.SessionID == 0 || r1.TimeOut != 10000 || len(r1.Passwd) != 16 || bytes.Equal(r1.Passwd, make([]byte, 16)) {
		t.Fatalf("connect: %+v", r1)
	}
	if len(body1) != 36 || r1.WithReadOnly {
		t.Fatalf("a client that sent no readOnly byte got %d bytes back, want 36", len(body1))
	}
	c2 := dialRaw(t, addr)
	r2, body2, ok := c2.connect(jute.ConnectRequest{TimeOut: 10, Passwd: make([]byte, 16), WithReadOnly: true})
	if !ok || len(body2) != 37 || r2.TimeOut != 1000 || r2.ReadOnly {
		t.Fatalf("connect with readOnly: %d bytes, %+v", len(body2), r2)
	}
	if bytes.Equal(r1.Passwd, r2.Passwd) {
		t.Fatal("two sessions got the same password")
	}
	// A wrong password: ZooKeeper's expiry answer.
	bad := bytes.Clone(r1.Passwd)
	bad[3] ^= 0x40
	c3 := dialRaw(t, addr)
	r3, _, ok := c3.connect(jute.ConnectRequest{TimeOut: 4000, SessionID: r1.SessionID, Passwd: bad})
	if !ok || r3.TimeOut != 0 || r3.SessionID != 0 || !c3.closed() {
		t.Fatalf("resume with a wrong password: %+v, want timeout 0 and the connection closed", r3)
	}
	// The right one resumes it, and the old connection is closed.
	c4 := dialRaw(t, addr)
	r4, _, ok := c4.connect(jute.ConnectRequest{TimeOut: 4000, SessionID: r1.SessionID, Passwd: r1.Passwd})
	if !ok || r4.SessionID != r1.SessionID || r4.TimeOut != r1.TimeOut {
		t.Fatalf("resume: %+v", r4)
	}
	if !c1.closed() {
		t.Fatal("the session's old connection stayed open")
	}
	if h, _, ok := c4.call(jute.OpPing, nil); !ok || h.Err != jute.CodeOK {
		t.Fatalf("ping on the resumed session: %+v %v", h, ok)
	}
}

// A client that has seen a later zxid than the member it reaches is
// refused, so it tries another member and never goes back in time.
func TestHandshakeRefusesClientAhead(t *testing.T) {
	e := newEnsemble(t, 1)
	c := dialRaw(t, e.hosts()[0])
	applied := int64(e.c.Node(1).Status().Applied)
	if _, _, ok := c.connect(jute.ConnectRequest{TimeOut: 4000, LastZxidSeen: applied + 1000, Passwd: make([]byte, 16)}); ok {
		t.Fatal("a client from the future got an answer")
	}
	c2 := dialRaw(t, e.hosts()[0])
	if _, _, ok := c2.connect(jute.ConnectRequest{TimeOut: 4000, LastZxidSeen: applied, Passwd: make([]byte, 16)}); !ok {
		t.Fatal("a client at the member's zxid was refused")
	}
}

// A client that falls silent loses its session after its timeout, and its
// ephemerals with it; one that pings keeps it.
func TestSilentClientExpires(t *testing.T) {
	e := newEnsemble(t, 3, fastSessions())
	addr := e.hosts()[0]
	silent, pinging := dialRaw(t, addr), dialRaw(t, addr)
	rs := silent.session(1000)
	pinging.session(1000)
	create := func(c *rawClient, path string) {
		h, _, ok := c.call(jute.OpCreate, &jute.CreateRequest{Path: path, ACL: []jute.ACL{{Perms: jute.PermAll, Scheme: "world", ID: "anyone"}}, Flags: jute.ModeEphemeral})
		if !ok || h.Err != jute.CodeOK {
			t.Fatalf("create %s: %+v %v", path, h, ok)
		}
	}
	create(silent, "/silent")
	create(pinging, "/pinging")
	watcher, _ := connect(t, e.hosts(), 10*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if h, _, ok := pinging.call(jute.OpPing, nil); !ok || h.Err != jute.CodeOK {
			t.Fatalf("ping: %+v %v", h, ok)
		}
		gone, _, err := watcher.Exists("/silent")
		if err != nil {
			t.Fatal(err)
		}
		if !gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the silent client's ephemeral outlived its session's timeout by 19s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ok, _, err := watcher.Exists("/pinging"); !ok || err != nil {
		t.Fatalf("the pinging client's ephemeral went with the silent one's: %v %v", ok, err)
	}
	if !silent.closed() {
		t.Fatal("the silent client's connection stayed open")
	}
	again := dialRaw(t, addr)
	r, _, ok := again.connect(jute.ConnectRequest{TimeOut: 1000, SessionID: rs.SessionID, Passwd: rs.Passwd})
	if !ok || r.TimeOut != 0 {
		t.Fatalf("resume of the expired session: %+v", r)
	}
}

// Bad input closes only its own connection: an oversized or malformed
// packet, or an opcode ZooKeeper does not know (answered UNIMPLEMENTED
// first, as ZooKeeper does).
func TestBadInputClosesOneConnection(t *testing.T) {
	e := newEnsemble(t, 1)
	addr := e.hosts()[0]
	good := dialRaw(t, addr)
	good.session(4000)

	big := dialRaw(t, addr)
	big.session(4000)
	if _, err := big.nc.Write([]byte{0x7f, 0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	if !big.closed() {
		t.Fatal("an oversized packet left its connection open")
	}
	neg := dialRaw(t, addr)
	neg.session(4000)
	if _, err := neg.nc.Write([]byte{0xff, 0xff, 0xff, 0xfe}); err != nil {
		t.Fatal(err)
	}
	if !neg.closed() {
		t.Fatal("a negative length left its connection open")
	}
	unknown := dialRaw(t, addr)
	unknown.session(4000)
	h, _, ok := unknown.call(jute.OpCode(999), nil)
	if !ok || h.Err != jute.CodeUnimplemented || !unknown.closed() {
		t.Fatalf("unknown opcode: %+v %v, want UNIMPLEMENTED and the connection closed", h, ok)
	}
	// A request whose record does not decode: MARSHALLINGERROR, and the
	// connection stays, as in ZooKeeper.
	h, _, ok = good.call(jute.OpGetData, &jute.PathRecord{Path: ""})
	if !ok || h.Err != jute.CodeMarshallingError {
		t.Fatalf("undecodable getData: %+v %v, want MARSHALLINGERROR", h, ok)
	}
	if h, _, ok := good.call(jute.OpPing, nil); !ok || h.Err != jute.CodeOK {
		t.Fatalf("the good connection after the others' bad input: %+v %v", h, ok)
	}
}
