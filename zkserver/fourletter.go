package zkserver

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/jute"
)

// Version is the ZooKeeper version the server reports (srvr, stat, envi,
// mntr): the newest protocol it serves, with keeper named after it, so
// that tools parsing "major.minor.patch" read 3.9.
const Version = "3.9.0-keeper"

// fourLetterWords are the words the server knows, each with its answer.
var fourLetterWords = map[string]func(s *Server, w io.Writer){
	"ruok": func(s *Server, w io.Writer) { io.WriteString(w, "imok") },
	"isro": func(s *Server, w io.Writer) { io.WriteString(w, "rw") },
	"srvr": func(s *Server, w io.Writer) { s.writeStat(w, false) },
	"stat": func(s *Server, w io.Writer) { s.writeStat(w, true) },
	"cons": (*Server).writeCons,
	"mntr": (*Server).writeMntr,
	"envi": (*Server).writeEnvi,
	"conf": (*Server).writeConf,
	"wchs": (*Server).writeWchs,
	"dirs": (*Server).writeDirs,
	"crst": func(s *Server, w io.Writer) {
		s.stats.lat.reset()
		for _, c := range s.connections() {
			c.stats.lat.reset()
		}
		io.WriteString(w, "Connection stats reset.\n")
	},
	"srst": func(s *Server, w io.Writer) {
		s.stats.lat.reset()
		s.stats.received.Store(0)
		s.stats.sent.Store(0)
		io.WriteString(w, "Server stats reset.\n")
	},
}

// allowedWords is the allow-list of Options.FourLetterWords.
func allowedWords(words []string) map[string]bool {
	if words == nil {
		words = []string{"srvr"}
	}
	out := map[string]bool{}
	for _, w := range words {
		if w == "*" {
			for k := range fourLetterWords {
				out[k] = true
			}
			continue
		}
		out[strings.TrimSpace(w)] = true
	}
	return out
}

// fourLetterWord answers word on nc, which then closes, as ZooKeeper does;
// a word not allowed gets ZooKeeper's refusal.
func (s *Server) fourLetterWord(nc net.Conn, word string) {
	_ = nc.SetWriteDeadline(time.Now().Add(s.opts.HandshakeTimeout))
	if !s.words[word] {
		fmt.Fprintf(nc, "%s is not executed because it is not in the whitelist.\n", word)
		return
	}
	var b strings.Builder
	fourLetterWords[word](s, &b)
	io.WriteString(nc, b.String())
}

// mode is ZooKeeper's name for the member's role.
func mode(st keeper.Status) string {
	switch {
	case len(st.Members) <= 1:
		return "standalone"
	case st.Role == keeper.RoleLeader:
		return "leader"
	case isLearner(st):
		return "observer"
	}
	return "follower"
}

func isLearner(st keeper.Status) bool {
	for _, id := range st.Learners {
		if id == st.ID {
			return true
		}
	}
	return false
}

// javaDouble formats v as Java's Double.toString does for the values
// latencies take: at least one digit after the point.
func javaDouble(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// nodeCount counts the znodes, the root and /zookeeper's system nodes
// included, as ZooKeeper's node count does.
func (s *Server) nodeCount() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := s.n.AllChildrenNumber(ctx, "/")
	if err != nil {
		return 0
	}
	return n + 1 + 2
}

// writeStat writes srvr's answer, and with clients stat's.
func (s *Server) writeStat(w io.Writer, clients bool) {
	st := s.n.Status()
	fmt.Fprintf(w, "Zookeeper version: %s\n", Version)
	if clients {
		fmt.Fprintf(w, "Clients:\n")
		for _, c := range s.connections() {
			fmt.Fprintf(w, "%s\n", c.describe(true))
		}
		fmt.Fprintf(w, "\n")
	}
	lo, avg, hi, _ := s.stats.lat.get()
	fmt.Fprintf(w, "Latency min/avg/max: %d/%s/%d\n", lo, javaDouble(avg), hi)
	fmt.Fprintf(w, "Received: %d\n", s.stats.received.Load())
	fmt.Fprintf(w, "Sent: %d\n", s.stats.sent.Load())
	fmt.Fprintf(w, "Connections: %d\n", len(s.connections()))
	fmt.Fprintf(w, "Outstanding: %d\n", s.outstanding())
	fmt.Fprintf(w, "Zxid: 0x%x\n", int64(st.Applied))
	fmt.Fprintf(w, "Mode: %s\n", mode(st))
	fmt.Fprintf(w, "Node count: %d\n", s.nodeCount())
}

