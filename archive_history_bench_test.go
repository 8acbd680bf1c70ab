package keeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/stream"
	"github.com/keeper-go/keeper/internal/wire"
	"go.etcd.io/raft/v3/raftpb"
)

// BenchmarkArchiveHistory measures History of one znode in an archive of
// KEEPER_HISTORY_ENTRIES entries (default 200,000) in segments of
// KEEPER_HISTORY_SEGMENT entries (default 20,000) with their path indexes
// and merged path indexes, as the archiver writes them: creates of
// 100,000 znodes, then sets of random ones, 100-byte values, and among
// them the queried znode's create and ten sets spread over the archive.
// The archive is built directly (writeSegment, buildSegmentIndex,
// indexMerger) on a DirTarget, without a cluster. "merged" reads it as
// it is; "segment-indexes" with the merged indexes hidden, as an archive
// without them reads.
func BenchmarkArchiveHistory(b *testing.B) {
	n := historyBenchEnv(b, "KEEPER_HISTORY_ENTRIES", 200_000)
	segEntries := historyBenchEnv(b, "KEEPER_HISTORY_SEGMENT", 20_000)
	ctx := context.Background()
	dir := filepath.Join(b.TempDir(), "archive")
	target := DirTarget(dir)
	start := time.Now()
	hot, segs := buildHistoryArchive(b, target, nil, n, segEntries, 100_000, &indexMerger{})
	b.Logf("built %d entries in %d segments in %v", n, segs, time.Since(start).Round(time.Millisecond))
	for _, v := range []struct {
		name   string
		target Target
	}{{"merged", target}, {"segment-indexes", hideMerged{target}}} {
		b.Run(v.name, func(b *testing.B) {
			arch, err := OpenArchive(ctx, v.target, ArchiveOptions{})
			if err != nil {
				b.Fatal(err)
			}
			versions := 0
			for b.Loop() {
				versions = 0
				for _, err := range arch.History(ctx, hot) {
					if err != nil {
						b.Fatal(err)
					}
					versions++
				}
			}
			if versions != 11 {
				b.Fatalf("history lists %d versions of %s, want 11", versions, hot)
			}
			b.ReportMetric(float64(versions), "versions/op")
		})
	}
}

// historyBenchEnv reads a count of at least 1000 from the environment.
func historyBenchEnv(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1000 {
		b.Fatalf("%s=%q: want a number of at least 1000", name, s)
	}
	return v
}

// hideMerged is a target whose listings leave out merged path indexes.
type hideMerged struct{ Target }

func (h hideMerged) List(ctx context.Context, prefix string) ([]TargetObject, error) {
	objs, err := h.Target.List(ctx, prefix)
	return slices.DeleteFunc(objs, func(o TargetObject) bool { return strings.Contains(o.Name, "/midx/") }), err
}

