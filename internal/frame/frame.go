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

// messageType returns the value of field 1 of a marshalled message. The
// encoder writes it first, so the common case reads two bytes; otherwise it
// walks the top-level fields, skipping each by its wire type, and takes the
// last field 1 it finds, as protobuf decoding does.
func messageType(b []byte) (uint64, bool) {
	if len(b) >= 2 && b[0] == typeField<<3|byte(protowire.VarintType) && b[1] < 0x80 {
		return uint64(b[1]), true
	}
	var (
		t     uint64
		found bool
	)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, false
		}
		b = b[n:]
		if num == typeField && typ == protowire.VarintType {
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return 0, false
			}
			t, found = v, true
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return 0, false
		}
		b = b[m:]
	}
	return t, found
}
