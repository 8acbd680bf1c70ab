package keeper_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
)

// historyWant is what a test expects of one Version.
type historyWant struct {
	path      string
	op        keeper.VersionOp
	session   keeper.SessionID
	user      string // the digest identity's user, "" for none
	before    string // "-" for a znode that did not exist
	data      string // "-" after a delete
	version   int32
	multi     bool
	uncertain bool
	zxid      keeper.Zxid // 0 when the test cannot know it
}

func (w historyWant) check(v keeper.Version) error {
	str := func(b []byte) string {
		if b == nil {
			return "-"
		}
		return string(b)
	}
	got := historyWant{path: v.Path, op: v.Op, session: v.Session, user: userOf(v.Identities), before: str(v.Before), data: str(v.Data),
		version: v.DataVersion, multi: v.Multi, uncertain: v.Uncertain, zxid: w.zxid}
	if w.zxid != 0 {
		got.zxid = v.Zxid
	}
	if got != w {
		return fmt.Errorf("got %+v, want %+v", got, w)
	}
	return nil
}

func userOf(ids []keeper.Identity) string {
	if len(ids) != 1 || ids[0].Scheme != "digest" {
		return fmt.Sprint(ids)
	}
	user, _, _ := bytes.Cut([]byte(ids[0].ID), []byte(":"))
	return string(user)
}

// collectHistory runs History to its end.
func collectHistory(t *testing.T, arch *keeper.Archive, path string, opts ...keeper.HistoryOption) []keeper.Version {
	t.Helper()
	var out []keeper.Version
	for v, err := range arch.History(context.Background(), path, opts...) {
		if err != nil {
			t.Fatalf("history of %s: %v", path, err)
		}
		if n := len(out); n > 0 && v.Zxid < out[n-1].Zxid {
			t.Fatalf("history of %s: zxid %d after %d", path, v.Zxid, out[n-1].Zxid)
		}
		out = append(out, v)
	}
	return out
}

func checkHistory(t *testing.T, what string, got []keeper.Version, want []historyWant) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("%s: version %d missing: want %+v", what, i, want[i])
		case i >= len(want):
			t.Errorf("%s: version %d not expected: %+v", what, i, got[i])
		default:
			if err := want[i].check(got[i]); err != nil {
				t.Errorf("%s: version %d: %v", what, i, err)
			}
		}
	}
}

// TestArchiveHistory is the question users ask of an archive: who changed
// /app/config, when, from which session and as whom, and what was there
// before. Writes from two sessions and identities create, set, change
// the ACL of, delete and re-create the znode (as an ephemeral that dies
// with its session); writes that failed at apply (a bad version, an ACL
// that denies the writer, a multi whose op on the path fails) are not
// listed. The same answer comes back with the path indexes damaged or
// gone, from the segments alone.
func TestArchiveHistory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "archive")
	target := keeper.DirTarget(dir)
	c := archiveCluster(t, 1, target)
	ctx := context.Background()
	leader := c.WaitLeader()
	s1, err := leader.NewSession(ctx, keeper.SessionOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close(ctx)
	s2, err := leader.NewSession(ctx, keeper.SessionOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	alice := s1.WithAuth(keeper.DigestIdentity("alice", "pw1"))
	bob := s2.WithAuth(keeper.DigestIdentity("bob", "pw2"))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	failWith := func(err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("got %v, want %v", err, want)
		}
	}
	const p = "/app/config"
	_, err = alice.Create(ctx, "/app", nil, keeper.Persistent)
	must(err)
	_, st, err := alice.Create2(ctx, p, []byte("v1"), keeper.Persistent)
	must(err)
	zCreate := st.Czxid
	st, err = bob.Set(ctx, p, []byte("v2"), 0)
	must(err)
	zSet := st.Mzxid
	_, err = bob.Set(ctx, p, []byte("stale"), 0)
	failWith(err, keeper.ErrBadVersion)
	_, err = alice.Multi(ctx, keeper.SetOp(p, []byte("v3"), 1), keeper.CreateOp("/app/other", []byte("x"), keeper.Persistent))
	must(err)
	_, err = alice.Multi(ctx, keeper.CheckOp("/app/other", keeper.AnyVersion), keeper.SetOp(p, []byte("nope"), 99))
	failWith(err, keeper.ErrBadVersion)

	// Times on either side of the middle are distinct milliseconds.
	time.Sleep(3 * time.Millisecond)
	mid := time.Now()
	time.Sleep(3 * time.Millisecond)

	_, err = alice.SetACL(ctx, p, []keeper.ACL{keeper.DigestACL(keeper.PermAll, "alice", "pw1"), {Perms: keeper.PermRead, Scheme: "world", ID: "anyone"}}, 0)
	must(err)
	_, err = bob.Set(ctx, p, []byte("denied"), keeper.AnyVersion)
	failWith(err, keeper.ErrNoAuth)
	st, err = alice.Set(ctx, p, []byte("v4"), keeper.AnyVersion)
	must(err)
	zLast := st.Mzxid
	must(alice.Delete(ctx, p, keeper.AnyVersion))
	_, err = bob.Create(ctx, p, []byte("eph"), keeper.Ephemeral)
	must(err)
	must(s2.Close(ctx))
	waitArchived(t, c, leader.Status().Applied)

	want := []historyWant{
		{path: p, op: keeper.VersionCreated, session: s1.ID(), user: "alice", before: "-", data: "v1", uncertain: true, zxid: zCreate},
		{path: p, op: keeper.VersionSet, session: s2.ID(), user: "bob", before: "v1", data: "v2", version: 1, zxid: zSet},
		{path: p, op: keeper.VersionSet, session: s1.ID(), user: "alice", before: "v2", data: "v3", version: 2, multi: true, uncertain: true},
		{path: p, op: keeper.VersionACLSet, session: s1.ID(), user: "alice", before: "v3", data: "v3", version: 2},
		{path: p, op: keeper.VersionSet, session: s1.ID(), user: "alice", before: "v3", data: "v4", version: 3, zxid: zLast},
		{path: p, op: keeper.VersionDeleted, session: s1.ID(), user: "alice", before: "v4", data: "-", version: 3, uncertain: true},
		{path: p, op: keeper.VersionCreated, session: s2.ID(), user: "bob", before: "-", data: "eph", uncertain: true},
		{path: p, op: keeper.VersionDeleted, session: s2.ID(), user: "[]", before: "eph", data: "-"},
	}
	arch, err := keeper.OpenArchive(ctx, target, keeper.ArchiveOptions{})
	must(err)
	all := collectHistory(t, arch, p)
	checkHistory(t, "history", all, want)
	if len(all) == len(want) {
		if acl := all[3].ACL; len(acl) != 2 || acl[0].Scheme != "digest" || all[3].ACLVersion != 1 {
			t.Errorf("ACL after setACL: %+v version %d", acl, all[3].ACLVersion)
		}
	}
	checkHistory(t, "since the middle", collectHistory(t, arch, p, keeper.Since(mid)), want[3:])
	checkHistory(t, "until the middle", collectHistory(t, arch, p, keeper.Until(mid)), want[:3])
	checkHistory(t, "zxids", collectHistory(t, arch, p, keeper.FromZxid(zSet), keeper.ToZxid(zLast)), want[1:5])
	if got := collectHistory(t, arch, "/never"); len(got) != 0 {
		t.Errorf("history of a znode never written: %+v", got)
	}

	// The subtree of /app: /app itself, /app/other (from the multi) and
	// every version of /app/config, in zxid order. Inside the subtree the
	// parents and children are followed, so only the create of /app,
	// whose parent is outside, is uncertain.
	sub := collectHistory(t, arch, "/app", keeper.Subtree())
	var paths []string
	for _, v := range sub {
		paths = append(paths, v.Path)
		if v.Uncertain != (v.Path == "/app") {
			t.Errorf("subtree: %+v: uncertain %v", v, v.Uncertain)
		}
	}
	wantPaths := []string{"/app", p, p, p, "/app/other", p, p, p, p, p}
	if !slices.Equal(paths, wantPaths) {
		t.Errorf("subtree lists %v, want %v", paths, wantPaths)
	}

	// Without path indexes, damaged or gone, the segments give the same.
	idx, err := filepath.Glob(filepath.Join(dir, "*", "idx", "*.kidx"))
	if err != nil || len(idx) == 0 {
		t.Fatalf("no path index written: %v %v", idx, err)
	}
	for i, f := range idx {
		if i%2 == 0 {
			must(os.WriteFile(f, []byte("KIDX\x01\x07damaged"), 0o644))
		} else {
			must(os.Remove(f))
		}
	}
	checkHistory(t, "without indexes", collectHistory(t, arch, p), want)
}

