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
}

// listCatalog lists the archive objects of cluster on target.
func listCatalog(ctx context.Context, target Target, cluster uint64) (*catalog, error) {
	objs, err := target.List(ctx, clusterPrefix(cluster))
	if err != nil {
		return nil, fmt.Errorf("keeper: archive list: %w", err)
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
		}
	}
	byFirst := func(a, b archObject) int {
		if a.First != b.First {
			return cmp.Compare(a.First, b.First)
		}
		return cmp.Compare(a.Last, b.Last)
	}
	slices.SortFunc(c.bases, byFirst)
	slices.SortFunc(c.segments, byFirst)
	slices.SortFunc(c.gaps, byFirst)
	slices.SortFunc(c.indexes, byFirst)
	return c, nil
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
	var best archObject
	found := false
	for _, s := range c.segments {
		if s.First > cur+1 {
			break
		}
		if s.Last > cur && (!found || s.Last > best.Last) {
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
