package zkserver_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/jute"
)

// FuzzConnection sends arbitrary bytes after a good handshake: whatever
// they are, the server neither panics nor hangs, closes at most that
// connection, and still serves a new one.
func FuzzConnection(f *testing.F) {
	pkt := func(records ...jute.Record) []byte { return jute.AppendPacket(nil, records...) }
	acl := []jute.ACL{{Perms: jute.PermAll, Scheme: "world", ID: "anyone"}}
	f.Add(pkt(&jute.RequestHeader{Xid: 1, Type: jute.OpGetData}, &jute.PathWatchRecord{Path: "/", Watch: true}))
	f.Add(pkt(&jute.RequestHeader{Xid: 1, Type: jute.OpCreate}, &jute.CreateRequest{Path: "/f", Data: []byte("x"), ACL: acl, Flags: jute.ModeEphemeralSequential}))
	f.Add(pkt(&jute.RequestHeader{Xid: 1, Type: jute.OpMulti}, &jute.MultiRequest{Ops: []jute.MultiOp{
		{Type: jute.OpCreate, Request: &jute.CreateRequest{Path: "/m", ACL: acl}},
		{Type: jute.OpCheck, Request: &jute.PathVersionRecord{Path: "/m", Version: 3}},
	}}))
	f.Add(pkt(&jute.RequestHeader{Xid: jute.XidSetWatches, Type: jute.OpSetWatches2}, &jute.SetWatches2{
		SetWatches: jute.SetWatches{RelativeZxid: 1 << 40, DataWatches: []string{"/", "/a"}, ExistWatches: []string{"/b"}, ChildWatches: []string{"/"}}, PersistentWatches: []string{"/"}}))
	f.Add(pkt(&jute.RequestHeader{Xid: jute.XidAuth, Type: jute.OpAuth}, &jute.AuthPacket{Scheme: "digest", Auth: []byte("a:b")}))
	f.Add(pkt(&jute.RequestHeader{Xid: 7, Type: jute.OpCode(9999)}))
	f.Add(binary.BigEndian.AppendUint32(nil, 0x7fffffff))
	f.Add([]byte{0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 4})
	f.Add([]byte("srvr"))
	e := newEnsemble(f, 1, fastSessions())
	addr := e.hosts()[0]
	f.Fuzz(func(t *testing.T, in []byte) {
		c := dialRaw(t, addr)
		c.session(1000)
		// The input, then a ping: its reply ends the reading, unless the
		// input swallowed it or the server closed the connection.
		marker := jute.AppendPacket(nil, &jute.RequestHeader{Xid: 0x7ead, Type: jute.OpPing})
		if _, err := c.nc.Write(append(in[:len(in):len(in)], marker...)); err != nil {
			return
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(time.Second))
		for {
			pkt, err := c.read()
			if err != nil || len(pkt) >= 4 && binary.BigEndian.Uint32(pkt) == 0x7ead {
				break
			}
		}
		c.nc.Close()
		ok := dialRaw(t, addr)
		ok.session(1000)
		if h, _, alive := ok.call(jute.OpPing, nil); !alive || h.Err != jute.CodeOK {
			t.Fatalf("the server stopped serving after input %x", in)
		}
	})
}
