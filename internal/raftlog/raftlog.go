// Package raftlog is a member's raft log: etcd's write-ahead log in the
// member's data dir, under dir/wal.
//
// The raft log and the tree (Pebble) are written separately: the raft loop
// appends entries here with one fsync per Ready, applies them to the tree in
// unsynced batches, and releases log segments only up to an index the tree
// holds durably. A restart reopens the log at a release mark at or below the
// tree's applied index and replays what follows.
//
// Save takes raft's own record types: converting every entry of the hot path
// into a copy of our own would cost an allocation per entry for nothing, and
// only the raft loop calls it. Everything else uses the small types below.
// The package is internal because every call that writes moves a live
// member's log; keeper's Open, the raft loop, Restore and RecoverQuorum are
// its only writers.
package raftlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
)

// ErrCorruptLog reports a raft log that cannot be read back: a torn or
// damaged tail, a checksum mismatch, a missing release mark. keeper's
// ErrCorrupt matches it with errors.Is.
var ErrCorruptLog = errors.New("storage: corrupt raft log")

// ErrNoLog reports that the data dir holds no raft log.
var ErrNoLog = errors.New("storage: no raft log")

// walDir is the raft log's directory inside a data dir.
const walDir = "wal"

// Dir returns the raft log's directory inside the member data dir dir.
func Dir(dir string) string { return filepath.Join(dir, walDir) }

// Mark names a position in the raft log: an entry's index and term. A release
// mark is where the log may be reopened after older segments are released.
type Mark struct {
	Index uint64
	Term  uint64
}

// Replayed is what OpenLog reads back: the metadata given to CreateLog, the
// mark the log was opened at, the last hard state and the entries after the
// mark. Entries and HardState belong to the caller.
type Replayed struct {
	Metadata  []byte
	Start     Mark
	HardState *raftpb.HardState
	Entries   []*raftpb.Entry
	// TornBytes is how many bytes of a torn last record OpenLog cut before
	// reading (torn.go); 0 when the log ended cleanly.
	TornBytes int64
}

// RaftLog is an open raft log. Save and Release are meant for one goroutine
// (the raft loop); Close may be called from another once the loop stopped.
type RaftLog struct {
	mu  sync.Mutex
	w   *wal.WAL
	dir string
}

// LogExists reports whether dir holds a raft log.
func LogExists(dir string) bool {
	return wal.Exist(Dir(dir))
}

// CreateLog creates a new, empty raft log in dir, recording metadata at the
// head of every segment. It fails if a log exists there already.
func CreateLog(dir string, metadata []byte) (*RaftLog, error) {
	d := Dir(dir)
	if wal.Exist(d) {
		return nil, fmt.Errorf("storage: create raft log: %s already exists", d)
	}
	w, err := wal.Create(zap.NewNop(), d, metadata)
	if err != nil {
		return nil, fmt.Errorf("storage: create raft log: %w", err)
	}
	return &RaftLog{w: w, dir: d}, nil
}

// OpenLog opens the raft log in dir for appending, positioned at the newest
// release mark whose index is at most upTo (pass the index the state machine
// holds durably), and reads back everything after that mark. A torn last
// record, as a process killed in the middle of an append leaves it, is cut
// first and counted in Replayed.TornBytes (see torn.go). Any other damage
// returns an error matching ErrCorruptLog and leaves the log as it was; a
// missing log returns ErrNoLog.
func OpenLog(dir string, upTo uint64) (*RaftLog, *Replayed, error) {
	w, r, err := openLog(dir, upTo, true, false)
	if err != nil {
		return nil, nil, err
	}
	return &RaftLog{w: w, dir: Dir(dir)}, r, nil
}

// ReadLog reads dir's raft log back as OpenLog does, without opening it for
// appending, so it writes nothing in dir. Unlike OpenLog it accepts a torn
// last record, as a crash in the middle of an append leaves it, and leaves
// it out: that record was never synced, so nothing it held was
// acknowledged. Any other damage returns an error matching ErrCorruptLog; a
// missing log ErrNoLog.
func ReadLog(dir string, upTo uint64) (*Replayed, error) {
	w, r, err := openLog(dir, upTo, false, false)
	if err != nil {
		return nil, err
	}
	// ReadAll closed the files; Close only reports that a read-only log has
	// no directory handle.
	_ = w.Close()
	return r, nil
}

