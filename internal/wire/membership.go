package wire

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// MembershipVersion is the first byte of an encoded membership.
const MembershipVersion = 1

// EncodeMembership encodes a raft configuration as the tree stores it (meta
// key members, written with the entry that changed it) and as backups carry
// it (record kind 2): MembershipVersion, four uvarint-counted lists of
// uvarint ids (voters, learners, outgoing voters, next learners) and the
// auto-leave byte (1 or 0).
func EncodeMembership(cs *raftpb.ConfState) []byte {
	b := []byte{MembershipVersion}
	for _, ids := range [][]uint64{cs.GetVoters(), cs.GetLearners(), cs.GetVotersOutgoing(), cs.GetLearnersNext()} {
		b = binary.AppendUvarint(b, uint64(len(ids)))
		for _, id := range ids {
			b = binary.AppendUvarint(b, id)
		}
	}
	if cs.GetAutoLeave() {
		return append(b, 1)
	}
	return append(b, 0)
}

// DecodeMembership is the inverse of EncodeMembership; an auto-leave byte
// other than 1 reads as false. Errors match ErrCorrupt.
func DecodeMembership(b []byte) (*raftpb.ConfState, error) {
	bad := fmt.Errorf("%w: bad membership record", ErrCorrupt)
	if len(b) == 0 || b[0] != MembershipVersion {
		return nil, bad
	}
	b = b[1:]
	var lists [4][]uint64
	for i := range lists {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)) {
			return nil, bad
		}
		b = b[k:]
		for j := uint64(0); j < n; j++ {
			id, k := binary.Uvarint(b)
			if k <= 0 {
				return nil, bad
			}
			b = b[k:]
			lists[i] = append(lists[i], id)
		}
	}
	if len(b) != 1 {
		return nil, bad
	}
	return &raftpb.ConfState{
		Voters: lists[0], Learners: lists[1], VotersOutgoing: lists[2], LearnersNext: lists[3],
		AutoLeave: proto.Bool(b[0] == 1),
	}, nil
}
