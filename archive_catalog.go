package keeper

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// catalog is what an archive target holds for one cluster, as its object
// names say: bases by zxid, segments, gaps and path indexes by first
// index.
type catalog struct {
	cluster  uint64
	bases    []archObject
	segments []archObject
	gaps     []archObject
	indexes  []archObject
	merged   []archObject // merged path indexes
	claims   []archObject
	// reachUpTo[i] is the highest last index of segments[0..i].
	reachUpTo []uint64
}

// listCatalog lists the archive objects of cluster on target: those of
// the kinds given, or every kind if none is.
func listCatalog(ctx context.Context, target Target, cluster uint64, kinds ...archObjKind) (*catalog, error) {
	prefixes := []string{clusterPrefix(cluster)}
	if len(kinds) > 0 {
		prefixes = prefixes[:0]
		for _, k := range kinds {
			prefixes = append(prefixes, clusterPrefix(cluster)+k.dir()+"/")
		}
	}
	var objs []TargetObject
	for _, p := range prefixes {
		list, err := target.List(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("keeper: archive list: %w", err)
		}
		objs = append(objs, list...)
	}
	c := &catalog{cluster: cluster}
	for _, o := range objs {
		a, ok := parseArchObject(o)
		if !ok || a.Cluster != cluster {
			continue
		}
		switch a.Kind {
		case archBase:
			c.bases = append(c.bases, a)
		case archSegment:
			c.segments = append(c.segments, a)
		case archGap:
			c.gaps = append(c.gaps, a)
		case archIndex:
			c.indexes = append(c.indexes, a)
		case archMergedIndex:
			c.merged = append(c.merged, a)
		case archClaim:
			c.claims = append(c.claims, a)
		}
	}
	c.sort()
	return c, nil
}

// sort puts each kind's objects in index order, and notes for each
// segment the furthest any segment up to it reaches (nextSegment).
func (c *catalog) sort() {
	byFirst := func(a, b archObject) int {
		if a.First != b.First {
			return cmp.Compare(a.First, b.First)
		}
		return cmp.Compare(a.Last, b.Last)
	}
	for _, list := range [][]archObject{c.bases, c.segments, c.gaps, c.indexes, c.merged, c.claims} {
		slices.SortFunc(list, byFirst)
	}
	c.reachUpTo = make([]uint64, len(c.segments))
	for i, s := range c.segments {
		c.reachUpTo[i] = s.Last
		if i > 0 {
			c.reachUpTo[i] = max(s.Last, c.reachUpTo[i-1])
		}
	}
}

// newestBase is the base with the highest zxid, if any.
func (c *catalog) newestBase() (archObject, bool) {
	if len(c.bases) == 0 {
		return archObject{}, false
	}
	return c.bases[len(c.bases)-1], true
}

// nextSegment is the segment that goes on from index cur: one holding
// entry cur+1, the one reaching furthest if several do (an archiver that
// took over may have cut the same entries differently).
func (c *catalog) nextSegment(cur uint64) (archObject, bool) {
	// The segments that start at or before cur+1, and, going back from
	// the last of them, only as far as some segment still reaches past
	// cur: in an archive without overlaps, one step.
	end, _ := slices.BinarySearchFunc(c.segments, cur+2, func(s archObject, first uint64) int { return cmp.Compare(s.First, first) })
	var best archObject
	found := false
	for i := end - 1; i >= 0 && c.reachUpTo[i] > cur; i-- {
		if s := c.segments[i]; s.Last > cur && (!found || s.Last > best.Last) {
			best, found = s, true
		}
	}
	return best, found
}

// gapAt is the recorded gap holding entry cur+1, if any.
func (c *catalog) gapAt(cur uint64) (archObject, bool) {
	for _, g := range c.gaps {
		if g.First <= cur+1 && g.Last > cur {
			return g, true
		}
	}
	return archObject{}, false
}

