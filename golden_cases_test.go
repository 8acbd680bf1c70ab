package keeper

import (
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/wire"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// This file encodes the fixed values of golden_test.go with keeper's
// encoders. The values never change; only the names of the encoders they
// are handed to may.

// goldenTime is the proposer's clock in every golden request (ms).
const goldenTime = 1_700_000_000_000

// goldenRequests are request payloads of every kind.
func goldenRequests() []goldenCase {
	acl := []ACL{{Perms: PermAll, Scheme: "digest", ID: "user:c2VjcmV0"}, {Perms: PermRead, Scheme: "world", ID: "anyone"}}
	reqs := []struct {
		name string
		r    request
	}{
		{"create", request{Time: goldenTime, Ops: []Op{CreateOp("/app", []byte("hello"), Persistent)}}},
		{"create-acl-auth", request{Time: goldenTime + 1, Session: 4, Auth: []Identity{{Scheme: "digest", ID: "user:c2VjcmV0"}},
			Ops: []Op{CreateOp("/app/e", nil, EphemeralSequential, WithACL(acl...))}}},
		{"create-ttl", request{Time: goldenTime, Ops: []Op{CreateOp("/t", []byte{0, 1, 2}, PersistentWithTTL, WithTTL(90*time.Second))}}},
		{"set", request{Time: -5, Ops: []Op{SetOp("/app", []byte("v2"), 3)}}},
		{"delete", request{Time: goldenTime, Ops: []Op{DeleteOp("/app", -1)}}},
		{"setacl", request{Time: goldenTime, Ops: []Op{SetACLOp("/app", acl, 7)}}},
		{"multi", request{Time: goldenTime, Session: 1 << 40, Multi: true, Ops: []Op{
			CheckOp("/", -1), CreateOp("/m", nil, Container), SetOp("/m", []byte("x"), 0), DeleteOp("/m", 1),
		}}},
		{"multi-empty", request{Time: goldenTime, Multi: true}},
		{"create-session", request{Kind: reqCreateSession, Time: goldenTime, Timeout: 30000, Owner: 2, Nonce: 77}},
		{"close-session", request{Kind: reqCloseSession, Time: goldenTime, Session: 4}},
		{"expire-session", request{Kind: reqCloseSession, Time: goldenTime, Session: 1 << 50, Expire: true}},
		{"restore-chunk", request{Kind: reqRestoreChunk, Time: goldenTime, RestoreID: 9, Seq: 3, Chunk: []byte("chunk bytes")}},
		{"create-session-resumable", request{Kind: reqCreateSession, Time: goldenTime, Timeout: 30000, Owner: 2, Nonce: 77, Password: []byte("0123456789abcdef")}},
		{"move-session", request{Kind: reqMoveSession, Time: goldenTime, Session: 1 << 40, Owner: 3, Nonce: 78, Password: []byte("0123456789abcdef")}},
		{"expire-session-if-owner", request{Kind: reqCloseSession, Time: goldenTime, Session: 1 << 40, Expire: true, IfOwner: 3, IfNonce: 78}},
		{"restore-commit", request{Kind: reqRestoreCommit, Time: goldenTime, RestoreID: 9, Count: 4, Sum: 0xfedcba9876543210, Subtree: "/app", Foreign: true}},
	}
	var out []goldenCase
	for _, c := range reqs {
		out = append(out, goldenCase{c.name, appendRequest(nil, &c.r)})
	}
	return out
}

// goldenEnvelopes are proposal envelopes.
func goldenEnvelopes() []goldenCase {
	return []goldenCase{
		{"member1-seq0-empty", wire.EncodeEnvelope(1, 0, nil)},
		{"member3-seq-high", wire.EncodeEnvelope(3, 1<<63+5, []byte("payload"))},
		{"max", wire.EncodeEnvelope(^uint64(0), ^uint64(0), []byte{1})},
	}
}

// goldenChecks are consistency entries.
func goldenChecks() []goldenCase {
	return []goldenCase{
		{"check", (&wire.Check{Kind: wire.CheckPeriodic, PrevZxid: 42, PrevDigest: 1<<63 | 7, Members: 5, Reachable: 4, Consistent: 3}).Encode()},
		{"check-zero", (&wire.Check{Kind: wire.CheckPeriodic}).Encode()},
		{"report-corrupt", (&wire.Check{Kind: wire.CheckReport, Member: 3, Zxid: 99, Corrupt: true}).Encode()},
		{"report-repair", (&wire.Check{Kind: wire.CheckReport, Member: 3, Zxid: 99, Corrupt: true, Repair: true}).Encode()},
		{"report-repaired", (&wire.Check{Kind: wire.CheckReport, Member: 3, Zxid: 100}).Encode()},
	}
}

// goldenMemberships are stored memberships (meta key members, entryConf data).
func goldenMemberships() []goldenCase {
	return []goldenCase{
		{"empty", wire.EncodeMembership(&raftpb.ConfState{})},
		{"one", wire.EncodeMembership(&raftpb.ConfState{Voters: []uint64{1}})},
		{"joint", wire.EncodeMembership(&raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{9}, VotersOutgoing: []uint64{1, 2, 4}, LearnersNext: []uint64{4}, AutoLeave: proto.Bool(true)})},
		{"large-ids", wire.EncodeMembership(&raftpb.ConfState{Voters: []uint64{1 << 62, ^uint64(0)}})},
	}
}

