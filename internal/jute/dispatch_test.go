package jute_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/keeper-go/keeper/internal/jute"
)

// requestSamples returns a request for every op a client sends, nil for the
// ops whose request is the header alone.
func requestSamples() map[jute.OpCode]jute.Record {
	c := createReq(jute.ModeEphemeral)
	cc := createReq(jute.ModeContainer)
	return map[jute.OpCode]jute.Record{
		jute.OpPing: nil, jute.OpCloseSession: nil, jute.OpWhoAmI: nil,
		jute.OpCreate: &c, jute.OpCreate2: &c, jute.OpCreateContainer: &cc,
		jute.OpCreateTTL:            &jute.CreateTTLRequest{CreateRequest: createReq(jute.ModePersistentWithTTL), TTL: 5},
		jute.OpDelete:               &jute.DeleteRequest{Path: "/d", Version: 1},
		jute.OpDeleteContainer:      &jute.DeleteContainerRequest{Path: "/k"},
		jute.OpSync:                 &jute.SyncRequest{Path: "/s"},
		jute.OpGetACL:               &jute.GetACLRequest{Path: "/g"},
		jute.OpGetAllChildrenNumber: &jute.GetAllChildrenNumberRequest{Path: "/n"},
		jute.OpGetEphemerals:        &jute.GetEphemeralsRequest{Path: "/"},
		jute.OpExists:               &jute.ExistsRequest{Path: "/e", Watch: true},
		jute.OpGetData:              &jute.GetDataRequest{Path: "/g"},
		jute.OpGetChildren:          &jute.GetChildrenRequest{Path: "/c", Watch: true},
		jute.OpGetChildren2:         &jute.GetChildren2Request{Path: "/c2"},
		jute.OpSetData:              &jute.SetDataRequest{Path: "/s", Data: []byte{}, Version: -1},
		jute.OpSetACL:               &jute.SetACLRequest{Path: "/a", ACL: acls(), Version: 4},
		jute.OpMulti:                multiWrites(),
		jute.OpMultiRead:            multiReads(),
		jute.OpReconfig:             &jute.ReconfigRequest{NewMembers: "server.1=a:1:2;3", CurConfigID: -1},
		jute.OpCheckWatches:         &jute.CheckWatchesRequest{Path: "/w", Type: jute.WatcherChildren},
		jute.OpRemoveWatches:        &jute.RemoveWatchesRequest{Path: "/w", Type: jute.WatcherPersistent},
		jute.OpAddWatch:             &jute.AddWatchRequest{Path: "/w", Mode: jute.AddWatchPersistent},
		jute.OpAuth:                 &jute.AuthPacket{Scheme: "digest", Auth: []byte("u:p")},
		jute.OpSetWatches:           &jute.SetWatches{RelativeZxid: 9, DataWatches: []string{"/a"}},
		jute.OpSetWatches2:          &jute.SetWatches2{SetWatches: jute.SetWatches{RelativeZxid: 9}, PersistentWatches: []string{"/p"}},
		jute.OpSASL:                 &jute.GetSASLRequest{Token: []byte("t")},
	}
}

// TestDecodeRequest: every request packet decodes, through its header's
// opcode, to the record that was sent; every such op has a reply shape.
func TestDecodeRequest(t *testing.T) {
	for op, req := range requestSamples() {
		pkt := jute.AppendPacket(nil, &jute.RequestHeader{Xid: 3, Type: op}, req)
		d := jute.NewDecoder(pkt[4:])
		var hdr jute.RequestHeader
		d.Decode(&hdr)
		got, err := jute.DecodeRequest(d, hdr.Type)
		if err != nil || d.End() != nil {
			t.Fatalf("%v: %v, %v", op, err, d.End())
		}
		if req == nil {
			if got != nil {
				t.Fatalf("%v: decoded %+v from the header alone", op, got)
			}
		} else if !reflect.DeepEqual(got, req) {
			t.Fatalf("%v: decoded %+v, want %+v", op, got, req)
		}
		if _, ok := jute.NewResponse(op); !ok {
			t.Errorf("%v: no reply shape", op)
		}
	}
}

// TestDecodeRequestRefusals: unknown opcodes, ops no client sends, and a
// multi of the wrong kind for its opcode are refused with typed errors.
func TestDecodeRequestRefusals(t *testing.T) {
	for _, op := range []jute.OpCode{jute.OpNotification, jute.OpCheck, jute.OpCreateSession, jute.OpError, 10, 23, 99, 108} {
		if _, err := jute.DecodeRequest(jute.NewDecoder(nil), op); !errors.Is(err, jute.ErrUnknownOp) {
			t.Errorf("%v: %v, want ErrUnknownOp", op, err)
		}
	}
	for _, c := range []struct {
		op    jute.OpCode
		multi *jute.MultiRequest
	}{
		{jute.OpMulti, multiReads()},
		{jute.OpMultiRead, multiWrites()},
	} {
		d := jute.NewDecoder(jute.AppendRecord(nil, c.multi))
		if _, err := jute.DecodeRequest(d, c.op); !errors.Is(err, jute.ErrMalformed) {
			t.Errorf("%v holding the other kind: %v, want ErrMalformed", c.op, err)
		}
	}
	if _, err := jute.DecodeRequest(jute.NewDecoder([]byte{0, 0}), jute.OpSync); !errors.Is(err, jute.ErrMalformed) {
		t.Errorf("short sync: %v", err)
	}
}

// TestNewResponse: replies have ZooKeeper's shapes (FinalRequestProcessor).
func TestNewResponse(t *testing.T) {
	for op, want := range map[jute.OpCode]jute.Record{
		jute.OpCreate:          &jute.CreateResponse{},
		jute.OpCreate2:         &jute.Create2Response{},
		jute.OpCreateTTL:       &jute.Create2Response{},
		jute.OpCreateContainer: &jute.Create2Response{},
		jute.OpDelete:          nil,
		jute.OpExists:          &jute.ExistsResponse{},
		jute.OpReconfig:        &jute.GetDataResponse{},
		jute.OpAddWatch:        &jute.ErrorResponse{},
		jute.OpSetWatches2:     nil,
		jute.OpMultiRead:       &jute.MultiResponse{},
		jute.OpWhoAmI:          &jute.WhoAmIResponse{},
		jute.OpSync:            &jute.SyncResponse{},
	} {
		got, ok := jute.NewResponse(op)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("%v: %T (%v), want %T", op, got, ok, want)
		}
	}
	for _, op := range []jute.OpCode{jute.OpCheck, 99} {
		if _, ok := jute.NewResponse(op); ok {
			t.Errorf("a reply shape for %v", op)
		}
	}
}
