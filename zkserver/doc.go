// Package zkserver serves ZooKeeper's client protocol on a keeper member, so
// that unchanged ZooKeeper clients (zkCli, Curator, kazoo, go-zookeeper)
// use a keeper cluster as they would a ZooKeeper ensemble.
//
// The host opens the listener and hands it in; the package never listens by
// itself:
//
//	ln, err := net.Listen("tcp", "127.0.0.1:2181")
//	srv := zkserver.New(n, zkserver.Options{Logger: logger})
//	go srv.Serve(ln)
//	defer srv.Shutdown(ctx)
//
// Every member of a cluster can serve clients this way; a client given all
// their addresses moves between them as it would between ZooKeeper
// servers.
//
// # Sessions
//
// A session a client creates is a resumable keeper session
// (keeper.SessionOptions.Resumable): its id and random password go back to
// the client, it lives while the client is heard from (requests and pings)
// within its negotiated timeout, and a client that reconnects to another
// member with its id and password resumes it there: the session moves
// through raft, the old member closes its connection, and the client's
// setWatches sets its watches again. A wrong password, or a session that
// expired, gets ZooKeeper's answer (timeout 0), which clients report as
// expiry. A client whose last seen zxid is ahead of the member it reaches
// is refused, so it tries another member and never goes back in time.
//
// # Order
//
// Each connection's requests are served one after another and answered in
// order. Watch notifications are sent in zxid order and before the reply
// of any request that could see their change: a client always gets a
// watch event before data that announces it.
//
// # What is served
//
// Every client opcode of ZooKeeper 3.4 to 3.9 is served except SASL and
// reconfig, which get UNIMPLEMENTED. Authentication serves the digest
// scheme (and keeper's super digest).
//
// # Four-letter words
//
// The words ruok, isro, srvr, stat, cons, mntr, envi, conf, dirs, wchs,
// wchc, wchp, crst and srst are answered in ZooKeeper 3.8's text: the same
// lines, keys, order, number formats and endings, so that the tools that
// parse them (zkServer.sh, go-zookeeper's FLWSrvr and FLWCons, kazoo, the
// Datadog and Prometheus exporters) read a keeper member as a ZooKeeper
// server. Values come from the member (Status, Footprint, Settings), the
// server's own counters and its connections; a value keeper has no
// counterpart of is printed as ZooKeeper prints it with that feature off.
// The tree's counts (node count, ephemerals, data size) cost a scan of the
// whole tree, so words asked within a second of each other, or while the
// tree has not changed, share one: a count can trail the tree by up to a
// second.
// mntr prints ZooKeeper's gauges (not its hundreds of internal counters
// and summaries), then keeper's own figures: keeper_member_id,
// keeper_leader_id, keeper_consistency and keeper_availability (the
// cluster's two figures of keeper.Status) and, with an archive,
// keeper_archive_zxid, keeper_archive_lag_entries and
// keeper_archive_lag_seconds. A member that knows no leader answers as a
// ZooKeeper server out of its quorum: "This ZooKeeper instance is not
// currently serving requests". Options.FourLetterWords allows words as
// ZooKeeper's 4lw.commands.whitelist does.
package zkserver
