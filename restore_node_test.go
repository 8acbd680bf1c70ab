package keeper_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
	"github.com/keeper-go/keeper/transport"
)

// openCluster opens one member per dir over a fresh in-memory network and
// closes them at the end of the test.
func openCluster(t *testing.T, dirs map[uint64]string, peers []uint64) []*keeper.Node {
	t.Helper()
	net := transport.NewMemory(1)
	var nodes []*keeper.Node
	t.Cleanup(func() {
		for _, n := range nodes {
			n.Close()
		}
		net.Close()
	})
	for _, id := range peers {
		n, err := keeper.Open(context.Background(), keeper.Config{ID: id, Dir: dirs[id], Peers: peers, Transport: net.Endpoint(id)})
		if err != nil {
			t.Fatalf("open restored member %d: %v", id, err)
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// A backup taken from a running cluster, while it serves writes, restores
// into a new 3-member cluster that serves the same tree (same digest at the
// backup's zxid) and goes on writing at higher zxids.
func TestBackupRestoreNewCluster(t *testing.T) {
	c := keepertest.NewCluster(t, 3)
	ctx := ctxFor(t, 30*time.Second)
	src := c.Node(c.Others(c.Leader().ID())[0]) // a follower
	retry(ctx, t, func() error { _, err := c.Leader().Create(ctx, "/app", []byte("root"), keeper.Persistent); return err })
	for i := 0; i < 200; i++ {
		if _, err := src.Create(ctx, fmt.Sprintf("/app/n%03d", i), bytes.Repeat([]byte{byte(i)}, i), keeper.Persistent); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.Create(ctx, "/app/seq-", nil, keeper.PersistentSequential, keeper.WithACL(keeper.DigestACL(keeper.PermAll, "ops", "pw"))); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	info, err := src.Backup(ctx, &buf, keeper.BackupOptions{Linearizable: true})
	if err != nil {
		t.Fatal(err)
	}
	if info.Znodes != 2+1+201 || info.Bytes != int64(buf.Len()) || len(info.Members) != 3 {
		t.Fatalf("backup info %+v (stream %d bytes)", info, buf.Len())
	}
	// The source's digest at the backup's zxid: every member agrees on it.
	if st := src.Status(); st.Applied == info.Zxid && st.Digest != info.Digest {
		t.Fatalf("backup digest %x, member digest %x at %d", info.Digest, st.Digest, st.Applied)
	}
	v, err := keeper.VerifyBackup(ctx, bytes.NewReader(buf.Bytes()), keeper.VerifyOptions{})
	if err != nil || v.Digest != info.Digest || v.Zxid != info.Zxid {
		t.Fatalf("verify: %+v %v", v, err)
	}

	peers := []uint64{1, 2, 3}
	dirs := map[uint64]string{}
	var cluster uint64
	for _, id := range peers {
		dirs[id] = filepath.Join(t.TempDir(), "member")
		ri, err := keeper.Restore(ctx, bytes.NewReader(buf.Bytes()), dirs[id], keeper.RestoreOptions{ID: id, Peers: peers})
		if err != nil {
			t.Fatalf("restore member %d: %v", id, err)
		}
		if cluster != 0 && ri.ClusterID != cluster {
			t.Fatalf("members restored under different cluster ids %x and %x", cluster, ri.ClusterID)
		}
		cluster = ri.ClusterID
	}
	nodes := openCluster(t, dirs, peers)
	for _, n := range nodes {
		if st := n.Status(); st.Applied < info.Zxid {
			t.Fatalf("restored member %d opens at %d, backup at %d", n.ID(), st.Applied, info.Zxid)
		}
		if st := n.Status(); st.Digest != info.Digest {
			t.Fatalf("restored member %d digest %x, backup %x", n.ID(), st.Digest, info.Digest)
		}
	}
	n := nodes[1]
	var p string
	retry(ctx, t, func() error {
		var err error
		p, err = n.Create(ctx, "/app/after", []byte("new"), keeper.Persistent)
		return err
	})
	_, st, err := n.Get(ctx, p)
	if err != nil || st.Czxid <= info.Zxid {
		t.Fatalf("write after restore: zxid %d, backup zxid %d: %v", st.Czxid, info.Zxid, err)
	}
	if data, _, err := nodes[2].Linearizable().Get(ctx, "/app/n150"); err != nil || !bytes.Equal(data, bytes.Repeat([]byte{150}, 150)) {
		t.Fatalf("restored data: %v", err)
	}
	if _, err := nodes[0].Create(ctx, "/app/seq-0000000200/x", nil, keeper.Persistent); !errors.Is(err, keeper.ErrNoAuth) {
		t.Fatalf("restored ACL not enforced: %v", err)
	}
}

// A damaged stream is refused whole: nothing appears at the target.
func TestRestoreRefusesDamage(t *testing.T) {
	c := keepertest.NewCluster(t, 1)
	ctx := ctxFor(t, 10*time.Second)
	n := c.Leader()
	for i := 0; i < 50; i++ {
		retry(ctx, t, func() error {
			_, err := n.Create(ctx, fmt.Sprintf("/k%d", i), []byte("v"), keeper.Persistent)
			return err
		})
	}
	var buf bytes.Buffer
	if _, err := n.Backup(ctx, &buf, keeper.BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	for _, cut := range []int{0, 10, len(b) / 2, len(b) - 1} {
		dir := filepath.Join(t.TempDir(), "m")
		_, err := keeper.Restore(ctx, bytes.NewReader(b[:cut]), dir, keeper.RestoreOptions{ID: 1, Peers: []uint64{1}})
		if !errors.Is(err, keeper.ErrCorruptBackup) {
			t.Fatalf("restore of a stream cut at %d: %v", cut, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a refused restore left %s behind: %v", dir, err)
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".*")); len(left) > 0 {
			t.Fatalf("a refused restore left %v behind", left)
		}
	}
	if _, err := keeper.Restore(ctx, bytes.NewReader(b), t.TempDir()+"/x", keeper.RestoreOptions{ID: 4, Peers: []uint64{1}}); !errors.Is(err, keeper.ErrInvalidConfig) {
		t.Fatalf("restore with an ID outside Peers: %v", err)
	}
}

// Sessions and their ephemerals travel in the backup (the digest covers
// them). In the restored cluster no member hosts those sessions, so the
// cluster expires them and their ephemerals go.
func TestBackupRestoreSessions(t *testing.T) {
	c := keepertest.NewCluster(t, 3)
	ctx := ctxFor(t, 60*time.Second)
	n := c.Leader()
	s, err := n.NewSession(ctx, keeper.SessionOptions{Timeout: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "/lock", []byte("held"), keeper.Ephemeral); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	info, err := n.Backup(ctx, &buf, keeper.BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Sessions != 1 {
		t.Fatalf("backup holds %d sessions, want 1", info.Sessions)
	}
	if v, err := keeper.VerifyBackup(ctx, bytes.NewReader(buf.Bytes()), keeper.VerifyOptions{}); err != nil || v.Sessions != 1 {
		t.Fatalf("verify: %+v %v", v, err)
	}
	peers := []uint64{1, 2, 3}
	dirs := map[uint64]string{}
	for _, id := range peers {
		dirs[id] = filepath.Join(t.TempDir(), "m")
		if _, err := keeper.Restore(ctx, bytes.NewReader(buf.Bytes()), dirs[id], keeper.RestoreOptions{ID: id, Peers: peers}); err != nil {
			t.Fatal(err)
		}
	}
	// The restored dirs hold the backup's tree, the session's ephemeral
	// included; read offline, since the running cluster closes the session
	// as soon as it can.
	for _, id := range peers {
		di, err := keeper.InspectDir(ctx, dirs[id])
		if err != nil {
			t.Fatal(err)
		}
		if di.Applied != info.Zxid || di.Digest != info.Digest {
			t.Fatalf("member %d restored at %d with digest %x, backup at %d with %x", id, di.Applied, di.Digest, info.Zxid, info.Digest)
		}
	}
	nodes := openCluster(t, dirs, peers)
	for {
		if err := nodes[1].Sync(ctx, "/"); err != nil {
			t.Fatal(err)
		}
		_, ok, err := nodes[1].Exists(ctx, "/lock")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the restored session's ephemeral never went")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
