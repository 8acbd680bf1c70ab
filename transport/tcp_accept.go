package transport

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/keeper-go/keeper/internal/frame"
	"github.com/keeper-go/keeper/internal/identity"
)

// acceptLoop serves the listener until Close, one goroutine per incoming
// connection. Accept errors other than the listener's close are retried
// with backoff.
func (t *TCP) acceptLoop() {
	defer t.wg.Done()
	var wait time.Duration
	for {
		c, err := t.cfg.Listener.Accept()
		if err != nil {
			if t.ctx.Err() != nil {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				t.log.Error("transport: listener closed; no longer accepting peers", "err", err)
				return
			}
			wait = min(max(2*wait, 5*time.Millisecond), time.Second)
			t.log.Warn("transport: accept", "err", err, "retry_in", wait)
			if !sleep(t.ctx, wait) {
				return
			}
			continue
		}
		wait = 0
		lc := &liveConn{conn: c, inbound: true}
		if !t.track(lc) {
			return
		}
		t.wg.Add(1)
		go t.serveConn(lc)
	}
}

// serveConn runs one incoming connection: handshake, preamble and ack
// within DialTimeout, then its lane until it fails or the TCP closes.
func (t *TCP) serveConn(lc *liveConn) {
	defer t.wg.Done()
	defer t.untrack(lc)
	defer lc.conn.Close()
	remote := lc.remote()
	from, pre, pc, br, err := t.admit(lc, remote)
	if err != nil {
		return
	}
	switch pre.lane {
	case laneStream:
		t.receiveStream(lc, pc, br, from)
	default:
		err := t.readFrames(lc, pc, br, from, pre.lane)
		var re *RefusalError
		if errors.As(err, &re) {
			t.stats.refused(t.log, remote, re)
		}
	}
}

// admit runs the acceptor's side of a new connection up to the ack. It
// returns the sending member (the certified one, or the announced one in
// Insecure mode), or an error; a refusal is counted, and the dialler told
// why when the handshake got that far, before admit returns.
func (t *TCP) admit(lc *liveConn, remote string) (uint64, preamble, *progressConn, *bufio.Reader, error) {
	conn := lc.conn
	conn.SetDeadline(time.Now().Add(t.cfg.DialTimeout))
	var certified uint64
	if !t.cfg.Insecure {
		tc := tls.Server(conn, t.srv)
		if err := tc.HandshakeContext(t.ctx); err != nil {
			re := handshakeRefusal(0, err)
			t.stats.refused(t.log, remote, re)
			return 0, preamble{}, nil, nil, re
		}
		chain := tc.ConnectionState().PeerCertificates
		t.setChain(lc, chain)
		conn = tc
		_, certified, _ = identity.Find(chain[0].URIs) // verified in VerifyConnection
	}
	timeout := DeadPings * t.cfg.PingInterval
	pc := newProgressConn(conn, timeout)
	br := bufio.NewReaderSize(pc, readBufferSize)
	pre, err := readPreamble(br)
	if err != nil {
		if errors.Is(err, errGarbage) || errors.Is(err, io.ErrUnexpectedEOF) {
			re := refuse(certified, ReasonGarbage, err)
			t.stats.refused(t.log, remote, re)
			return 0, pre, nil, nil, re
		}
		return 0, pre, nil, nil, fmt.Errorf("transport: preamble: %w", err)
	}
	from := pre.from
	re := t.check(pre, certified)
	if re == nil {
		re = t.claim(lc, pre)
	}
	if re != nil {
		t.stats.refused(t.log, remote, re)
		bw := bufio.NewWriterSize(conn, 512)
		writeAck(bw, fmt.Sprintf("%s: %v", re.Reason, re.Err))
		return 0, pre, nil, nil, re
	}
	if pre.lane == laneStream {
		pc.timeout = t.cfg.StreamChunkTimeout
	}
	if err := writeAck(bufio.NewWriterSize(conn, 64), ""); err != nil {
		t.release(lc)
		return 0, pre, nil, nil, fmt.Errorf("transport: ack: %w", err)
	}
	pc.release()
	return from, pre, pc, br, nil
}