// buildHistoryArchive writes an archive of n entries under key (nil for
// plaintext): a base of the empty tree, then segments of segEntries
// entries with their path indexes. It returns the path whose history to
// ask for, which has 11 versions, and the number of segments.
func buildHistoryArchive(b testing.TB, target Target, key []byte, n, segEntries, paths int, merge *indexMerger) (string, int) {
	ctx := context.Background()
	const cluster = 0x5eed
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	tr, err := openTreeDir(b.TempDir(), cluster, nil)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	_, err = tr.writeStream(ctx, &buf, streamHeaderInfo{Kind: stream.KindBackup, Time: time.UnixMilli(t0)}, BackupOptions{Key: key}, nil)
	tr.close()
	if err != nil {
		b.Fatal(err)
	}
	if err := target.Put(ctx, archBaseName(cluster, 0, t0), &buf); err != nil {
		b.Fatal(err)
	}
	const hot = "/bench/config"
	rng := rand.New(rand.NewPCG(1, 2))
	value := bytes.Repeat([]byte("v"), 100)
	hotEvery := uint64(n / 10)
	request := func(idx uint64) *request {
		r := &request{Kind: reqOps, Time: t0 + int64(idx), Session: 0}
		switch {
		case idx == 1:
			r.Ops = []Op{CreateOp("/bench", nil, Persistent)}
		case idx == 2:
			r.Ops = []Op{CreateOp(hot, value, Persistent)}
		case idx%hotEvery == 0:
			r.Ops = []Op{SetOp(hot, value, AnyVersion)}
		case idx < uint64(paths)+3:
			r.Ops = []Op{CreateOp(fmt.Sprintf("/bench/p%07d", idx-3), value, Persistent)}
		default:
			r.Ops = []Op{SetOp(fmt.Sprintf("/bench/p%07d", rng.IntN(min(paths, n-3))), value, AnyVersion)}
		}
		return r
	}
	typ, term := raftpb.EntryNormal, uint64(1)
	segs := 0
	ents := make([]*raftpb.Entry, 0, segEntries)
	var payload []byte
	for idx := uint64(1); idx <= uint64(n); idx++ {
		payload, err = encodeRequest(payload[:0], request(idx))
		if err != nil {
			b.Fatal(err)
		}
		ents = append(ents, &raftpb.Entry{Index: new(idx), Term: &term, Type: &typ, Data: wire.EncodeEnvelope(1, idx, payload)})
		if len(ents) < segEntries && idx < uint64(n) {
			continue
		}
		info := segmentInfo(ents)
		buf.Reset()
		if _, err := writeSegment(&buf, cluster, 1, ents, info, stream.WriterOptions{Key: key}); err != nil {
			b.Fatal(err)
		}
		if err := target.Put(ctx, archSegmentName(cluster, info.First, info.Last, info.FirstTime, info.LastTime), &buf); err != nil {
			b.Fatal(err)
		}
		x := buildSegmentIndex(ents, info, nil, newIndexKeyer(key))
		if err := target.Put(ctx, archIndexName(cluster, info.First, info.Last), bytes.NewReader(x.Encode())); err != nil {
			b.Fatal(err)
		}
		if merge != nil {
			merge.add(ctx, target, slog.New(slog.DiscardHandler), cluster, x)
		}
		segs++
		ents = ents[:0]
	}
	if merge != nil {
		merge.flush(ctx, target, slog.New(slog.DiscardHandler), cluster)
	}
	return hot, segs
}

