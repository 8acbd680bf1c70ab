package transport

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keeper-go/keeper/transport/certs"
)

// attack is what a bad client does to member 1's port; it returns the
// connection so the test can check member 1 closes it.
type attack func(t *testing.T, addr string) net.Conn

// tlsClient dials addr with TLS 1.3 presenting cert (none when nil).
func tlsClient(t *testing.T, addr string, cert *TLSPEM) *tls.Conn {
	t.Helper()
	conf := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	if cert != nil {
		conf.Certificates = []tls.Certificate{tlsCert(t, *cert)}
	}
	c, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		t.Fatalf("tls dial: %v", err)
	}
	return c
}

// send writes a preamble and then, if frame is not nil, a frame record
// with the given length field and bytes.
func send(t *testing.T, c net.Conn, pre preamble, frame []byte, length int) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// A refused client may see its writes fail: that is the refusal.
	if _, err := c.Write(pre.encode()); err != nil {
		return
	}
	if frame == nil {
		return
	}
	br := bufio.NewReader(c)
	if err := readAck(br); err != nil {
		return
	}
	rec := append([]byte{recFrame}, appendUvarint(nil, uint64(length))...)
	c.Write(append(rec, frame...))
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// TestTCPRefusals runs the refusal table against member 1: each bad
// client is refused with the counted reason, its connection is closed, and
// nothing it sent is delivered.
func TestTCPRefusals(t *testing.T) {
	noLeaks(t)
	p := newPKI(t, testCluster)
	foreign := newPKI(t, testCluster)
	// Member 2 is a peer of member 1 but not running, so the attacks
	// with member 2's certificate have its lanes to themselves (a newer
	// connection replaces an older one of the same member and lane).
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hole.Close()
	nodes := network(t, p, []uint64{1}, func(c *TCPConfig) {
		c.Peers[2] = hole.Addr().String()
		c.MaxFrame = 4096
	})
	victim := nodes[1]
	m2 := p.member(t, 2)
	pre := preamble{lane: laneControl, cluster: testCluster, from: 2, to: 1}
	frameOK := testFrame(testCluster, typHeartbeat, 1, 10)
	withPre := func(cert *TLSPEM, pr preamble, frame []byte, length int) attack {
		return func(t *testing.T, addr string) net.Conn {
			var c net.Conn
			if cert == nil {
				var err error
				if c, err = net.Dial("tcp", addr); err != nil {
					t.Fatal(err)
				}
			} else {
				c = tlsClient(t, addr, cert)
			}
			send(t, c, pr, frame, length)
			return c
		}
	}
	odd := func(edit func(*x509.Certificate)) *TLSPEM {
		m := p.odd(t, 2, edit)
		return &m
	}
	foreign2 := foreign.member(t, 2)
	m9 := p.member(t, 9)
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 64)
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	for _, tc := range []struct {
		name   string
		reason Reason
		do     attack
	}{
		{"wrong CA", ReasonUnknownCA, withPre(&foreign2, pre, frameOK, len(frameOK))},
		{"member 2 claims to be 3", ReasonImpersonation, withPre(&m2, preamble{lane: laneControl, cluster: testCluster, from: 3, to: 1}, frameOK, len(frameOK))},
		{"another cluster's certificate", ReasonOtherCluster, withPre(odd(func(x *x509.Certificate) {
			x.URIs = []*url.URL{uri(t, certs.MemberURI(testCluster+1, 2))}
		}), pre, frameOK, len(frameOK))},
		{"another cluster in the preamble", ReasonOtherCluster, withPre(&m2, preamble{lane: laneControl, cluster: testCluster + 1, from: 2, to: 1}, frameOK, len(frameOK))},
		{"expired certificate", ReasonExpired, withPre(odd(func(x *x509.Certificate) {
			x.NotBefore, x.NotAfter = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
		}), pre, frameOK, len(frameOK))},
		{"no URI SAN", ReasonNoIdentity, withPre(odd(func(x *x509.Certificate) { x.URIs = nil }), pre, frameOK, len(frameOK))},
		{"member not a peer", ReasonUnknownMember, withPre(&m9, preamble{lane: laneControl, cluster: testCluster, from: 9, to: 1}, frameOK, len(frameOK))},
		{"wrong destination", ReasonWrongDestination, withPre(&m2, preamble{lane: laneControl, cluster: testCluster, from: 2, to: 5}, frameOK, len(frameOK))},
		{"plaintext client", ReasonNotTLS, withPre(nil, pre, frameOK, len(frameOK))},
		{"TLS client without a certificate", ReasonNoCertificate, func(t *testing.T, addr string) net.Conn {
			c := tlsClient(t, addr, nil)
			send(t, c, pre, frameOK, len(frameOK))
			return c
		}},
		{"garbage after connect", ReasonGarbage, func(t *testing.T, addr string) net.Conn {
			c := tlsClient(t, addr, &m2)
			c.Write(garbage)
			return c
		}},
		{"unknown record", ReasonGarbage, func(t *testing.T, addr string) net.Conn {
			c := tlsClient(t, addr, &m2)
			send(t, c, pre, nil, 0)
			readAck(bufio.NewReader(c))
			c.Write([]byte{0x7f, 1, 2, 3})
			return c
		}},
		{"frame of another cluster", ReasonGarbage, withPre(&m2, pre, testFrame(testCluster+1, typHeartbeat, 1, 10), len(frameOK))},
		{"frame over the size limit", ReasonOversize, withPre(&m2, pre, make([]byte, 100), 4097)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := refusals(victim, tc.reason)
			c := tc.do(t, victim.addr)
			defer c.Close()
			eventually(t, 10*time.Second, "refusal "+string(tc.reason)+" counted", func() bool {
				return refusals(victim, tc.reason) > before
			})
			// Member 1 closed the connection: reads end (refusal text,
			// alert or EOF) well before the deadline.
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := io.Copy(io.Discard, c)
			if isTimeout(err) {
				t.Fatalf("connection still open after the refusal")
			}
			if n := victim.sink.n.Load(); n != 0 {
				t.Fatalf("member 1 delivered %d frames", n)
			}
		})
	}
}

