package keeper_test

import (
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// linkProxy forwards the connections one member dials to another through a
// loopback listener of its own, and injects the faults of a network between
// machines: the link blocked (its connections stalled without being closed,
// as a half-open link or a silent firewall does, or reset), a delay with
// jitter on each forwarded chunk, and connections cut at random.
type linkProxy struct {
	ln     net.Listener
	target func() string // the destination member's current address

	mu      sync.Mutex
	blocked bool
	reset   bool          // a blocked link resets its connections instead of stalling them
	changed chan struct{} // closed and replaced at every change of blocked
	delay   time.Duration
	jitter  time.Duration
	cut     float64 // probability that forwarding a chunk cuts the connection
	rng     *rand.Rand
	conns   map[net.Conn]struct{}
	closed  bool

	wg sync.WaitGroup
}

// newLinkProxy listens on a free loopback port and forwards to target().
func newLinkProxy(seed uint64, target func() string) (*linkProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &linkProxy{ln: ln, target: target, changed: make(chan struct{}), rng: rand.New(rand.NewPCG(seed, 0x9e)), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address the dialling member is given for the destination.
func (p *linkProxy) Addr() string { return p.ln.Addr().String() }

// Block stalls (reset false) or resets (reset true) the link's connections
// until Unblock; while blocked, new connections are accepted and then
// stalled, or closed at once.
func (p *linkProxy) Block(reset bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked, p.reset = true, reset
	p.notifyLocked()
	if reset {
		p.closeConnsLocked()
	}
}

// Unblock lets stalled connections go on where they stopped.
func (p *linkProxy) Unblock() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked = false
	p.notifyLocked()
}

// Weather sets the delay and jitter of every forwarded chunk and the
// probability that forwarding a chunk cuts its connection.
func (p *linkProxy) Weather(delay, jitter time.Duration, cut float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay, p.jitter, p.cut = delay, jitter, cut
}

// Cut closes every connection of the link now.
func (p *linkProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeConnsLocked()
}

// Close stops the proxy and closes its connections, and returns once its
// goroutines have ended.
func (p *linkProxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.closeConnsLocked()
	p.notifyLocked()
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

func (p *linkProxy) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *linkProxy) closeConnsLocked() {
	for c := range p.conns {
		c.Close()
	}
}

func (p *linkProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.closed || (p.blocked && p.reset)
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		d, err := net.DialTimeout("tcp", p.target(), time.Second)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, d) {
			continue
		}
		p.wg.Add(2)
		go p.pump(c, d)
		go p.pump(d, c)
	}
}

// track registers a connection pair, or closes it if the proxy closed.
func (p *linkProxy) track(a, b net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		a.Close()
		b.Close()
		return false
	}
	p.conns[a], p.conns[b] = struct{}{}, struct{}{}
	return true
}

// pump forwards src to dst chunk by chunk, holding each chunk while the
// link is blocked, until either side fails; then it closes both.
func (p *linkProxy) pump(src, dst net.Conn) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, src)
		delete(p.conns, dst)
		p.mu.Unlock()
		src.Close()
		dst.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			wait, ok := p.hold()
			if !ok {
				return
			}
			if wait > 0 {
				time.Sleep(wait)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// hold waits while the link is stalled and returns the delay to apply to
// the next chunk; false means the chunk must not be forwarded (the proxy
// closed, or the connection is cut or reset).
func (p *linkProxy) hold() (time.Duration, bool) {
	p.mu.Lock()
	for p.blocked && !p.reset && !p.closed {
		ch := p.changed
		p.mu.Unlock()
		<-ch
		p.mu.Lock()
	}
	defer p.mu.Unlock()
	if p.closed || p.blocked || (p.cut > 0 && p.rng.Float64() < p.cut) {
		return 0, false
	}
	d := p.delay
	if p.jitter > 0 {
		d += time.Duration(p.rng.Int64N(int64(p.jitter) + 1))
	}
	return d, true
}
