package zkserver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/realzk"
	"github.com/keeper-go/keeper/keepertest"
	"github.com/keeper-go/keeper/zkserver"
)

// serveWithAddrs starts a server on each member of c, each told every
// member's client address and a peer address 127.0.0.1:(7000+id), as a
// host that knows both would; it returns the client addresses by id.
func serveWithAddrs(t *testing.T, c *keepertest.Cluster) map[uint64]string {
	t.Helper()
	lns := map[uint64]net.Listener{}
	addrs := map[uint64]string{}
	for _, id := range c.IDs() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[id], addrs[id] = ln, ln.Addr().String()
	}
	// addrs is not written after this point, so the servers may read it at
	// once; a member added later has no address.
	memberAddrs := func(id uint64) zkserver.MemberAddrs {
		if _, ok := addrs[id]; !ok {
			return zkserver.MemberAddrs{}
		}
		return zkserver.MemberAddrs{Peer: fmt.Sprintf("127.0.0.1:%d", 7000+id), Client: addrs[id]}
	}
	for id, ln := range lns {
		srv := zkserver.New(c.Node(id), zkserver.Options{MemberAddrs: memberAddrs})
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("shutdown of member %d's server: %v", id, err)
			}
			if err := <-done; !errors.Is(err, zkserver.ErrServerClosed) {
				t.Errorf("Serve of member %d returned %v", id, err)
			}
		})
	}
	return addrs
}

// configVersion returns the zxid a /zookeeper/config text names on its
// last line, "version=<hex>".
func configVersion(t *testing.T, text string) int64 {
	t.Helper()
	last := text[strings.LastIndexByte(text, '\n')+1:]
	hex, ok := strings.CutPrefix(last, "version=")
	v, err := strconv.ParseInt(hex, 16, 64)
	if !ok || err != nil {
		t.Fatalf("last line of /zookeeper/config is %q, want version=<hex>", last)
	}
	return v
}