// TestArchiveHistoryKeyed reads the history of an encrypted archive,
// whose path indexes hash paths under the host key: with the key it lists
// the versions, without it History fails as a restore would.
func TestArchiveHistoryKeyed(t *testing.T) {
	ctx := context.Background()
	target := DirTarget(filepath.Join(t.TempDir(), "archive"))
	key := bytes.Repeat([]byte{7}, stream.KeySize)
	hot, _ := buildHistoryArchive(t, target, key, 3000, 1000, 500, nil)
	arch, err := OpenArchive(ctx, target, ArchiveOptions{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	var got []Version
	for v, err := range arch.History(ctx, hot) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if len(got) != 11 || got[0].Op != VersionCreated || got[10].DataVersion != 10 {
		t.Fatalf("history of %s: %d versions %+v", hot, len(got), got)
	}
	plain, err := OpenArchive(ctx, target, ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range plain.History(ctx, hot) {
		if !errors.Is(err, ErrBackupKey) {
			t.Fatalf("history without the key: %v, want ErrBackupKey", err)
		}
	}
}

// TestArchiveHistoryDamage: History lists what it can before a missing
// segment and then ends with ErrNotArchived; a damaged segment with hits
// ends it with ErrArchiveCorrupt.
func TestArchiveHistoryDamage(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "archive")
	target := DirTarget(dir)
	hot, _ := buildHistoryArchive(t, target, nil, 3000, 1000, 500, nil)
	arch, err := OpenArchive(ctx, target, ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list := func() (n int, last error) {
		for _, err := range arch.History(ctx, hot) {
			if err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	}
	segs, err := filepath.Glob(filepath.Join(dir, "*", "log", "*.kseg"))
	if err != nil || len(segs) != 3 {
		t.Fatalf("segments %v %v", segs, err)
	}
	good, err := os.ReadFile(segs[1])
	if err != nil {
		t.Fatal(err)
	}
	// Entries 1001..2000 hold the sets at 1200, 1500 and 1800.
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 0xff
	if err := os.WriteFile(segs[1], bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := list(); !errors.Is(err, ErrArchiveCorrupt) || n != 4 {
		t.Errorf("damaged segment: %d versions, then %v; want 4 and ErrArchiveCorrupt", n, err)
	}
	if err := os.Remove(segs[1]); err != nil {
		t.Fatal(err)
	}
	if n, err := list(); !errors.Is(err, ErrNotArchived) || n != 4 {
		t.Errorf("missing segment: %d versions, then %v; want 4 and ErrNotArchived", n, err)
	}
}

// countingGets is a target that counts the reads of path indexes, merged
// and not, and the bytes read of merged ones.
type countingGets struct {
	Target
	own, merged, mergedBytes atomic.Int64
}

func (c *countingGets) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	switch {
	case strings.Contains(name, "/midx/"):
		c.merged.Add(1)
	case strings.Contains(name, "/idx/"):
		c.own.Add(1)
	}
	rc, err := c.Target.Get(ctx, name)
	if err != nil || !strings.Contains(name, "/midx/") {
		return rc, err
	}
	counted := countedReader{ReadCloser: rc, n: &c.mergedBytes}
	if s, ok := rc.(io.Seeker); ok {
		return countedSeeker{counted, s}, nil
	}
	return counted, nil
}

// countedReader counts the bytes read through it into n.
type countedReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r countedReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	r.n.Add(int64(n))
	return n, err
}

// countedSeeker is a countedReader that seeks as the reader it counts.
type countedSeeker struct {
	countedReader
	s io.Seeker
}

func (r countedSeeker) Seek(off int64, whence int) (int64, error) { return r.s.Seek(off, whence) }

// TestArchiveHistoryMerged: History reads the merged path indexes in
// place of the segments' own, one read for many segments, and lists the
// same versions; where a merged index is damaged it reads the segments'
// own indexes instead, and lists the same again.
func TestArchiveHistoryMerged(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "archive")
	target := DirTarget(dir)
	hot, segs := buildHistoryArchive(t, target, nil, 20_000, 500, 2000, &indexMerger{maxSegs: 8})
	merged, err := filepath.Glob(filepath.Join(dir, "*", "midx", "*.kidx"))
	if err != nil || len(merged) != segs/8 {
		t.Fatalf("%d segments gave merged indexes %v (%v), want %d", segs, merged, err, segs/8)
	}
	history := func() ([]Version, *countingGets) {
		t.Helper()
		ct := &countingGets{Target: target}
		arch, err := OpenArchive(ctx, ct, ArchiveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []Version
		for v, err := range arch.History(ctx, hot) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out, ct
	}
	want, ct := history()
	if len(want) != 11 {
		t.Fatalf("history lists %d versions, want 11", len(want))
	}
	if ct.own.Load() != 0 || ct.merged.Load() != int64(len(merged)) {
		t.Errorf("history read %d segment indexes and %d merged ones, want 0 and %d", ct.own.Load(), ct.merged.Load(), len(merged))
	}
	// A DirTarget object seeks: of each merged index History reads the
	// head, a bloom block, a rows block and the path's hits, not the
	// whole body.
	var size int64
	for _, m := range merged {
		fi, err := os.Stat(m)
		if err != nil {
			t.Fatal(err)
		}
		size += fi.Size()
	}
	t.Logf("history read %d bytes of %d merged indexes of %d bytes", ct.mergedBytes.Load(), len(merged), size)
	if n := ct.mergedBytes.Load(); n > int64(len(merged))*16<<10 {
		t.Errorf("history read %d bytes of %d merged indexes of %d bytes, want at most 16 KiB each", n, len(merged), size)
	}
	if err := os.WriteFile(merged[1], []byte("KIDX\x01\x07damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, ct := history()
	if len(got) != len(want) {
		t.Fatalf("with a damaged merged index: %d versions, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Zxid != want[i].Zxid || got[i].Op != want[i].Op {
			t.Errorf("with a damaged merged index, version %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if ct.own.Load() != 8 {
		t.Errorf("with a damaged merged index: %d segment indexes read, want the 8 it covers", ct.own.Load())
	}
}
