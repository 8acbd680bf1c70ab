package keeper

import (
	"fmt"
	"strconv"
	"strings"
)

// An archive's objects live under one prefix per cluster, the cluster id
// in 16 hex digits, so that a restored cluster (a new cluster id) archives
// beside its origin into the same target without a name ever colliding:
//
//	<cluster>/base/<zxid>-<time>.kbk                  a base backup: the tree at zxid
//	<cluster>/log/<first>-<last>-<time0>-<time1>.kseg a log segment: entries first..last
//	<cluster>/gap/<first>-<last>.kgap                 entries first..last the archive lost
//	<cluster>/idx/<first>-<last>.kidx                 the path index of segment first..last
//	<cluster>/midx/<first>-<last>.kidx                the path indexes of segments first..last, merged
//	<cluster>/claim/<first>.kclm                      which segment or gap starts at first
//
// Indexes are 20 decimal digits and times 13 (Unix milliseconds, of the
// base's tree and of the segment's first and last timed entries), so names
// sort in index order and a listing alone tells a restore which objects to
// read. docs/BACKUP_FORMAT.md describes the objects' contents.

// archObjKind says what an archive object is.
type archObjKind uint8

const (
	archBase archObjKind = iota + 1
	archSegment
	archGap
	archIndex
	archMergedIndex
	archClaim
)

// dir is the folder of k's objects under the cluster's prefix.
func (k archObjKind) dir() string {
	switch k {
	case archBase:
		return "base"
	case archSegment:
		return "log"
	case archGap:
		return "gap"
	case archIndex:
		return "idx"
	case archMergedIndex:
		return "midx"
	case archClaim:
		return "claim"
	}
	return ""
}

// ext is the suffix of k's names, and fields how many numbers they hold.
func (k archObjKind) ext() (ext string, fields int) {
	switch k {
	case archBase:
		return ".kbk", 2
	case archSegment:
		return ".kseg", 4
	case archGap:
		return ".kgap", 2
	case archIndex, archMergedIndex:
		return ".kidx", 2
	case archClaim:
		return ".kclm", 1
	}
	return "", 0
}

// archObject is an archive object as its name describes it.
type archObject struct {
	Name    string
	Size    int64
	Kind    archObjKind
	Cluster uint64
	// First and Last are a segment's, a gap's or a path index's index
	// range; a base has both at its zxid, a claim at its start index.
	First, Last uint64
	// Time0 and Time1 are a segment's first and last entry times, a base's
	// tree time (both), in Unix milliseconds; 0 when unknown.
	Time0, Time1 int64
}

func clusterPrefix(cluster uint64) string { return fmt.Sprintf("%016x/", cluster) }

func archBaseName(cluster, zxid uint64, ms int64) string {
	return fmt.Sprintf("%016x/base/%020d-%013d.kbk", cluster, zxid, max(ms, 0))
}

func archSegmentName(cluster, first, last uint64, t0, t1 int64) string {
	return fmt.Sprintf("%016x/log/%020d-%020d-%013d-%013d.kseg", cluster, first, last, max(t0, 0), max(t1, 0))
}

func archGapName(cluster, first, last uint64) string {
	return fmt.Sprintf("%016x/gap/%020d-%020d.kgap", cluster, first, last)
}

// parseArchObject reads what an object's name says, or reports false for
// a name that is not an archive object's (a host's own files beside it).
func parseArchObject(o TargetObject) (archObject, bool) {
	a := archObject{Name: o.Name, Size: o.Size}
	parts := strings.Split(o.Name, "/")
	if len(parts) != 3 || len(parts[0]) != 16 {
		return a, false
	}
	var err error
	if a.Cluster, err = strconv.ParseUint(parts[0], 16, 64); err != nil {
		return a, false
	}
	for k := archBase; k <= archClaim; k++ {
		if k.dir() == parts[1] {
			a.Kind = k
		}
	}
	if a.Kind == 0 {
		return a, false
	}
	ext, fields := a.Kind.ext()
	stem, ok := strings.CutSuffix(parts[2], ext)
	if !ok {
		return a, false
	}
	nums := strings.Split(stem, "-")
	if len(nums) != fields {
		return a, false
	}
	var v [4]uint64
	for i, s := range nums {
		if v[i], err = strconv.ParseUint(s, 10, 64); err != nil {
			return a, false
		}
	}
	switch a.Kind {
	case archBase:
		a.First, a.Last, a.Time0, a.Time1 = v[0], v[0], int64(v[1]), int64(v[1])
	case archClaim:
		a.First, a.Last = v[0], v[0]
	case archSegment:
		a.First, a.Last, a.Time0, a.Time1 = v[0], v[1], int64(v[2]), int64(v[3])
	case archGap, archIndex, archMergedIndex:
		a.First, a.Last = v[0], v[1]
	}
	if a.Last < a.First || (a.Kind != archBase && a.First == 0) {
		return a, false
	}
	return a, true
}
