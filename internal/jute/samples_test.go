package jute_test

import (
	"reflect"

	"github.com/keeper-go/keeper/internal/jute"
)

// sample is one record with every field set to a value that tells it apart.
type sample struct {
	name string
	rec  jute.Record
	// optionalTail is true when the record's encoding ends with a field a
	// decoder reads only if present (readOnly), so a packet cut before it
	// still decodes.
	optionalTail bool
}

func stat(seed int64) jute.Stat {
	return jute.Stat{
		Czxid: seed + 1, Mzxid: seed + 2, Ctime: 1_700_000_000_000 + seed, Mtime: 1_700_000_000_500 + seed,
		Version: int32(seed) + 3, Cversion: int32(seed) + 4, Aversion: int32(seed) + 5,
		EphemeralOwner: 0x1234_5678_9abc_def0 + seed, DataLength: int32(seed) + 6, NumChildren: int32(seed) + 7,
		Pzxid: seed + 8,
	}
}

func acls() []jute.ACL {
	return []jute.ACL{
		{Perms: jute.PermAll, Scheme: "world", ID: "anyone"},
		{Perms: jute.PermRead | jute.PermAdmin, Scheme: "digest", ID: "bob:ab0Cd+/="},
	}
}

func createReq(mode jute.CreateMode) jute.CreateRequest {
	return jute.CreateRequest{Path: "/app/lock-", Data: []byte("payload\x00\xff"), ACL: acls(), Flags: mode}
}

// samples returns one filled value of every record the package defines.
func samples() []sample {
	ttl := &jute.CreateTTLRequest{CreateRequest: createReq(jute.ModePersistentWithTTL), TTL: 60_000}
	sw := jute.SetWatches{RelativeZxid: 0x1_0000_0042, DataWatches: []string{"/a", "/b"}, ExistWatches: []string{"/c"}, ChildWatches: []string{"/", "/d/e"}}
	return []sample{
		{"ConnectRequest", &jute.ConnectRequest{LastZxidSeen: 0x2_0000_0007, TimeOut: 30000, SessionID: 0x1000_0000_0000_0abc, Passwd: []byte("0123456789abcdef")}, false},
		{"ConnectRequest/readOnly", &jute.ConnectRequest{ProtocolVersion: 0, TimeOut: 4000, Passwd: make([]byte, 16), ReadOnly: true, WithReadOnly: true}, true},
		{"ConnectResponse", &jute.ConnectResponse{TimeOut: 20000, SessionID: 77, Passwd: []byte("fedcba9876543210")}, false},
		{"ConnectResponse/readOnly", &jute.ConnectResponse{TimeOut: 20000, SessionID: 78, Passwd: []byte{}, ReadOnly: false, WithReadOnly: true}, true},
		{"RequestHeader", &jute.RequestHeader{Xid: 42, Type: jute.OpGetChildren2}, false},
		{"ReplyHeader", &jute.ReplyHeader{Xid: jute.XidNotification, Zxid: 0x3_0000_0001, Err: jute.CodeNodeExists}, false},
		{"WatcherEvent", &jute.WatcherEvent{Type: jute.EventNodeChildrenChanged, State: jute.StateSyncConnected, Path: "/app/ünï"}, false},
		{"Stat", ptr(stat(10)), false},
		{"ID", &jute.ID{Scheme: "ip", ID: "10.0.0.0/8"}, false},
		{"ACL", &acls()[1], false},
		{"ClientInfo", &jute.ClientInfo{AuthScheme: "digest", User: "bob"}, false},
		{"AuthPacket", &jute.AuthPacket{Scheme: "digest", Auth: []byte("bob:secret")}, false},
		{"CreateRequest", ptr(createReq(jute.ModeEphemeralSequential)), false},
		{"CreateRequest/null", &jute.CreateRequest{Path: "/n"}, false},
		{"CreateTTLRequest", ttl, false},
		{"CreateResponse", &jute.CreateResponse{Path: "/app/lock-0000000001"}, false},
		{"Create2Response", &jute.Create2Response{Path: "/app/lock-0000000002", Stat: stat(20)}, false},
		{"DeleteRequest", &jute.DeleteRequest{Path: "/gone", Version: -1}, false},
		{"ExistsRequest", &jute.ExistsRequest{Path: "/x", Watch: true}, false},
		{"ExistsResponse", &jute.ExistsResponse{Stat: stat(30)}, false},
		{"GetDataRequest", &jute.GetDataRequest{Path: "/x", Watch: false}, false},
		{"GetDataResponse", &jute.GetDataResponse{Data: []byte("value"), Stat: stat(40)}, false},
		{"GetDataResponse/empty", &jute.GetDataResponse{Data: []byte{}, Stat: stat(41)}, false},
		{"SetDataRequest", &jute.SetDataRequest{Path: "/x", Data: []byte("new"), Version: 9}, false},
		{"SetDataResponse", &jute.SetDataResponse{Stat: stat(50)}, false},
		{"GetACLRequest", &jute.GetACLRequest{Path: "/acl"}, false},
		{"GetACLResponse", &jute.GetACLResponse{ACL: acls(), Stat: stat(60)}, false},
		{"SetACLRequest", &jute.SetACLRequest{Path: "/acl", ACL: acls()[:1], Version: 2}, false},
		{"SetACLResponse", &jute.SetACLResponse{Stat: stat(70)}, false},
		{"GetChildrenRequest", &jute.GetChildrenRequest{Path: "/", Watch: true}, false},
		{"GetChildrenResponse", &jute.GetChildrenResponse{Children: []string{"a", "b", "zookeeper"}}, false},
		{"GetChildren2Request", &jute.GetChildren2Request{Path: "/p", Watch: true}, false},
		{"GetChildren2Response", &jute.GetChildren2Response{Children: []string{"c"}, Stat: stat(80)}, false},
		{"SyncRequest", &jute.SyncRequest{Path: "/s"}, false},
		{"SyncResponse", &jute.SyncResponse{Path: "/s"}, false},
		{"CheckVersionRequest", &jute.CheckVersionRequest{Path: "/v", Version: 12}, false},
		{"MultiHeader", &jute.MultiHeader{Type: jute.OpSetData, Done: false, Err: -1}, false},
		{"ErrorResponse", &jute.ErrorResponse{Err: jute.CodeBadVersion}, false},
		{"MultiRequest", multiWrites(), false},
		{"MultiRequest/reads", multiReads(), false},
		{"MultiRequest/empty", &jute.MultiRequest{}, false},
		{"MultiResponse", multiResults(), false},
		{"MultiResponse/failed", failedMultiResponse(), false},
		{"MultiResponse/reads", multiReadResults(), false},
		{"GetAllChildrenNumberRequest", &jute.GetAllChildrenNumberRequest{Path: "/big"}, false},
		{"GetAllChildrenNumberResponse", &jute.GetAllChildrenNumberResponse{TotalNumber: 123456}, false},
		{"GetEphemeralsRequest", &jute.GetEphemeralsRequest{Path: "/app"}, false},
		{"GetEphemeralsResponse", &jute.GetEphemeralsResponse{Ephemerals: []string{"/app/e1", "/app/e2"}}, false},
		{"AddWatchRequest", &jute.AddWatchRequest{Path: "/w", Mode: jute.AddWatchPersistentRecursive}, false},
		{"RemoveWatchesRequest", &jute.RemoveWatchesRequest{Path: "/w", Type: jute.WatcherAny}, false},
		{"CheckWatchesRequest", &jute.CheckWatchesRequest{Path: "/w", Type: jute.WatcherData}, false},
		{"SetWatches", &sw, false},
		{"SetWatches2", &jute.SetWatches2{SetWatches: sw, PersistentWatches: []string{"/p"}, PersistentRecursiveWatches: []string{"/r", "/s"}}, false},
		{"WhoAmIResponse", &jute.WhoAmIResponse{ClientInfo: []jute.ClientInfo{{AuthScheme: "ip", User: "127.0.0.1"}, {AuthScheme: "digest", User: "bob"}}}, false},
		{"ReconfigRequest", &jute.ReconfigRequest{JoiningServers: "server.4=127.0.0.1:2890:3890;2184", LeavingServers: "2", CurConfigID: 0x1_0000_0000}, false},
		{"DeleteContainerRequest", &jute.DeleteContainerRequest{Path: "/container"}, false},
		{"GetSASLRequest", &jute.GetSASLRequest{Token: []byte{1, 2, 3}}, false},
		{"SetSASLResponse", &jute.SetSASLResponse{Token: nil}, false},
	}
}

