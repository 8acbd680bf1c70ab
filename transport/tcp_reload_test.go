package transport

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper/transport/certs"
)

// memberFiles is one member's TLS files, rewritten in place as an operator
// would before Reload.
type memberFiles struct {
	files TLSFiles
}

func newMemberFiles(t *testing.T, m TLSPEM) *memberFiles {
	t.Helper()
	dir := t.TempDir()
	f := &memberFiles{files: TLSFiles{
		CA:   filepath.Join(dir, "ca.pem"),
		Cert: filepath.Join(dir, "member.pem"),
		Key:  filepath.Join(dir, "member-key.pem"),
	}}
	f.write(t, m.CA, m.Cert, m.Key)
	return f
}

// write replaces the files given non-nil contents.
func (f *memberFiles) write(t *testing.T, ca, cert, key []byte) {
	t.Helper()
	for _, w := range []struct {
		path string
		data []byte
	}{{f.files.CA, ca}, {f.files.Cert, cert}, {f.files.Key, key}} {
		if w.data == nil {
			continue
		}
		if err := certs.WriteFileAtomic(w.path, w.data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// servedSerial returns the serial of the certificate addr presents to a
// client holding m.
func servedSerial(t *testing.T, addr string, m TLSPEM) string {
	t.Helper()
	c := tlsClient(t, addr, &m)
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// serial returns a PEM certificate's serial.
func serial(t *testing.T, certPEM []byte) string {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

// traffic sends heartbeats between every pair of nodes until stopped and
// counts deliveries.
type traffic struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

func startTraffic(nodes map[uint64]*node) *traffic {
	tr := &traffic{stop: make(chan struct{})}
	tr.wg.Add(1)
	go func() {
		defer tr.wg.Done()
		for i := uint64(0); ; i++ {
			select {
			case <-tr.stop:
				return
			case <-time.After(time.Millisecond):
			}
			for from, n := range nodes {
				for to := range nodes {
					if to != from {
						n.tcp.Send(to, testFrame(testCluster, typHeartbeat, i, 16))
					}
				}
			}
		}
	}()
	// Drain the sinks so they never fill.
	for _, n := range nodes {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for {
				select {
				case <-tr.stop:
					return
				case <-n.sink.ch:
				}
			}
		}()
	}
	return tr
}

func (tr *traffic) end() { close(tr.stop); tr.wg.Wait() }

// flowing waits until every node received more frames than before.
func flowing(t *testing.T, nodes map[uint64]*node, what string) {
	t.Helper()
	before := map[uint64]int64{}
	for id, n := range nodes {
		before[id] = n.sink.n.Load()
	}
	for id, n := range nodes {
		eventually(t, 10*time.Second, what+": frames flowing", func() bool { return n.sink.n.Load() > before[id]+10 })
	}
}

// redials sums redials and dead links over nodes.
func interruptions(nodes map[uint64]*node) (n uint64) {
	for _, nd := range nodes {
		s := nd.tcp.Stats()
		n += s.Redials + s.DeadLinks
	}
	return n
}

// TestTCPReloadRotation replaces every member's leaf mid-traffic (no
// connection drops, new handshakes present the new leaf), then rotates
// the CA through a two-CA bundle, after which certificates of the old CA
// are refused and the connections they authenticated are closed. A reload
// that fails keeps the old material.
func TestTCPReloadRotation(t *testing.T) {
	noLeaks(t)
	caA := newPKI(t, testCluster)
	files := map[uint64]*memberFiles{}
	ids := []uint64{1, 2, 3}
	nodes := network(t, caA, ids, func(c *TCPConfig) {
		f := newMemberFiles(t, c.TLS.(TLSPEM))
		files[c.ID] = f
		c.TLS = f.files
	})
	waitUp(t, nodes)
	tr := startTraffic(nodes)
	defer tr.end()
	flowing(t, nodes, "start")
	base := interruptions(nodes)

	// Leaf rotation.
	fresh := map[uint64]TLSPEM{}
	for _, id := range ids {
		fresh[id] = caA.member(t, id)
		files[id].write(t, nil, fresh[id].Cert, fresh[id].Key)
		if err := nodes[id].tcp.Reload(); err != nil {
			t.Fatalf("member %d Reload: %v", id, err)
		}
	}
	flowing(t, nodes, "after the leaf rotation")
	if got := interruptions(nodes); got != base {
		t.Errorf("leaf rotation interrupted connections: redials and dead links %d, were %d", got, base)
	}
	if got, want := servedSerial(t, nodes[1].addr, fresh[2]), serial(t, fresh[1].Cert); got != want {
		t.Errorf("member 1 presents serial %s after Reload, want the new leaf's %s", got, want)
	}

	// A failed reload keeps the old material.
	files[1].write(t, nil, nil, []byte("not a key"))
	if err := nodes[1].tcp.Reload(); !errors.Is(err, ErrBadCertificate) {
		t.Fatalf("Reload of a broken key: %v, want ErrBadCertificate", err)
	}
	if got, want := servedSerial(t, nodes[1].addr, fresh[2]), serial(t, fresh[1].Cert); got != want {
		t.Errorf("after a failed Reload member 1 presents serial %s, want %s", got, want)
	}
	files[1].write(t, nil, nil, fresh[1].Key)

	// CA rotation: trust both, move leaves to the new CA, drop the old.
	caB := newPKI(t, testCluster)
	bundle := append(append([]byte(nil), caA.ca.CertPEM()...), caB.ca.CertPEM()...)
	reloadAll := func(what string) {
		t.Helper()
		for _, id := range ids {
			if err := nodes[id].tcp.Reload(); err != nil {
				t.Fatalf("%s: member %d Reload: %v", what, id, err)
			}
		}
		flowing(t, nodes, what)
	}
	for _, id := range ids {
		files[id].write(t, bundle, nil, nil)
	}
	reloadAll("both CAs trusted")
	for _, id := range ids {
		m := caB.member(t, id)
		files[id].write(t, nil, m.Cert, m.Key)
	}
	reloadAll("leaves from the new CA")
	if got := interruptions(nodes); got != base {
		t.Errorf("bundle rotation interrupted connections: %d, were %d", got, base)
	}
	for _, id := range ids {
		files[id].write(t, caB.ca.CertPEM(), nil, nil)
	}
	reloadAll("old CA dropped")
	var revoked uint64
	for _, n := range nodes {
		revoked += refusals(n, ReasonRevoked)
	}
	if revoked == 0 {
		t.Error("no connection authenticated by the old CA was closed")
	}
	// The old CA's certificates are refused now.
	before := refusals(nodes[1], ReasonUnknownCA)
	old := caA.member(t, 2)
	c := tlsClient(t, nodes[1].addr, &old)
	c.Write(preamble{lane: laneControl, cluster: testCluster, from: 2, to: 1}.encode())
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.Copy(io.Discard, c)
	c.Close()
	eventually(t, 10*time.Second, "old-CA certificate refused", func() bool { return refusals(nodes[1], ReasonUnknownCA) > before })
	// And a member still holding the old CA cannot be reached by the
	// others' clients: their handshakes check against the new bundle.
	conf := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{tlsCert(t, caB.member(t, 2))}}
	var served atomic.Value
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		served.Store(cs.PeerCertificates[0].Issuer.CommonName)
		return nil
	}
	cb, err := tls.Dial("tcp", nodes[1].addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	cb.Close()
	if want := caB.caCert.Subject.CommonName; served.Load() != want {
		t.Errorf("member 1 presents a certificate issued by %v, want %s", served.Load(), want)
	}
}
