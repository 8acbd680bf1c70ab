package keeper_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keeper-go/keeper"
)

// How the differential test compares two answers (zkdiff_test.go).
//
// Errors compare by kind: ZooKeeper's code, mapped to keeper's sentinel,
// must match keeper's error with errors.Is (keeper's ErrInvalidPath matches
// the BadArguments ZooKeeper's server answers for a path it refuses).
// Created paths, data, children (sorted), ACLs and every Stat counter must
// be equal. Zxids compare by order: each system's zxids are mapped to each
// other as they are seen, and the map must stay one to one and increasing.
// EphemeralOwner compares through the map of the clients' sessions. Times
// (Ctime, Mtime) come from each system's own clock, so they compare by
// relation, within each system: a zxid has one time, times do not go down
// as zxids go up, Mtime equals Ctime on a znode never set (Version 0), and
// every time lies within the run.

// zdCompare is what a run's comparisons learn and find.
type zdCompare struct {
	zxids    zdOrder
	zkTimes  zdOrder // zxid → time, ZooKeeper
	kTimes   zdOrder // zxid → time, keeper
	sessions map[int64]int64
	start    time.Time
	diffs    []string
	reads    int // answers compared
}

func newZDCompare() *zdCompare {
	return &zdCompare{
		zxids:    zdOrder{strict: true},
		sessions: map[int64]int64{0: 0},
		start:    time.Now().Add(-2 * time.Second),
	}
}

func (c *zdCompare) differ(format string, args ...any) {
	c.diffs = append(c.diffs, fmt.Sprintf(format, args...))
}

// sameErr reports whether keeper's err is ZooKeeper's (mapped) zerr.
func sameErr(zerr, kerr error) bool {
	if zerr == nil || kerr == nil {
		return zerr == nil && kerr == nil
	}
	return errors.Is(kerr, zerr)
}

// result compares one answer of each system to op.
func (c *zdCompare) result(what string, op *zdOp, z, k zdResult) {
	c.reads++
	if !sameErr(z.err, k.err) {
		c.differ("%s: error: zookeeper %v, keeper %v", what, z.err, k.err)
		return
	}
	if z.path != k.path {
		c.differ("%s: path: zookeeper %q, keeper %q", what, z.path, k.path)
	}
	if !bytes.Equal(z.data, k.data) {
		c.differ("%s: data: zookeeper %q, keeper %q", what, z.data, k.data)
	}
	if !slices.Equal(z.names, k.names) {
		c.differ("%s: children: zookeeper %q, keeper %q", what, z.names, k.names)
	}
	if !slices.Equal(z.acl, k.acl) {
		c.differ("%s: acl: zookeeper %v, keeper %v", what, z.acl, k.acl)
	}
	if z.exists != k.exists || z.hasStat != k.hasStat {
		c.differ("%s: exists %v/%v stat %v/%v", what, z.exists, k.exists, z.hasStat, k.hasStat)
	}
	if z.hasStat && k.hasStat {
		c.stat(what, z.stat, k.stat)
	}
	if len(z.multi) != len(k.multi) {
		c.differ("%s: %d multi results from zookeeper, %d from keeper", what, len(z.multi), len(k.multi))
		return
	}
	for i := range z.multi {
		c.result(fmt.Sprintf("%s op %d", what, i), &op.ops[i], z.multi[i], k.multi[i])
	}
}

// stat compares two Stats of one znode.
func (c *zdCompare) stat(what string, z, k keeper.Stat) {
	for _, f := range []struct {
		name string
		z, k int64
	}{{"czxid", int64(z.Czxid), int64(k.Czxid)}, {"mzxid", int64(z.Mzxid), int64(k.Mzxid)}, {"pzxid", int64(z.Pzxid), int64(k.Pzxid)}} {
		if err := c.zxids.add(f.z, f.k); err != nil {
			c.differ("%s: %s: %v", what, f.name, err)
		}
	}
	if z.Version != k.Version || z.Cversion != k.Cversion || z.Aversion != k.Aversion ||
		z.DataLength != k.DataLength || z.NumChildren != k.NumChildren {
		c.differ("%s: stat: zookeeper %+v, keeper %+v", what, z, k)
	}
	if want, ok := c.sessions[int64(z.EphemeralOwner)]; !ok || want != int64(k.EphemeralOwner) {
		c.differ("%s: ephemeralOwner: zookeeper %#x (keeper's session %#x), keeper %#x", what, z.EphemeralOwner, want, k.EphemeralOwner)
	}
	c.times(what, "zookeeper", &c.zkTimes, z)
	c.times(what, "keeper", &c.kTimes, k)
}

// times checks one system's times against its own earlier ones.
func (c *zdCompare) times(what, system string, line *zdOrder, s keeper.Stat) {
	if s.Version == 0 && s.Mtime != s.Ctime {
		c.differ("%s: %s: mtime %d != ctime %d on a znode never set", what, system, s.Mtime, s.Ctime)
	}
	for _, zt := range [][2]int64{{int64(s.Czxid), s.Ctime}, {int64(s.Mzxid), s.Mtime}} {
		if zt[0] == 0 {
			continue // the root: no create, time 0
		}
		if t := time.UnixMilli(zt[1]); t.Before(c.start) || t.After(time.Now().Add(2*time.Second)) {
			c.differ("%s: %s: time %v of zxid %#x outside the run", what, system, t, zt[0])
		}
		if err := line.add(zt[0], zt[1]); err != nil {
			c.differ("%s: %s: times by zxid: %v", what, system, err)
		}
	}
}

// zdOrder maps keys to values and checks that the values rise with the keys
// (strictly, and one to one, if strict).
type zdOrder struct {
	strict bool
	keys   []int64 // sorted
	vals   map[int64]int64
	inv    map[int64]int64
}

func (o *zdOrder) add(k, v int64) error {
	if o.vals == nil {
		o.vals, o.inv = map[int64]int64{}, map[int64]int64{}
	}
	if old, ok := o.vals[k]; ok {
		if old != v {
			return fmt.Errorf("%#x maps to %#x and to %#x", k, old, v)
		}
		return nil
	}
	if old, ok := o.inv[v]; ok && o.strict {
		return fmt.Errorf("%#x and %#x both map to %#x", old, k, v)
	}
	i, _ := slices.BinarySearch(o.keys, k)
	if i > 0 {
		if p := o.keys[i-1]; o.vals[p] > v || (o.strict && o.vals[p] == v) {
			return fmt.Errorf("%#x→%#x after %#x→%#x: order differs", k, v, p, o.vals[p])
		}
	}
	if i < len(o.keys) {
		if n := o.keys[i]; o.vals[n] < v || (o.strict && o.vals[n] == v) {
			return fmt.Errorf("%#x→%#x before %#x→%#x: order differs", k, v, n, o.vals[n])
		}
	}
	o.keys = slices.Insert(o.keys, i, k)
	o.vals[k] = v
	o.inv[v] = k
	return nil
}
