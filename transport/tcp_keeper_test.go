package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/leakcheck"
	"github.com/keeper-go/keeper/transport"
	"github.com/keeper-go/keeper/transport/certs"
)

// member is one keeper member of the test, on its own TCP transport.
type member struct {
	id   uint64
	dir  string
	addr string
	tls  transport.TLSPEM
	tr   *transport.TCP
	node *keeper.Node
}

const (
	tcpCluster = 0x7cb
	tcpKeep    = 50 // KeepEntries: small, so a stopped member falls behind the log
)

// start opens the member's transport (on its address, listening again after
// a restart) and keeper node.
func (m *member) start(t *testing.T, peers map[uint64]string) {
	t.Helper()
	var ln net.Listener
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ln, err = net.Listen("tcp", m.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("member %d listen again on %s: %v", m.id, m.addr, err)
	}
	m.addr = ln.Addr().String()
	others := map[uint64]string{}
	for id, a := range peers {
		if id != m.id {
			others[id] = a
		}
	}
	m.tr, err = transport.NewTCP(transport.TCPConfig{
		ID: m.id, ClusterID: tcpCluster, Listener: ln, Peers: others, TLS: m.tls,
	})
	if err != nil {
		t.Fatal(err)
	}
	m.node, err = keeper.Open(context.Background(), keeper.Config{
		ID: m.id, Dir: m.dir, Peers: []uint64{1, 2, 3}, ClusterID: tcpCluster,
		Transport: m.tr, KeepEntries: tcpKeep,
	})
	if err != nil {
		m.tr.Close()
		t.Fatalf("open member %d: %v", m.id, err)
	}
}

// stop closes the member's node and transport, as a process exit would.
func (m *member) stop(t *testing.T) {
	t.Helper()
	if m.node != nil {
		if err := m.node.Close(); err != nil {
			t.Errorf("close member %d: %v", m.id, err)
		}
		m.node = nil
	}
	if m.tr != nil {
		m.tr.Close()
		m.tr = nil
	}
}

// leader waits until a running member leads and the others agree.
func leader(t *testing.T, ms map[uint64]*member) *member {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		agreed := uint64(0)
		ok := true
		for _, m := range ms {
			if m.node == nil {
				continue
			}
			l := m.node.Status().Leader
			if l == 0 || (agreed != 0 && l != agreed) || ms[l].node == nil {
				ok = false
				break
			}
			agreed = l
		}
		if ok && agreed != 0 {
			return ms[agreed]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no agreed leader within 30 s")
	return nil
}

// create writes znodes prefix-0..n-1 through whichever member leads.
func create(t *testing.T, ms map[uint64]*member, prefix string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range n {
		p := fmt.Sprintf("%s-%05d", prefix, i)
		for {
			_, err := leader(t, ms).node.Create(ctx, p, []byte(p), keeper.Persistent)
			if err == nil || errors.Is(err, keeper.ErrNodeExists) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("create %s: %v", p, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestKeeperOverTCP runs three keeper members in one process over
// transport.TCP with mutual TLS on loopback: writes commit, the leader's
// process stops (node and transport closed) and another member leads, and
// the old leader, restarted after ten times KeepEntries of writes, catches
// up by a raft snapshot streamed over the TCP transport.
func TestKeeperOverTCP(t *testing.T) {
	t.Cleanup(leakcheck.Start(t))
	ca, err := certs.NewCA(tcpCluster, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ms := map[uint64]*member{}
	peers := map[uint64]string{}
	for id := uint64(1); id <= 3; id++ {
		c, k, err := ca.Issue(id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		// Reserve an address: listen once to learn a free port.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		m := &member{id: id, dir: t.TempDir(), addr: ln.Addr().String(), tls: transport.TLSPEM{CA: ca.CertPEM(), Cert: c, Key: k}}
		ln.Close()
		ms[id], peers[id] = m, m.addr
	}
	for _, m := range ms {
		m.start(t, peers)
	}
	t.Cleanup(func() {
		for _, m := range ms {
			m.stop(t)
		}
	})

	create(t, ms, "/before", 20)
	old := leader(t, ms)
	old.stop(t)
	next := leader(t, ms)
	if next == old {
		t.Fatal("closed member still leads")
	}
	t.Logf("member %d led; member %d leads after it stopped", old.id, next.id)
	create(t, ms, "/during", 10*tcpKeep)

	old.start(t, peers)
	deadline := time.Now().Add(60 * time.Second)
	for old.node.Status().SnapshotsInstalled == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("member %d installed no raft snapshot: %+v", old.id, old.node.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	last := fmt.Sprintf("/during-%05d", 10*tcpKeep-1)
	for {
		_, _, err := old.node.Get(ctx, last)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("member %d never read %s: %v", old.id, last, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	create(t, ms, "/after", 10)
	s := next.tr.Stats()
	t.Logf("leader transport: control %+v, data %+v, streams sent %d, refusals %v",
		s.Control, s.Data, s.StreamsSent, s.Refusals)
	if s.StreamsSent == 0 {
		t.Error("the leader's transport sent no stream")
	}
	if len(s.Refusals) != 0 {
		t.Errorf("refusals among correctly configured members: %v", s.Refusals)
	}
}
