// Package wire holds every private byte format keeper writes to its raft
// log, to its data dir's meta keys and to other members, one file per
// format: how it is laid out, its version byte, its encoder and its
// decoder. The root package and the raft loop use these and nothing else to
// read or write those bytes.
//
// Formats are told apart by the channel they travel on, never by guessing:
//
//   - Transport frames (Transport.Send), frame.go: the cluster id, then a
//     marshalled raft message or a membership frame (memberframe.go), whose
//     first byte MemberFrameMarker no raft message starts with. The
//     envelope's constants come from internal/frame, which transports use to
//     route frames without raft's types.
//   - Stream transfer headers (StreamTransport.SendStream), streamheader.go:
//     the cluster id, then a marshalled raft MsgSnap (whose snapshot data is
//     a descriptor, snapdesc.go) or a repair header, whose first byte
//     RepairMarker no raft message starts with. RepairMarker and
//     MemberFrameMarker are the same byte on two different channels.
//   - Raft log entries, entry.go: DecodeEntry says what a committed entry
//     is (empty, a proposal in an envelope (envelope.go), a consistency entry
//     (check.go), a configuration change). The proposal's payload, the tree
//     request, is encoded by the root package (entry.go there), since it is
//     made of the public Op, ACL and Identity types.
//   - Meta keys of the tree's store: the membership (membership.go), the
//     raft snapshot install mark (installmark.go) and the online restore's
//     progress record (restoreprogress.go).
//   - The raft log's metadata (logmeta.go), the context of a membership
//     change (confcontext.go) and of a ReadIndex request (readctx.go).
//
// # Guarantees
//
// Every decoder returns an error matching ErrCorrupt (or ErrFormatTooNew
// for a version it does not know) with errors.Is for bad input, and never
// panics; each has a fuzz target. Decoded byte slices alias the input unless
// a decoder says otherwise. Encoders write exactly what the format's comment
// says; testdata in the root package holds the bytes they wrote before this
// package existed, and the root's golden tests compare them.
//
// The package imports no part of keeper but storage's error sentinels and
// internal/frame's envelope constants.
package wire
