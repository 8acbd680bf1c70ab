package keeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/keys"
	"github.com/keeper-go/keeper/storage"
)

var superAuth = []Identity{{Scheme: "super"}}

// randomTree applies n random requests to h: creates of every mode (deep,
// wide, sequential, ephemeral with a session, container, TTL, custom ACLs,
// data from empty to 1 MiB), sets, ACL changes and deletes. Requests that
// fail (a parent gone, an ephemeral parent) are part of the mix.
func randomTree(h *harness, rng *rand.Rand, n int, bigData bool) {
	paths := []string{"/"}
	for i := 0; i < n; i++ {
		parent := paths[rng.IntN(len(paths))]
		if rng.IntN(4) == 0 { // deep: extend the newest path
			parent = paths[len(paths)-1]
		}
		base := parent
		if base == "/" {
			base = ""
		}
		var data []byte
		switch r := rng.IntN(100); {
		case r < 10:
		case r < 97 || !bigData:
			data = make([]byte, rng.IntN(200))
		default:
			data = make([]byte, rng.IntN(1<<20)+1)
		}
		for j := range data {
			data[j] = byte(rng.IntN(4) + 'a')
		}
		var op Op
		req := request{Time: 1_700_000_000_000 + int64(i), Auth: superAuth}
		switch r := rng.IntN(20); {
		case r < 9:
			op = CreateOp(fmt.Sprintf("%s/n%d", base, rng.IntN(1000)), data, Persistent)
		case r < 11:
			op = CreateOp(base+"/seq-", data, PersistentSequential)
		case r < 13:
			req.Session = int64(rng.IntN(5) + 1)
			mode := Ephemeral
			if rng.IntN(2) == 0 {
				mode = EphemeralSequential
			}
			op = CreateOp(fmt.Sprintf("%s/e%d", base, rng.IntN(1000)), data, mode)
		case r == 13:
			op = CreateOp(fmt.Sprintf("%s/c%d", base, rng.IntN(100)), data, Container)
		case r == 14:
			op = CreateOp(fmt.Sprintf("%s/t%d", base, rng.IntN(100)), data, PersistentWithTTL, WithTTL(time.Duration(rng.IntN(10000)+1)*time.Millisecond))
		case r == 15:
			op = CreateOp(fmt.Sprintf("%s/a%d", base, rng.IntN(100)), data, Persistent,
				WithACL(ACL{Perms: PermRead | PermCreate, Scheme: "world", ID: "anyone"}, ACL{Perms: PermAll, Scheme: "digest", ID: "bob:c2VjcmV0"}))
		case r < 18:
			op = SetOp(paths[rng.IntN(len(paths))], data, -1)
		case r == 18:
			op = SetACLOp(paths[rng.IntN(len(paths))], ReadACL(), -1)
		default:
			op = DeleteOp(paths[rng.IntN(len(paths))], -1)
		}
		req.Ops = []Op{op}
		res := h.do(req)
		if res.Err == nil && op.kind == opCreate {
			paths = append(paths, res.Ops[0].Path)
		}
	}
}

// backupBytes writes a backup of h's tree.
func backupBytes(t testing.TB, h *harness, opts BackupOptions) ([]byte, BackupInfo) {
	t.Helper()
	var buf bytes.Buffer
	info, err := h.tr.writeStream(context.Background(), &buf, streamHeaderInfo{Member: 7}, opts, nil)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if info.Bytes != int64(buf.Len()) {
		t.Fatalf("info.Bytes %d, wrote %d", info.Bytes, buf.Len())
	}
	return buf.Bytes(), info
}

// storeKVs calls fn with every key and value of st but the cluster id.
func storeKVs(t testing.TB, st *storage.Store, fn func(k, v []byte)) {
	t.Helper()
	it, err := st.NewIter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	skip := keys.MetaKey(keys.MetaCluster)
	for ok := it.First(); ok; ok = it.Next() {
		if bytes.Equal(it.Key(), skip) {
			continue
		}
		v, err := it.Value()
		if err != nil {
			t.Fatal(err)
		}
		fn(it.Key(), v)
	}
}

// sameStores fails unless a and b hold the same keys and values (node values
// hold the full Stat, ACL and data; index and meta keys are compared too).
func sameStores(t testing.TB, a, b *storage.Store) {
	t.Helper()
	type kv struct{ k, v string }
	var as []kv
	storeKVs(t, a, func(k, v []byte) { as = append(as, kv{string(k), string(v)}) })
	i := 0
	storeKVs(t, b, func(k, v []byte) {
		switch {
		case i >= len(as):
			t.Fatalf("restored store has extra key %q", k)
		case as[i].k != string(k):
			t.Fatalf("key %d: %q, restored %q", i, as[i].k, k)
		case as[i].v != string(v):
			t.Fatalf("key %q: values differ", k)
		}
		i++
	})
	if i != len(as) {
		t.Fatalf("restored store has %d keys, want %d", i, len(as))
	}
}