// openLog opens the raft log in dir, for appending if write is set, at the
// newest release mark whose index is at most upTo, and reads back
// everything after that mark.
func openLog(dir string, upTo uint64, write, repaired bool) (w *wal.WAL, r *Replayed, err error) {
	d := Dir(dir)
	if !wal.Exist(d) {
		return nil, nil, ErrNoLog
	}
	// The WAL decoder panics on a record whose checksum holds but whose body
	// does not decode; that is corruption, not a reason to crash the host.
	defer func() {
		if p := recover(); p != nil {
			w, r = nil, nil
			err = fmt.Errorf("%w: %v", ErrCorruptLog, p)
		}
	}()
	marks, err := wal.ValidSnapshotEntries(zap.NewNop(), d)
	if err != nil {
		return nil, nil, corrupt("list release marks", err)
	}
	start := &walpb.Snapshot{Index: new(uint64(0)), Term: new(uint64(0))}
	for _, m := range marks {
		if m.GetIndex() <= upTo && m.GetIndex() >= start.GetIndex() {
			start = m
		}
	}
	open := wal.OpenForRead
	if write {
		open = wal.Open
	}
	w, err = open(zap.NewNop(), d, &walpb.Snapshot{Index: new(start.GetIndex()), Term: new(start.GetTerm())})
	if err != nil {
		return nil, nil, corrupt("open", err)
	}
	meta, hs, ents, err := w.ReadAll()
	if write && errors.Is(err, io.ErrUnexpectedEOF) && !repaired {
		// A torn last record, as a kill in the middle of an append leaves
		// it (torn.go): cut it and read again, once.
		w.Close()
		cut, rerr := repairTornTail(d)
		if rerr != nil {
			return nil, nil, rerr
		}
		w, r, err = openLog(dir, upTo, write, true)
		if r != nil {
			r.TornBytes = cut
		}
		return w, r, err
	}
	if err != nil {
		w.Close()
		return nil, nil, corrupt("read", err)
	}
	return w, &Replayed{
		Metadata:  meta,
		Start:     Mark{Index: start.GetIndex(), Term: start.GetTerm()},
		HardState: hs,
		Entries:   ents,
	}, nil
}

// corrupt wraps a WAL read failure so it matches ErrCorruptLog, except for
// plain I/O trouble such as a permission error, which is not corruption.
func corrupt(what string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("storage: raft log %s: %w", what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrCorruptLog, what, err)
}

// Save appends entries and the hard state and makes them durable with one
// fsync when raft requires it (new entries, or a changed term or vote).
func (l *RaftLog) Save(hs *raftpb.HardState, ents []*raftpb.Entry) error {
	if hs == nil && len(ents) == 0 {
		return nil
	}
	if hs == nil {
		hs = &raftpb.HardState{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.w.Save(hs, ents); err != nil {
		return fmt.Errorf("storage: raft log save: %w", err)
	}
	return nil
}

// Release records a release mark at m and lets go of the log segments that
// only hold entries before it, deleting their files. The caller must have
// made the state machine durable at or beyond m.Index first. voters and
// learners describe the membership at the mark.
func (l *RaftLog) Release(m Mark, voters, learners []uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	snap := &walpb.Snapshot{
		Index:     new(m.Index),
		Term:      new(m.Term),
		ConfState: &raftpb.ConfState{Voters: voters, Learners: learners},
	}
	if err := l.w.SaveSnapshot(snap); err != nil {
		return fmt.Errorf("storage: raft log release mark: %w", err)
	}
	if err := l.w.ReleaseLockTo(m.Index); err != nil {
		return fmt.Errorf("storage: raft log release: %w", err)
	}
	return l.purge(m.Index)
}

// Install moves the log to a raft snapshot at m, once the state machine
// holds the snapshot durably: it saves hs (whose commit must be at least
// m.Index), then a release mark at m with the membership voters and learners
// (synced), and releases everything before. Entries of the old log after m
// stay in the file; a reader drops those whose term is below m.Term (see
// OpenLog's caller).
func (l *RaftLog) Install(m Mark, hs *raftpb.HardState, voters, learners []uint64) error {
	l.mu.Lock()
	if err := l.w.Save(hs, nil); err != nil {
		l.mu.Unlock()
		return fmt.Errorf("storage: raft log install: %w", err)
	}
	l.mu.Unlock()
	return l.Release(m, voters, learners)
}

// purge deletes segment files whose entries all precede index: every
// segment before the last one that starts below index. Segment names
// are "<seq>-<first index>.wal" in hex; their order is the name order.
func (l *RaftLog) purge(index uint64) error {
	names, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("storage: raft log purge: %w", err)
	}
	type seg struct {
		name  string
		start uint64
	}
	var segs []seg
	for _, e := range names {
		n := e.Name()
		if !strings.HasSuffix(n, ".wal") {
			continue
		}
		var seq, start uint64
		if _, err := fmt.Sscanf(n, "%016x-%016x.wal", &seq, &start); err != nil {
			continue
		}
		segs = append(segs, seg{n, start})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].name < segs[j].name })
	// Keep the last segment starting before index (it may hold entries at
	// index and after) and everything after it, as ReleaseLockTo does.
	keep := 0
	for i, s := range segs {
		if s.start < index {
			keep = i
		}
	}
	for i := 0; i < keep; i++ {
		if err := os.Remove(filepath.Join(l.dir, segs[i].name)); err != nil {
			return fmt.Errorf("storage: raft log purge: %w", err)
		}
	}
	return nil
}

// Close flushes and closes the log.
func (l *RaftLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return nil
	}
	err := l.w.Close()
	l.w = nil
	if err != nil {
		return fmt.Errorf("storage: raft log close: %w", err)
	}
	return nil
}