// goldenLogMetas are WAL metadata records.
func goldenLogMetas() []goldenCase {
	return []goldenCase{
		{"three", wire.EncodeLogMeta(0x1122334455667788, 2, []uint64{3, 1, 2})},
		{"join", wire.EncodeLogMeta(7, 4, nil)},
	}
}

// goldenSnapDescs are raft snapshot descriptors.
func goldenSnapDescs() []goldenCase {
	return []goldenCase{
		{"desc", wire.EncodeSnapDesc(wire.SnapDesc{Zxid: 1234, ClusterID: 0xabcdef, Digest: 1<<63 + 1})},
		{"zero", wire.EncodeSnapDesc(wire.SnapDesc{})},
	}
}

// goldenMessage is a raft message carrying entries.
func goldenMessage() *raftpb.Message {
	return &raftpb.Message{
		Type: raftpb.MsgApp.Enum(), To: proto.Uint64(2), From: proto.Uint64(1), Term: proto.Uint64(3),
		LogTerm: proto.Uint64(3), Index: proto.Uint64(10), Commit: proto.Uint64(9),
		Entries: []*raftpb.Entry{{Term: proto.Uint64(3), Index: proto.Uint64(11), Type: raftpb.EntryNormal.Enum(), Data: wire.EncodeEnvelope(1, 5, []byte{1, 2})}},
	}
}

// goldenStreamHeaders are the headers of StreamTransport transfers: a raft
// snapshot's (cluster id, marshalled MsgSnap) and a repair's.
func goldenStreamHeaders(t testing.TB) []goldenCase {
	m := &raftpb.Message{
		Type: raftpb.MsgSnap.Enum(), To: proto.Uint64(2), From: proto.Uint64(1), Term: proto.Uint64(4),
		Snapshot: &raftpb.Snapshot{
			Data:     wire.EncodeSnapDesc(wire.SnapDesc{Zxid: 500, ClusterID: 0x42, Digest: 99}),
			Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(500), Term: proto.Uint64(4), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}},
		},
	}
	snap, err := wire.EncodeSnapshotHeader(0x42, m)
	if err != nil {
		t.Fatal(err)
	}
	return []goldenCase{
		{"raft-snapshot", snap},
		{"repair", wire.EncodeRepairHeader(0x42, wire.RepairHeader{Zxid: 500, Term: 4, Digest: 0xdeadbeef})},
	}
}

