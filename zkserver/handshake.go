package zkserver

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/jute"
)

// handshake reads the connection's first packet: a four-letter word, which
// it answers, or a connect request, which creates or resumes the session.
// It reports whether the connection goes on.
func (c *conn) handshake() bool {
	_ = c.nc.SetDeadline(time.Now().Add(c.srv.opts.HandshakeTimeout))
	head, err := c.br.Peek(4)
	if err != nil {
		return false
	}
	if word := string(head); isFourLetterWord(word) {
		c.fourLetterWord(word)
		return false
	}
	pkt, err := jute.ReadPacket(c.br, nil, c.srv.opts.MaxPacket)
	at := time.Now()
	if err != nil {
		c.readFailed(err)
		return false
	}
	var req jute.ConnectRequest
	if err := jute.Unmarshal(pkt, &req); err != nil {
		c.log.Info("zkserver: malformed connect request; closing the connection", "err", err)
		return false
	}
	c.stats.received.Add(1)
	c.srv.stats.received.Add(1)
	if applied := int64(c.srv.n.Applied()); req.LastZxidSeen > applied {
		// ZooKeeper's refusal: the client has seen a later state than this
		// member has; it tries another one.
		c.log.Info("zkserver: refusing a client that has seen a later zxid; it must try another member",
			"client_zxid", req.LastZxidSeen, "member_zxid", applied)
		return false
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.srv.opts.HandshakeTimeout)
	defer cancel()
	opts := keeper.SessionOptions{
		Timeout:    time.Duration(req.TimeOut) * time.Millisecond,
		Resumable:  true,
		Events:     true,
		EventsOnly: true,
	}
	// During an election, wait for its end rather than send the client
	// away: a session is created or moved through raft.
	c.awaitLeader(ctx, max(time.Duration(req.TimeOut)*time.Millisecond/3, 100*time.Millisecond))
	var s *keeper.Session
	if req.SessionID == 0 {
		s, err = c.srv.n.NewSession(ctx, opts)
	} else {
		s, err = c.srv.n.ResumeSession(ctx, keeper.SessionID(req.SessionID), req.Passwd, opts)
	}
	resp := jute.ConnectResponse{WithReadOnly: req.WithReadOnly}
	switch {
	case errors.Is(err, keeper.ErrSessionExpired):
		// Timeout 0: the client reports its session expired.
		resp.Passwd = make([]byte, 16)
		c.log.Debug("zkserver: session cannot be resumed", "session", req.SessionID)
		c.writeConnect(&resp)
		return false
	case err != nil:
		// No quorum here, or the member is closing: the client tries
		// another member.
		c.log.Debug("zkserver: no session for the client", "err", err)
		return false
	}
	c.sess = s
	c.client = c.authed()
	c.timeout = s.Timeout()
	resp.TimeOut = int32(s.Timeout() / time.Millisecond)
	resp.SessionID = int64(s.ID())
	resp.Passwd = s.Password()
	if !c.writeConnect(&resp) {
		return false
	}
	// The session's creation or move is the connection's first request
	// answered, as ZooKeeper's createSession is (cxid 0).
	c.stats.begin(s, c.timeout)
	c.stats.served(jute.OpCreateSession, 0, c.zxid(), at)
	c.srv.stats.served(at)
	_ = c.nc.SetDeadline(time.Time{})
	return true
}

// writeConnect sends resp, the connect response (no reply header).
func (c *conn) writeConnect(resp *jute.ConnectResponse) bool {
	pkt := jute.AppendPacket(nil, resp)
	if _, err := c.nc.Write(pkt); err != nil {
		return false
	}
	c.stats.sent.Add(1)
	c.srv.stats.sent.Add(1)
	return true
}

// isFourLetterWord reports whether the first four bytes of a connection
// are a four-letter word rather than a packet's length. Every word is
// lowercase ASCII, which as a length would exceed any packet limit.
func isFourLetterWord(word string) bool {
	if binary.BigEndian.Uint32([]byte(word)) <= uint32(jute.DefaultMaxPacket) {
		return false
	}
	return knownWords[word]
}