func multiWrites() *jute.MultiRequest {
	ttl := &jute.CreateTTLRequest{CreateRequest: createReq(jute.ModePersistentSequentialWithTTL), TTL: 1000}
	c := createReq(jute.ModePersistent)
	cc := createReq(jute.ModeContainer)
	return &jute.MultiRequest{Ops: []jute.MultiOp{
		{Type: jute.OpCreate, Request: &c},
		{Type: jute.OpCreate2, Request: &c},
		{Type: jute.OpCreateContainer, Request: &cc},
		{Type: jute.OpCreateTTL, Request: ttl},
		{Type: jute.OpDelete, Request: &jute.DeleteRequest{Path: "/d", Version: 3}},
		{Type: jute.OpSetData, Request: &jute.SetDataRequest{Path: "/s", Data: []byte("v"), Version: -1}},
		{Type: jute.OpCheck, Request: &jute.CheckVersionRequest{Path: "/c", Version: 0}},
	}}
}

func multiReads() *jute.MultiRequest {
	return &jute.MultiRequest{Ops: []jute.MultiOp{
		{Type: jute.OpGetChildren, Request: &jute.GetChildrenRequest{Path: "/"}},
		{Type: jute.OpGetData, Request: &jute.GetDataRequest{Path: "/a"}},
	}}
}

func multiResults() *jute.MultiResponse {
	return &jute.MultiResponse{Results: []jute.MultiResult{
		{Type: jute.OpCreate, Response: &jute.CreateResponse{Path: "/app/lock-"}},
		{Type: jute.OpCreate2, Response: &jute.Create2Response{Path: "/b", Stat: stat(90)}},
		{Type: jute.OpDelete},
		{Type: jute.OpSetData, Response: &jute.SetDataResponse{Stat: stat(91)}},
		{Type: jute.OpCheck},
	}}
}

func failedMultiResponse() *jute.MultiResponse {
	return &jute.MultiResponse{Results: []jute.MultiResult{
		{Type: jute.OpError, Err: jute.CodeOK},
		{Type: jute.OpError, Err: jute.CodeNoNode},
		{Type: jute.OpError, Err: jute.CodeRuntimeInconsistency},
	}}
}

func multiReadResults() *jute.MultiResponse {
	return &jute.MultiResponse{Results: []jute.MultiResult{
		{Type: jute.OpGetChildren, Response: &jute.GetChildrenResponse{Children: []string{"x"}}},
		{Type: jute.OpGetData, Response: &jute.GetDataResponse{Data: []byte("d"), Stat: stat(92)}},
		{Type: jute.OpError, Err: jute.CodeNoAuth},
	}}
}

func ptr[T any](v T) *T { return &v }

// newLike returns a new zero record of rec's type.
func newLike(rec jute.Record) jute.Record {
	return reflect.New(reflect.TypeOf(rec).Elem()).Interface().(jute.Record)
}