// goldenFrames are transport frames: raft messages and membership frames.
func goldenFrames(t testing.TB) []goldenCase {
	var out []goldenCase
	for _, c := range []struct {
		name string
		m    *raftpb.Message
	}{
		{"raft-app", goldenMessage()},
		{"raft-heartbeat", &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), To: proto.Uint64(3), From: proto.Uint64(1), Term: proto.Uint64(3), Commit: proto.Uint64(9)}},
		{"raft-readindex", &raftpb.Message{Type: raftpb.MsgReadIndex.Enum(), To: proto.Uint64(1), From: proto.Uint64(2),
			Entries: []*raftpb.Entry{{Data: wire.EncodeReadContext(77)}}}},
	} {
		b, err := wire.EncodeRaftFrame(0x42, c.m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, goldenCase{c.name, b})
	}
	return append(out,
		goldenCase{"member-request", wire.EncodeMemberFrame(0x42, wire.MemberFrame{Kind: wire.MemberRequest, ID: 1<<63 + 5, Op: wire.MemberAddVoter, Target: 4})},
		goldenCase{"member-transfer", wire.EncodeMemberFrame(0x42, wire.MemberFrame{Kind: wire.MemberRequest, ID: 6, Op: wire.MemberTransfer, Target: 2})},
		goldenCase{"member-reply-ok", wire.EncodeMemberFrame(0x42, wire.MemberFrame{Kind: wire.MemberReply, ID: 7, Index: 42})},
		goldenCase{"member-reply-notleader", wire.EncodeMemberFrame(0x42, wire.MemberFrame{Kind: wire.MemberReply, ID: 7, Code: wire.ReplyNotLeader, Leader: 3, Text: "keeper: not the leader: member 3 leads"})},
	)
}

// goldenProgress are online-restore progress records.
func goldenProgress() []goldenCase {
	return []goldenCase{
		{"empty", (&wire.RestoreProgress{Zxid: 10, ID: 9, Digest: 0x0102030405060708, Removed: 3}).Encode()},
		{"ephemerals", (&wire.RestoreProgress{Zxid: 1 << 40, ID: 1, Digest: ^uint64(0), Removed: 0, RootWas: true, Ephemerals: []wire.KeptNode{
			{Path: "/a/e1", Value: []byte{1, 2, 3}}, {Path: "/a/e2", Value: nil},
		}}).Encode()},
	}
}

// goldenReadContexts are ReadIndex request contexts.
func goldenReadContexts() []goldenCase {
	return []goldenCase{{"id", wire.EncodeReadContext(0x0102030405060708)}}
}

// goldenEntry is one raft entry of the golden workload.
type goldenEntry struct {
	typ  raftpb.EntryType
	term uint64
	data []byte
}

// goldenWorkload is the raft log of the golden data dir: a single-member
// cluster's bootstrap entry, then every kind of entry a member writes.
func goldenWorkload(t testing.TB) []goldenEntry {
	marshal := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	op := func(member, seq uint64, r request) []byte {
		return wire.EncodeEnvelope(member, seq, appendRequest(nil, &r))
	}
	acl := []ACL{{Perms: PermAll, Scheme: "digest", ID: "user:c2VjcmV0"}}
	return []goldenEntry{
		{raftpb.EntryConfChange, 1, marshal(&raftpb.ConfChange{Type: raftpb.ConfChangeAddNode.Enum(), NodeId: proto.Uint64(1)})},
		{raftpb.EntryNormal, 2, nil},
		{raftpb.EntryNormal, 2, op(1, 1000, request{Time: goldenTime, Ops: []Op{CreateOp("/app", []byte("hello"), Persistent)}})},
		// Session 4, owned by member 2 with a long timeout: the leader
		// started afresh will not expire it while a test runs.
		{raftpb.EntryNormal, 2, op(1, 1001, request{Kind: reqCreateSession, Time: goldenTime + 1, Timeout: 30000, Owner: 2, Nonce: 77})},
		{raftpb.EntryNormal, 2, op(2, 5, request{Time: goldenTime + 2, Session: 4, Ops: []Op{CreateOp("/app/eph", []byte("e"), Ephemeral)}})},
		{raftpb.EntryNormal, 2, (&wire.Check{Kind: wire.CheckPeriodic, Members: 1, Reachable: 1, Consistent: 1}).Encode()},
		{raftpb.EntryConfChangeV2, 2, marshal(&raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{{Type: raftpb.ConfChangeAddLearnerNode.Enum(), NodeId: proto.Uint64(2)}}})},
		{raftpb.EntryNormal, 2, op(1, 1002, request{Time: goldenTime + 3, Multi: true, Auth: []Identity{{Scheme: "digest", ID: "user:c2VjcmV0"}}, Ops: []Op{
			CreateOp("/app/seq-", []byte("s"), PersistentSequential, WithACL(acl...)),
			SetOp("/app", []byte("hello again"), 0),
			CheckOp("/app", 1),
			CreateOp("/app/ttl", nil, PersistentWithTTL, WithTTL(time.Minute)),
			CreateOp("/app/box", nil, Container),
		}})},
		{raftpb.EntryNormal, 2, (&wire.Check{Kind: wire.CheckReport, Member: 2, Zxid: 6}).Encode()},
		{raftpb.EntryNormal, 2, op(1, 1003, request{Time: goldenTime + 4, Ops: []Op{SetACLOp("/app", acl, 0)}})},
		{raftpb.EntryNormal, 2, op(1, 1004, request{Time: goldenTime + 5, Ops: []Op{CreateOp("/gone", nil, Persistent)}})},
		{raftpb.EntryNormal, 2, op(1, 1005, request{Time: goldenTime + 6, Ops: []Op{DeleteOp("/gone", 0)}})},
		// A damaged request: apply reports ErrCorruptEntry for it and
		// advances.
		{raftpb.EntryNormal, 2, wire.EncodeEnvelope(1, 1006, []byte{1, 0xff})},
		{raftpb.EntryNormal, 2, op(1, 1007, request{Kind: reqRestoreChunk, Time: goldenTime + 7, RestoreID: 9, Seq: 0, Chunk: []byte("staged chunk")})},
		{raftpb.EntryNormal, 2, op(1, 1008, request{Kind: reqCreateSession, Time: goldenTime + 8, Timeout: 4000, Owner: 1, Nonce: 5})},
		{raftpb.EntryNormal, 2, op(1, 1009, request{Time: goldenTime + 9, Session: 15, Auth: []Identity{{Scheme: "digest", ID: "user:c2VjcmV0"}}, Ops: []Op{CreateOp("/app/mine", nil, Ephemeral)}})},
		{raftpb.EntryNormal, 2, op(1, 0, request{Kind: reqCloseSession, Time: goldenTime + 10, Session: 15, Expire: true})},
	}
}

