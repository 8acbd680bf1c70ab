package raftlog

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// filled is entries from..to whose payloads hold no zero byte, so the end of
// the written data can be found in a preallocated segment.
func filled(from, to uint64) []*raftpb.Entry {
	ents := entries(from, to, 1)
	for _, e := range ents {
		e.Data = bytes.Repeat([]byte{0xa5}, 700)
	}
	return ents
}

// dataEnd is the offset just past the last non-zero byte of segment path.
func dataEnd(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(bytes.TrimRight(b, "\x00"))
}

// A process killed in the middle of an append leaves the last record cut at
// a sector boundary with the segment's zeros after it: OpenLog cuts it and
// opens, keeping every record written before it, and the log takes appends.
func TestRaftLogTornTailCut(t *testing.T) {
	dir := t.TempDir()
	l, err := CreateLog(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Save(&raftpb.HardState{Term: new(uint64(1)), Commit: new(uint64(3))}, filled(1, 3)); err != nil {
		t.Fatal(err)
	}
	last := segments(t, dir)[len(segments(t, dir))-1]
	end1 := dataEnd(t, last)
	if err := l.Save(&raftpb.HardState{Term: new(uint64(1)), Commit: new(uint64(5))}, filled(4, 5)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if segments(t, dir)[len(segments(t, dir))-1] != last {
		t.Fatal("the second save went to a new segment; the test needs one")
	}
	end2 := dataEnd(t, last)
	// The tear: the second save's records from the first sector boundary
	// inside them never reached the file.
	off := (end1/512 + 1) * 512
	if off >= end2 {
		t.Fatalf("no sector boundary inside the second save (%d..%d)", end1, end2)
	}
	b, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	clear(b[off:])
	if err := os.WriteFile(last, b, 0o600); err != nil {
		t.Fatal(err)
	}

	l, rep, err := OpenLog(dir, 0)
	if err != nil {
		t.Fatalf("OpenLog after a torn append: %v", err)
	}
	if rep.TornBytes <= 0 {
		t.Fatalf("TornBytes = %d, want the cut reported", rep.TornBytes)
	}
	if len(rep.Entries) < 3 || len(rep.Entries) > 4 {
		t.Fatalf("replayed %d entries, want the 3 of the first save and at most one whole entry of the torn one", len(rep.Entries))
	}
	for i, e := range rep.Entries {
		if e.GetIndex() != uint64(i+1) || !bytes.Equal(e.Data, filled(1, 1)[0].Data) {
			t.Fatalf("entry %d came back as index %d with %d bytes", i+1, e.GetIndex(), len(e.Data))
		}
	}
	next := uint64(len(rep.Entries)) + 1
	if err := l.Save(&raftpb.HardState{Term: new(uint64(1)), Commit: new(next)}, filled(next, next)); err != nil {
		t.Fatalf("append after the cut: %v", err)
	}
	l.Close()
	l, rep, err = OpenLog(dir, 0)
	if err != nil {
		t.Fatalf("reopen after the cut: %v", err)
	}
	defer l.Close()
	if got := rep.Entries[len(rep.Entries)-1].GetIndex(); got != next || rep.TornBytes != 0 {
		t.Fatalf("reopen: last entry %d (want %d), TornBytes %d (want 0)", got, next, rep.TornBytes)
	}
}

// Damage followed by whole records is not a torn append: OpenLog refuses it
// and leaves the segment byte for byte as it was.
func TestRaftLogDamageBeforeRecordsRefused(t *testing.T) {
	dir := t.TempDir()
	l, err := CreateLog(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Save(&raftpb.HardState{Term: new(uint64(1)), Commit: new(uint64(3))}, filled(1, 3)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	last := segments(t, dir)[len(segments(t, dir))-1]
	b, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	// Zero a sector in the middle of the records, as a lost write would.
	end := dataEnd(t, last)
	off := (end / 2 / 512) * 512
	clear(b[off : off+512])
	if err := os.WriteFile(last, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenLog(dir, 0); !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("OpenLog on a log damaged before its last records: %v, want ErrCorruptLog", err)
	}
	after, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, b) {
		t.Fatal("a refused open changed the segment")
	}
}
