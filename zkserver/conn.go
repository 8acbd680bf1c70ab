package zkserver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/jute"
)

// requestQueue bounds the requests a connection has read and not yet
// answered; a client that sends more waits (TCP pushes back).
const requestQueue = 64

// conn is one client connection. serve runs it: the handshake, then three
// goroutines it owns and waits for: the reader (serve itself) reads
// packets, decodes them in order and starts the writes (see prepare); the
// completer finishes them in order (awaits the writes, runs the reads)
// and queues their replies; the writer sends replies and the session's
// watch notifications (see writer).
type conn struct {
	srv *Server
	nc  net.Conn
	br  *bufio.Reader
	log *slog.Logger

	ctx    context.Context // ends when the connection closes
	cancel context.CancelFunc

	// Set by the handshake, before the completer and writer start.
	sess    *keeper.Session
	timeout time.Duration

	// The reader's: the session's client with the connection's
	// identities, and the identities themselves.
	client *keeper.Client
	auth   []keeper.Identity
	// pending are notifications a request fired itself (setWatches), to
	// be sent before its reply.
	pending []keeper.Event

	jobs    chan *job
	replies chan reply

	closeOnce sync.Once
	stats     connStats
	lastZxid  atomic.Int64 // the last zxid sent to the client
}

// request is one packet read: its header and the bytes after it.
type request struct {
	hdr  jute.RequestHeader
	body []byte
	at   time.Time
}

// reply is one answer: its header, its record (nil for the header alone),
// and whether the connection ends after it.
type reply struct {
	hdr   jute.ReplyHeader
	body  jute.Record
	op    jute.OpCode
	at    time.Time // when its request was read
	close bool
	// early are notifications sent before the reply.
	early []keeper.Event
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		srv:     s,
		nc:      nc,
		br:      bufio.NewReader(nc),
		log:     s.log.With("client", nc.RemoteAddr().String()),
		ctx:     ctx,
		cancel:  cancel,
		jobs:    make(chan *job, requestQueue),
		replies: make(chan reply, requestQueue),
		stats:   newConnStats(),
	}
}

// close ends the connection: the reader's read fails, which stops the rest.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.cancel()
		c.nc.Close()
	})
}

// serve runs the connection to its end.
func (c *conn) serve() {
	defer c.close()
	if !c.handshake() {
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		c.completer()
		// Jobs left behind by a connection that ended end with it.
		for range c.jobs {
		}
	}()
	go func() {
		defer wg.Done()
		c.writer()
	}()
	// The reader stops at the connection's end, or after a request that
	// ends it (closeSession, an unknown opcode): the completer and the
	// writer then answer what was read before they stop.
	c.reader()
	wg.Wait()
}

// reader reads packets until the connection fails, touching the session
// for each (a client is alive while it sends anything), and prepares each
// request in order.
func (c *conn) reader() {
	defer close(c.jobs)
	var buf []byte
	for {
		// A client pings at a third of its timeout; silence for the whole
		// timeout is a dead client, as ZooKeeper's server judges it.
		_ = c.nc.SetReadDeadline(time.Now().Add(c.timeout))
		pkt, err := jute.ReadPacket(c.br, buf, c.srv.opts.MaxPacket)
		if err != nil {
			c.readFailed(err)
			return
		}
		c.sess.Touch()
		c.stats.received.Add(1)
		c.srv.stats.received.Add(1)
		d := jute.NewDecoder(pkt)
		var hdr jute.RequestHeader
		if err := d.Decode(&hdr); err != nil {
			c.log.Info("zkserver: malformed request header; closing the connection", "err", err)
			return
		}
		// The body is kept past the next read, so it gets its own bytes.
		body := append([]byte(nil), pkt[d.Offset():]...)
		j := c.prepare(request{hdr: hdr, body: body, at: time.Now()})
		select {
		case c.jobs <- j:
		case <-c.ctx.Done():
			return
		}
		if j.close {
			return
		}
	}
}

// readFailed logs why the reader stopped, unless the client just left.
func (c *conn) readFailed(err error) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), c.ctx.Err() != nil:
	case errors.Is(err, jute.ErrPacketTooLarge), errors.Is(err, jute.ErrMalformed):
		c.log.Info("zkserver: bad packet; closing the connection", "err", err)
	default:
		c.log.Debug("zkserver: read", "err", err)
	}
}