// TestTCPRefusesWrongMemberAtAddress dials member 3's address where member
// 2 answers (member 2's certificate claiming to be 3, the dialler side):
// the dialler refuses, Send to 3 drops, and member 2 receives nothing.
func TestTCPRefusesWrongMemberAtAddress(t *testing.T) {
	noLeaks(t)
	p := newPKI(t, testCluster)
	nodes := network(t, p, []uint64{1, 2}, nil)
	nodes[1].tcp.SetPeer(3, nodes[2].addr)
	eventually(t, 10*time.Second, "wrong-member refusal counted", func() bool {
		return refusals(nodes[1], ReasonWrongMember) > 0
	})
	for i := range uint64(10) {
		nodes[1].tcp.Send(3, testFrame(testCluster, typHeartbeat, i, 10))
	}
	if s := nodes[1].tcp.Stats(); s.Up[3] {
		t.Fatal("member 3 reported up")
	}
	// A frame to member 2 after those arrives first: nothing for 3 reached
	// member 2.
	nodes[1].tcp.Send(2, testFrame(testCluster, typHeartbeat, 99, 10))
	g := nodes[2].sink.next(t, 10*time.Second)
	if g.from != 1 || frameSeq(g.frame) != 99 {
		t.Fatalf("member 2 got frame %d from %d", frameSeq(g.frame), g.from)
	}
	if err := nodes[1].tcp.SendStream(t.Context(), 3, []byte("h"), strings.NewReader("body")); !errors.Is(err, ErrRefused) {
		t.Fatalf("SendStream to the wrong member: %v, want ErrRefused", err)
	}
}
