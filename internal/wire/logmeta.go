package wire

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// EncodeLogMeta encodes the raft log's metadata, which etcd's WAL records at
// the head of every segment: the cluster id, this member's id and the
// sorted initial peers (none for a joining member), as big-endian uint64s.
// It has no version byte: its length (16 + 8 per peer) is all a reader
// checks, so a change to it needs a new record, not a new layout.
func EncodeLogMeta(clusterID, id uint64, peers []uint64) []byte {
	b := make([]byte, 0, 8*(2+len(peers)))
	b = binary.BigEndian.AppendUint64(b, clusterID)
	b = binary.BigEndian.AppendUint64(b, id)
	for _, p := range slices.Sorted(slices.Values(peers)) {
		b = binary.BigEndian.AppendUint64(b, p)
	}
	return b
}

// DecodeLogMeta is the inverse of EncodeLogMeta; peers come back in the
// order stored. Errors match ErrCorrupt.
func DecodeLogMeta(b []byte) (clusterID, id uint64, peers []uint64, err error) {
	if len(b) < 16 || len(b)%8 != 0 {
		return 0, 0, nil, fmt.Errorf("%w: raft log metadata has %d bytes", ErrCorrupt, len(b))
	}
	clusterID = binary.BigEndian.Uint64(b)
	id = binary.BigEndian.Uint64(b[8:])
	for b = b[16:]; len(b) > 0; b = b[8:] {
		peers = append(peers, binary.BigEndian.Uint64(b))
	}
	return clusterID, id, peers, nil
}
