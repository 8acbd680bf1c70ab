package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keeper-go/keeper/zkserver"
)

var baseArgs = []string{"-id", "2", "-dir", "d", "-cluster-id", "0x10", "-certs", "c",
	"-peers", "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003"}

// The flags give a full config; -certs names the member's files and the
// listen address defaults to the member's own entry in -peers.
func TestParseConfigFlags(t *testing.T) {
	c, err := parseConfig(append(baseArgs, "-admin", "127.0.0.1:8002"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.id != 2 || c.clusterID != 16 || c.listen != "127.0.0.1:7002" || len(c.peers) != 3 {
		t.Errorf("config %+v", c)
	}
	if c.ca != filepath.Join("c", "ca.pem") || c.cert != filepath.Join("c", "member-2.pem") || c.key != filepath.Join("c", "member-2-key.pem") {
		t.Errorf("TLS files %q %q %q", c.ca, c.cert, c.key)
	}
}

// A config file holds the flags' names; the command line overrides it.
func TestParseConfigFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "m.conf")
	text := "# member 3\nid = 3\ndir = /var/lib/keeper\ncluster-id = 7\ncerts = /etc/keeper\n" +
		"peers = 1=10.0.0.1:7001, 2=10.0.0.2:7001, 3=10.0.0.3:7001\nlisten = 0.0.0.0:7001\nadmin = localhost:8000\n"
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parseConfig([]string{"-config", f, "-admin", "[::1]:9000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.id != 3 || c.dir != "/var/lib/keeper" || c.clusterID != 7 || c.listen != "0.0.0.0:7001" || c.peers[2] != "10.0.0.2:7001" {
		t.Errorf("config %+v", c)
	}
	if c.admin != "[::1]:9000" {
		t.Errorf("admin %q: the command line must win over the file", c.admin)
	}
}

// Bad settings are refused with errUsage, each saying what is wrong.
func TestParseConfigRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"nothing", nil, "-id is required"},
		{"admin on every interface", append(baseArgs, "-admin", ":8000"), "not a loopback address"},
		{"admin on a public address", append(baseArgs, "-admin", "10.1.2.3:8000"), "not a loopback address"},
		{"admin by host name", append(baseArgs, "-admin", "example.com:8000"), "not a loopback address"},
		{"member not in peers", []string{"-id", "4", "-dir", "d", "-cluster-id", "1", "-certs", "c", "-peers", "1=127.0.0.1:1"}, "must list this member"},
		{"peer without address", append(baseArgs, "-peers", "1=127.0.0.1:1,2"), "not id=host:port"},
		{"peer id zero", append(baseArgs, "-peers", "0=127.0.0.1:1"), "positive integer"},
		{"peer twice", append(baseArgs, "-peers", "2=127.0.0.1:1,2=127.0.0.1:2"), "given twice"},
		{"peer address without port", append(baseArgs, "-peers", "2=127.0.0.1"), "missing port"},
		{"cluster id zero", append(baseArgs, "-cluster-id", "0"), "cluster id"},
		{"no TLS files", []string{"-id", "1", "-dir", "d", "-cluster-id", "1", "-peers", "1=127.0.0.1:1"}, "TLS files are required"},
		{"log level", append(baseArgs, "-log-level", "loud"), "-log-level"},
		{"stray argument", append(baseArgs, "extra"), "unexpected argument"},
		{"unknown file setting", []string{"-config", write("a.conf", "id = 1\ncolour = blue\n")}, `a.conf:2: unknown setting "colour"`},
		{"file line without =", []string{"-config", write("b.conf", "id 1\n")}, "b.conf:1: want name = value"},
		{"missing file", []string{"-config", filepath.Join(dir, "none.conf")}, "config file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.args, io.Discard)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want errUsage with %q", err, tc.want)
			}
		})
	}
	// Allowed explicitly.
	if _, err := parseConfig(append(baseArgs, "-admin", ":8000", "-admin-any-address"), io.Discard); err != nil {
		t.Errorf("-admin-any-address: %v", err)
	}
}

// -zk-peers gives /zookeeper/config every member's client address beside
// its -peers address; without it a member knows only its own -zk.
func TestParseConfigZKPeers(t *testing.T) {
	c, err := parseConfig(append(baseArgs, "-zk", "127.0.0.1:2182", "-zk-peers", "1=127.0.0.1:2181,2=127.0.0.1:2182,3=127.0.0.1:2183"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.memberAddrs(3), (zkserver.MemberAddrs{Peer: "127.0.0.1:7003", Client: "127.0.0.1:2183"}); got != want {
		t.Errorf("member 3: %+v, want %+v", got, want)
	}
	c, err = parseConfig(append(baseArgs, "-zk", "127.0.0.1:2182"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.memberAddrs(2), (zkserver.MemberAddrs{Peer: "127.0.0.1:7002", Client: "127.0.0.1:2182"}); got != want {
		t.Errorf("member 2 without -zk-peers: %+v, want %+v", got, want)
	}
	if got, want := c.memberAddrs(1), (zkserver.MemberAddrs{Peer: "127.0.0.1:7001"}); got != want {
		t.Errorf("member 1 without -zk-peers: %+v, want %+v", got, want)
	}
	if _, err := parseConfig(append(baseArgs, "-zk-peers", "1=127.0.0.1:2181"), io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("-zk-peers without -zk: %v, want errUsage", err)
	}
}
