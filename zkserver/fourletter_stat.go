package zkserver

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/keeper-go/keeper"
)

// footprintTimeout bounds the tree scan behind the counts a word reports.
const footprintTimeout = 10 * time.Second

// footprintMaxAge is how long a measured footprint answers words while
// the tree changes; while it does not, the footprint answers for as long.
// A footprint is a scan of the whole tree, so words asked together (a
// monitoring tool's stat and mntr, several tools at once) share one.
const footprintMaxAge = time.Second

// footprintCache holds the last footprint and the zxid it was measured at.
// Its mutex is held through a scan, so that callers wait for one scan
// rather than start their own.
type footprintCache struct {
	mu   sync.Mutex
	fp   keeper.Footprint
	zxid keeper.Zxid
	at   time.Time
}

// footprint measures the member for a word's answer; on failure (the
// member closing) the word reports zeros, as ZooKeeper reports an empty
// database.
func (s *Server) footprint() keeper.Footprint {
	c := &s.fpCache
	c.mu.Lock()
	defer c.mu.Unlock()
	zxid := s.n.Applied()
	if !c.at.IsZero() && (zxid == c.zxid || time.Since(c.at) < footprintMaxAge) {
		return c.fp
	}
	ctx, cancel := context.WithTimeout(context.Background(), footprintTimeout)
	defer cancel()
	fp, err := s.n.Footprint(ctx)
	if err != nil {
		s.log.Warn("zkserver: footprint for a four-letter word", "err", err)
		return keeper.Footprint{}
	}
	c.fp, c.zxid, c.at = fp, zxid, time.Now()
	return fp
}

// ZooKeeper's database holds, besides keeper's tree, the root a second
// time (under "" as well as "/") and the system nodes /zookeeper/quota and
// /zookeeper/config, which keeper's server shows in place of its tree.
const (
	systemZnodes    = 3
	systemDataBytes = int64(len(systemQuota) + len(systemConfig))
)

// znodeCount is ZooKeeper's node count for fp.
func znodeCount(fp keeper.Footprint) int64 { return fp.Znodes + systemZnodes }

// dataSize is ZooKeeper's approximate data size for fp.
func dataSize(fp keeper.Footprint) int64 { return fp.DataBytes + systemDataBytes }

// mode is ZooKeeper's name for the member's role.
func mode(st keeper.Status) string {
	switch {
	case len(st.Members) <= 1:
		return "standalone"
	case st.Role == keeper.RoleLeader:
		return "leader"
	case slices.Contains(st.Learners, st.ID):
		return "observer"
	}
	return "follower"
}

// leads reports whether the member leads other members: ZooKeeper's
// leader, which reports its learners.
func leads(st keeper.Status) bool { return mode(st) == "leader" }

// proposalSizes is what a ZooKeeper leader reports of the sizes of its
// proposals before it has measured any: keeper does not measure them.
const proposalSizes = "-1/-1/-1"

// writeStat writes srvr's answer, and with clients stat's, as ZooKeeper's
// StatCommand and ServerStats.toString word them.
func (s *Server) writeStat(st keeper.Status, w *bytes.Buffer, clients bool) {
	conns := s.connections()
	fmt.Fprintf(w, "Zookeeper version: %s\n", s.version)
	if clients {
		w.WriteString("Clients:\n")
		for _, c := range conns {
			c.describe(w, true)
			w.WriteString("\n")
		}
		w.WriteString("\n")
	}
	lo, avg, hi, _ := s.stats.lat.get()
	fmt.Fprintf(w, "Latency min/avg/max: %d/%s/%d\n", lo, javaDouble(avg), hi)
	fmt.Fprintf(w, "Received: %d\n", s.stats.received.Load())
	fmt.Fprintf(w, "Sent: %d\n", s.stats.sent.Load())
	fmt.Fprintf(w, "Connections: %d\n", len(conns))
	fmt.Fprintf(w, "Outstanding: %d\n", outstanding(conns))
	fmt.Fprintf(w, "Zxid: 0x%s\n", javaHex(int64(st.Applied)))
	fmt.Fprintf(w, "Mode: %s\n", mode(st))
	fmt.Fprintf(w, "Node count: %d\n", znodeCount(s.footprint()))
	if leads(st) {
		fmt.Fprintf(w, "Proposal sizes last/min/max: %s\n", proposalSizes)
	}
}

// outstanding counts the requests conns have read and not yet answered.
func outstanding(conns []*conn) int {
	n := 0
	for _, c := range conns {
		n += len(c.jobs)
	}
	return n
}

// writeCons writes cons's answer: one line per connection, then an empty
// line.
func (s *Server) writeCons(_ *conn, _ keeper.Status, w *bytes.Buffer) {
	for _, c := range s.connections() {
		c.describe(w, false)
		w.WriteString("\n")
	}
	w.WriteString("\n")
}

// describe writes the connection as ZooKeeper's
// ServerCnxn.dumpConnectionInfo does, in brief or with its session's
// figures. Its interest ops are 1 (reading) for a client connection and 0
// for one answering a four-letter word, as on ZooKeeper's NIO server. Its
// lresp is the Unix time in milliseconds (ZooKeeper's is its elapsed-time
// clock, whose origin is arbitrary).
func (c *conn) describe(w *bytes.Buffer, brief bool) {
	ops := "1"
	if c.stats.fourLetter.Load() {
		ops = "0"
	}
	fmt.Fprintf(w, " %s[%s](queued=%d,recved=%d,sent=%d", javaSocketAddr(c.nc.RemoteAddr()), ops,
		len(c.jobs), c.stats.received.Load(), c.stats.sent.Load())
	sess, timeout := c.stats.session()
	if !brief && sess != nil {
		st := &c.stats
		st.mu.Lock()
		lop, lcxid, lzxid, lresp := st.lastOp, st.lastCxid, st.lastZxid, st.lastResponse
		st.mu.Unlock()
		lo, _, hi, last := st.lat.get()
		fmt.Fprintf(w, ",sid=0x%s,lop=%s,est=%d,to=%d", javaHex(int64(sess.ID())), lop,
			st.established.UnixMilli(), timeout.Milliseconds())
		if lcxid >= 0 {
			fmt.Fprintf(w, ",lcxid=0x%s", javaHex(lcxid))
		}
		var resp int64
		if !lresp.IsZero() {
			resp = lresp.UnixMilli()
		}
		fmt.Fprintf(w, ",lzxid=0x%s,lresp=%d,llat=%d,minlat=%d,avglat=%d,maxlat=%d",
			javaHex(lzxid), resp, last, lo, st.lat.intAvg(), hi)
	}
	w.WriteString(")")
}

// javaHex is Java's Long.toHexString: a negative value as its two's
// complement.
func javaHex(v int64) string { return strconv.FormatUint(uint64(v), 16) }
