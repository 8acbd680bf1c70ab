package keeper

import (
	"log/slog"

	"github.com/keeper-go/keeper/internal/wire"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// entryReplay turns raft log entries into the tree's committed entries
// where no member is running: a stopped member's log (readTail) and an
// archive's segments (archive_replay.go). Consistency entries become noops,
// as no member is there to check or report anything; configuration
// changes become the membership they make, computed by a throwaway raft
// node, as the raft loop's apply does.
type entryReplay struct {
	rn *raft.RawNode
	cs *raftpb.ConfState
}

// newEntryReplay starts a replay after index applied, where the membership
// is cs, for member (0 if none).
func newEntryReplay(member, applied uint64, cs *raftpb.ConfState) (*entryReplay, error) {
	ms := raft.NewMemoryStorage()
	if err := ms.ApplySnapshot(&raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{
		Index: new(max(applied, 1)), Term: new(uint64(1)), ConfState: proto.Clone(cs).(*raftpb.ConfState),
	}}); err != nil {
		return nil, err
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID: max(member, 1), ElectionTick: 10, HeartbeatTick: 1, Storage: ms, Applied: max(applied, 1),
		MaxSizePerMsg: 1, MaxInflightMsgs: 1, Logger: raftLogger{slog.New(slog.DiscardHandler)},
	})
	if err != nil {
		return nil, err
	}
	return &entryReplay{rn: rn, cs: cs}, nil
}

// convert decodes e and returns it as the tree applies it, with the
// decoded entry for callers that look further (an archive checks the
// digests consistency entries carry).
func (p *entryReplay) convert(e *raftpb.Entry) (committed, wire.Entry, error) {
	d, err := wire.DecodeEntry(e)
	if err != nil {
		return committed{}, wire.Entry{}, err
	}
	c := committed{Index: d.Index, Kind: entryNoop}
	switch d.Kind {
	case wire.EntryProposal:
		c.Kind, c.Data = entryOp, d.Proposal.Payload
	case wire.EntryConfChange:
		p.cs = p.rn.ApplyConfChange(d.Conf)
		c.Kind, c.Data = entryConf, wire.EncodeMembership(p.cs)
	}
	return c, d, nil
}

// conf is the membership after the entries converted so far.
func (p *entryReplay) conf() *raftpb.ConfState { return p.cs }