// completer finishes the jobs in order and queues their replies.
func (c *conn) completer() {
	defer close(c.replies)
	for j := range c.jobs {
		r := c.complete(j)
		select {
		case c.replies <- r:
		case <-c.ctx.Done():
			return
		}
		if r.close {
			return
		}
	}
}

// writer sends replies and notifications. Before each reply it sends every
// notification queued for the session by then: keeper queues a change's
// watch events before any read can see the change, so a client gets the
// event before any reply that shows the change.
func (c *conn) writer() {
	bw := bufio.NewWriter(c.nc)
	ready := c.sess.EventsReady()
	var buf []byte
	send := func(hdr jute.ReplyHeader, body jute.Record) bool {
		buf = buf[:0]
		if body != nil {
			buf = jute.AppendPacket(buf, &hdr, body)
		} else {
			buf = jute.AppendPacket(buf, &hdr)
		}
		if _, err := bw.Write(buf); err != nil {
			c.close()
			return false
		}
		c.stats.sent.Add(1)
		c.srv.stats.sent.Add(1)
		// ZooKeeper's reply sizes leave out the length prefix.
		c.srv.stats.replySizes.add(len(buf) - 4)
		return true
	}
	// notify sends ev, or reports false when the connection must end: the
	// session expired or moved, its events overflowed, or an online
	// restore or raft snapshot replaced the tree (the client's reconnect
	// and setWatches tell it what changed). A session closed by the
	// client's closeSession keeps the connection for the reply.
	closing := false
	// A member that lost its leader keeps its clients for the leader
	// grace; if no leader is back by then, they go to other members.
	var (
		lost      *time.Timer
		lostTimer <-chan time.Time
	)
	defer func() {
		if lost != nil {
			lost.Stop()
		}
	}()
	notify := func(ev keeper.Event) bool {
		if we, ok := watcherEvent(ev); ok {
			zxid := int64(ev.Zxid)
			if zxid == 0 {
				zxid = -1 // fired by setWatches, at no change
			}
			return send(jute.ReplyHeader{Xid: jute.XidNotification, Zxid: zxid}, &we)
		}
		switch {
		case ev.Type == keeper.WatchRemoved:
			return true
		case ev.Type == keeper.SessionStateChanged && ev.State == keeper.StateConnected:
			if lost != nil {
				lost.Stop()
				lost, lostTimer = nil, nil
			}
			return true
		case ev.Type == keeper.SessionStateChanged && ev.State == keeper.StateDisconnected:
			if lost == nil {
				lost = time.NewTimer(c.leaderGrace())
				lostTimer = lost.C
			}
			return true
		case ev.Type == keeper.SessionStateChanged && ev.State == keeper.StateClosed:
			closing = true
			return true
		}
		c.log.Debug("zkserver: closing the connection", "session", int64(c.sess.ID()), "event", ev.Type, "state", ev.State)
		return false
	}
	// drain takes every event queued for the session and sends it; false
	// when the connection must end.
	var evs []keeper.Event
	drain := func() bool {
		if ready == nil {
			return true
		}
		var ended bool
		evs, ended = c.sess.TakeEvents(evs[:0])
		for _, ev := range evs {
			if !notify(ev) {
				return false
			}
		}
		if ended {
			ready = nil
			return closing
		}
		return true
	}
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-lostTimer:
			c.log.Debug("zkserver: no leader within the grace; closing the connection", "session", int64(c.sess.ID()))
			c.close()
			return
		case <-ready:
			if !drain() {
				c.close()
				return
			}
		case r, ok := <-c.replies:
			if !ok {
				bw.Flush()
				return
			}
			if !drain() {
				c.close()
				return
			}
			for _, ev := range r.early {
				if !notify(ev) {
					c.close()
					return
				}
			}
			if r.hdr.Zxid > c.lastZxid.Load() {
				c.lastZxid.Store(r.hdr.Zxid)
			}
			if !send(r.hdr, r.body) {
				return
			}
			c.stats.served(r.op, r.hdr.Xid, r.hdr.Zxid, r.at)
			c.srv.stats.served(r.at)
			if r.close {
				bw.Flush()
				c.close()
				return
			}
		}
		if len(c.replies) == 0 && len(ready) == 0 {
			if err := bw.Flush(); err != nil {
				c.close()
				return
			}
		}
	}
}

// zxid is the zxid to put in a reply: the member's applied zxid, never
// below what the client was already sent.
func (c *conn) zxid() int64 {
	z := int64(c.srv.n.Applied())
	return max(z, c.lastZxid.Load())
}