// TestArchiveHistorySequential: History of a sequential znode lists its
// create, although the request named only the prefix: the archiver
// indexes the name apply made. That holds for a create in a multi too,
// which the index also shows applied whole.
func TestArchiveHistorySequential(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "archive")
	target := keeper.DirTarget(dir)
	c := archiveCluster(t, 1, target)
	ctx := context.Background()
	leader := c.WaitLeader()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := leader.Create(ctx, "/q", nil, keeper.Persistent)
	must(err)
	var names []string
	var czxids []keeper.Zxid
	for i := range 3 {
		p, st, err := leader.Create2(ctx, "/q/job-", []byte(fmt.Sprint("j", i)), keeper.PersistentSequential)
		must(err)
		names, czxids = append(names, p), append(czxids, st.Czxid)
	}
	res, err := leader.Multi(ctx, keeper.CreateOp("/q/other-", []byte("o"), keeper.PersistentSequential), keeper.CreateOp("/q/job-", []byte("m"), keeper.PersistentSequential))
	must(err)
	inMulti := res[1].Path
	st, err := leader.Set(ctx, names[1], []byte("j1b"), 0)
	must(err)
	must(leader.Delete(ctx, names[1], keeper.AnyVersion))
	st2, err := leader.Set(ctx, inMulti, []byte("m2"), keeper.AnyVersion)
	must(err)
	waitArchived(t, c, leader.Status().Applied)

	arch, err := keeper.OpenArchive(ctx, target, keeper.ArchiveOptions{})
	must(err)
	want := []historyWant{
		{path: names[1], op: keeper.VersionCreated, user: "[]", before: "-", data: "j1", zxid: czxids[1]},
		{path: names[1], op: keeper.VersionSet, user: "[]", before: "j1", data: "j1b", version: 1, zxid: st.Mzxid},
		{path: names[1], op: keeper.VersionDeleted, user: "[]", before: "j1b", data: "-", version: 1, uncertain: true},
	}
	checkHistory(t, names[1], collectHistory(t, arch, names[1]), want)
	checkHistory(t, inMulti, collectHistory(t, arch, inMulti), []historyWant{
		{path: inMulti, op: keeper.VersionCreated, user: "[]", before: "-", data: "m", multi: true},
		{path: inMulti, op: keeper.VersionSet, user: "[]", before: "m", data: "m2", version: 1, zxid: st2.Mzxid},
	})

}