// outstanding counts the requests read and not yet answered.
func (s *Server) outstanding() int {
	n := 0
	for _, c := range s.connections() {
		n += len(c.requests)
	}
	return n
}

// writeCons writes cons's answer: one line per connection.
func (s *Server) writeCons(w io.Writer) {
	for _, c := range s.connections() {
		fmt.Fprintf(w, "%s\n", c.describe(false))
	}
	fmt.Fprintf(w, "\n")
}

// describe is the connection as ZooKeeper's dumpConnectionInfo writes it.
func (c *conn) describe(brief bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, " /%s[1](queued=%d,recved=%d,sent=%d", c.nc.RemoteAddr(), len(c.requests), c.stats.received.Load(), c.stats.sent.Load())
	if !brief && c.sess != nil {
		c.stats.mu.Lock()
		lop, lresp := c.stats.lastOp, c.stats.lastResponse
		c.stats.mu.Unlock()
		lo, avg, hi, last := c.stats.lat.get()
		fmt.Fprintf(&b, ",sid=0x%x,lop=%s,est=%d,to=%d,lcxid=0x%x,lzxid=0x%x,lresp=%d,llat=%d,minlat=%d,avglat=%s,maxlat=%d",
			int64(c.sess.ID()), lopName(lop), c.stats.established.UnixMilli(), c.timeout.Milliseconds(), 0, c.lastZxid.Load(),
			lresp.UnixMilli(), last, lo, javaDouble(avg), hi)
	}
	b.WriteString(")")
	return b.String()
}

// writeMntr writes mntr's answer: tab-separated keys and values, keeper's
// own figures after ZooKeeper's.
func (s *Server) writeMntr(w io.Writer) {
	st := s.n.Status()
	lo, avg, hi, _ := s.stats.lat.get()
	kv := func(k string, v any) { fmt.Fprintf(w, "%s\t%v\n", k, v) }
	kv("zk_version", Version)
	kv("zk_server_state", mode(st))
	kv("zk_avg_latency", javaDouble(avg))
	kv("zk_max_latency", hi)
	kv("zk_min_latency", lo)
	kv("zk_packets_received", s.stats.received.Load())
	kv("zk_packets_sent", s.stats.sent.Load())
	kv("zk_num_alive_connections", len(s.connections()))
	kv("zk_outstanding_requests", s.outstanding())
	kv("zk_znode_count", s.nodeCount())
	kv("zk_watch_count", st.Watches)
	kv("zk_global_sessions", st.Sessions)
	kv("zk_uptime", time.Since(s.stats.started).Milliseconds())
	if st.Role == keeper.RoleLeader && len(st.Members) > 1 {
		kv("zk_learners", len(st.Members)-1)
		kv("zk_synced_followers", max(st.ReachableMembers-1, 0))
		kv("zk_pending_syncs", 0)
	}
	kv("keeper_member_id", st.ID)
	kv("keeper_leader_id", st.Leader)
	kv("keeper_applied_zxid", int64(st.Applied))
	kv("keeper_consistency", javaDouble(st.Consistency))
	kv("keeper_availability", javaDouble(st.Availability))
	if st.Archiving || st.ArchivedZxid != 0 {
		kv("keeper_archive_zxid", int64(st.ArchivedZxid))
		kv("keeper_archive_lag_entries", st.ArchiveLag)
		kv("keeper_archive_lag_seconds", javaDouble(st.ArchiveLagTime.Seconds()))
	}
}

// writeEnvi writes envi's answer.
func (s *Server) writeEnvi(w io.Writer) {
	fmt.Fprintf(w, "Environment:\n")
	fmt.Fprintf(w, "zookeeper.version=%s\n", Version)
	fmt.Fprintf(w, "keeper.member.id=%d\n", s.n.ID())
}

// writeConf writes conf's answer: the session timeouts clients negotiate.
func (s *Server) writeConf(w io.Writer) {
	st := s.n.Status()
	fmt.Fprintf(w, "serverId=%d\n", st.ID)
}

// writeWchs writes wchs's answer.
func (s *Server) writeWchs(w io.Writer) {
	st := s.n.Status()
	fmt.Fprintf(w, "%d connections watching %d paths\nTotal watches:%d\n", len(s.connections()), st.Watches, st.Watches)
}

// writeDirs writes dirs's answer.
func (s *Server) writeDirs(w io.Writer) {
	fmt.Fprintf(w, "datadir_size: %d\nlogdir_size: %d\n", 0, 0)
}

// lopName is ZooKeeper's short name of an opcode in cons.
func lopName(op jute.OpCode) string {
	return op.String()
}
