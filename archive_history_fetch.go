package keeper

import (
	"context"
	"runtime"
	"sync"

	"go.etcd.io/raft/v3/raftpb"
)

// fetch reads ahead, from segment i on, the entries at the hits of the
// next few segments read by index, several segments at once: most of a
// History's time goes into decompressing segments up to their hits, and
// the segments are independent. The entries wait in memory until
// segment() follows them in order; read-ahead stops at a segment read
// whole, and hits found later (a session's end) are read then, as are
// the hits of a segment whose read-ahead failed.
func (h *historyRun) fetch(ctx context.Context, i int) error {
	if h.segs[i].fetched != nil || h.segs[i].scan {
		return nil
	}
	width := min(runtime.GOMAXPROCS(0), 8)
	var batch []int
	for j := i; j < len(h.segs) && len(batch) < width; j++ {
		s := &h.segs[j]
		if s.scan {
			break
		}
		if len(s.hits) > s.next && s.fetched == nil {
			batch = append(batch, j)
		}
	}
	var wg sync.WaitGroup
	for _, j := range batch {
		wg.Go(func() {
			// A segment that fails here is read again in its turn, so
			// that its error comes after the versions before it.
			s := &h.segs[j]
			s.fetched, _ = h.readHits(ctx, s.obj, s.hits[s.next:])
		})
	}
	wg.Wait()
	return ctx.Err()
}

// readHits reads the entries at zxids, ascending, from segment obj.
func (h *historyRun) readHits(ctx context.Context, obj archObject, zxids []uint64) (map[uint64]*raftpb.Entry, error) {
	sr, err := h.openSegment(ctx, obj)
	if err != nil {
		return nil, err
	}
	defer sr.close()
	out := make(map[uint64]*raftpb.Entry, len(zxids))
	for _, z := range zxids {
		e, err := sr.entryAt(z)
		if err != nil {
			return nil, err
		}
		if e.GetIndex() > h.o.to {
			break
		}
		out[z] = e
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
