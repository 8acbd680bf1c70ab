package transport

import (
	"bufio"
	"context"
	"errors"
	"sync"
	"time"
)

// peer is one member this member dials: its address and its two frame
// lanes, each run by a goroutine of its own until the peer is removed or
// the TCP closes.
type peer struct {
	t      *TCP
	id     uint64
	addr   string
	ctx    context.Context // ends when the peer is removed
	cancel context.CancelFunc
	lanes  [numLanes]*lane
}

// addPeerLocked adds a peer and starts its lanes. t.mu is held.
func (t *TCP) addPeerLocked(id uint64, addr string) {
	ctx, cancel := context.WithCancel(t.ctx)
	p := &peer{t: t, id: id, addr: addr, ctx: ctx, cancel: cancel}
	for k := range p.lanes {
		l := &lane{p: p, kind: laneKind(k), c: &t.stats.lanes[k], wake: make(chan struct{}, 1)}
		p.lanes[k] = l
		t.wg.Add(1)
		go l.run()
	}
	t.peers[id] = p
}

// removePeerLocked stops a peer's lanes, drops what they hold and closes
// every connection to and from it. t.mu is held.
func (t *TCP) removePeerLocked(id uint64) {
	p := t.peers[id]
	if p == nil {
		return
	}
	delete(t.peers, id)
	p.cancel()
	for _, l := range p.lanes {
		l.setState(laneDown)
	}
	for lc := range t.live {
		if lc.peer == id {
			lc.conn.Close()
		}
	}
}

// up reports whether both of the peer's lanes are connected.
func (p *peer) up() bool {
	for _, l := range p.lanes {
		l.mu.Lock()
		s := l.state
		l.mu.Unlock()
		if s != laneUp {
			return false
		}
	}
	return true
}

// laneState is whether a lane takes frames.
type laneState uint8

const (
	laneConnecting laneState = iota // first dial under way: frames queue
	laneUp                          // connected: frames queue
	laneDown                        // the last dial failed or the peer is gone: frames drop at once
)

// lane is the queue of frames for one lane to one peer, and the connection
// that drains it.
type lane struct {
	p    *peer
	kind laneKind
	c    *laneCounters
	wake chan struct{} // a frame was queued

	mu     sync.Mutex
	state  laneState
	q      [][]byte
	spare  [][]byte // the last batch's slice, reused for the next queue
	qBytes int
}

// push queues a frame or drops it. It never blocks. A frame over MaxFrame
// is dropped here: the peer would refuse it and close the connection.
func (l *lane) push(f []byte) {
	cfg := &l.p.t.cfg
	l.mu.Lock()
	if l.state == laneDown || len(l.q) >= cfg.QueueFrames || l.qBytes+len(f) > cfg.QueueBytes || len(f) > cfg.MaxFrame {
		l.mu.Unlock()
		l.c.dropped.Add(1)
		return
	}
	if l.q == nil {
		l.q, l.spare = l.spare, nil
	}
	l.q = append(l.q, f)
	l.qBytes += len(f)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// setState changes the lane's state; going down drops what is queued.
func (l *lane) setState(s laneState) {
	l.mu.Lock()
	l.state = s
	if s == laneDown && len(l.q) > 0 {
		l.c.dropped.Add(uint64(len(l.q)))
		clear(l.q)
		l.q = l.q[:0]
		l.qBytes = 0
	}
	l.mu.Unlock()
}

// take returns everything queued and empties the queue.
func (l *lane) take() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.q) == 0 {
		return nil
	}
	b := l.q
	l.q, l.qBytes = nil, 0
	return b
}

// giveBack keeps a written batch's slice for reuse.
func (l *lane) giveBack(b [][]byte) {
	clear(b)
	l.mu.Lock()
	if l.spare == nil {
		l.spare = b[:0]
	}
	l.mu.Unlock()
}

// writeBufferSize is the buffer a frame lane's writer coalesces frames in.
const writeBufferSize = 64 << 10

// serve drains the queue into an established connection until it fails or
// the peer goes: it writes every queued frame into one buffer, flushes when
// the queue is empty, and sends a ping when it wrote nothing for a ping
// interval. A goroutine reads the acceptor's pings, so a link that stops
// carrying anything fails within the dead-link timeout.
func (l *lane) serve(d *dialed) error {
	t := l.p.t
	readErr := make(chan error, 1)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		readErr <- readPings(d.br)
	}()
	fromReader, err := l.write(d, readErr)
	d.lc.conn.Close()
	if !fromReader {
		<-readErr
	}
	if isTimeout(err) {
		t.stats.deadLinks.Add(1)
	}
	return err
}

// write is serve's writing loop. It returns true and the reader's error
// when the reader failed first.
func (l *lane) write(d *dialed, readErr <-chan error) (bool, error) {
	t := l.p.t
	bw := bufio.NewWriterSize(d.pc, writeBufferSize)
	tick := time.NewTicker(t.cfg.PingInterval)
	defer tick.Stop()
	wrote := false
	for {
		if batch := l.take(); len(batch) > 0 {
			for i, f := range batch {
				if err := writeRecord(bw, recFrame, f); err != nil {
					l.c.dropped.Add(uint64(len(batch) - i))
					l.giveBack(batch)
					return false, err
				}
				l.c.sent.Add(1)
				l.c.sentBytes.Add(uint64(len(f)))
			}
			l.giveBack(batch)
			wrote = true
			continue
		}
		if bw.Buffered() > 0 {
			if err := bw.Flush(); err != nil {
				return false, err
			}
		}
		select {
		case <-l.wake:
		case <-tick.C:
			if !wrote {
				if err := bw.WriteByte(recPing); err != nil {
					return false, err
				}
				if err := bw.Flush(); err != nil {
					return false, err
				}
				t.stats.pings.Add(1)
			}
			wrote = false
		case err := <-readErr:
			return true, err
		case <-l.p.ctx.Done():
			return false, l.p.ctx.Err()
		}
	}
}

// readPings reads what the acceptor sends on a frame lane: pings only.
func readPings(br *bufio.Reader) error {
	for {
		kind, err := br.ReadByte()
		if err != nil {
			return err
		}
		if kind != recPing {
			return errGarbage
		}
	}
}

// isTimeout reports whether err is a deadline expiring.
func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}
