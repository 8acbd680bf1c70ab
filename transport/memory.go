// Package transport holds ready implementations of keeper's Transport contract.
//
// TCP connects members in different processes or machines: TCP with mutual
// TLS 1.3, each connection bound to the member identity in its peer's
// certificate (package transport/certs mints such certificates), separate
// lanes for control traffic, log entries and snapshot streams, bounded
// send queues, liveness pings and certificate reload (tcp*.go).
//
// Memory is an in-process network for tests and single-process clusters, with
// seeded fault injection (partitions, drops, delays with jitter, duplicates).
// The package does not import keeper: TCP and Memory's endpoints satisfy
// keeper.Transport structurally (Attach, Send, Detach), and
// keeper.StreamTransport (AttachStream, SendStream) for raft snapshots.
package transport

import (
	"container/heap"
	"io"
	"math/rand/v2"
	"sync"
	"time"
)

// DefaultQueueLen is the number of frames a link holds in flight before Send
// starts dropping frames on it.
const DefaultQueueLen = 4096

// Option adjusts a Memory network at creation.
type Option func(*Memory)

// WithQueueLen sets the per-link queue bound (default DefaultQueueLen). Frames
// sent to a full link are dropped, as a congested network would.
func WithQueueLen(n int) Option {
	return func(m *Memory) {
		if n > 0 {
			m.queueLen = n
		}
	}
}

// Memory is an in-process network connecting endpoints by member id. Every
// (sender, receiver) pair is a link with a bounded queue and one delivery
// goroutine, started on the first Send and stopped by Detach of the sender or
// by Close. Faults are decided by one random source seeded at creation, so a
// run with the same seed and the same sequence of sends makes the same
// decisions. All methods are safe for concurrent use.
type Memory struct {
	queueLen int

	mu        sync.Mutex
	rng       *rand.Rand
	endpoints map[uint64]*Endpoint
	links     map[linkKey]*link
	group     map[uint64]int // partition group per member; absent = group 0
	isolated  map[uint64]bool
	drop      map[linkKey]float64
	dropAll   float64
	delay     time.Duration
	jitter    time.Duration
	dup       float64
	// the next cutStreams streams break after cutAfter bytes (CutStreams)
	cutStreams int
	cutAfter   int64
	// streams counts streams started and broken (StreamStats)
	streamsStarted, streamsBroken int
	closed                        bool
	wg                            sync.WaitGroup
}

type linkKey struct{ from, to uint64 }

