package wire

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

var membershipSeeds = []*raftpb.ConfState{
	{},
	{Voters: []uint64{1}},
	{Voters: []uint64{1, 2, 3}, Learners: []uint64{9}, VotersOutgoing: []uint64{1, 2, 4}, LearnersNext: []uint64{4}, AutoLeave: proto.Bool(true)},
	{Voters: []uint64{1 << 62, ^uint64(0)}, AutoLeave: proto.Bool(false)},
}

// sameConf compares what the membership encoding keeps.
func sameConf(a, b *raftpb.ConfState) bool {
	return slices.Equal(a.GetVoters(), b.GetVoters()) && slices.Equal(a.GetLearners(), b.GetLearners()) &&
		slices.Equal(a.GetVotersOutgoing(), b.GetVotersOutgoing()) && slices.Equal(a.GetLearnersNext(), b.GetLearnersNext()) &&
		a.GetAutoLeave() == b.GetAutoLeave()
}

func TestMembershipRoundTrip(t *testing.T) {
	for _, cs := range membershipSeeds {
		b := EncodeMembership(cs)
		got, err := DecodeMembership(b)
		if err != nil || !sameConf(got, cs) {
			t.Fatalf("round trip of %v: %v %v", cs, got, err)
		}
		if _, err := DecodeMembership(b[:len(b)-1]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%v cut short: %v", cs, err)
		}
	}
	for _, b := range [][]byte{nil, {1, 5}, {2, 0, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0, 0}, {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		if _, err := DecodeMembership(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("DecodeMembership(%x) = %v", b, err)
		}
	}
}

// FuzzMembership: decoding never panics, refuses with ErrCorrupt, and what
// it accepts encodes back to the same membership; to the same bytes when
// the uvarints were minimal and the auto-leave byte is 0 or 1.
func FuzzMembership(f *testing.F) {
	for _, cs := range membershipSeeds {
		f.Add(EncodeMembership(cs))
	}
	f.Add([]byte{1, 0, 0, 0, 0, 7})
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := DecodeMembership(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		again := EncodeMembership(cs)
		if cs2, err := DecodeMembership(again); err != nil || !sameConf(cs2, cs) {
			t.Fatalf("re-encoded %x decodes to %v, %v; first %v", again, cs2, err, cs)
		}
		if len(again) == len(b) && b[len(b)-1] <= 1 && !bytes.Equal(again, b) {
			t.Fatalf("%x re-encodes to %x", b, again)
		}
	})
}
