package jute_test

import (
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	"github.com/keeper-go/keeper/internal/jute"
)

// unhex decodes hex written with spaces and line breaks between fields.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The golden packets below are written out by hand, field by field, from
// zookeeper.jute's record definitions: each line is one field.

// connectNoReadOnly is a new session's ConnectRequest packet as
// go-zookeeper sends it: 44 bytes, no readOnly.
const connectNoReadOnly = `
0000002c
00000000
0000000100000002
00007530
0000000000000000
00000010 00000000000000000000000000000000
`

// connectReadOnly is the same request as the Java client sends it: 45
// bytes, readOnly false.
const connectReadOnly = `
0000002d
00000000
0000000100000002
00007530
0000000000000000
00000010 00000000000000000000000000000000
00
`

func newSessionRequest(withReadOnly bool) *jute.ConnectRequest {
	return &jute.ConnectRequest{LastZxidSeen: 0x1_0000_0002, TimeOut: 30000, Passwd: make([]byte, 16), WithReadOnly: withReadOnly}
}

// replyNoNode is a ReplyHeader packet: xid 5, zxid 0x100000003, NONODE.
const replyNoNode = `
00000010
00000005
0000000100000003
ffffff9b
`

// multiCreateCheck is a multi request packet: create /a "x" world:anyone
// persistent, then check /b version 3.
const multiCreateCheck = `
00000057
00000007 0000000e
00000001 00 ffffffff
00000002 2f61
00000001 78
00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65
00000000
0000000d 00 ffffffff
00000002 2f62
00000003
ffffffff 01 ffffffff
`

// multiCheckFailed is the reply to multiCreateCheck when the check fails:
// header err OK, the create answered OK as an error result, the check
// BADVERSION.
const multiCheckFailed = `
00000033
00000007 0000000100000004 00000000
ffffffff 00 00000000 00000000
ffffffff 00 ffffff99 ffffff99
ffffffff 01 ffffffff
`

func multiCreateCheckRecords() (*jute.RequestHeader, *jute.MultiRequest) {
	c := &jute.CreateRequest{Path: "/a", Data: []byte("x"), ACL: []jute.ACL{{Perms: jute.PermAll, Scheme: "world", ID: "anyone"}}, Flags: jute.ModePersistent}
	return &jute.RequestHeader{Xid: 7, Type: jute.OpMulti}, &jute.MultiRequest{Ops: []jute.MultiOp{
		{Type: jute.OpCreate, Request: c},
		{Type: jute.OpCheck, Request: &jute.CheckVersionRequest{Path: "/b", Version: 3}},
	}}
}

func multiCheckFailedRecords() (*jute.ReplyHeader, *jute.MultiResponse) {
	return &jute.ReplyHeader{Xid: 7, Zxid: 0x1_0000_0004}, &jute.MultiResponse{Results: []jute.MultiResult{
		{Type: jute.OpError, Err: jute.CodeOK},
		{Type: jute.OpError, Err: jute.CodeBadVersion},
	}}
}

// TestGolden: the encoders write the hand-written packets byte for byte,
// and the decoders read them back to the same records.
func TestGolden(t *testing.T) {
	reqHdr, multi := multiCreateCheckRecords()
	repHdr, results := multiCheckFailedRecords()
	for _, c := range []struct {
		name    string
		hex     string
		records []jute.Record
	}{
		{"ConnectRequest", connectNoReadOnly, []jute.Record{newSessionRequest(false)}},
		{"ConnectRequest/readOnly", connectReadOnly, []jute.Record{newSessionRequest(true)}},
		{"ReplyHeader", replyNoNode, []jute.Record{&jute.ReplyHeader{Xid: 5, Zxid: 0x1_0000_0003, Err: jute.CodeNoNode}}},
		{"Multi", multiCreateCheck, []jute.Record{reqHdr, multi}},
		{"MultiResponse/failed", multiCheckFailed, []jute.Record{repHdr, results}},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := unhex(t, c.hex)
			if got := jute.AppendPacket(nil, c.records...); string(got) != string(want) {
				t.Fatalf("encoded\n%x\nwant\n%x", got, want)
			}
			d := jute.NewDecoder(want[4:])
			for _, rec := range c.records {
				got := newLike(rec)
				d.Decode(got)
				if !reflect.DeepEqual(got, rec) {
					t.Fatalf("decoded %+v, want %+v", got, rec)
				}
			}
			if err := d.End(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestConnectRequestLength: the arithmetic of the two connect shapes, 4 +
// 8 + 4 + 8 + (4 + 16) = 44 and one more for readOnly, and that the decoder
// records which one the client sent.
func TestConnectRequestLength(t *testing.T) {
	for _, withRO := range []bool{false, true} {
		b := jute.AppendRecord(nil, newSessionRequest(withRO))
		want := 44
		if withRO {
			want = 45
		}
		if len(b) != want {
			t.Fatalf("withReadOnly %v: %d bytes, want %d", withRO, len(b), want)
		}
		var got jute.ConnectRequest
		if err := jute.Unmarshal(b, &got); err != nil || got.WithReadOnly != withRO {
			t.Fatalf("withReadOnly %v: decoded WithReadOnly %v, err %v", withRO, got.WithReadOnly, err)
		}
	}
}
