package keeper

import (
	"slices"
	"testing"
	"time"
)

// TestRetentionExpiry: the window keeps the newest base at or before its
// start and everything after; MinBases keeps that many bases whatever
// their age; segments and gaps go only when wholly before the oldest base
// kept.
func TestRetentionExpiry(t *testing.T) {
	now := time.UnixMilli(1_000_000_000)
	hour := time.Hour.Milliseconds()
	base := func(z uint64, ageHours int64) archObject {
		return archObject{Name: archBaseName(1, z, now.UnixMilli()-ageHours*hour), Kind: archBase, First: z, Last: z, Time0: now.UnixMilli() - ageHours*hour, Time1: now.UnixMilli() - ageHours*hour, Size: 100}
	}
	seg := func(first, last uint64) archObject {
		return archObject{Name: archSegmentName(1, first, last, 0, 0), Kind: archSegment, First: first, Last: last, Size: 10}
	}
	c := &catalog{
		cluster:  1,
		bases:    []archObject{base(10, 50), base(100, 30), base(200, 10), base(300, 1)},
		segments: []archObject{seg(11, 60), seg(61, 100), seg(101, 150), seg(151, 250), seg(251, 400)},
		gaps:     []archObject{{Name: archGapName(1, 5, 9), Kind: archGap, First: 5, Last: 9}},
	}
	c.sort()
	names := func(r ExpireReport) []string {
		var out []string
		for _, o := range r.Deleted {
			out = append(out, o.Name)
		}
		return out
	}
	for _, tc := range []struct {
		r          Retention
		oldestKept uint64
		deleted    []string
	}{
		// Forever: only what no base reaches goes.
		{Retention{}, 10, []string{archGapName(1, 5, 9)}},
		// A 20-hour window starts between the bases at 30 h and 10 h: the
		// one at 30 h is the way into it.
		{Retention{Window: 20 * time.Hour}, 100, []string{base(10, 50).Name, seg(11, 60).Name, seg(61, 100).Name, archGapName(1, 5, 9)}},
		{Retention{Window: 5 * time.Hour}, 200, []string{base(10, 50).Name, base(100, 30).Name, seg(11, 60).Name, seg(61, 100).Name, seg(101, 150).Name, archGapName(1, 5, 9)}},
		// MinBases wins over a short window.
		{Retention{Window: time.Hour / 2, MinBases: 3}, 100, []string{base(10, 50).Name, seg(11, 60).Name, seg(61, 100).Name, archGapName(1, 5, 9)}},
		{Retention{Window: 100 * time.Hour}, 10, []string{archGapName(1, 5, 9)}},
	} {
		rep := c.expiry(tc.r, now)
		if uint64(rep.OldestBase.First) != tc.oldestKept {
			t.Errorf("%+v: oldest base kept %d, want %d", tc.r, rep.OldestBase.First, tc.oldestKept)
		}
		got, want := names(rep), tc.deleted
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%+v: deletes\n%v\nwant\n%v", tc.r, got, want)
		}
	}
}

// nextSegment finds the segment that goes on from an index, the one
// reaching furthest, also past overlapping segments that start later and
// end sooner.
func TestCatalogNextSegment(t *testing.T) {
	seg := func(first, last uint64) archObject {
		return archObject{Name: archSegmentName(1, first, last, 0, 0), Kind: archSegment, First: first, Last: last}
	}
	c := &catalog{cluster: 1, segments: []archObject{seg(101, 120), seg(1, 100), seg(50, 60), seg(1, 10), seg(121, 130), seg(121, 125)}}
	c.sort()
	for _, tc := range []struct {
		cur      uint64
		want     [2]uint64
		wantNone bool
	}{
		{cur: 0, want: [2]uint64{1, 100}},
		{cur: 5, want: [2]uint64{1, 100}},
		{cur: 70, want: [2]uint64{1, 100}},
		{cur: 100, want: [2]uint64{101, 120}},
		{cur: 120, want: [2]uint64{121, 130}},
		{cur: 126, want: [2]uint64{121, 130}},
		{cur: 130, wantNone: true},
	} {
		s, ok := c.nextSegment(tc.cur)
		if ok == tc.wantNone || ok && [2]uint64{s.First, s.Last} != tc.want {
			t.Errorf("after %d: %d..%d %v, want %v (none %v)", tc.cur, s.First, s.Last, ok, tc.want, tc.wantNone)
		}
	}
	if end := c.chainEnd(0); end != 130 {
		t.Errorf("chain from 0 ends at %d, want 130", end)
	}
}
