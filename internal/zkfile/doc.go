// Package zkfile reads and writes Apache ZooKeeper's on-disk files: snapshot
// files (snapshot.<zxid>, plain, gzip or snappy, with the 3.6+ digest
// trailer) and transaction logs (log.<zxid>), as ZooKeeper 3.4 to 3.9 write
// them, and rebuilds the tree a stopped server would load from its data dir
// (Load) in a temporary on-disk store, never in Go maps.
//
// The formats, as read from ZooKeeper's sources (FileSnap, FileTxnLog,
// SnapStream, DataTree.serialize, zookeeper.jute) and written here:
//
//   - Every integer is big-endian; a string or buffer is an int32 length (−1:
//     null) and its bytes; a vector is an int32 count (−1: null) and its
//     elements.
//   - A file starts with a FileHeader: magic ("ZKSN" for snapshots, "ZKLG"
//     for logs), version 2, dbid.
//   - A snapshot then holds the session count and (id, timeout) pairs, the
//     ACL cache (count, then a reference number and an ACL vector each), the
//     nodes in depth-first order (path, data, ACL reference, StatPersisted;
//     the root's path is ""), the path "/" as terminator, and a seal: the
//     Adler-32 of every byte before it as an int64, then the string "/". 3.6+
//     appends the digest (zxid, digest version, value) and a second seal over
//     everything before it. The checksum is over the decompressed bytes; a
//     file named *.gz is gzip, *.snappy is snappy-java's stream format.
//   - A log record is the Adler-32 of the entry as an int64, the entry as a
//     buffer (TxnHeader, the transaction, 3.6+ a TxnDigest), then the byte
//     'B'. Log files are preallocated with zeros: a zero length ends the log.
//
// Errors: every refusal matches ErrCorrupt, ErrNotZooKeeper, ErrUnsupported
// or ErrDigest with errors.Is; those about one place of one file are a
// *FileError naming the file and the byte offset.
package zkfile
