package keeper

import (
	"fmt"
	"time"
)

// Point names a state of the tree an archive can restore: after a zxid,
// at a time, at a mark, or the newest the archive holds.
type Point struct {
	kind      pointKind
	zxid      Zxid
	time      time.Time
	mark      string
	exclusive bool
}

type pointKind uint8

const (
	pointLatest pointKind = iota
	pointZxid
	pointTime
	pointMark
)

// AtZxid is the tree right after entry z applied: every change up to and
// including zxid z, none after.
func AtZxid(z Zxid) Point { return Point{kind: pointZxid, zxid: z} }

// AtTime is the tree with every change proposed at or before t and none
// proposed after: the log up to the first entry whose proposer's clock
// read later than t. Times are the proposing member's clock, recorded in
// each entry, so clocks that disagree between members blur a point by
// their difference.
func AtTime(t time.Time) Point { return Point{kind: pointTime, time: t} }

// AtMark is the tree when the newest mark called name committed
// (Node.Mark).
func AtMark(name string) Point { return Point{kind: pointMark, mark: name} }

// Latest is the newest tree the archive holds.
func Latest() Point { return Point{kind: pointLatest} }

// Exclusive returns the point just before p: before the entry at zxid z,
// before the first change proposed at time t or later, before the mark.
// The latest point has no exclusive form and stays as it is.
func (p Point) Exclusive() Point {
	if p.kind != pointLatest {
		p.exclusive = true
	}
	return p
}

// String describes the point, as plans and errors name it.
func (p Point) String() string {
	var s string
	switch p.kind {
	case pointLatest:
		return "the latest archived point"
	case pointZxid:
		s = fmt.Sprintf("zxid %d", p.zxid)
	case pointTime:
		s = "time " + p.time.UTC().Format(time.RFC3339Nano)
	case pointMark:
		s = fmt.Sprintf("mark %q", p.mark)
	}
	if p.exclusive {
		return "just before " + s
	}
	return s
}
