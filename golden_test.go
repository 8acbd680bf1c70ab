package keeper

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/internal/raftlog"
	"github.com/keeper-go/keeper/internal/stream"
	"github.com/keeper-go/keeper/storage"
	"github.com/keeper-go/keeper/transport"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The golden tests hold every byte keeper writes to disk or wire to what
// testdata/golden recorded: fixed values of each private format, and the
// raft log, tree, backup stream and raft snapshot stream of a fixed
// single-member workload. A change to any encoder that alters one byte fails
// them. Run with -update-golden only to record a deliberate format change.

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden from the current encoders")

// goldenCase is one encoded value.
type goldenCase struct {
	name string
	b    []byte
}

// goldenStreamTime is the header time of the golden streams (ms).
const goldenStreamTime = 1_700_000_123_456

// checkGolden compares got with testdata/golden/name (or rewrites it).
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		at := 0
		for at < len(got) && at < len(want) && got[at] == want[at] {
			at++
		}
		t.Errorf("%s: %d bytes, golden %d; first difference at byte %d", name, len(got), len(want), at)
	}
}

// caseLines renders cases one per line: name, then the bytes in hex.
func caseLines(cases []goldenCase) []byte {
	var b bytes.Buffer
	for _, c := range cases {
		fmt.Fprintf(&b, "%s %x\n", c.name, c.b)
	}
	return b.Bytes()
}

// TestGoldenFormats encodes fixed values of every private format.
func TestGoldenFormats(t *testing.T) {
	for _, f := range []struct {
		name  string
		cases []goldenCase
	}{
		{"request", goldenRequests()},
		{"envelope", goldenEnvelopes()},
		{"check", goldenChecks()},
		{"membership", goldenMemberships()},
		{"logmeta", goldenLogMetas()},
		{"snapdesc", goldenSnapDescs()},
		{"streamheader", goldenStreamHeaders(t)},
		{"frame", goldenFrames(t)},
		{"progress", goldenProgress()},
		{"readctx", goldenReadContexts()},
		{"installmark", goldenInstallMarks()},
		{"confcontext", goldenConfContexts()},
		{"archive", goldenArchive()},
	} {
		checkGolden(t, f.name+".golden", caseLines(f.cases))
	}
}

