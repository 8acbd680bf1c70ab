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
