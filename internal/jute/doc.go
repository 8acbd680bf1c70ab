// Package jute encodes and decodes the records of ZooKeeper's client wire
// protocol, so that unchanged ZooKeeper clients (zkCli, Curator, kazoo,
// go-zookeeper, the C client) can talk to keeper. It is written by hand
// from the record definitions in Apache ZooKeeper's
// zookeeper-jute/src/main/resources/zookeeper.jute and the Java classes that
// use them (BinaryInputArchive, BinaryOutputArchive, MultiOperationRecord,
// MultiResponse, ProtocolManager, ZooDefs, KeeperException, Watcher,
// CreateMode), read at tag release-3.9.5. It covers protocol versions 3.4 to
// 3.9: later versions only added opcodes and records, and the one optional
// field, ConnectRequest's and ConnectResponse's readOnly, is read when
// present and written back only to a client that sent it.
//
// # The wire
//
// A connection carries packets: a 4-byte big-endian length, then the body
// (ReadPacket, AppendPacket). The client's first packet is a ConnectRequest
// and the server's a ConnectResponse, neither with a header. After that a
// client packet is a RequestHeader (xid, opcode) and the opcode's request
// record (DecodeRequest, NewRequest); a server packet is a ReplyHeader (xid,
// zxid, error code) and, when the code is CodeOK, the opcode's reply record
// (NewResponse). Special xids mark watch notifications, pings, auth packets
// and SetWatches (XidNotification, XidPing, XidAuth, XidSetWatches).
//
// Records are jute's binary encoding: int and long big-endian, boolean one
// byte, buffer and ustring an int32 length (−1 for null) then the bytes,
// vector an int32 count (−1 for null) then the items. Each record type
// lists its fields once, and Encoder.Encode and Decoder.Decode both follow
// that list (AppendRecord and Unmarshal wrap them for one record). Records
// of one layout share one Go type, with each jute name an alias of it
// (PathRecord, PathWatchRecord, PathVersionRecord, StatRecord,
// WatchesRecord, TokenRecord).
//
// This package holds no state and starts no goroutine; it is a codec only.
// ZooKeeper's files (snapshots and transaction logs) use the same encoding
// and are read by internal/zkfile, which reads from a stream; this package
// reads one packet's bytes at a time.
//
// # Guarantees
//
// Decoding never panics. Every error for bad bytes matches ErrMalformed;
// a packet longer than the limit, ErrPacketTooLarge; an opcode with no
// request record, ErrUnknownOp. A declared length or count is checked
// against the bytes present before anything is allocated, so memory is
// proportional to the packet, whatever it declares. Decoded buffers and
// strings are copies, valid after the packet's buffer is reused.
//
// The Decoder reads as leniently as ZooKeeper where ZooKeeper's clients
// rely on it (a boolean byte other than 0 is true; bytes after a request
// record are ignored unless the caller asks with Decoder.End) and more
// strictly where no client writes the input (a vector count below −1, which
// ZooKeeper reads as empty, is refused). A null ustring decodes as "" and a
// null vector as nil, like an empty one; a null buffer decodes as nil and an
// empty one as a non-nil empty slice, and each encodes back as it was.
package jute