// goldenLogMeta is the golden data dir's raft log metadata.
func goldenLogMeta(clusterID uint64) []byte { return wire.EncodeLogMeta(clusterID, 1, []uint64{1}) }

// goldenInstallMarks are raft snapshot install marks (meta key installed).
func goldenInstallMarks() []goldenCase {
	return []goldenCase{
		{"mark", wire.EncodeInstallMark(500, 4)},
		{"max", wire.EncodeInstallMark(^uint64(0), 1)},
	}
}

// goldenConfContexts are the contexts of membership changes this member
// proposed (ConfChangeV2.Context).
func goldenConfContexts() []goldenCase {
	return []goldenCase{{"id", wire.EncodeConfContext(0x0a0b0c0d0e0f1011)}}
}

// goldenArchive are the archive's own formats: the requests that mark the
// log, a segment's info and its log records.
func goldenArchive() []goldenCase {
	normal, conf := raftpb.EntryNormal, raftpb.EntryConfChangeV2
	return []goldenCase{
		{"request-archived", appendRequest(nil, &request{Kind: reqArchived, Time: goldenTime, Seq: 1 << 33})},
		{"request-archived-gap", appendRequest(nil, &request{Kind: reqArchived, Time: goldenTime, Seq: 1 << 33, GapFirst: 1<<33 - 500, GapLast: 1<<33 - 20})},
		{"request-mark", appendRequest(nil, &request{Kind: reqMark, Time: goldenTime, Name: "before-migration"})},
		{"segment-info", wire.EncodeSegmentInfo(wire.SegmentInfo{First: 42, Last: 20041, FirstTime: goldenTime, LastTime: goldenTime + 999})},
		{"log-record-normal", wire.EncodeLogRecord(nil, &raftpb.Entry{Index: new(uint64(42)), Term: new(uint64(3)), Type: &normal, Data: wire.EncodeEnvelope(1, 9, []byte("payload"))})},
		{"log-record-empty", wire.EncodeLogRecord(nil, &raftpb.Entry{Index: new(uint64(43)), Term: new(uint64(4)), Type: &normal})},
		{"log-record-conf", wire.EncodeLogRecord(nil, &raftpb.Entry{Index: new(uint64(1 << 40)), Term: new(uint64(5)), Type: &conf, Data: []byte{8, 1}})},
	}
}
