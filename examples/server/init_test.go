package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keeper-go/keeper/transport"
)

// -init writes a CA and member certificates that transport.NewTCP accepts
// for their member and refuses for another; a second -init issues a later
// member's certificate with the same CA and never overwrites a file.
func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	var out bytes.Buffer
	if err := run([]string{"-init", dir, "-cluster-id", "0x2a", "-members", "1,2"}, &out); err != nil {
		t.Fatalf("init: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "keeper://000000000000002a/member/2") {
		t.Errorf("init output does not name the member URIs:\n%s", out.String())
	}
	for _, f := range []string{"ca-key.pem", "member-1-key.pem"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", f, fi.Mode(), err)
		}
	}
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err := run([]string{"-init", dir, "-cluster-id", "42", "-members", "3"}, &out); err != nil {
		t.Fatalf("init of a later member: %v", err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); !bytes.Equal(again, ca) {
		t.Error("a second -init replaced the CA")
	}
	for _, member := range []uint64{1, 3} {
		tr, err := newTestTCP(t, dir, member, member)
		if err != nil {
			t.Fatalf("member %d's files refused: %v", member, err)
		}
		tr.Close()
	}
	if _, err := newTestTCP(t, dir, 2, 1); !errors.Is(err, transport.ErrBadCertificate) {
		t.Errorf("member 1's certificate opened as member 2: %v, want ErrBadCertificate", err)
	}
	for _, args := range [][]string{
		{"-init", dir, "-cluster-id", "42", "-members", "2"},      // exists
		{"-init", dir, "-cluster-id", "43", "-members", "4"},      // another cluster's CA
		{"-init", dir, "-members", "4"},                           // no cluster id
		{"-init", dir, "-cluster-id", "42", "-members", "4,x"},    // bad id
		{"-init", dir, "-cluster-id", "42", "-members", "4,4"},    // twice
		{"-init", "", "-cluster-id", "42", "-members", "4"},       // no dir
		{"-init", dir, "-cluster-id", "42", "-members", "4", "x"}, // stray argument
	} {
		if err := run(args, &out); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "member-4.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused -init wrote member-4.pem: %v", err)
	}
}

// newTestTCP opens a transport for member id with member file's certificate.
func newTestTCP(t *testing.T, dir string, id, file uint64) (*transport.TCP, error) {
	t.Helper()
	files := memberFiles(dir, file)
	return transport.NewTCP(transport.TCPConfig{
		ID: id, ClusterID: 42, Listener: listenLoopback(t), Peers: map[uint64]string{},
		TLS: transport.TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: files[0], Key: files[1]},
	})
}

// listenLoopback opens a listener on a free loopback port, closed at cleanup
// (closing it twice is harmless).
func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
