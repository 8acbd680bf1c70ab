package raftlog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/raft/v3/raftpb"
)

func TestMain(m *testing.M) {
	// Small segments so Release has whole segments to drop.
	wal.SegmentSizeBytes = 16 * 1024
	os.Exit(m.Run())
}

func entries(from, to, term uint64) []*raftpb.Entry {
	var ents []*raftpb.Entry
	for i := from; i <= to; i++ {
		ents = append(ents, &raftpb.Entry{
			Index: new(i), Term: new(term), Type: raftpb.EntryNormal.Enum(),
			Data: make([]byte, 512),
		})
	}
	return ents
}

func TestRaftLogRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if LogExists(dir) {
		t.Fatal("empty dir has a log")
	}
	if _, _, err := OpenLog(dir, 0); !errors.Is(err, ErrNoLog) {
		t.Fatalf("OpenLog on empty dir: %v", err)
	}
	l, err := CreateLog(dir, []byte("meta"))
	if err != nil {
		t.Fatal(err)
	}
	hs := &raftpb.HardState{Term: new(uint64(2)), Vote: new(uint64(1)), Commit: new(uint64(90))}
	if err := l.Save(hs, entries(1, 100, 2)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateLog(dir, nil); err == nil {
		t.Fatal("CreateLog over an existing log succeeded")
	}

	l, r, err := OpenLog(dir, 50)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Metadata) != "meta" || r.HardState.GetCommit() != 90 || len(r.Entries) != 100 || r.Start.Index != 0 {
		t.Fatalf("replayed meta %q commit %d, %d entries from %d", r.Metadata, r.HardState.GetCommit(), len(r.Entries), r.Start.Index)
	}
	// Appending continues after a reopen; a release drops old segments.
	hs = &raftpb.HardState{Term: new(uint64(2)), Vote: new(uint64(1)), Commit: new(uint64(200))}
	for i := uint64(101); i <= 200; i += 10 {
		if err := l.Save(hs, entries(i, i+9, 2)); err != nil {
			t.Fatal(err)
		}
	}
	before := segments(t, dir)
	if err := l.Release(Mark{Index: 150, Term: 2}, []uint64{1, 2, 3}, nil); err != nil {
		t.Fatal(err)
	}
	after := segments(t, dir)
	if len(after) >= len(before) {
		t.Fatalf("release kept every segment: %d -> %d", len(before), len(after))
	}
	l.Close()

	l, r, err = OpenLog(dir, 160)
	if err != nil {
		t.Fatal(err)
	}
	if r.Start.Index != 150 || len(r.Entries) != 50 || r.Entries[0].GetIndex() != 151 {
		t.Fatalf("reopen at mark: start %d, %d entries", r.Start.Index, len(r.Entries))
	}
	l.Close()
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, walDir, "*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

func TestRaftLogCorruptTail(t *testing.T) {
	dir := t.TempDir()
	l, err := CreateLog(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := &raftpb.HardState{Term: new(uint64(1)), Commit: new(uint64(3))}
	if err := l.Save(hs, entries(1, 3, 1)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	segs := segments(t, dir)
	last := segs[len(segs)-1]
	b, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	// Flip bytes inside an entry that has whole records after it.
	for i := 600; i < 700 && i < len(b); i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(last, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = OpenLog(dir, 0)
	if !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("OpenLog on a damaged log: %v, want ErrCorruptLog", err)
	}
	if after, err := os.ReadFile(last); err != nil || !bytes.Equal(after, b) {
		t.Fatalf("a refused open changed the segment (read error %v)", err)
	}
}
