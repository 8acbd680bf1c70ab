package zkserver_test

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/keeper-go/keeper/internal/jute"
)

// rawClient speaks ZooKeeper's protocol packet by packet, for what a
// library client hides: handshake fields, refusals, malformed input.
type rawClient struct {
	t   testing.TB
	nc  net.Conn
	br  *bufio.Reader
	xid int32
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// write sends records as one packet.
func (c *rawClient) write(records ...jute.Record) {
	c.t.Helper()
	if _, err := c.nc.Write(jute.AppendPacket(nil, records...)); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next packet, or the read error.
func (c *rawClient) read() ([]byte, error) {
	return jute.ReadPacket(c.br, nil, 0)
}

// connect sends req and returns the server's answer; ok is false if the
// server closed the connection instead.
func (c *rawClient) connect(req jute.ConnectRequest) (resp jute.ConnectResponse, body []byte, ok bool) {
	c.t.Helper()
	c.write(&req)
	pkt, err := c.read()
	if err != nil {
		return resp, nil, false
	}
	if err := jute.Unmarshal(pkt, &resp); err != nil {
		c.t.Fatalf("connect response %x: %v", pkt, err)
	}
	return resp, pkt, true
}

// session opens a new session with a timeout of ms milliseconds.
func (c *rawClient) session(ms int32) jute.ConnectResponse {
	c.t.Helper()
	resp, _, ok := c.connect(jute.ConnectRequest{TimeOut: ms, Passwd: make([]byte, 16)})
	if !ok || resp.SessionID == 0 {
		c.t.Fatalf("no session: %+v", resp)
	}
	return resp
}

// call sends a request of op and returns its reply's header and body,
// skipping notifications; ok is false if the connection closed first.
func (c *rawClient) call(op jute.OpCode, req jute.Record) (jute.ReplyHeader, []byte, bool) {
	c.t.Helper()
	c.xid++
	hdr := jute.RequestHeader{Xid: c.xid, Type: op}
	if req != nil {
		c.write(&hdr, req)
	} else {
		c.write(&hdr)
	}
	for {
		pkt, err := c.read()
		if err != nil {
			return jute.ReplyHeader{}, nil, false
		}
		var rh jute.ReplyHeader
		d := jute.NewDecoder(pkt)
		if err := d.Decode(&rh); err != nil {
			c.t.Fatalf("reply header %x: %v", pkt, err)
		}
		if rh.Xid == jute.XidNotification {
			continue
		}
		return rh, pkt[d.Offset():], true
	}
}

// closed reports whether the server closed the connection (within the
// deadline of the connection).
func (c *rawClient) closed() bool {
	for {
		if _, err := c.read(); err != nil {
			return true
		}
	}
}
