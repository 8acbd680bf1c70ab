package certs_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/keeper-go/keeper/transport"
	"github.com/keeper-go/keeper/transport/certs"
)

func parse(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIssueCarriesIdentity(t *testing.T) {
	ca, err := certs.NewCA(0xabc, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if ca.ClusterID() != 0xabc {
		t.Fatalf("ClusterID %x", ca.ClusterID())
	}
	certPEM, keyPEM, err := ca.Issue(7, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf := parse(t, certPEM)
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "keeper://0000000000000abc/member/7" {
		t.Fatalf("URIs %v", leaf.URIs)
	}
	if got := certs.MemberURI(0xabc, 7); got != leaf.URIs[0].String() {
		t.Fatalf("MemberURI %s", got)
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		t.Fatalf("ExtKeyUsage %v", leaf.ExtKeyUsage)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM())
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
			t.Fatalf("verify for %v: %v", u, err)
		}
	}
	if d := time.Until(leaf.NotAfter); d > time.Hour || d < 59*time.Minute {
		t.Fatalf("leaf valid for %v more", d)
	}
	// A member certificate never outlives its CA.
	long, _, err := ca.Issue(8, 1000*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if parse(t, long).NotAfter.After(parse(t, ca.CertPEM()).NotAfter) {
		t.Fatal("member certificate outlives the CA")
	}
	if _, err := x509.ParsePKCS8PrivateKey(pemBytes(t, keyPEM)); err != nil {
		t.Fatalf("key: %v", err)
	}
}

func pemBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("no PEM block")
	}
	return blk.Bytes
}

func TestLoadCA(t *testing.T) {
	ca, err := certs.NewCA(5, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	again, err := certs.LoadCA(ca.CertPEM(), ca.KeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	if again.ClusterID() != 5 {
		t.Fatalf("loaded cluster %d", again.ClusterID())
	}
	c, _, err := again.Issue(1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM())
	if _, err := parse(t, c).Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("certificate of a loaded CA: %v", err)
	}
	other, _ := certs.NewCA(5, time.Hour)
	member, memberKey, _ := ca.Issue(2, time.Hour)
	for name, tc := range map[string][2][]byte{
		"garbage":            {[]byte("x"), ca.KeyPEM()},
		"no key":             {ca.CertPEM(), nil},
		"key of another CA":  {ca.CertPEM(), other.KeyPEM()},
		"member certificate": {member, memberKey},
	} {
		if _, err := certs.LoadCA(tc[0], tc[1]); !errors.Is(err, certs.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, f := range map[string]func() error{
		"zero cluster":      func() error { _, err := certs.NewCA(0, time.Hour); return err },
		"no validity":       func() error { _, err := certs.NewCA(1, 0); return err },
		"zero member":       func() error { _, _, err := ca.Issue(0, time.Hour); return err },
		"negative validity": func() error { _, _, err := ca.Issue(1, -time.Hour); return err },
	} {
		if err := f(); !errors.Is(err, certs.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseMemberURI(t *testing.T) {
	u, _ := url.Parse(certs.MemberURI(0xfeed, 42))
	c, m, err := certs.ParseMemberURI(u)
	if err != nil || c != 0xfeed || m != 42 {
		t.Fatalf("ParseMemberURI: %x %d %v", c, m, err)
	}
	for _, s := range []string{
		"https://000000000000feed/member/42",
		"keeper://feed/member/42",
		"keeper://000000000000FEED/member/42",
		"keeper://000000000000feed/members/42",
		"keeper://000000000000feed/member/042",
		"keeper://000000000000feed/member/x",
		"keeper://000000000000feed/member/0",
		"keeper://0000000000000000/member/1",
		"keeper://000000000000feed:1/member/42",
		"keeper://u@000000000000feed/member/42",
		"keeper://000000000000feed/member/42?x",
	} {
		u, err := url.Parse(s)
		if err != nil {
			continue
		}
		if _, _, err := certs.ParseMemberURI(u); !errors.Is(err, certs.ErrInvalid) {
			t.Errorf("%s: %v", s, err)
		}
	}
}

// TestWriteMemberFiles writes a member's files and opens a TCP transport
// with them.
func TestWriteMemberFiles(t *testing.T) {
	ca, err := certs.NewCA(9, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := certs.WriteMemberFiles(dir, ca, 3, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(files.Key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("%d files in dir, want 3 (no temporary files left)", len(entries))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := transport.NewTCP(transport.TCPConfig{ID: 3, ClusterID: 9, Listener: ln, TLS: transport.TLSFiles(files)})
	if err != nil {
		ln.Close()
		t.Fatalf("NewTCP with the written files: %v", err)
	}
	tr.Close()
	if _, err := certs.WriteMemberFiles(dir, ca, 4, 0); !errors.Is(err, certs.ErrInvalid) {
		t.Fatalf("zero validity: %v", err)
	}
}
