package wire

import (
	"encoding/binary"
	"fmt"
)

// SnapDescVersion is the first byte of a raft snapshot descriptor.
const SnapDescVersion = 1

// snapDescLen is the length of a version-1 descriptor.
const snapDescLen = 1 + 3*8

// SnapDesc is the Data of a raft snapshot: what the follower must receive
// over the stream that carries the tree.
//
// Layout (25 bytes): SnapDescVersion, then Zxid, ClusterID and Digest as
// big-endian uint64s.
type SnapDesc struct {
	Zxid      uint64 // the snapshot's index, the stream's zxid
	ClusterID uint64
	Digest    uint64 // the tree digest at Zxid
}

// EncodeSnapDesc returns d's bytes.
func EncodeSnapDesc(d SnapDesc) []byte {
	b := make([]byte, 0, snapDescLen)
	b = append(b, SnapDescVersion)
	b = binary.BigEndian.AppendUint64(b, d.Zxid)
	b = binary.BigEndian.AppendUint64(b, d.ClusterID)
	return binary.BigEndian.AppendUint64(b, d.Digest)
}

// DecodeSnapDesc is the inverse of EncodeSnapDesc. An unknown version is
// refused with ErrFormatTooNew, a wrong length with ErrCorrupt.
func DecodeSnapDesc(b []byte) (SnapDesc, error) {
	if len(b) == 0 || b[0] != SnapDescVersion {
		return SnapDesc{}, fmt.Errorf("%w: unknown raft snapshot descriptor version", ErrFormatTooNew)
	}
	if len(b) != snapDescLen {
		return SnapDesc{}, fmt.Errorf("%w: raft snapshot descriptor of %d bytes", ErrCorrupt, len(b))
	}
	return SnapDesc{
		Zxid:      binary.BigEndian.Uint64(b[1:]),
		ClusterID: binary.BigEndian.Uint64(b[9:]),
		Digest:    binary.BigEndian.Uint64(b[17:]),
	}, nil
}
