package zkserver

import (
	"bytes"
	"fmt"
	"time"

	"github.com/keeper-go/keeper"
)

// writeMntr writes mntr's answer: "zk_<key>\t<value>" lines, as ZooKeeper
// 3.8's MonitorCommand words them. Its server prints its version and state,
// then its gauges in the order of their hash table, then hundreds of
// counters and summaries; keeper prints the gauges, in that same order,
// and then its own figures, named keeper_...:
//
//   - keeper_member_id, keeper_leader_id: this member's id, the leader's
//     (0 when none is known);
//   - keeper_consistency, keeper_availability: the cluster's two figures
//     (keeper.Status);
//   - keeper_archive_zxid, keeper_archive_lag_entries,
//     keeper_archive_lag_seconds: with an archive, the last zxid it holds
//     and how far it lags.
//
// Where keeper has no counterpart of a gauge, it prints what ZooKeeper
// prints with that feature off or before it measured anything (marked
// "off" below).
func (s *Server) writeMntr(_ *conn, st keeper.Status, w *bytes.Buffer) {
	conns := s.connections()
	fp := s.footprint()
	lo, avg, hi, _ := s.stats.lat.get()
	lastSize, minSize, maxSize := s.stats.replySizes.get()
	maxFD, openFD := fileDescriptors()
	quorum, leader := len(st.Members) > 1, leads(st)
	var followers, observers int
	for _, m := range st.View {
		switch {
		case m.ID == st.ID || !m.Reachable:
		case m.Learner:
			observers++
		default:
			followers++
		}
	}
	kv := func(k string, v any) { fmt.Fprintf(w, "%s\t%v\n", k, v) }
	kv("zk_version", s.version)
	kv("zk_server_state", mode(st))
	if quorum {
		kv("zk_peer_state", peerState(st))
	}
	kv("zk_ephemerals_count", fp.Ephemerals)
	kv("zk_num_alive_connections", len(conns))
	kv("zk_avg_latency", javaDouble(avg))
	if leader {
		kv("zk_min_proposal_size", -1) // off: keeper does not measure proposals
	}
	kv("zk_outstanding_requests", outstanding(conns))
	kv("zk_znode_count", znodeCount(fp))
	kv("zk_global_sessions", fp.Sessions)
	kv("zk_non_mtls_remote_conn_count", 0) // off: no TLS
	kv("zk_last_client_response_size", lastSize)
	kv("zk_packets_sent", s.stats.sent.Load())
	kv("zk_packets_received", s.stats.received.Load())
	if leader {
		kv("zk_max_proposal_size", -1) // off
	}
	kv("zk_max_client_response_size", maxSize)
	if leader {
		kv("zk_synced_followers", followers)
	}
	kv("zk_connection_drop_probability", javaDouble(0)) // off: connections are not shed
	kv("zk_watch_count", st.Watches)
	if leader {
		kv("zk_synced_non_voting_followers", 0) // keeper's non-voting members are its observers
		kv("zk_synced_observers", observers)
	}
	kv("zk_auth_failed_count", s.stats.authFailed.Load())
	kv("zk_min_latency", lo)
	kv("zk_max_file_descriptor_count", maxFD)
	kv("zk_approximate_data_size", dataSize(fp))
	kv("zk_open_file_descriptor_count", openFD)
	if leader {
		kv("zk_last_proposal_size", -1) // off
		kv("zk_pending_syncs", 0)       // keeper's sync is a barrier, never queued
		kv("zk_leader_uptime", s.stats.leading(st).Milliseconds())
	}
	kv("zk_local_sessions", 0) // off: no local sessions
	kv("zk_uptime", time.Since(s.stats.started).Milliseconds())
	kv("zk_max_latency", hi)
	kv("zk_outstanding_tls_handshake", 0) // off: no TLS
	if leader {
		kv("zk_learners", followers+observers)
	}
	kv("zk_min_client_response_size", minSize)
	kv("zk_non_mtls_local_conn_count", 0) // off: no TLS
	if quorum {
		kv("zk_quorum_size", len(st.Members)-len(st.Learners))
	}

	kv("keeper_member_id", st.ID)
	kv("keeper_leader_id", st.Leader)
	kv("keeper_consistency", javaDouble(st.Consistency))
	kv("keeper_availability", javaDouble(st.Availability))
	if st.Archiving || st.ArchivedZxid != 0 {
		kv("keeper_archive_zxid", int64(st.ArchivedZxid))
		kv("keeper_archive_lag_entries", st.ArchiveLag)
		kv("keeper_archive_lag_seconds", javaDouble(st.ArchiveLagTime.Seconds()))
	}
}

// peerState is ZooKeeper's detailed peer state of a member serving
// clients: its role and its Zab phase, always broadcast here.
func peerState(st keeper.Status) string {
	switch mode(st) {
	case "leader":
		return "leading - broadcast"
	case "observer":
		return "observing - broadcast"
	}
	return "following - broadcast"
}
