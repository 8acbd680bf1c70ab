package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/keeper-go/keeper/internal/frame"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// A transport frame (what Transport.Send carries) is the sender's cluster
// id (8 bytes, big-endian), then either a marshalled raft message or a
// membership frame (memberframe.go), which starts with MemberFrameMarker.
// A marshalled raft message never starts with that byte: field number 0 is
// not a valid protobuf tag. A stream header (streamheader.go) has the same
// shape on another channel.

// clusterIDLen is the length of the cluster id that starts every frame and
// stream header. internal/frame, which transports use to route a frame
// without raft's types, reads the same envelope.
const clusterIDLen = frame.Header

// MemberFrameMarker is the byte after the cluster id that marks a
// membership frame on the transport frame channel. RepairMarker is the same
// byte on the stream header channel.
const MemberFrameMarker = frame.MemberMarker

// FrameKind says what a transport frame carries after the cluster id.
type FrameKind uint8

const (
	// FrameRaft carries a marshalled raft message (DecodeRaftMessage).
	FrameRaft FrameKind = iota + 1
	// FrameMember carries a membership frame (DecodeMemberFrame).
	FrameMember
)

// EncodeRaftFrame returns the frame that carries m to a member of cluster
// clusterID.
func EncodeRaftFrame(clusterID uint64, m *raftpb.Message) ([]byte, error) {
	return appendMessage(clusterID, m)
}

// SplitFrame splits a transport frame into the sender's cluster id and the
// body after it, and says what the body is. A membership frame's body
// starts at its marker; a frame whose body is the marker alone is taken for
// a raft message (and fails to decode as one). ok is false for a frame too
// short to hold a cluster id.
func SplitFrame(b []byte) (clusterID uint64, kind FrameKind, body []byte, ok bool) {
	clusterID, ok = frame.Cluster(b)
	if !ok {
		return 0, 0, nil, false
	}
	kind = FrameRaft
	if len(b) > clusterIDLen+1 && b[clusterIDLen] == MemberFrameMarker {
		kind = FrameMember
	}
	return clusterID, kind, b[clusterIDLen:], true
}

// DecodeRaftMessage decodes a marshalled raft message: the body of a
// FrameRaft frame or of a raft snapshot's stream header. Errors match
// ErrCorrupt.
func DecodeRaftMessage(body []byte) (*raftpb.Message, error) {
	m := &raftpb.Message{}
	if err := proto.Unmarshal(body, m); err != nil {
		return nil, fmt.Errorf("%w: raft message: %w", ErrCorrupt, err)
	}
	return m, nil
}

// appendMessage returns clusterID followed by m marshalled.
func appendMessage(clusterID uint64, m *raftpb.Message) ([]byte, error) {
	return proto.MarshalOptions{}.MarshalAppend(binary.BigEndian.AppendUint64(make([]byte, 0, clusterIDLen+proto.Size(m)), clusterID), m)
}