// NewMemory returns an empty network whose fault decisions come from a random
// source seeded with seed.
func NewMemory(seed int64, opts ...Option) *Memory {
	m := &Memory{
		queueLen:  DefaultQueueLen,
		rng:       rand.New(rand.NewPCG(uint64(seed), 0x6b656570)),
		endpoints: make(map[uint64]*Endpoint),
		links:     make(map[linkKey]*link),
		group:     make(map[uint64]int),
		isolated:  make(map[uint64]bool),
		drop:      make(map[linkKey]float64),
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Endpoint returns member id's endpoint, creating it on first use. The same
// value is returned for the same id, so a restarted member re-attaches to it.
func (m *Memory) Endpoint(id uint64) *Endpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	ep, ok := m.endpoints[id]
	if !ok {
		ep = &Endpoint{m: m, id: id}
		m.endpoints[id] = ep
	}
	return ep
}

// Close stops every delivery goroutine and drops all frames in flight. Later
// sends are dropped. Close is idempotent.
func (m *Memory) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	for k, l := range m.links {
		close(l.stop)
		delete(m.links, k)
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// Endpoint is one member's attachment to a Memory network. It implements
// keeper.Transport.
type Endpoint struct {
	m  *Memory
	id uint64

	// mu is held for reading while a frame is handed to deliver, so Detach
	// (which takes it for writing) returns only after the last delivery.
	mu      sync.RWMutex
	deliver func(from uint64, frame []byte)
	// receive takes streams (stream.go); mu is held for reading while one
	// is received.
	receive func(from uint64, header []byte, body io.Reader) error
}

// ID returns the member id of the endpoint.
func (e *Endpoint) ID() uint64 { return e.id }

// Attach starts delivering frames addressed to this member to deliver. It
// replaces any previous attachment.
func (e *Endpoint) Attach(deliver func(from uint64, frame []byte)) error {
	e.mu.Lock()
	e.deliver = deliver
	e.mu.Unlock()
	return nil
}

// Detach stops delivery to this member and stops its outbound links, dropping
// what they hold. After it returns neither deliver nor the stream receiver
// is called again; it waits for streams being received.
func (e *Endpoint) Detach() {
	m := e.m
	var stopped []*link
	m.mu.Lock()
	for k, l := range m.links {
		if k.from == e.id {
			close(l.stop)
			delete(m.links, k)
			stopped = append(stopped, l)
		}
	}
	m.mu.Unlock()
	for _, l := range stopped {
		<-l.done
	}
	e.mu.Lock()
	e.deliver = nil
	e.receive = nil
	e.mu.Unlock()
}

// Send queues frame for member to. It never blocks: the frame is dropped when
// the link is cut by a fault, its queue is full, or the network is closed.
func (e *Endpoint) Send(to uint64, frame []byte) {
	m := e.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || !m.reachableLocked(e.id, to) {
		return
	}
	k := linkKey{e.id, to}
	p := m.dropAll
	if q, ok := m.drop[k]; ok && q > p {
		p = q
	}
	if p > 0 && m.rng.Float64() < p {
		return
	}
	copies := 1
	if m.dup > 0 && m.rng.Float64() < m.dup {
		copies = 2
	}
	l, ok := m.links[k]
	if !ok {
		l = newLink(m, k)
		m.links[k] = l
		m.wg.Add(1)
		go l.run()
	}
	for i := 0; i < copies; i++ {
		f := frame
		if i > 0 {
			f = append([]byte(nil), frame...)
		}
		at := time.Time{}
		if d := m.delayLocked(); d > 0 {
			at = time.Now().Add(d)
		}
		l.push(f, at)
	}
}

// delayLocked draws one frame's delay: the base delay plus a uniform jitter.
func (m *Memory) delayLocked() time.Duration {
	d := m.delay
	if m.jitter > 0 {
		d += time.Duration(m.rng.Int64N(int64(m.jitter) + 1))
	}
	return d
}

// reachableLocked reports whether frames from one member currently reach the
// other under the partition and isolation faults.
func (m *Memory) reachableLocked(from, to uint64) bool {
	if from == to {
		return true
	}
	if m.isolated[from] || m.isolated[to] {
		return false
	}
	return m.group[from] == m.group[to]
}

// reachable is reachableLocked taking the lock; delivery re-checks it so a
// partition also cuts frames already in flight.
func (m *Memory) reachable(from, to uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.closed && m.reachableLocked(from, to)
}

// frameItem is one queued frame and the time it may be delivered.
type frameItem struct {
	at    time.Time
	seq   uint64
	frame []byte
}

type frameHeap []frameItem

func (h frameHeap) Len() int { return len(h) }
func (h frameHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h frameHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *frameHeap) Push(x any)   { *h = append(*h, x.(frameItem)) }
func (h *frameHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = frameItem{}
	*h = old[:len(old)-1]
	return it
}

// link is one direction between two members: a queue ordered by delivery
// time (so delay jitter reorders frames) and the goroutine that drains it.
type link struct {
	m    *Memory
	key  linkKey
	stop chan struct{}
	done chan struct{}
	wake chan struct{}

	mu   sync.Mutex
	q    frameHeap
	seq  uint64
	full int
}

func newLink(m *Memory, k linkKey) *link {
	return &link{
		m: m, key: k,
		stop: make(chan struct{}),
		done: make(chan struct{}),
		wake: make(chan struct{}, 1),
	}
}

// push queues a frame, dropping it when the queue is full.
func (l *link) push(frame []byte, at time.Time) {
	l.mu.Lock()
	if len(l.q) >= l.m.queueLen {
		l.full++
		l.mu.Unlock()
		return
	}
	l.seq++
	heap.Push(&l.q, frameItem{at: at, seq: l.seq, frame: frame})
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run delivers queued frames in delivery-time order until the link is stopped.
func (l *link) run() {
	defer l.m.wg.Done()
	defer close(l.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		l.mu.Lock()
		var wait time.Duration = -1
		var item frameItem
		ready := false
		if len(l.q) > 0 {
			if d := time.Until(l.q[0].at); l.q[0].at.IsZero() || d <= 0 {
				item = heap.Pop(&l.q).(frameItem)
				ready = true
			} else {
				wait = d
			}
		}
		l.mu.Unlock()
		if ready {
			l.deliver(item.frame)
			select {
			case <-l.stop:
				return
			default:
			}
			continue
		}
		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-l.stop:
			timer.Stop()
			return
		case <-l.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// deliver hands one frame to the receiving endpoint if it is attached and
// still reachable.
func (l *link) deliver(frame []byte) {
	if !l.m.reachable(l.key.from, l.key.to) {
		return
	}
	l.m.mu.Lock()
	ep := l.m.endpoints[l.key.to]
	l.m.mu.Unlock()
	if ep == nil {
		return
	}
	ep.mu.RLock()
	defer ep.mu.RUnlock()
	if ep.deliver != nil {
		ep.deliver(l.key.from, frame)
	}
}
