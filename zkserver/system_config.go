package zkserver

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/jute"
)

// MemberAddrs are the addresses of one member that /zookeeper/config shows.
// keeper knows its members by id only; the host knows where they listen.
type MemberAddrs struct {
	// Peer is the "host:port" the member's peer transport listens on, as
	// the host's transport dials it; "" if not known. ZooKeeper's server
	// line has a quorum port and an election port; keeper's one peer port
	// is shown as both.
	Peer string
	// Client is the "host:port" of the member's ZooKeeper listener, the
	// address a client connects to; "" if not known.
	Client string
}

// configText returns /zookeeper/config's data as ZooKeeper writes its
// dynamic configuration, and the zxid it is as of: a line per member,
// sorted by id,
//
//	server.<id>=<peer host>:<peer port>:<peer port>:<participant|observer>;<client host>:<client port>
//
// (a learner is an observer), then "version=" and that zxid in hex, with no
// newline after it. The zxid is the member's Status.MembershipZxid. A part
// the host's Options.MemberAddrs does not know is left out: without a
// client address the line ends at the role, as ZooKeeper writes a member
// whose client port is not in its server line; without a peer address the
// line starts at the role.
func (s *Server) configText() ([]byte, keeper.Zxid) {
	st := s.n.Status()
	var b strings.Builder
	for _, id := range st.Members {
		var addrs MemberAddrs
		if s.opts.MemberAddrs != nil {
			addrs = s.opts.MemberAddrs(id)
		}
		fmt.Fprintf(&b, "server.%d=", id)
		if host, port, err := net.SplitHostPort(addrs.Peer); err == nil {
			fmt.Fprintf(&b, "%s:%s:", net.JoinHostPort(host, port), port)
		}
		role := "participant"
		if slices.Contains(st.Learners, id) {
			role = "observer"
		}
		b.WriteString(role)
		if host, port, err := net.SplitHostPort(addrs.Client); err == nil {
			fmt.Fprintf(&b, ";%s", net.JoinHostPort(host, port))
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "version=%x", uint64(st.MembershipZxid))
	return []byte(b.String()), st.MembershipZxid
}

// configData returns /zookeeper/config's data and Stat. The Stat is the
// one ZooKeeper gives the node: Mzxid the configuration's zxid, Version
// and Aversion -1, the rest zero but DataLength (keeper does not know when
// the membership changed, so Mtime is zero too).
func (s *Server) configData() ([]byte, jute.Stat) {
	data, zxid := s.configText()
	return data, jute.Stat{Mzxid: int64(zxid), Version: -1, Aversion: -1, DataLength: int32(len(data))}
}
