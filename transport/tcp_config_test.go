package transport

import (
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/keeper-go/keeper/transport/certs"
)

// TestNewTCPRefusesMisconfiguration checks that each kind of bad config or
// TLS material is a typed error from NewTCP, and the listener stays open.
func TestNewTCPRefusesMisconfiguration(t *testing.T) {
	noLeaks(t)
	p := newPKI(t, testCluster)
	good := p.member(t, 1)
	other := p.member(t, 2)
	foreign := newPKI(t, testCluster+1)
	dir := t.TempDir()
	files, err := certs.WriteMemberFiles(dir, p.ca, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*TCPConfig)
		want error
	}{
		{"zero id", func(c *TCPConfig) { c.ID = 0 }, ErrBadConfig},
		{"zero cluster", func(c *TCPConfig) { c.ClusterID = 0 }, ErrBadConfig},
		{"nil listener", func(c *TCPConfig) { c.Listener = nil }, ErrBadConfig},
		{"no TLS", func(c *TCPConfig) { c.TLS = nil }, ErrBadConfig},
		{"peer address without port", func(c *TCPConfig) { c.Peers[2] = "127.0.0.1" }, ErrBadConfig},
		{"peer address without host", func(c *TCPConfig) { c.Peers[2] = ":7001" }, ErrBadConfig},
		{"peer address with a bad port", func(c *TCPConfig) { c.Peers[2] = "h:http" }, ErrBadConfig},
		{"peer id zero", func(c *TCPConfig) { c.Peers[0] = "127.0.0.1:1" }, ErrBadConfig},
		{"negative tuning", func(c *TCPConfig) { c.QueueBytes = -1 }, ErrBadConfig},
		{"unreadable file", func(c *TCPConfig) {
			c.TLS = TLSFiles{CA: files.CA, Cert: files.Cert, Key: filepath.Join(dir, "missing")}
		}, ErrBadCertificate},
		{"empty path", func(c *TCPConfig) { c.TLS = TLSFiles{CA: files.CA, Cert: files.Cert} }, ErrBadCertificate},
		{"key of another certificate", func(c *TCPConfig) { c.TLS = TLSPEM{CA: good.CA, Cert: good.Cert, Key: other.Key} }, ErrBadCertificate},
		{"garbage certificate", func(c *TCPConfig) { c.TLS = TLSPEM{CA: good.CA, Cert: []byte("nope"), Key: good.Key} }, ErrBadCertificate},
		{"empty CA bundle", func(c *TCPConfig) { c.TLS = TLSPEM{CA: good.Key, Cert: good.Cert, Key: good.Key} }, ErrBadCertificate},
		{"another member's certificate", func(c *TCPConfig) { c.TLS = other }, ErrBadCertificate},
		{"certificate without identity", func(c *TCPConfig) {
			c.TLS = p.odd(t, 1, func(x *x509.Certificate) { x.URIs = nil })
		}, ErrBadCertificate},
		{"two identities", func(c *TCPConfig) {
			c.TLS = p.odd(t, 1, func(x *x509.Certificate) { x.URIs = append(x.URIs, uri(t, certs.MemberURI(testCluster, 2))) })
		}, ErrBadCertificate},
		{"another cluster's certificate", func(c *TCPConfig) {
			c.TLS = p.odd(t, 1, func(x *x509.Certificate) { x.URIs = []*url.URL{uri(t, certs.MemberURI(testCluster+1, 1))} })
		}, ErrBadCertificate},
		{"certificate of another CA", func(c *TCPConfig) {
			m := foreign.member(t, 1)
			c.TLS = TLSPEM{CA: good.CA, Cert: m.Cert, Key: m.Key}
		}, ErrBadCertificate},
		{"expired certificate", func(c *TCPConfig) {
			c.TLS = p.odd(t, 1, func(x *x509.Certificate) { x.NotAfter = time.Now().Add(-time.Minute) })
		}, ErrBadCertificate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			cfg := TCPConfig{ID: 1, ClusterID: testCluster, Listener: ln, TLS: good, Peers: map[uint64]string{2: "127.0.0.1:7002"}}
			tc.edit(&cfg)
			tr, err := NewTCP(cfg)
			if err == nil {
				tr.Close()
				t.Fatal("NewTCP succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("NewTCP: %v, want %v", err, tc.want)
			}
			if cfg.Listener != nil {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatalf("listener closed by a failed NewTCP: %v", err)
				}
				c.Close()
			}
		})
	}
	// TLSFiles that are fine load, and a config with no peers is valid.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTCP(TCPConfig{ID: 1, ClusterID: testCluster, Listener: ln, TLS: TLSFiles(files)})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := tr.Attach(func(uint64, []byte) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Attach after Close: %v", err)
	}
}
