package transport

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/leakcheck"
	"github.com/keeper-go/keeper/transport/certs"
	"google.golang.org/protobuf/encoding/protowire"
)

// testCluster is the cluster id the TCP tests use.
const testCluster = 0xc0ffee

// pki is a cluster CA for tests, able to sign odd certificates too.
type pki struct {
	ca      *certs.CA
	caCert  *x509.Certificate
	caKey   any
	cluster uint64
}

func newPKI(t testing.TB, cluster uint64) *pki {
	t.Helper()
	ca, err := certs.NewCA(cluster, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(ca.CertPEM())
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := pem.Decode(ca.KeyPEM())
	key, err := x509.ParsePKCS8PrivateKey(k.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return &pki{ca: ca, caCert: cert, caKey: key, cluster: cluster}
}

// member returns member id's TLS material from this CA.
func (p *pki) member(t testing.TB, id uint64) TLSPEM {
	t.Helper()
	c, k, err := p.ca.Issue(id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return TLSPEM{CA: p.ca.CertPEM(), Cert: c, Key: k}
}

// odd signs a certificate made from a member certificate changed by edit
// (identity, validity), keeping that certificate's key.
func (p *pki) odd(t testing.TB, member uint64, edit func(*x509.Certificate)) TLSPEM {
	t.Helper()
	good := p.member(t, member)
	b, _ := pem.Decode(good.Cert)
	tmpl, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	edit(tmpl)
	der, err := x509.CreateCertificate(nil, tmpl, p.caCert, tmpl.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return TLSPEM{CA: p.ca.CertPEM(), Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Key: good.Key}
}

// uri parses a URI for a certificate template.
func uri(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// tlsCert turns PEM material into a tls.Certificate.
func tlsCert(t testing.TB, m TLSPEM) tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair(m.Cert, m.Key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testFrame returns a keeper frame of cluster: a raft message of type typ
// (3 MsgApp goes on the data lane, 8 MsgHeartbeat on the control lane)
// with a payload of n bytes whose first 8 carry seq.
func testFrame(cluster uint64, typ uint64, seq uint64, n int) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+16+n), cluster)
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, typ)
	payload := make([]byte, max(n, 8))
	binary.BigEndian.PutUint64(payload, seq)
	b = protowire.AppendTag(b, 11, protowire.BytesType)
	return protowire.AppendBytes(b, payload)
}

const (
	typApp       = 3
	typHeartbeat = 8
)

// frameSeq reads back testFrame's seq.
func frameSeq(f []byte) uint64 {
	b := f[8:]
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		b = b[n:]
		if num == 11 && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			return binary.BigEndian.Uint64(v)
		}
		b = b[protowire.ConsumeFieldValue(num, typ, b):]
	}
	return 0
}

// got is one delivered frame.
type got struct {
	from  uint64
	frame []byte
}

// tcpSink records what a TCP delivers.
type tcpSink struct {
	n  atomic.Int64
	ch chan got
}

func newSink() *tcpSink { return &tcpSink{ch: make(chan got, 1<<16)} }

func (s *tcpSink) deliver(from uint64, f []byte) {
	s.n.Add(1)
	select {
	case s.ch <- got{from, f}:
	default:
	}
}

// next waits for the next delivered frame.
func (s *tcpSink) next(t testing.TB, within time.Duration) got {
	t.Helper()
	select {
	case g := <-s.ch:
		return g
	case <-time.After(within):
		t.Fatalf("no frame delivered within %v", within)
		return got{}
	}
}

// node is one TCP endpoint in a test network.
type node struct {
	id   uint64
	addr string
	tcp  *TCP
	sink *tcpSink
	tls  TLSPEM
}

// noLeaks makes the test fail if goroutines the transport started outlive
// it. Call it first, so its check runs after every other cleanup.
func noLeaks(t *testing.T) {
	t.Cleanup(leakcheck.Start(t))
}

// network starts TCP endpoints for ids on loopback, each a peer of the
// others, with material from p (Insecure when p is nil). edit adjusts each
// config before NewTCP. The endpoints close, and goroutines are checked
// for leaks, when the test ends.
func network(t *testing.T, p *pki, ids []uint64, edit func(*TCPConfig)) map[uint64]*node {
	t.Helper()
	return networkTB(t, p, ids, edit)
}

// networkTB is network for tests and benchmarks.
func networkTB(t testing.TB, p *pki, ids []uint64, edit func(*TCPConfig)) map[uint64]*node {
	t.Helper()
	nodes := make(map[uint64]*node)
	lns := make(map[uint64]net.Listener)
	for _, id := range ids {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[id] = ln
		nodes[id] = &node{id: id, addr: ln.Addr().String(), sink: newSink()}
	}
	for _, id := range ids {
		n := nodes[id]
		cfg := TCPConfig{ID: id, ClusterID: testCluster, Listener: lns[id], Peers: map[uint64]string{}}
		for _, o := range ids {
			if o != id {
				cfg.Peers[o] = nodes[o].addr
			}
		}
		if p == nil {
			cfg.Insecure = true
		} else {
			n.tls = p.member(t, id)
			cfg.TLS = n.tls
		}
		if edit != nil {
			edit(&cfg)
		}
		tr, err := NewTCP(cfg)
		if err != nil {
			t.Fatal(err)
		}
		n.tcp = tr
		if err := tr.Attach(n.sink.deliver); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
	}
	return nodes
}

// eventually waits until cond holds, failing the test after within.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitUp waits until every node reaches every other on both lanes.
func waitUp(t testing.TB, nodes map[uint64]*node) {
	t.Helper()
	for _, n := range nodes {
		eventually(t, 10*time.Second, "peers up", func() bool {
			for _, up := range n.tcp.Stats().Up {
				if !up {
					return false
				}
			}
			return true
		})
	}
}

// refusals returns a node's refusal count for reason.
func refusals(n *node, r Reason) uint64 { return n.tcp.Stats().Refusals[r] }

// lockedBuffer is a concurrency-safe bytes.Buffer for log output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