// restoreInto restores data into a fresh dir and opens it.
func restoreInto(t testing.TB, data []byte, opts RestoreOptions) (*storage.Store, RestoreInfo) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "member")
	ri, err := restoreTree(context.Background(), bytes.NewReader(data), dir, opts)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	st, err := storage.Open(dir, storage.Options{ClusterID: ri.ClusterID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st, ri
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		big  bool
		opts BackupOptions
	}{
		{"small-plain", 300, false, BackupOptions{NoCompression: true}},
		{"zstd", 3000, false, BackupOptions{}},
		{"aes-big", 400, true, BackupOptions{Key: testKey}},
		{"zstd-aes", 2000, false, BackupOptions{Key: testKey}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			randomTree(h, rand.New(rand.NewPCG(uint64(tc.n), 1)), tc.n, tc.big)
			h.tr.apply([]committed{{Index: h.tr.applied() + 1, Kind: entryConf, Data: []byte("members-v1")}})
			data, info := backupBytes(t, h, tc.opts)
			if uint64(info.Zxid) != h.tr.applied() || info.Digest != h.tr.digest() || info.ClusterID != 1 || info.Member != 7 {
				t.Fatalf("info %+v; applied %d digest %x", info, h.tr.applied(), h.tr.digest())
			}
			vinfo, err := VerifyBackup(context.Background(), bytes.NewReader(data), VerifyOptions{Key: tc.opts.Key})
			if err != nil {
				t.Fatal(err)
			}
			if vinfo.Znodes != info.Znodes || vinfo.Digest != info.Digest || vinfo.Zxid != info.Zxid || !bytes.Equal(vinfo.membership, []byte("members-v1")) || !vinfo.Time.Equal(info.Time) {
				t.Fatalf("verify %+v, backup %+v", vinfo, info)
			}
			st, ri := restoreInto(t, data, RestoreOptions{Key: tc.opts.Key, ClusterID: 99})
			if ri.ClusterID != 99 || ri.Backup.Zxid != info.Zxid {
				t.Fatalf("restore info %+v", ri)
			}
			sameStores(t, h.st, st)
			tr, err := openTree(st)
			if err != nil {
				t.Fatal(err)
			}
			if tr.applied() != uint64(info.Zxid) || tr.digest() != info.Digest || string(tr.membership()) != "members-v1" {
				t.Fatalf("restored tree at %d digest %x members %q", tr.applied(), tr.digest(), tr.membership())
			}
			// The restored tree goes on applying from the backup's zxid.
			next := request{Time: 5, Auth: superAuth, Ops: []Op{CreateOp("/after-restore", nil, Persistent)}}
			res, err := tr.apply([]committed{{Index: uint64(info.Zxid) + 1, Kind: entryOp, Data: appendRequest(nil, &next)}})
			if err != nil || res[0].Err != nil {
				t.Fatalf("apply after restore: %v %v", err, res[0].Err)
			}
			if st, err := tr.exists("/after-restore"); err != nil || st.Czxid != info.Zxid+1 {
				t.Fatalf("after restore: %+v %v", st, err)
			}
			// The restored tree's indexes work through the tree's own readers.
			for owner := int64(1); owner <= 5; owner++ {
				a, err1 := h.tr.ephemerals(owner, "/")
				b, err2 := tr.ephemerals(owner, "/")
				if err1 != nil || err2 != nil || strings.Join(a, ",") != strings.Join(b, ",") {
					t.Fatalf("ephemerals of %d: %v %v / %v %v", owner, a, err1, b, err2)
				}
			}
		})
	}
}

var testKey = bytes.Repeat([]byte{0x42}, 32)

func TestRestoreClusterID(t *testing.T) {
	h := newHarness(t)
	randomTree(h, rand.New(rand.NewPCG(3, 3)), 50, false)
	data, _ := backupBytes(t, h, BackupOptions{})
	_, ri := restoreInto(t, data, RestoreOptions{KeepClusterID: true})
	if ri.ClusterID != 1 {
		t.Fatalf("kept cluster id %x", ri.ClusterID)
	}
	_, r1 := restoreInto(t, data, RestoreOptions{})
	_, r2 := restoreInto(t, data, RestoreOptions{})
	if r1.ClusterID == r2.ClusterID || r1.ClusterID == 1 {
		t.Fatalf("new cluster ids %x %x", r1.ClusterID, r2.ClusterID)
	}
}

