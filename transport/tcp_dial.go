package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"time"
)

// dialed is an established outgoing connection: preamble sent and taken.
type dialed struct {
	lc *liveConn
	pc *progressConn // the connection with progress deadlines
	br *bufio.Reader // reads pc; may hold bytes after the ack
}

// dial opens a connection of the given lane to member to at addr: TCP, the
// TLS handshake with the peer's identity checked, the preamble and the
// acceptor's ack, all within DialTimeout and ctx. The connection's
// deadlines then renew with progress, by timeout. Refusals are counted.
func (t *TCP) dial(ctx context.Context, to uint64, addr string, kind laneKind, timeout time.Duration) (*dialed, error) {
	t.stats.dials.Add(1)
	dctx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout)
	defer cancel()
	raw, err := t.cfg.Dial(dctx, addr)
	if err != nil {
		return nil, fmt.Errorf("transport: dial member %d at %s: %w", to, addr, err)
	}
	lc := &liveConn{conn: raw, peer: to, lane: kind}
	if !t.track(lc) {
		return nil, ErrClosed
	}
	d, err := t.handshake(dctx, lc, to, kind, timeout)
	if err != nil {
		raw.Close()
		t.untrack(lc)
		if re, ok := err.(*RefusalError); ok {
			t.stats.refused(t.log, addr, re)
		}
		return nil, err
	}
	return d, nil
}

// handshake runs a dialled connection's TLS handshake, preamble and ack.
func (t *TCP) handshake(ctx context.Context, lc *liveConn, to uint64, kind laneKind, timeout time.Duration) (*dialed, error) {
	raw := lc.conn
	conn := raw
	// Bound everything below by ctx: its deadline, and closing on cancel.
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	if !t.cfg.Insecure {
		tc := tls.Client(conn, t.clientTLS(to))
		if err := tc.HandshakeContext(ctx); err != nil {
			stop()
			return nil, handshakeRefusal(to, err)
		}
		t.setChain(lc, tc.ConnectionState().PeerCertificates)
		conn = tc
	}
	pc := newProgressConn(conn, timeout)
	br := bufio.NewReaderSize(pc, 4096)
	pre := preamble{lane: kind, cluster: t.cfg.ClusterID, from: t.cfg.ID, to: to}
	_, err := conn.Write(pre.encode())
	if err == nil {
		err = readAck(br)
	}
	if !stop() {
		return nil, fmt.Errorf("transport: dial member %d: %w", to, context.Cause(ctx))
	}
	if err != nil {
		if _, ok := err.(ackText); ok {
			return nil, refuse(to, ReasonByPeer, err)
		}
		if re := handshakeRefusal(to, err); re.Reason == ReasonByPeer {
			// A TLS 1.3 client learns that its certificate was refused
			// on its first read.
			return nil, re
		}
		return nil, fmt.Errorf("transport: member %d: preamble: %w", to, err)
	}
	pc.release()
	return &dialed{lc: lc, pc: pc, br: br}, nil
}

// run keeps the lane connected for as long as its peer exists: it dials,
// drains the queue over the connection until it fails, and redials with
// jittered exponential backoff. While the lane is down Send drops its
// frames at once.
func (l *lane) run() {
	p, t := l.p, l.p.t
	defer t.wg.Done()
	dead := DeadPings * t.cfg.PingInterval
	failures := 0
	lost := false // the lane was up before
	for p.ctx.Err() == nil {
		if failures > 0 || lost {
			t.stats.redials.Add(1)
		}
		d, err := t.dial(p.ctx, p.id, p.addr, l.kind, dead)
		if err != nil {
			l.setState(laneDown)
			if p.ctx.Err() != nil {
				return
			}
			if failures == 0 {
				t.log.Info("transport: peer unreachable", "peer", p.id, "lane", l.kind.String(), "addr", p.addr, "err", err)
			}
			failures++
			if !sleep(p.ctx, backoff(failures, t.cfg.MaxRedialBackoff)) {
				return
			}
			continue
		}
		if failures > 0 || lost {
			t.log.Info("transport: peer reachable", "peer", p.id, "lane", l.kind.String())
		}
		lost = true
		l.setState(laneUp)
		start := time.Now()
		err = l.serve(d)
		t.untrack(d.lc)
		l.setState(laneDown)
		if p.ctx.Err() != nil {
			return
		}
		t.log.Info("transport: connection lost", "peer", p.id, "lane", l.kind.String(), "err", err)
		// Redial at once after a connection that lived, with backoff
		// after one that did not, so a peer that takes connections and
		// drops them is not dialled in a tight loop.
		if time.Since(start) > dead {
			failures = 0
			continue
		}
		failures++
		if !sleep(p.ctx, backoff(failures, t.cfg.MaxRedialBackoff)) {
			return
		}
	}
	l.setState(laneDown)
}

// backoff returns the wait before redial attempt n (n ≥ 1): minRedialBackoff
// doubled per failure, capped at max, drawn uniformly from its upper half.
func backoff(n int, max time.Duration) time.Duration {
	d := max
	if n < 20 {
		if e := minRedialBackoff << (n - 1); e < max {
			d = e
		}
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits for d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
