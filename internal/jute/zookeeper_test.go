package jute_test

import (
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/jute"
	"github.com/keeper-go/keeper/internal/realzk"
)

// zkConn is a raw client connection to Apache ZooKeeper that speaks
// through this package only.
type zkConn struct {
	t      *testing.T
	conn   net.Conn
	buf    []byte
	xid    int32
	events []jute.WatcherEvent
}

// dialZK connects and opens a session, with or without readOnly in the
// ConnectRequest, and returns the ConnectResponse read strictly.
func dialZK(t *testing.T, addr string, withReadOnly bool) (*zkConn, jute.ConnectResponse) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// The deadline bounds a server that stops answering; a loaded machine
	// answers well within it.
	if err := conn.SetDeadline(time.Now().Add(2 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	c := &zkConn{t: t, conn: conn}
	c.send(&jute.ConnectRequest{TimeOut: 10000, Passwd: make([]byte, 16), WithReadOnly: withReadOnly})
	var resp jute.ConnectResponse
	if err := jute.Unmarshal(c.read(), &resp); err != nil {
		t.Fatalf("ConnectResponse: %v", err)
	}
	return c, resp
}

func (c *zkConn) send(records ...jute.Record) {
	c.t.Helper()
	if _, err := c.conn.Write(jute.AppendPacket(nil, records...)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *zkConn) read() []byte {
	c.t.Helper()
	body, err := jute.ReadPacket(c.conn, c.buf, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	c.buf = body
	return body
}

// call sends a request with xid (the next one if 0) and returns the reply's
// header and body, keeping the watch events that arrive before it.
func (c *zkConn) call(xid int32, op jute.OpCode, req jute.Record) (jute.ReplyHeader, []byte) {
	c.t.Helper()
	if xid == 0 {
		c.xid++
		xid = c.xid
	}
	c.send(&jute.RequestHeader{Xid: xid, Type: op}, req)
	for {
		d := jute.NewDecoder(c.read())
		var h jute.ReplyHeader
		if err := d.Decode(&h); err != nil {
			c.t.Fatal(err)
		}
		body := c.buf[d.Offset():]
		if h.Xid != jute.XidNotification {
			if h.Xid != xid {
				c.t.Fatalf("%v: reply to xid %d, want %d", op, h.Xid, xid)
			}
			return h, body
		}
		var ev jute.WatcherEvent
		if err := jute.Unmarshal(body, &ev); err != nil {
			c.t.Fatalf("notification: %v", err)
		}
		c.events = append(c.events, ev)
	}
}

// do calls op, requires code, and decodes the reply's body strictly as
// NewResponse(op)'s record (none for an error).
func (c *zkConn) do(op jute.OpCode, req jute.Record, code jute.Code) jute.Record {
	c.t.Helper()
	h, body := c.call(0, op, req)
	if h.Err != code {
		c.t.Fatalf("%v: %v, want %v", op, h.Err, code)
	}
	resp, ok := jute.NewResponse(op)
	if !ok || code != jute.CodeOK {
		resp = nil
	}
	if resp == nil {
		if len(body) != 0 {
			c.t.Fatalf("%v: %d bytes of body, want none", op, len(body))
		}
		return nil
	}
	if err := jute.Unmarshal(body, resp); err != nil {
		c.t.Fatalf("%v reply %x: %v", op, body, err)
	}
	return resp
}

// TestAgainstZooKeeper speaks to Apache ZooKeeper 3.8 through this package
// alone: every request it encodes is understood, and every reply decodes
// strictly (header, then exactly the opcode's record, or nothing after an
// error), for each op of the client protocol.
func TestAgainstZooKeeper(t *testing.T) {
	srv := realzk.Start(t, realzk.Options{ExtendedTypes: true})

	old, oldResp := dialZK(t, srv.Addr, false)
	if oldResp.WithReadOnly || oldResp.SessionID == 0 || len(oldResp.Passwd) != 16 {
		t.Fatalf("ConnectResponse to a client without readOnly: %+v", oldResp)
	}
	old.do(jute.OpCloseSession, nil, jute.CodeOK)

	c, resp := dialZK(t, srv.Addr, true)
	if !resp.WithReadOnly || resp.ReadOnly || resp.SessionID == 0 || resp.TimeOut <= 0 || len(resp.Passwd) != 16 {
		t.Fatalf("ConnectResponse to a client with readOnly: %+v", resp)
	}
	open := []jute.ACL{{Perms: jute.PermAll, Scheme: "world", ID: "anyone"}}
	create := func(path string, mode jute.CreateMode) *jute.CreateRequest {
		return &jute.CreateRequest{Path: path, Data: []byte("v"), ACL: open, Flags: mode}
	}

	if r := c.do(jute.OpCreate2, create("/jute", jute.ModePersistent), jute.CodeOK).(*jute.Create2Response); r.Path != "/jute" || r.Stat.DataLength != 1 {
		t.Fatalf("create2: %+v", r)
	}
	if r := c.do(jute.OpCreate, create("/jute/e-", jute.ModeEphemeralSequential), jute.CodeOK).(*jute.CreateResponse); r.Path != "/jute/e-0000000000" {
		t.Fatalf("create: %+v", r)
	}
	c.do(jute.OpCreate, create("/jute", jute.ModePersistent), jute.CodeNodeExists)
	c.do(jute.OpCreateTTL, &jute.CreateTTLRequest{CreateRequest: *create("/jute/ttl", jute.ModePersistentWithTTL), TTL: 3_600_000}, jute.CodeOK)
	c.do(jute.OpCreateContainer, create("/jute/c", jute.ModeContainer), jute.CodeOK)
	if r := c.do(jute.OpExists, &jute.ExistsRequest{Path: "/jute", Watch: true}, jute.CodeOK).(*jute.ExistsResponse); r.Stat.NumChildren != 3 {
		t.Fatalf("exists: %+v", r)
	}
	c.do(jute.OpExists, &jute.ExistsRequest{Path: "/nope"}, jute.CodeNoNode)
	if r := c.do(jute.OpGetData, &jute.GetDataRequest{Path: "/jute", Watch: true}, jute.CodeOK).(*jute.GetDataResponse); string(r.Data) != "v" {
		t.Fatalf("getData: %+v", r)
	}
	if r := c.do(jute.OpSetData, &jute.SetDataRequest{Path: "/jute", Data: []byte("w"), Version: 0}, jute.CodeOK).(*jute.SetDataResponse); r.Stat.Version != 1 {
		t.Fatalf("setData: %+v", r)
	}
	if want := []jute.WatcherEvent{{Type: jute.EventNodeDataChanged, State: jute.StateSyncConnected, Path: "/jute"}}; !reflect.DeepEqual(c.events, want) {
		t.Fatalf("events %+v, want %+v", c.events, want)
	}
	c.do(jute.OpSetData, &jute.SetDataRequest{Path: "/jute", Version: 0}, jute.CodeBadVersion)
	if r := c.do(jute.OpGetACL, &jute.GetACLRequest{Path: "/jute"}, jute.CodeOK).(*jute.GetACLResponse); !reflect.DeepEqual(r.ACL, open) {
		t.Fatalf("getACL: %+v", r)
	}
	c.do(jute.OpSetACL, &jute.SetACLRequest{Path: "/jute", ACL: open, Version: 0}, jute.CodeOK)
	if r := c.do(jute.OpGetChildren, &jute.GetChildrenRequest{Path: "/jute"}, jute.CodeOK).(*jute.GetChildrenResponse); len(r.Children) != 3 {
		t.Fatalf("getChildren: %+v", r)
	}
	if r := c.do(jute.OpGetChildren2, &jute.GetChildren2Request{Path: "/jute"}, jute.CodeOK).(*jute.GetChildren2Response); len(r.Children) != 3 || r.Stat.NumChildren != 3 {
		t.Fatalf("getChildren2: %+v", r)
	}
	if r := c.do(jute.OpSync, &jute.SyncRequest{Path: "/jute"}, jute.CodeOK).(*jute.SyncResponse); r.Path != "/jute" {
		t.Fatalf("sync: %+v", r)
	}
	if r := c.do(jute.OpGetAllChildrenNumber, &jute.GetAllChildrenNumberRequest{Path: "/jute"}, jute.CodeOK).(*jute.GetAllChildrenNumberResponse); r.TotalNumber != 3 {
		t.Fatalf("getAllChildrenNumber: %+v", r)
	}
	if r := c.do(jute.OpGetEphemerals, &jute.GetEphemeralsRequest{Path: "/"}, jute.CodeOK).(*jute.GetEphemeralsResponse); !reflect.DeepEqual(r.Ephemerals, []string{"/jute/e-0000000000"}) {
		t.Fatalf("getEphemerals: %+v", r)
	}

	failed := &jute.MultiRequest{Ops: []jute.MultiOp{
		{Type: jute.OpCreate, Request: create("/jute/m", jute.ModePersistent)},
		{Type: jute.OpCheck, Request: &jute.CheckVersionRequest{Path: "/jute", Version: 99}},
		{Type: jute.OpDelete, Request: &jute.DeleteRequest{Path: "/jute/c", Version: -1}},
	}}
	wantFailed := &jute.MultiResponse{Results: []jute.MultiResult{
		{Type: jute.OpError, Err: jute.CodeOK}, {Type: jute.OpError, Err: jute.CodeBadVersion}, {Type: jute.OpError, Err: jute.CodeRuntimeInconsistency},
	}}
	if r := c.do(jute.OpMulti, failed, jute.CodeOK); !reflect.DeepEqual(r, wantFailed) {
		t.Fatalf("failed multi: %+v", r)
	}
	ok := &jute.MultiRequest{Ops: []jute.MultiOp{
		{Type: jute.OpCreate, Request: create("/jute/m", jute.ModePersistent)},
		{Type: jute.OpCreate2, Request: create("/jute/m2", jute.ModePersistent)},
		{Type: jute.OpSetData, Request: &jute.SetDataRequest{Path: "/jute/m", Data: []byte("x"), Version: 0}},
		{Type: jute.OpCheck, Request: &jute.CheckVersionRequest{Path: "/jute/m", Version: 1}},
		{Type: jute.OpDelete, Request: &jute.DeleteRequest{Path: "/jute/m2", Version: -1}},
	}}
	r := c.do(jute.OpMulti, ok, jute.CodeOK).(*jute.MultiResponse)
	var types []jute.OpCode
	for _, res := range r.Results {
		types = append(types, res.Type)
	}
	if types[1] == jute.OpCreate {
		types[1] = jute.OpCreate2 // ZooKeeper 3.8.0 answers create2 as create (ZOOKEEPER-4026)
	}
	if want := []jute.OpCode{jute.OpCreate, jute.OpCreate2, jute.OpSetData, jute.OpCheck, jute.OpDelete}; !reflect.DeepEqual(types, want) {
		t.Fatalf("multi result types %v, want %v", types, want)
	}
	reads := &jute.MultiRequest{Ops: []jute.MultiOp{
		{Type: jute.OpGetData, Request: &jute.GetDataRequest{Path: "/jute/m"}},
		{Type: jute.OpGetData, Request: &jute.GetDataRequest{Path: "/nope"}},
		{Type: jute.OpGetChildren, Request: &jute.GetChildrenRequest{Path: "/jute/m"}},
	}}
	rr := c.do(jute.OpMultiRead, reads, jute.CodeOK).(*jute.MultiResponse)
	if len(rr.Results) != 3 || string(rr.Results[0].Response.(*jute.GetDataResponse).Data) != "x" ||
		rr.Results[1].Type != jute.OpError || rr.Results[1].Err != jute.CodeNoNode || rr.Results[2].Type != jute.OpGetChildren {
		t.Fatalf("multiRead: %+v", rr)
	}

	if r := c.do(jute.OpAddWatch, &jute.AddWatchRequest{Path: "/jute", Mode: jute.AddWatchPersistentRecursive}, jute.CodeOK).(*jute.ErrorResponse); r.Err != jute.CodeOK {
		t.Fatalf("addWatch: %+v", r)
	}
	c.do(jute.OpCheckWatches, &jute.CheckWatchesRequest{Path: "/nope", Type: jute.WatcherData}, jute.CodeNoWatcher)
	c.do(jute.OpRemoveWatches, &jute.RemoveWatchesRequest{Path: "/jute", Type: jute.WatcherAny}, jute.CodeOK)
	if r := c.do(jute.OpWhoAmI, nil, jute.CodeOK).(*jute.WhoAmIResponse); len(r.ClientInfo) != 1 || r.ClientInfo[0].AuthScheme != "ip" {
		t.Fatalf("whoAmI: %+v", r)
	}
	c.do(jute.OpReconfig, &jute.ReconfigRequest{LeavingServers: "2", CurConfigID: -1}, jute.CodeReconfigDisabled)
	c.do(jute.OpDelete, &jute.DeleteRequest{Path: "/nope", Version: -1}, jute.CodeNoNode)

	for _, special := range []struct {
		xid int32
		op  jute.OpCode
		req jute.Record
	}{
		{jute.XidPing, jute.OpPing, nil},
		{jute.XidAuth, jute.OpAuth, &jute.AuthPacket{Scheme: "digest", Auth: []byte("u:p")}},
		{jute.XidSetWatches, jute.OpSetWatches, &jute.SetWatches{RelativeZxid: 1, DataWatches: []string{"/jute"}}},
		{jute.XidSetWatches, jute.OpSetWatches2, &jute.SetWatches2{SetWatches: jute.SetWatches{RelativeZxid: 1}, PersistentWatches: []string{"/jute"}}},
	} {
		if h, body := c.call(special.xid, special.op, special.req); h.Err != jute.CodeOK || len(body) != 0 {
			t.Fatalf("%v: %v and %d bytes of body", special.op, h.Err, len(body))
		}
	}
	if r := c.do(jute.OpWhoAmI, nil, jute.CodeOK).(*jute.WhoAmIResponse); len(r.ClientInfo) != 2 {
		t.Fatalf("whoAmI after auth: %+v", r)
	}

	// An op with no request record is answered UNIMPLEMENTED, and the
	// connection closed.
	if _, err := jute.DecodeRequest(jute.NewDecoder(nil), 99); !errors.Is(err, jute.ErrUnknownOp) {
		t.Fatalf("op 99: %v", err)
	}
	c.do(99, nil, jute.CodeUnimplemented)
	if _, err := jute.ReadPacket(c.conn, nil, 0); err == nil {
		t.Fatal("the connection stays open after UNIMPLEMENTED")
	}
}
