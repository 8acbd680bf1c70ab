// Package frame reads the envelope of keeper's transport frames without
// decoding them, so a transport can route a frame by what it carries.
//
// A keeper frame is the cluster id (8 bytes, big-endian) followed by either
// a membership frame (the marker byte 0x00, then its own small layout) or a
// protobuf-encoded raft message (go.etcd.io/raft/v3 raftpb.Message). A raft
// message's type is its field 1, a varint.
//
// # Guarantees
//
// Bulk and Cluster read at most the frame's top-level protobuf fields, never
// allocate, never panic on any input, and give an answer for every input:
// a frame they cannot read is control traffic.
package frame

import (
	"encoding/binary"

	"google.golang.org/protobuf/encoding/protowire"
)

// Header is the length of the envelope before the payload: the cluster id.
const Header = 8

// memberMarker follows the cluster id in a membership frame.
const memberMarker = 0x00

// Raft message types that carry log entries (raftpb.MessageType values).
const (
	msgProp = 2 // MsgProp: a proposal forwarded to the leader
	msgApp  = 3 // MsgApp: entries appended to a follower
)

// typeField is the raftpb.Message field number of the message type.
const typeField = 1

// Cluster returns the cluster id a frame names, and false when the frame is
// too short to name one.
func Cluster(frame []byte) (uint64, bool) {
	if len(frame) < Header {
		return 0, false
	}
	return binary.BigEndian.Uint64(frame), true
}

// Bulk reports whether frame carries log entries (a raft MsgApp or MsgProp),
// which a transport sends on its data lane. Everything else (heartbeats,
// votes, pre-votes, ReadIndex requests, every response, membership frames,
// and frames it cannot read) is control traffic, which must never wait
// behind entries.
func Bulk(frame []byte) bool {
	if len(frame) <= Header || frame[Header] == memberMarker {
		return false
	}
	t, ok := messageType(frame[Header:])
	return ok && (t == msgApp || t == msgProp)
}

// messageType returns the value of the first field 1 of a marshalled
// message (a marshaller writes it once, and first). It walks the top-level
// fields up to that one, skipping each by its wire type and length without
// reading inside it.
func messageType(b []byte) (uint64, bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, false
		}
		b = b[n:]
		if num == typeField && typ == protowire.VarintType {
			v, m := protowire.ConsumeVarint(b)
			return v, m >= 0
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return 0, false
		}
		b = b[m:]
	}
	return 0, false
}
