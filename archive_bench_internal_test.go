package keeper

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/stream"
	"github.com/keeper-go/keeper/internal/wire"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3/raftpb"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"
)

// BenchmarkArchiveRestore measures a point-in-time restore from an archive
// on a directory: a base of KEEPER_ARCHIVE_ZNODES 100-byte znodes and
// KEEPER_ARCHIVE_ENTRIES sets after it in segments of 20,000 entries, restored
// to the last of them and brought up as a serving 3-member cluster: the
// tree rebuilt from the base and the log (as Archive.At does), its stream
// written and restored into three data dirs, the members opened and a
// leader elected. It reports the whole restore's seconds and each step's:
// the base's restore, the log's replay (and its entries per second), the
// stream, the three restores and the opening.
//
//	KEEPER_ARCHIVE_ZNODES=1000000 KEEPER_ARCHIVE_ENTRIES=100000 go test -run '^$' -bench BenchmarkArchiveRestore -benchtime 1x -timeout 30m .
func BenchmarkArchiveRestore(b *testing.B) {
	znodes := envInt(b, "KEEPER_ARCHIVE_ZNODES", 20000)
	entries := envInt(b, "KEEPER_ARCHIVE_ENTRIES", 5000)
	ctx := context.Background()
	target := DirTarget(filepath.Join(b.TempDir(), "archive"))
	h := newHarness(b)
	data := bytes.Repeat([]byte("v"), 100)
	h.one(CreateOp("/b", nil, Persistent))
	for i := 0; i < znodes; {
		var group []committed
		for ; i < znodes && len(group) < 1000; i++ {
			r := request{Time: 1, Ops: []Op{CreateOp(fmt.Sprintf("/b/n%08d", i), data, Persistent)}}
			group = append(group, committed{Index: h.tr.applied() + 1 + uint64(len(group)), Kind: entryOp, Data: appendRequest(nil, &r)})
		}
		if _, err := h.tr.apply(group); err != nil {
			b.Fatal(err)
		}
	}
	base := h.tr.applied()
	pr, pw := io.Pipe()
	go func() {
		_, err := h.tr.writeStream(ctx, pw, streamHeaderInfo{Time: time.UnixMilli(1)}, BackupOptions{}, nil)
		pw.CloseWithError(err)
	}()
	if err := target.Put(ctx, archBaseName(1, base, 1), pr); err != nil {
		b.Fatal(err)
	}
	typ := raftpb.EntryNormal
	var ents []*raftpb.Entry
	flush := func() {
		var buf bytes.Buffer
		info := segmentInfo(ents)
		if _, err := writeSegment(&buf, 1, 1, ents, info, stream.WriterOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := target.Put(ctx, archSegmentName(1, info.First, info.Last, info.FirstTime, info.LastTime), &buf); err != nil {
			b.Fatal(err)
		}
		ents = ents[:0]
	}
	for i := range entries {
		r := request{Time: int64(2 + i), Ops: []Op{SetOp(fmt.Sprintf("/b/n%08d", i%znodes), data, AnyVersion)}}
		idx := base + 1 + uint64(i)
		ents = append(ents, &raftpb.Entry{Index: &idx, Term: new(uint64(1)), Type: &typ, Data: wire.EncodeEnvelope(1, 0, appendRequest(nil, &r))})
		if len(ents) == 20000 {
			flush()
		}
	}
	if len(ents) > 0 {
		flush()
	}
	last := base + uint64(entries)
	h.close()

	var baseSecs, logSecs, restoreSecs, openSecs, totalSecs float64
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		arch, err := OpenArchive(ctx, target, ArchiveOptions{TempDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		c, err := listCatalog(ctx, target, 1)
		if err != nil {
			b.Fatal(err)
		}
		// The base alone, to tell the log's replay from the base's restore.
		b.StopTimer()
		basePlan, err := c.planTo(AtZxid(Zxid(base)), base)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		rp0, err := arch.replay(ctx, basePlan, nil)
		if err != nil {
			b.Fatal(err)
		}
		baseOnly := time.Since(t0)
		rp0.close()
		b.StartTimer()

		// The public path: the archive's reader at the point, its stream
		// handed to the three members' restores at once, as a host sends
		// one stream to members on their own machines (here they share
		// the two cores).
		t1 := time.Now()
		r := arch.At(AtZxid(Zxid(last)))
		first := make([]byte, 1)
		if _, err := io.ReadFull(r, first); err != nil {
			b.Fatal(err)
		}
		replayed := time.Since(t1)
		t3 := time.Now()
		peers := []uint64{1, 2, 3}
		dirs := map[uint64]string{}
		var pws []*io.PipeWriter
		var g errgroup.Group
		for _, id := range peers {
			dir := filepath.Join(b.TempDir(), "m")
			dirs[id] = dir
			pr, pw := io.Pipe()
			pws = append(pws, pw)
			g.Go(func() error {
				_, err := Restore(ctx, pr, dir, RestoreOptions{ID: id, Peers: peers})
				pr.CloseWithError(err)
				return err
			})
		}
		g.Go(func() error {
			ws := make([]io.Writer, len(pws))
			for i, pw := range pws {
				ws[i] = pw
			}
			mw := io.MultiWriter(ws...)
			_, err := mw.Write(first)
			if err == nil {
				_, err = io.Copy(mw, r)
			}
			for _, pw := range pws {
				pw.CloseWithError(err)
			}
			return err
		})
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		r.Close()
		restored := time.Since(t3)
		t4 := time.Now()
		net, nodes := openMembers(b, peers, func(_ int, id uint64) string { return dirs[id] })
		if _, err := nodes[0].WaitLeader(ctx); err != nil {
			b.Fatal(err)
		}
		opened := time.Since(t4)
		total := time.Since(start) - baseOnly
		if st := nodes[0].Status(); st.Applied < Zxid(last) {
			b.Fatalf("restored cluster at %d, want %d", st.Applied, last)
		}
		for _, n := range nodes {
			n.Close()
		}
		net.Close()
		baseSecs += baseOnly.Seconds()
		logSecs += (replayed - baseOnly).Seconds()
		restoreSecs += restored.Seconds()
		openSecs += opened.Seconds()
		totalSecs += total.Seconds()
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(totalSecs/n, "s/restore")
	b.ReportMetric(baseSecs/n, "base-s")
	b.ReportMetric(logSecs/n, "log-s")
	b.ReportMetric(float64(entries)*n/logSecs, "replay-entries/s")
	b.ReportMetric(restoreSecs/n, "stream-restore3-s")
	b.ReportMetric(openSecs/n, "open-s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkArchiveSegmentSize measures what a 100-byte set costs in an
// archive segment, compressed with zstd, beside what its record costs in
// the raft log's WAL (the entry marshalled in a WAL record, with the
// record's length frame and padding), for data that compresses like text
// (JSON-like configuration values) and for random bytes. Segments hold
// 20,000 entries, as a busy second of writes would.
//
//	go test -run '^$' -bench BenchmarkArchiveSegmentSize .
func BenchmarkArchiveSegmentSize(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, kind := range []string{"text", "random"} {
		b.Run(kind, func(b *testing.B) {
			typ := raftpb.EntryNormal
			ents := make([]*raftpb.Entry, 20000)
			var wal int64
			for i := range ents {
				data := make([]byte, 100)
				if kind == "random" {
					for j := range data {
						data[j] = byte(rng.Uint32())
					}
				} else {
					copy(data, fmt.Sprintf(`{"service":"app-%d","replicas":%d,"region":"eu-west-%d","enabled":true,"v":%d}`, i%50, i%7, i%3, i))
				}
				r := request{Time: 1700000000000 + int64(i), Session: int64(1000 + i%40), Ops: []Op{SetOp(fmt.Sprintf("/app/config/svc-%04d", i%500), data, AnyVersion)}}
				idx := uint64(1000 + i)
				ents[i] = &raftpb.Entry{Index: &idx, Term: new(uint64(3)), Type: &typ, Data: wire.EncodeEnvelope(2, uint64(i+1), appendRequest(nil, &r))}
				eb, err := proto.Marshal(ents[i])
				if err != nil {
					b.Fatal(err)
				}
				rec := &walpb.Record{Type: new(int64(2)), Crc: new(uint32(0xFFFFFFFF)), Data: eb}
				wal += int64(8 + (proto.Size(rec)+7)/8*8)
			}
			info := segmentInfo(ents)
			var n int64
			for range b.N {
				var err error
				if n, err = writeSegment(io.Discard, 1, 1, ents, info, stream.WriterOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/float64(len(ents)), "archive-bytes/set")
			b.ReportMetric(float64(wal)/float64(len(ents)), "wal-bytes/set")
		})
	}
}
