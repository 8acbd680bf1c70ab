package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ErrStreamBroken reports a stream cut by a fault (partition, isolation, a
// drop or CutStreams), by the network's Close or by the sender's context.
var ErrStreamBroken = errors.New("transport: stream broken")

// ErrNoReceiver reports a stream to a member that is not attached or takes
// no streams.
var ErrNoReceiver = errors.New("transport: no stream receiver")

// streamCutSpan bounds where a stream cut by the drop fraction breaks: at a
// uniformly drawn byte offset below it.
const streamCutSpan = 1 << 20

// AttachStream starts handing streams addressed to this member to receive,
// which runs on the sender's goroutine (SendStream waits for it) and whose
// error SendStream returns. It replaces any previous receiver; Detach removes
// it and waits for the streams being received.
func (e *Endpoint) AttachStream(receive func(from uint64, header []byte, body io.Reader) error) error {
	e.mu.Lock()
	e.receive = receive
	e.mu.Unlock()
	return nil
}

// SendStream hands header and body, read to its end, to member to's stream
// receiver and returns the receiver's error. The stream breaks, its reads
// failing with ErrStreamBroken, when the two members stop reaching each
// other, when the network closes, when ctx ends, or by the drop faults: a
// link with drop fraction p cuts a stream with probability p at a random
// offset, and CutStreams cuts the next streams after a set length.
func (e *Endpoint) SendStream(ctx context.Context, to uint64, header []byte, body io.Reader) error {
	m := e.m
	m.mu.Lock()
	if m.closed || !m.reachableLocked(e.id, to) {
		m.mu.Unlock()
		return fmt.Errorf("%w: member %d unreachable", ErrStreamBroken, to)
	}
	cut := int64(-1)
	p := m.dropAll
	if q, ok := m.drop[linkKey{e.id, to}]; ok && q > p {
		p = q
	}
	if p > 0 && m.rng.Float64() < p {
		cut = m.rng.Int64N(streamCutSpan)
	}
	if m.cutStreams > 0 {
		m.cutStreams--
		cut = m.cutAfter
	}
	ep := m.endpoints[to]
	m.streamsStarted++
	m.mu.Unlock()
	if ep == nil {
		return fmt.Errorf("%w: member %d", ErrNoReceiver, to)
	}
	ep.mu.RLock()
	defer ep.mu.RUnlock()
	if ep.receive == nil {
		return fmt.Errorf("%w: member %d", ErrNoReceiver, to)
	}
	return ep.receive(e.id, header, &streamBody{ctx: ctx, m: m, from: e.id, to: to, r: body, cut: cut})
}

// streamBody is a stream's body as its receiver reads it, with the faults.
type streamBody struct {
	ctx      context.Context
	m        *Memory
	from, to uint64
	r        io.Reader
	n        int64 // bytes read so far
	cut      int64 // break after this many bytes; negative = never
	err      error // sticky break
}

// StreamStats reports how many streams were started with SendStream and how
// many of those broke (faults, Close, the sender's context).
func (m *Memory) StreamStats() (started, broken int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.streamsStarted, m.streamsBroken
}

func (b *streamBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.read(p)
	if b.err != nil {
		b.m.mu.Lock()
		b.m.streamsBroken++
		b.m.mu.Unlock()
	}
	return n, err
}

func (b *streamBody) read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		b.err = fmt.Errorf("%w: %w", ErrStreamBroken, err)
		return 0, b.err
	}
	if !b.m.reachable(b.from, b.to) {
		b.err = fmt.Errorf("%w: members %d and %d cut off", ErrStreamBroken, b.from, b.to)
		return 0, b.err
	}
	if b.cut >= 0 {
		left := b.cut - b.n
		if left <= 0 {
			b.err = fmt.Errorf("%w: cut after %d bytes", ErrStreamBroken, b.n)
			return 0, b.err
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}
