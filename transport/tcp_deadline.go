package transport

import (
	"net"
	"time"
)

// maxWrite bounds one write to the connection, so the write deadline is
// renewed at least this often: a large frame or chunk fails only when the
// link makes no progress, not when it is merely slow.
const maxWrite = 256 << 10

// progressConn renews a connection's read and write deadlines before each
// read and write, so they bound the time without progress rather than the
// whole exchange. One goroutine may read while another writes.
type progressConn struct {
	net.Conn
	timeout      time.Duration
	lastR, lastW time.Time
	// hold keeps the deadlines set by the owner (during the handshake and
	// preamble); it is cleared before reader and writer goroutines start.
	hold bool
}

// newProgressConn wraps c, holding its current deadlines until release.
func newProgressConn(c net.Conn, timeout time.Duration) *progressConn {
	return &progressConn{Conn: c, timeout: timeout, hold: true}
}

// release clears the deadlines set during the handshake; from now on each
// read and write renews its own.
func (c *progressConn) release() error {
	c.hold = false
	return c.Conn.SetDeadline(time.Time{})
}

// renewEvery is the fraction of the timeout after which a deadline is set
// again; setting it on every call would cost more than the check.
const renewEvery = 8

func (c *progressConn) Read(p []byte) (int, error) {
	if now := time.Now(); !c.hold && now.Sub(c.lastR) > c.timeout/renewEvery {
		if err := c.Conn.SetReadDeadline(now.Add(c.timeout)); err != nil {
			return 0, err
		}
		c.lastR = now
	}
	return c.Conn.Read(p)
}

func (c *progressConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		part := p
		if len(part) > maxWrite {
			part = part[:maxWrite]
		}
		if now := time.Now(); !c.hold && now.Sub(c.lastW) > c.timeout/renewEvery {
			if err := c.Conn.SetWriteDeadline(now.Add(c.timeout)); err != nil {
				return written, err
			}
			c.lastW = now
		}
		n, err := c.Conn.Write(part)
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}