// waitConfig reads /zookeeper/config through conn until it holds want, a
// whole line, or does not when absent; it returns the text and its Stat.
func waitConfig(t *testing.T, conn *zk.Conn, line string, absent bool) (string, *zk.Stat) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, st, err := conn.Get("/zookeeper/config")
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		has := strings.HasPrefix(text, line+"\n") || strings.Contains(text, "\n"+line+"\n")
		if has != absent {
			return text, st
		}
		if time.Now().After(deadline) {
			t.Fatalf("/zookeeper/config after 20s:\n%s\nwant the line %q (absent: %v)", text, line, absent)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// /zookeeper/config shows the ensemble as ZooKeeper's dynamic configuration
// does: a server line per member with its peer address (as both quorum and
// election port), its role and its client address, then the version, the
// zxid of the last membership change in hex; its Stat and ACL are
// ZooKeeper's, and it stays read-only. A member added shows up, as an
// observer while a learner, without the addresses the host does not know;
// a member removed goes.
func TestConfigNodeShowsMembers(t *testing.T) {
	c := keepertest.NewCluster(t, 3)
	addrs := serveWithAddrs(t, c)
	conn, _ := connect(t, []string{addrs[1]}, 10*time.Second)

	zxid := c.Node(1).Status().MembershipZxid
	if zxid == 0 {
		t.Fatalf("MembershipZxid of a new cluster's member is 0, want its bootstrap entries' last zxid")
	}
	want := fmt.Sprintf("server.1=127.0.0.1:7001:7001:participant;%s\n"+
		"server.2=127.0.0.1:7002:7002:participant;%s\n"+
		"server.3=127.0.0.1:7003:7003:participant;%s\n"+
		"version=%x", addrs[1], addrs[2], addrs[3], uint64(zxid))
	data, st, err := conn.Get("/zookeeper/config")
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != want {
		t.Fatalf("/zookeeper/config:\n%s\nwant\n%s", data, want)
	}
	wantStat := zk.Stat{Mzxid: int64(zxid), Version: -1, Aversion: -1, DataLength: int32(len(want))}
	if *st != wantStat {
		t.Errorf("Stat of /zookeeper/config: %+v, want %+v", *st, wantStat)
	}
	if _, est, err := conn.Exists("/zookeeper/config"); err != nil || *est != wantStat {
		t.Errorf("exists /zookeeper/config: %+v, %v; want %+v", est, err, wantStat)
	}
	acl, _, err := conn.GetACL("/zookeeper/config")
	if wantACL := zk.WorldACL(zk.PermRead); err != nil || len(acl) != 1 || acl[0] != wantACL[0] {
		t.Errorf("ACL of /zookeeper/config: %v, %v; want %v", acl, err, wantACL)
	}
	if _, err := conn.Set("/zookeeper/config", []byte("x"), -1); !errors.Is(err, zk.ErrBadArguments) {
		t.Errorf("set /zookeeper/config: %v, want %v", err, zk.ErrBadArguments)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Node(1).AddMember(ctx, 4, keeper.AsLearner); err != nil {
		t.Fatal(err)
	}
	text, st := waitConfig(t, conn, "server.4=observer", false)
	added := configVersion(t, text)
	if added <= int64(zxid) || st.Mzxid != added {
		t.Errorf("after adding member 4: version %x, Mzxid %x; want them equal and above %x", added, st.Mzxid, uint64(zxid))
	}
	if err := c.Node(1).RemoveMember(ctx, 4); err != nil {
		t.Fatal(err)
	}
	text, st = waitConfig(t, conn, "server.4=observer", true)
	if removed := configVersion(t, text); removed <= added || st.Mzxid != removed {
		t.Errorf("after removing member 4: version %x, Mzxid %x; want them equal and above %x", removed, st.Mzxid, added)
	}
	if !strings.HasPrefix(text, want[:strings.LastIndex(want, "version=")]) {
		t.Errorf("after removing member 4, /zookeeper/config is\n%s\nwant the three first lines of\n%s", text, want)
	}
}

// configLine is the shape of a server line both ZooKeeper and keeper write
// for a member whose addresses are known.
var configLine = regexp.MustCompile(`^server\.[1-9][0-9]*=127\.0\.0\.1:[0-9]+:[0-9]+:participant;127\.0\.0\.1:[0-9]+$`)

// configShape checks text against ZooKeeper's dynamic-configuration shape
// for n members and returns its version.
func configShape(t *testing.T, who, text string, n int) int64 {
	t.Helper()
	lines := strings.Split(text, "\n")
	if len(lines) != n+1 {
		t.Fatalf("%s: /zookeeper/config has %d lines, want %d:\n%s", who, len(lines), n+1, text)
	}
	for i, l := range lines[:n] {
		if !configLine.MatchString(l) || !strings.HasPrefix(l, fmt.Sprintf("server.%d=", i+1)) {
			t.Errorf("%s: line %d %q, want server.%d=<host>:<port>:<port>:participant;<host>:<port>", who, i+1, l, i+1)
		}
	}
	return configVersion(t, text)
}

// A three-member ZooKeeper 3.8 in dynamic-reconfiguration mode and a
// three-member keeper show /zookeeper/config in the same shape: the same
// lines in the same order, the version last without a newline, and the same
// Stat and ACL (Mzxid the version, Version and Aversion -1, world:anyone:r).
// The values differ as the ensembles do: ports, and the zxid of the last
// change (ZooKeeper's first leader's, keeper's bootstrap entries').
func TestConfigNodeMatchesZooKeeper(t *testing.T) {
	real := realzk.StartEnsemble(t, 3, realzk.Options{Reconfig: true})
	c := keepertest.NewCluster(t, 3)
	addrs := serveWithAddrs(t, c)
	for _, side := range []struct {
		who  string
		addr string
	}{{"ZooKeeper", real.Addrs()[0]}, {"keeper", addrs[1]}} {
		conn, _ := connect(t, []string{side.addr}, 10*time.Second)
		data, st, err := conn.Get("/zookeeper/config")
		if err != nil {
			t.Fatalf("%s: %v", side.who, err)
		}
		version := configShape(t, side.who, string(data), 3)
		want := zk.Stat{Mzxid: version, Version: -1, Aversion: -1, DataLength: int32(len(data))}
		got := *st
		got.Mtime = 0 // ZooKeeper's is when its configuration was set; keeper's 0
		if got != want {
			t.Errorf("%s: Stat of /zookeeper/config %+v, want %+v", side.who, got, want)
		}
		acl, _, err := conn.GetACL("/zookeeper/config")
		if wantACL := zk.WorldACL(zk.PermRead); err != nil || len(acl) != 1 || acl[0] != wantACL[0] {
			t.Errorf("%s: ACL of /zookeeper/config: %v, %v; want %v", side.who, acl, err, wantACL)
		}
		t.Logf("%s:\n%s", side.who, data)
	}
}
