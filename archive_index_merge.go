package keeper

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/keeper-go/keeper/internal/wire"
)

// A History reads one path index per segment it has to consider, and an
// archive cut every second holds tens of thousands of segments a day. So
// the archiver also writes merged path indexes,
// <cluster>/midx/<first>-<last>.kidx: the hits of the consecutive
// segments it archived, first..last, in one index of the same format, once
// they hold mergeHits hits or mergeSegments segments. History reads a
// merged index in place of the indexes of the segments it covers, one read
// for thousands of segments. Only segments this archiver indexed in a row
// are merged: a merged index covers every entry of its range, so a segment
// another archiver wrote, or one without its index, ends the merge
// (written if it spans two segments or more; the rest are read one by
// one).

const (
	// mergeHits bounds the hits a merged index holds, and so the memory
	// the archiver keeps for it (tens of bytes a hit).
	mergeHits = 256 << 10
	// mergeSegments bounds the segments a merged index covers.
	mergeSegments = 4096
)

func archMergedIndexName(cluster, first, last uint64) string {
	return fmt.Sprintf("%016x/midx/%020d-%020d.kidx", cluster, first, last)
}

// indexMerger gathers the path indexes of consecutive segments. It is
// used by the archiver's jobs only, which run one at a time.
type indexMerger struct {
	b    *wire.PathIndexBuilder // nil when empty
	segs int
	// maxHits and maxSegs override mergeHits and mergeSegments when set.
	maxHits, maxSegs int
}

// reset forgets what was gathered.
func (m *indexMerger) reset() { m.b, m.segs = nil, 0 }

// add gathers b, the index of the segment just archived, and writes the
// merged index when it is full or when b does not follow what was
// gathered. A merged index that cannot be written is logged and dropped:
// the segments' own indexes serve instead.
func (m *indexMerger) add(ctx context.Context, target Target, log *slog.Logger, cluster uint64, b *wire.PathIndexBuilder) {
	if m.b != nil && m.b.Append(b) {
		m.segs++
	} else {
		m.flush(ctx, target, log, cluster)
		m.b, m.segs = b, 1
	}
	maxHits, maxSegs := cmp.Or(m.maxHits, mergeHits), cmp.Or(m.maxSegs, mergeSegments)
	if m.b.Hits() >= maxHits || m.segs >= maxSegs {
		m.flush(ctx, target, log, cluster)
	}
}

// flush writes what was gathered, if it spans two segments or more, and
// forgets it.
func (m *indexMerger) flush(ctx context.Context, target Target, log *slog.Logger, cluster uint64) {
	b, segs := m.b, m.segs
	m.reset()
	if b == nil || segs < 2 {
		return
	}
	first, last := b.Range()
	err := target.Put(ctx, archMergedIndexName(cluster, first, last), bytes.NewReader(b.Encode()))
	if err != nil && !errors.Is(err, ErrTargetExists) {
		log.Warn("archive: merged path index not written; history reads the segments' own", "first", first, "last", last, "err", err)
	}
}