// check judges a preamble against this member and the certified sender.
func (t *TCP) check(pre preamble, certified uint64) *RefusalError {
	switch {
	case pre.cluster != t.cfg.ClusterID:
		return refuse(pre.from, ReasonOtherCluster, fmt.Errorf("preamble names cluster %016x", pre.cluster))
	case pre.to != t.cfg.ID:
		return refuse(pre.from, ReasonWrongDestination, fmt.Errorf("preamble is for member %d, this is member %d", pre.to, t.cfg.ID))
	case !t.cfg.Insecure && pre.from != certified:
		return refuse(certified, ReasonImpersonation, fmt.Errorf("certificate names member %d, preamble claims member %d", certified, pre.from))
	}
	return nil
}

// claim binds an admitted connection to its peer and lane: the peer must
// still be configured, and a stream needs a free slot. A newer frame lane
// connection from a peer replaces the older one, which a peer that
// redialled has given up on.
func (t *TCP) claim(lc *liveConn, pre preamble) *RefusalError {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.peers[pre.from] == nil {
		return refuse(pre.from, ReasonUnknownMember, fmt.Errorf("member %d is not a peer", pre.from))
	}
	if pre.lane == laneStream {
		if t.streams[pre.from] >= t.cfg.MaxStreamsPerPeer {
			return refuse(pre.from, ReasonTooManyStreams, fmt.Errorf("%d streams from member %d already", t.streams[pre.from], pre.from))
		}
		t.streams[pre.from]++
	} else {
		for other := range t.live {
			if other != lc && other.inbound && other.peer == pre.from && other.lane == pre.lane {
				other.conn.Close()
			}
		}
	}
	lc.peer, lc.lane = pre.from, pre.lane
	return nil
}

// release gives back a stream slot taken by claim.
func (t *TCP) release(lc *liveConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if lc.lane != laneStream {
		return
	}
	if t.streams[lc.peer]--; t.streams[lc.peer] <= 0 {
		delete(t.streams, lc.peer)
	}
}

// readBufferSize is the read buffer of an incoming frame lane.
const readBufferSize = 64 << 10

// readFrames reads an incoming frame lane and hands its frames to deliver,
// while a goroutine pings the dialler. It returns a *RefusalError for an
// oversize frame or bytes that are not the protocol, else the read error
// that ended the connection.
func (t *TCP) readFrames(lc *liveConn, pc *progressConn, br *bufio.Reader, from uint64, lane laneKind) error {
	done := make(chan struct{})
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.pingLoop(pc, done)
	}()
	defer close(done)
	c := &t.stats.lanes[lane]
	for {
		f, err := t.nextFrame(br, from)
		if err != nil {
			if isTimeout(err) {
				t.stats.deadLinks.Add(1)
			}
			return err
		}
		c.received.Add(1)
		t.deliverMu.RLock()
		if d := t.deliver; d != nil {
			d(from, f)
		}
		t.deliverMu.RUnlock()
	}
}

// nextFrame reads records from an incoming frame lane up to the next
// frame, skipping pings. A record that is not a ping or a frame, a frame
// over MaxFrame or one that does not name this cluster is a
// *RefusalError.
func (t *TCP) nextFrame(br *bufio.Reader, from uint64) ([]byte, error) {
	for {
		kind, err := br.ReadByte()
		if err != nil {
			return nil, err
		}
		switch kind {
		case recPing:
			continue
		case recFrame:
		default:
			return nil, refuse(from, ReasonGarbage, fmt.Errorf("record %#x on a frame lane", kind))
		}
		f, err := readBody(br, t.cfg.MaxFrame)
		if err != nil {
			return nil, bodyRefusal(from, err)
		}
		if cid, ok := frame.Cluster(f); !ok || cid != t.cfg.ClusterID {
			return nil, refuse(from, ReasonGarbage, errors.New("frame does not name this cluster"))
		}
		return f, nil
	}
}

// bodyRefusal classifies a failed record body read: oversize and garbage
// are refusals, anything else is the connection's end.
func bodyRefusal(from uint64, err error) error {
	switch {
	case errors.Is(err, errOversize):
		return refuse(from, ReasonOversize, err)
	case errors.Is(err, errGarbage):
		return refuse(from, ReasonGarbage, err)
	}
	return err
}

// pingLoop writes a ping every PingInterval until done closes or a write
// fails, so the dialler of an incoming connection hears from it.
func (t *TCP) pingLoop(w io.Writer, done <-chan struct{}) {
	tick := time.NewTicker(t.cfg.PingInterval)
	defer tick.Stop()
	ping := []byte{recPing}
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			if _, err := w.Write(ping); err != nil {
				return
			}
			t.stats.pings.Add(1)
		}
	}
}