// TestBackupDuringApply takes backups while applies go on and checks each
// equals a second tree that applied exactly up to the backup's zxid.
func TestBackupDuringApply(t *testing.T) {
	h := newHarness(t)
	var ents [][]committed
	rng := rand.New(rand.NewPCG(5, 5))
	mk := func(i int) []committed {
		var g []committed
		for j := 0; j < 1+rng.IntN(8); j++ {
			r := request{Time: int64(i), Auth: superAuth, Ops: []Op{CreateOp(fmt.Sprintf("/g%d-%d", i, j), bytes.Repeat([]byte{'x'}, rng.IntN(300)), Persistent)}}
			if rng.IntN(5) == 0 && i > 0 {
				r.Ops = []Op{SetOp(fmt.Sprintf("/g%d-0", rng.IntN(i)), []byte{byte(i)}, -1)}
			}
			g = append(g, committed{Kind: entryOp, Data: appendRequest(nil, &r)})
		}
		return g
	}
	apply := func(tr *tree, g []committed) {
		for k := range g {
			g[k].Index = tr.applied() + 1 + uint64(k)
		}
		if _, err := tr.apply(g); err != nil {
			t.Fatal(err)
		}
	}
	const groups = 400
	for i := 0; i < groups; i++ {
		ents = append(ents, mk(i))
	}
	for _, g := range ents[:100] {
		apply(h.tr, g)
	}
	var wg sync.WaitGroup
	var backups [][]byte
	var infos []BackupInfo
	var berr error
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := 0; k < 8; k++ {
			select {
			case <-done:
				if k > 0 {
					return
				}
			default:
			}
			var buf bytes.Buffer
			info, err := h.tr.writeStream(context.Background(), &buf, streamHeaderInfo{}, BackupOptions{}, nil)
			if err != nil {
				berr = err
				return
			}
			backups, infos = append(backups, buf.Bytes()), append(infos, info)
		}
	}()
	for _, g := range ents[100:] {
		apply(h.tr, g)
		time.Sleep(100 * time.Microsecond) // let backups land between groups
	}
	close(done)
	wg.Wait()
	if berr != nil {
		t.Fatal(berr)
	}
	for _, in := range infos {
		t.Logf("backup at zxid %d of %d", in.Zxid, h.tr.applied())
	}
	for k, data := range backups {
		// Replay onto a second tree exactly up to the backup's zxid.
		h2 := newHarness(t)
		for _, g := range ents {
			if h2.tr.applied() >= uint64(infos[k].Zxid) {
				break
			}
			last := h2.tr.applied() + uint64(len(g))
			if last > uint64(infos[k].Zxid) {
				t.Fatalf("backup zxid %d inside a group", infos[k].Zxid)
			}
			apply(h2.tr, g)
		}
		if h2.tr.digest() != infos[k].Digest {
			t.Fatalf("backup %d at %d: digest %x, replay %x", k, infos[k].Zxid, infos[k].Digest, h2.tr.digest())
		}
		st, _ := restoreInto(t, data, RestoreOptions{ClusterID: 1})
		sameStores(t, h2.st, st)
	}
}

