package keeper_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// Footprint counts what the tree holds, as ZooKeeper's mntr reports it, and
// the bytes of the member's files; Settings reports the configuration with
// its defaults.
func TestFootprintAndSettings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := keepertest.NewCluster(t, 1)
	n := c.WaitLeader()
	before, err := n.Footprint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A fresh tree holds "/" and "/zookeeper": paths of 1 and 10 bytes.
	if before.Znodes != 2 || before.Ephemerals != 0 || before.DataBytes != 11 || before.Sessions != 0 {
		t.Fatalf("fresh tree: %+v", before)
	}
	if before.TreeBytes == 0 || before.LogBytes == 0 {
		t.Fatalf("fresh member's files: %+v", before)
	}
	s, err := n.NewSession(ctx, keeper.SessionOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if _, err := n.Create(ctx, "/app", []byte("12345"), keeper.Persistent); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "/app/e", []byte("xy"), keeper.Ephemeral); err != nil {
		t.Fatal(err)
	}
	fp, err := n.Footprint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := keeper.Footprint{Znodes: 4, Ephemerals: 1, DataBytes: 11 + 4 + 5 + 6 + 2, Sessions: 1}
	if fp.Znodes != want.Znodes || fp.Ephemerals != want.Ephemerals || fp.DataBytes != want.DataBytes || fp.Sessions != want.Sessions {
		t.Fatalf("footprint %+v, want counts %+v", fp, want)
	}

	st := n.Settings()
	dir, err := filepath.Abs(c.Dir(n.ID()))
	if err != nil {
		t.Fatal(err)
	}
	if st.Dir != dir || filepath.Dir(st.TreeDir) != dir || filepath.Dir(st.LogDir) != dir || st.TreeDir == st.LogDir {
		t.Fatalf("settings' dirs: %+v (data dir %s)", st, dir)
	}
	if st.TickInterval != keeper.DefaultTickInterval || st.ElectionTicks != keeper.DefaultElectionTicks ||
		st.MinSessionTimeout != keeper.DefaultMinSessionTimeout || st.MaxSessionTimeout != keeper.DefaultMaxSessionTimeout {
		t.Fatalf("settings %+v, want the defaults", st)
	}
}

// Session.Watches lists a session's live watches, sorted by path and kind;
// a fired one-shot watch is gone from it.
func TestSessionWatches(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n := keepertest.NewCluster(t, 1).WaitLeader()
	s, err := n.NewSession(ctx, keeper.SessionOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if _, err := n.Create(ctx, "/b", nil, keeper.Persistent); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.ChildrenW(ctx, "/b"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.GetW(ctx, "/b"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.ExistsW(ctx, "/a"); err != nil {
		t.Fatal(err)
	}
	type pk struct {
		path string
		kind keeper.WatchKind
	}
	list := func() []pk {
		var out []pk
		for _, w := range s.Watches() {
			out = append(out, pk{w.Path(), w.Kind()})
		}
		return out
	}
	got := list()
	want := []pk{{"/a", keeper.DataWatch}, {"/b", keeper.DataWatch}, {"/b", keeper.ChildWatch}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("watches %v, want %v", got, want)
	}
	if _, err := n.Create(ctx, "/a", nil, keeper.Persistent); err != nil {
		t.Fatal(err)
	}
	// The exist watch on /a fired and ended.
	deadline := time.Now().Add(10 * time.Second)
	for len(list()) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("watches after /a was created: %v", list())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
