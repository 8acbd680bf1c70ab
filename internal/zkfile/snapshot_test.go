package zkfile_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/keeper-go/keeper/internal/zkfile"
)

// testNodes is a small tree with ACLs shared and not, every kind of owner
// and data up to 70 KiB.
func testNodes() []zkfile.Node {
	acl := []zkfile.ACL{{Perms: 31, Scheme: "digest", ID: "u:h"}, {Perms: 1, Scheme: "world", ID: "anyone"}}
	st := func(z int64, owner int64) zkfile.Stat {
		return zkfile.Stat{Czxid: z, Mzxid: z + 1, Ctime: 1000 + z, Mtime: 2000 + z, Version: 1, Cversion: 2, Aversion: 3, EphemeralOwner: owner, Pzxid: z + 2}
	}
	big := bytes.Repeat([]byte("0123456789"), 7000)
	return []zkfile.Node{
		{Path: "/", ACL: zkfile.OpenACL, Stat: zkfile.Stat{Cversion: 4, Pzxid: 9}},
		{Path: "/a", ACL: acl, Data: []byte("a"), Stat: st(1, 0)},
		{Path: "/a/e", ACL: acl, Data: big, Stat: st(3, 0x1000abc)},
		{Path: "/b", ACL: zkfile.OpenACL, Stat: st(4, zkfile.OwnerOf(zkfile.Container, 0, 0))},
		{Path: "/c", ACL: []zkfile.ACL{{Perms: 1, Scheme: "ip", ID: "10.0.0.0/8"}}, Stat: st(5, zkfile.OwnerOf(zkfile.TTL, 0, 5000))},
		{Path: "/zookeeper", ACL: zkfile.OpenACL},
		{Path: "/zookeeper/quota", ACL: zkfile.OpenACL},
	}
}

func buildSnapshot(t testing.TB, nodes []zkfile.Node, o zkfile.SnapshotOptions) []byte {
	t.Helper()
	b, err := zkfile.NewSnapshotBuilder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range nodes {
		if err := b.Add(&nodes[i]); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(context.Background(), &buf, o); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readSnapshot(name string, b []byte) (zkfile.SnapshotInfo, []zkfile.Node, map[int64]int32, error) {
	var nodes []zkfile.Node
	sessions := map[int64]int32{}
	info, err := zkfile.ReadSnapshot(context.Background(), name, bytes.NewReader(b), zkfile.SnapshotVisitor{
		Session: func(id int64, to int32) error { sessions[id] = to; return nil },
		Node: func(n *zkfile.Node) error {
			c := *n
			c.Data = bytes.Clone(n.Data)
			nodes = append(nodes, c)
			return nil
		},
	})
	return info, nodes, sessions, err
}

// A snapshot written in each compression reads back to the same sessions,
// znodes (ACLs resolved through the cache) and digest.
func TestSnapshotRoundTrip(t *testing.T) {
	nodes := testNodes()
	for _, c := range []zkfile.Compression{zkfile.Plain, zkfile.Gzip, zkfile.Snappy} {
		for _, withDigest := range []bool{false, true} {
			o := zkfile.SnapshotOptions{Compression: c, DBID: 0, Sessions: map[int64]int32{0x1000abc: 30000, 7: 4000}}
			if withDigest {
				o.Digest = &zkfile.Digest{Zxid: 0x100000009, Version: zkfile.DigestVersion, Value: -77}
			}
			name := zkfile.SnapshotName(0x100000009, c)
			info, got, sessions, err := readSnapshot(name, buildSnapshot(t, nodes, o))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if info.Zxid != 0x100000009 || info.Nodes != int64(len(nodes)) || info.ACLs != 2 || info.Sessions != 2 {
				t.Fatalf("%s: %+v", name, info)
			}
			if (info.Digest != nil) != withDigest || (withDigest && *info.Digest != *o.Digest) {
				t.Fatalf("%s: digest %+v, want %+v", name, info.Digest, o.Digest)
			}
			if len(sessions) != 2 || sessions[7] != 4000 {
				t.Fatalf("sessions %v", sessions)
			}
			for i := range nodes {
				g, w := got[i], nodes[i]
				if g.Path != w.Path || g.Stat != w.Stat || !slices.Equal(g.ACL, w.ACL) || !bytes.Equal(g.Data, w.Data) {
					t.Fatalf("%s: znode %d: %+v, want %+v", name, i, g.Path, w.Path)
				}
			}
		}
	}
}

// Every cut and every flipped byte of a snapshot is refused with a typed
// error, in every compression.
func TestSnapshotDamage(t *testing.T) {
	nodes := testNodes()[:4]
	nodes[2].Data = []byte("small")
	for _, c := range []zkfile.Compression{zkfile.Plain, zkfile.Gzip, zkfile.Snappy} {
		name := zkfile.SnapshotName(5, c)
		full := buildSnapshot(t, nodes, zkfile.SnapshotOptions{Compression: c, Digest: &zkfile.Digest{Zxid: 5, Version: 2, Value: 1}})
		typed := func(err error) bool {
			var fe *zkfile.FileError
			return errors.As(err, &fe) && (errors.Is(err, zkfile.ErrCorrupt) || errors.Is(err, zkfile.ErrNotZooKeeper) || errors.Is(err, zkfile.ErrUnsupported))
		}
		// Without its digest and second seal (33 bytes) a snapshot is whole
		// as 3.5 writes them, and ZooKeeper reads it so too.
		plainEnd := len(buildSnapshot(t, nodes, zkfile.SnapshotOptions{}))
		for cut := 0; cut < len(full); cut++ {
			if _, _, _, err := readSnapshot(name, full[:cut]); !typed(err) && !(c == zkfile.Plain && cut == plainEnd) {
				t.Fatalf("%s cut at %d of %d: %v", name, cut, len(full), err)
			}
		}
		_, want, _, _ := readSnapshot(name, full)
		for i := range full {
			b := bytes.Clone(full)
			b[i] ^= 0x5a
			_, got, _, err := readSnapshot(name, b)
			if err == nil && sameNodes(got, want) {
				continue // a header field, or compressed bytes that decode the same
			}
			if !typed(err) {
				t.Fatalf("%s byte %d flipped: %v", name, i, err)
			}
		}
	}
}

func sameNodes(a, b []zkfile.Node) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Path != b[i].Path || a[i].Stat != b[i].Stat || !slices.Equal(a[i].ACL, b[i].ACL) || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

// Files that are not snapshots are refused as such.
func TestSnapshotForeign(t *testing.T) {
	log := writeLog(t, allTxns()[:2], 0)
	for name, b := range map[string][]byte{
		"snapshot.1": log, "snapshot.2": make([]byte, 1024), "snapshot.3": nil,
		"snapshot.4.gz": []byte("not gzip"), "snapshot.5.snappy": []byte("not snappy at all"),
	} {
		if _, _, _, err := readSnapshot(name, b); !errors.Is(err, zkfile.ErrNotZooKeeper) && !errors.Is(err, zkfile.ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