func TestBackupCancelAndWriterError(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 3*progressEvery; i++ {
		h.must(CreateOp(fmt.Sprintf("/n%d", i), nil, Persistent))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var buf bytes.Buffer
	if _, err := h.tr.writeStream(ctx, &buf, streamHeaderInfo{}, BackupOptions{}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled backup: %v", err)
	}
	if _, err := VerifyBackup(context.Background(), &buf, VerifyOptions{}); !errors.Is(err, ErrCorruptBackup) {
		t.Fatalf("aborted stream verified: %v", err)
	}
	boom := errors.New("disk full")
	if _, err := h.tr.writeStream(context.Background(), failWriter{boom}, streamHeaderInfo{}, BackupOptions{}, nil); !errors.Is(err, boom) {
		t.Fatalf("failing writer: %v", err)
	}
	// Verify and restore stop on a canceled context too, leaving nothing.
	data, _ := backupBytes(t, h, BackupOptions{})
	if _, err := VerifyBackup(ctx, bytes.NewReader(data), VerifyOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled verify: %v", err)
	}
	parent := t.TempDir()
	if _, err := restoreTree(ctx, bytes.NewReader(data), filepath.Join(parent, "m"), RestoreOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled restore: %v", err)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Fatalf("canceled restore left %s", ents[0].Name())
	}
	var rcalls []Progress
	if _, err := restoreTree(context.Background(), bytes.NewReader(data), filepath.Join(parent, "m"), RestoreOptions{Progress: func(p Progress) { rcalls = append(rcalls, p) }}); err != nil || len(rcalls) < 3 || rcalls[len(rcalls)-1].Bytes != int64(len(data)) {
		t.Fatalf("restore progress %+v, %v", rcalls, err)
	}
	var calls []Progress
	_, err := h.tr.writeStream(context.Background(), io_Discard{}, streamHeaderInfo{}, BackupOptions{Progress: func(p Progress) { calls = append(calls, p) }}, nil)
	if err != nil || len(calls) < 3 || calls[len(calls)-1].Znodes != calls[0].TotalZnodes {
		t.Fatalf("progress %+v, %v", calls, err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

type io_Discard struct{}

func (io_Discard) Write(p []byte) (int, error) { return len(p), nil }

func TestInspectBackup(t *testing.T) {
	h := newHarness(t)
	h.must(CreateOp("/big", nil, Persistent))
	for i := 0; i < 20; i++ {
		h.must(CreateOp(fmt.Sprintf("/big/x%d", i), make([]byte, 1000), Persistent))
	}
	h.must(CreateOp("/small", []byte("hi"), Container))
	h.do(request{Session: 9, Ops: []Op{CreateOp("/eph", nil, Ephemeral)}})
	data, _ := backupBytes(t, h, BackupOptions{})
	inv, err := InspectBackup(context.Background(), bytes.NewReader(data), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Info.Znodes != 25 || inv.Ephemerals != 1 || inv.Containers != 1 || inv.DataBytes != 20002 || inv.MaxData != 1000 {
		t.Fatalf("inventory %+v", inv)
	}
	if len(inv.TopLevel) != 4 || inv.Largest[0].Path != "/big" || inv.Largest[0].Znodes != 21 {
		t.Fatalf("subtrees %+v largest %+v", inv.TopLevel, inv.Largest)
	}
}

func TestRestoreRefusesNonEmptyDir(t *testing.T) {
	h := newHarness(t)
	data, _ := backupBytes(t, h, BackupOptions{})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := restoreTree(context.Background(), bytes.NewReader(data), dir, RestoreOptions{}); !errors.Is(err, ErrDirNotEmpty) {
		t.Fatalf("restore into non-empty dir: %v", err)
	}
	assertDirState(t, dir, []string{"keep"})
	// An existing empty dir is fine.
	empty := t.TempDir()
	if _, err := restoreTree(context.Background(), bytes.NewReader(data), empty, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
}

// assertDirState fails unless dir's parent holds nothing but dir's expected
// entries (no temp dir left behind) and dir holds exactly names.
func assertDirState(t testing.TB, dir string, names []string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("%s holds %v, want %v", dir, got, names)
	}
	sib, _ := os.ReadDir(filepath.Dir(dir))
	for _, e := range sib {
		if strings.Contains(e.Name(), ".restore-") {
			t.Fatalf("temp dir %s left behind", e.Name())
		}
	}
}

// closeOnWrite starts n.Close on its first Write and holds that Write until
// Close has begun, as a slow backup destination would be while the host
// shuts the member down.
type closeOnWrite struct {
	n      *Node
	closed chan error
	first  bool
}

func (w *closeOnWrite) Write(p []byte) (int, error) {
	if !w.first {
		w.first = true
		go func() { w.closed <- w.n.Close() }()
		// Runs on the backup's goroutine: a timeout fails the Backup, which
		// the test checks, rather than the test from here.
		deadline := time.Now().Add(10 * time.Second)
		for w.n.closing.Err() == nil {
			if time.Now().After(deadline) {
				return 0, errors.New("Close did not begin within 10s")
			}
			time.Sleep(time.Millisecond)
		}
	}
	return len(p), nil
}

// TestCloseEndsBackup: Close during a Backup ends the backup, which
// returns ErrClosed, instead of waiting for it to finish.
func TestCloseEndsBackup(t *testing.T) {
	c := newTreeCluster(t, 1, nil)
	ctx := ctxTimeout(t, 60*time.Second)
	n := c.waitLeader()
	for i := range 5 {
		ops := make([]Op, 0, 1000)
		for j := range 1000 {
			ops = append(ops, CreateOp(fmt.Sprintf("/n%d-%04d", i, j), make([]byte, 64), Persistent))
		}
		if _, err := n.Multi(ctx, ops...); err != nil {
			t.Fatal(err)
		}
	}
	w := &closeOnWrite{n: n, closed: make(chan error, 1)}
	_, err := n.Backup(ctx, w, BackupOptions{NoCompression: true})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Backup during Close = %v, want ErrClosed", err)
	}
	select {
	case err := <-w.closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the backup ended")
	}
}
