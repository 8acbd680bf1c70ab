// Package keeper is an embeddable, raft-replicated, ZooKeeper-style znode tree
// persisted in Pebble, whose centre is data backup, restore and recovery as
// plain function calls on the node handle.
//
// # Basics
//
// Each instance of the host service opens one member with Open, giving its
// id, a data dir, the initial members and a Transport (transport.TCP
// between processes, with mutual TLS; transport.Memory in one process; or
// the host's own). The returned *Node carries the
// tree operations (Create, Get, Set, Delete, Exists, Children, Multi,
// SetACL, GetACL, Sync) through its embedded Client; WithAuth and
// Linearizable derive Clients with identities or linearizable reads.
// NewSession opens a ZooKeeper session for ephemeral znodes and watches.
// Backup, BackupDir, VerifyBackup, InspectBackup, Restore and RestoreOnline
// move the tree in and out of one streaming format. Config.Archive sends
// every committed entry to a Target as a continuous backup; OpenArchive
// reads it back as the tree at any zxid, time or mark it holds (Archive.At).
//
// # Guarantees
//
//   - Writes are linearizable: a write returns after a quorum committed it
//     and the member it was made through applied it, with the result of the
//     apply. Its zxid is the raft index of its entry; zxids never go
//     backwards, not even across a restore.
//   - Reads are local and sequentially consistent by default (a member sees
//     its own writes in order); Sync and Linearizable make them linearizable.
//   - Watch events reach a session in zxid order, before any read through
//     it can see the change; a consumer that falls behind is told, never
//     silently dropped.
//   - No acknowledged write is lost while a quorum keeps its disks. An error
//     matching ErrNoLeader means the write was not proposed and may be
//     retried; ErrIndeterminate means its fate is unknown: read before
//     retrying. Nothing is retried silently.
//   - Bad input (damaged entries, streams, logs; invalid paths or ACLs) gets
//     a typed error matched by errors.Is, never a panic, and changes nothing.
//
// # Lifecycle and threading
//
// Every method of Node, Client and Session is safe for concurrent use and
// takes a context that bounds how long the caller waits, never whether an
// apply happens. Close stops the member, syncs its data and releases its
// dir; later calls return ErrClosed, and a Backup in progress ends with it.
// The library never listens, never installs signal handlers, never exits
// the process, and logs only to the *slog.Logger in Config.
//
// # Caveats
//
// A session lives as long as the member that created it; close sessions
// that are no longer used. A resumable session (SessionOptions.Resumable,
// which package zkserver makes for ZooKeeper clients) lives on its client's
// touches instead, and moves to the member its client resumes it on
// (Node.ResumeSession). Raft snapshots, and so the catch-up of a member that fell far behind,
// need a Transport that also implements StreamTransport. keeper builds on
// unix systems only (Linux, the BSDs, macOS): the data dir lock is flock.
package keeper