// TestGoldenWorkload writes the golden workload's raft log into a fresh
// single-member data dir and compares, byte for byte: the raft log segment;
// InspectDir's report; the tree the recovery path (readTail) builds from
// the log and its backup and raft snapshot streams; the dir RecoverQuorum
// rewrites. Then a member opened on the same dir applies the log through
// the raft loop and must build the same tree.
func TestGoldenWorkload(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "member")
	clusterID := deriveClusterID([]uint64{1})
	ents := writeGoldenDir(t, dir, clusterID)
	n := uint64(len(ents))

	checkGolden(t, "wal.golden", walBytes(t, dir))
	copies := map[string]string{}
	for _, c := range []string{"open", "recover"} {
		copies[c] = filepath.Join(base, c)
		copyDir(t, dir, copies[c])
	}

	info, err := InspectDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	info.Dir = ""
	checkGolden(t, "inspect.golden", fmt.Appendf(nil, "%+v\n", info))

	// The recovery path: every entry of the log through readTail.
	tr, err := openTreeDir(dir, clusterID, nil)
	if err != nil {
		t.Fatal(err)
	}
	lt, err := readTail(dir, tr)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.apply(lt.entries)
	if err != nil {
		t.Fatal(err)
	}
	var outcome bytes.Buffer
	for i, r := range res {
		fmt.Fprintf(&outcome, "%d kind %d", lt.entries[i].Index, lt.entries[i].Kind)
		if r != nil {
			fmt.Fprintf(&outcome, " session %d corrupt %v failed %v", r.Session, errors.Is(r.Err, ErrCorruptEntry), r.Err != nil)
		}
		outcome.WriteByte('\n')
	}
	fmt.Fprintf(&outcome, "applied %d digest %x voters %v learners %v\n", tr.applied(), tr.digest(), lt.conf.GetVoters(), lt.conf.GetLearners())
	checkGolden(t, "apply.golden", outcome.Bytes())
	if tr.applied() != n {
		t.Fatalf("recovery applied %d of %d entries", tr.applied(), n)
	}
	recovered := dumpTree(t, tr.st)
	checkGolden(t, "tree.golden", recovered)
	for _, s := range []struct {
		name string
		kind uint8
	}{{"backup.golden", stream.KindBackup}, {"raftsnap-stream.golden", stream.KindRaftSnapshot}} {
		var b bytes.Buffer
		h := streamHeaderInfo{Kind: s.kind, Member: 1, Time: time.UnixMilli(goldenStreamTime)}
		if _, err := tr.writeStream(context.Background(), &b, h, BackupOptions{}, nil); err != nil {
			t.Fatal(err)
		}
		checkGolden(t, s.name, b.Bytes())
	}
	if err := tr.close(); err != nil {
		t.Fatal(err)
	}

	// RecoverQuorum rewrites the dir as a new cluster's.
	rdir := copies["recover"]
	if _, err := RecoverQuorum(context.Background(), rdir, RecoverOptions{ID: 1, Members: []uint64{1}, Force: true}); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "recovered-wal.golden", walBytes(t, rdir))
	rst, err := storage.Open(rdir, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "recovered-tree.golden", dumpTree(t, rst))
	if err := rst.Close(); err != nil {
		t.Fatal(err)
	}

	// The apply path: a member opened on the dir replays the log.
	odir := copies["open"]
	net := transport.NewMemory(1)
	defer net.Close()
	node, err := Open(context.Background(), Config{ID: 1, Peers: []uint64{1}, Dir: odir, Transport: net.Endpoint(1), CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for uint64(node.Status().Applied) < n {
		if time.Now().After(deadline) {
			node.Close()
			t.Fatalf("the member applied %d of %d entries in 30s", node.Status().Applied, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := node.Close(); err != nil {
		t.Fatal(err)
	}
	ost, err := storage.Open(odir, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	opened := dumpTree(t, ost)
	if err := ost.Close(); err != nil {
		t.Fatal(err)
	}
	// The member's own leader entry may have applied after the log: only
	// the applied index may differ.
	if a, b := withoutApplied(opened), withoutApplied(recovered); a != b {
		t.Errorf("the tree the raft loop built differs from the recovery path's:\n%s\nrecovery:\n%s", a, b)
	}
}

// writeGoldenDir creates a single-member data dir whose tree is fresh and
// whose raft log holds the golden workload, committed; it returns the
// entries.
func writeGoldenDir(t *testing.T, dir string, clusterID uint64) []*raftpb.Entry {
	t.Helper()
	st, err := storage.Open(dir, storage.Options{ClusterID: clusterID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openTree(st); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	wal, err := raftlog.CreateLog(dir, goldenLogMeta(clusterID))
	if err != nil {
		t.Fatal(err)
	}
	var ents []*raftpb.Entry
	for i, e := range goldenWorkload(t) {
		ents = append(ents, &raftpb.Entry{Index: proto.Uint64(uint64(i + 1)), Term: proto.Uint64(e.term), Type: e.typ.Enum(), Data: e.data})
	}
	last := uint64(len(ents))
	if err := wal.Save(&raftpb.HardState{Term: proto.Uint64(2), Vote: proto.Uint64(1), Commit: proto.Uint64(last)}, ents); err != nil {
		t.Fatal(err)
	}
	if err := wal.Close(); err != nil {
		t.Fatal(err)
	}
	return ents
}

// walBytes returns the raft log of dir: each segment's name, size and
// content up to its trailing zeros (segments are preallocated).
func walBytes(t *testing.T, dir string) []byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no raft log segments in %s: %v", dir, err)
	}
	var out []byte
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		trimmed := bytes.TrimRight(b, "\x00")
		out = fmt.Appendf(out, "%s %d %d\n", filepath.Base(name), len(b), len(trimmed))
		out = append(out, hex.Dump(trimmed)...)
	}
	return out
}

// dumpTree returns every key and value of st in key order, one per line.
func dumpTree(t *testing.T, st *storage.Store) []byte {
	t.Helper()
	var out []byte
	scanStore(t, st, func(k, v []byte) { out = fmt.Appendf(out, "%q %x\n", k, v) })
	return out
}

// withoutApplied drops the applied index line from a tree dump.
func withoutApplied(dump []byte) string {
	var keep []string
	for _, l := range strings.Split(string(dump), "\n") {
		if !strings.HasPrefix(l, fmt.Sprintf("%q ", keys.MetaKey(keys.MetaApplied))) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// copyDir copies the regular files of src into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
