package wire

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
)

// A stream header (what StreamTransport.SendStream carries before the
// stream) is the sender's cluster id (8 bytes, big-endian), then either the
// raft MsgSnap the stream's tree belongs to, marshalled (its snapshot's
// Data is a SnapDesc), or a repair header, which starts with RepairMarker.
// The stream itself is in the backup format (internal/stream).

// RepairMarker is the byte after the cluster id that marks a repair header
// on the stream header channel. It is the same byte as MemberFrameMarker,
// which marks a membership frame on the transport frame channel; the two
// never meet, as each channel has its own receiver.
const RepairMarker = 0x00

// RepairHeaderVersion follows RepairMarker.
const RepairHeaderVersion = 1

// repairHeaderLen is the length of a version-1 repair header after the
// cluster id.
const repairHeaderLen = 1 + 1 + 3*8

// StreamHeaderKind says what a stream header announces after the cluster
// id.
type StreamHeaderKind uint8

const (
	// StreamRaftSnapshot announces a raft snapshot: the body is a
	// marshalled MsgSnap (DecodeRaftMessage).
	StreamRaftSnapshot StreamHeaderKind = iota + 1
	// StreamRepair announces a repair transfer: the body is a repair
	// header (DecodeRepairHeader).
	StreamRepair
)

// RepairHeader is what a repair transfer announces: the leader's tree at
// its applied index Zxid, the term of that entry, and the tree digest
// there.
//
// Layout after the cluster id (26 bytes): RepairMarker,
// RepairHeaderVersion, then Zxid, Term and Digest as big-endian uint64s.
type RepairHeader struct {
	Zxid, Term, Digest uint64
}

// EncodeSnapshotHeader returns the stream header of a raft snapshot
// transfer for m, a MsgSnap of cluster clusterID.
func EncodeSnapshotHeader(clusterID uint64, m *raftpb.Message) ([]byte, error) {
	return appendMessage(clusterID, m)
}

// EncodeRepairHeader returns the stream header of a repair transfer of
// cluster clusterID.
func EncodeRepairHeader(clusterID uint64, h RepairHeader) []byte {
	b := make([]byte, 0, clusterIDLen+repairHeaderLen)
	b = binary.BigEndian.AppendUint64(b, clusterID)
	b = append(b, RepairMarker, RepairHeaderVersion)
	b = binary.BigEndian.AppendUint64(b, h.Zxid)
	b = binary.BigEndian.AppendUint64(b, h.Term)
	return binary.BigEndian.AppendUint64(b, h.Digest)
}

// SplitStreamHeader splits a stream header into the sender's cluster id
// and the body after it, and says what the body announces. A repair
// header's body starts at its marker. ok is false for a header too short to
// hold a cluster id.
func SplitStreamHeader(b []byte) (clusterID uint64, kind StreamHeaderKind, body []byte, ok bool) {
	if len(b) < clusterIDLen {
		return 0, 0, nil, false
	}
	kind = StreamRaftSnapshot
	if len(b) > clusterIDLen && b[clusterIDLen] == RepairMarker {
		kind = StreamRepair
	}
	return binary.BigEndian.Uint64(b), kind, b[clusterIDLen:], true
}

// DecodeRepairHeader decodes a repair header's body (from its marker on).
// An unknown version is refused with ErrFormatTooNew, a wrong length with
// ErrCorrupt.
func DecodeRepairHeader(body []byte) (RepairHeader, error) {
	if len(body) == 0 || body[0] != RepairMarker {
		return RepairHeader{}, fmt.Errorf("%w: not a repair header", ErrCorrupt)
	}
	if len(body) < 2 || body[1] != RepairHeaderVersion {
		return RepairHeader{}, fmt.Errorf("%w: unknown repair header version", ErrFormatTooNew)
	}
	if len(body) != repairHeaderLen {
		return RepairHeader{}, fmt.Errorf("%w: repair header of %d bytes", ErrCorrupt, clusterIDLen+len(body))
	}
	return RepairHeader{
		Zxid:   binary.BigEndian.Uint64(body[2:]),
		Term:   binary.BigEndian.Uint64(body[10:]),
		Digest: binary.BigEndian.Uint64(body[18:]),
	}, nil
}