// chainEnd follows segments and recorded gaps from index cur as far as
// they reach without a hole, and returns the last index reached.
func (c *catalog) chainEnd(cur uint64) uint64 {
	for {
		if s, ok := c.nextSegment(cur); ok {
			cur = s.Last
			continue
		}
		if g, ok := c.gapAt(cur); ok {
			cur = g.Last
			continue
		}
		return cur
	}
}

// planTo plans a restore to zxid z: the newest base at or below z, and the
// segments from it to z.
func (c *catalog) planTo(p Point, z uint64) (RestorePlan, error) {
	plan := RestorePlan{Point: p, Zxid: Zxid(z)}
	i := 0 // bases at or below z
	for i < len(c.bases) && c.bases[i].First <= z {
		i++
	}
	if i == 0 {
		if len(c.bases) == 0 {
			return plan, fmt.Errorf("%w: %v (zxid %d): the archive holds no base", ErrNotArchived, p, z)
		}
		return plan, fmt.Errorf("%w: %v (zxid %d) is before the oldest base, at zxid %d", ErrNotArchived, p, z, c.bases[0].First)
	}
	return c.planFrom(i-1, p, z)
}

// planFrom plans a restore to zxid z from base bi: the segments from it to
// z.
func (c *catalog) planFrom(bi int, p Point, z uint64) (RestorePlan, error) {
	plan := RestorePlan{Point: p, Zxid: Zxid(z)}
	base := c.bases[bi]
	plan.Base = publicObject(base)
	plan.Bytes = base.Size
	cur := base.First
	for cur < z {
		s, ok := c.nextSegment(cur)
		if !ok {
			if g, ok := c.gapAt(cur); ok {
				return plan, fmt.Errorf("%w: %v (zxid %d): entries %d..%d were lost before they were archived (a recorded gap)", ErrNotArchived, p, z, g.First, g.Last)
			}
			return plan, fmt.Errorf("%w: %v (zxid %d): the archive has no entry %d (it holds entries up to %d from the base at %d)", ErrNotArchived, p, z, cur+1, cur, base.First)
		}
		plan.Segments = append(plan.Segments, publicObject(s))
		plan.Bytes += s.Size
		plan.Entries += min(s.Last, z) - cur
		cur = s.Last
	}
	return plan, nil
}

// reachFrom is the newest zxid a restore from base bi can reach, along the
// segments without a hole.
func (c *catalog) reachFrom(bi int) uint64 {
	cur := c.bases[bi].First
	for {
		s, ok := c.nextSegment(cur)
		if !ok {
			return cur
		}
		cur = s.Last
	}
}

// reach is the newest zxid a restore can reach: from the newest base,
// along the segments without a hole.
func (c *catalog) reach() (uint64, bool) {
	if len(c.bases) == 0 {
		return 0, false
	}
	return c.reachFrom(len(c.bases) - 1), true
}

// without is the catalog less the objects named in drop.
func (c *catalog) without(drop map[string]bool) *catalog {
	keep := func(list []archObject) []archObject {
		var out []archObject
		for _, o := range list {
			if !drop[o.Name] {
				out = append(out, o)
			}
		}
		return out
	}
	out := &catalog{cluster: c.cluster, bases: keep(c.bases), segments: keep(c.segments), gaps: keep(c.gaps)}
	out.sort()
	return out
}

// restorable is what a restore can reach, as ranges of zxids in order:
// from each base as far as the log goes on from it without a hole.
func (c *catalog) restorable() []ZxidRange {
	var spans []ZxidRange
	for bi, b := range c.bases {
		last := Zxid(c.reachFrom(bi))
		if n := len(spans); n > 0 && Zxid(b.First) <= spans[n-1].Last+1 {
			spans[n-1].Last = max(spans[n-1].Last, last)
			continue
		}
		spans = append(spans, ZxidRange{First: Zxid(b.First), Last: last})
	}
	return spans
}

// firstSegment is the lowest segment, if any.
func (c *catalog) firstSegment() (archObject, bool) {
	if len(c.segments) == 0 {
		return archObject{}, false
	}
	return c.segments[0], true
}
