package transport

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// proxy forwards loopback connections to a target and injects faults:
// Freeze stops forwarding on the connections open now without closing them
// (a half-open link), and mutate changes the bytes a client sends.
type proxy struct {
	ln     net.Listener
	target atomic.Value // string
	done   chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex
	pairs  []*pair
	mutate func(off int64, b []byte) // applied to client→target bytes of new connections; nil: none
	cutAt  int64                     // close new connections after this many client bytes; 0: never
}

// pair is one proxied connection.
type pair struct {
	client, server net.Conn
	frozen         atomic.Bool
}

func newProxy(t *testing.T) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	px := &proxy{ln: ln, done: make(chan struct{})}
	px.wg.Add(1)
	go px.accept()
	t.Cleanup(px.close)
	return px
}

func (px *proxy) addr() string { return px.ln.Addr().String() }

// dialVia returns a Dial func that reaches target through the proxy and
// other addresses directly.
func (px *proxy) dialVia(target string) func(ctx context.Context, addr string) (net.Conn, error) {
	px.target.Store(target)
	var d net.Dialer
	return func(ctx context.Context, addr string) (net.Conn, error) {
		if addr == target {
			addr = px.addr()
		}
		return d.DialContext(ctx, "tcp", addr)
	}
}

func (px *proxy) accept() {
	defer px.wg.Done()
	for {
		c, err := px.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", px.target.Load().(string))
		if err != nil {
			c.Close()
			continue
		}
		p := &pair{client: c, server: s}
		px.mu.Lock()
		px.pairs = append(px.pairs, p)
		mutate, cut := px.mutate, px.cutAt
		px.mu.Unlock()
		px.wg.Add(2)
		go px.pipe(p, c, s, mutate, cut)
		go px.pipe(p, s, c, nil, 0)
	}
}

// pipe copies src to dst until either fails, the pair freezes (then it
// holds both open until the proxy closes) or cut bytes passed.
func (px *proxy) pipe(p *pair, src, dst net.Conn, mutate func(int64, []byte), cut int64) {
	defer px.wg.Done()
	buf := make([]byte, 32<<10)
	var off int64
	for {
		n, err := src.Read(buf)
		if p.frozen.Load() {
			<-px.done
			return
		}
		if n > 0 {
			b := buf[:n]
			if cut > 0 && off+int64(n) > cut {
				b = b[:cut-off]
			}
			if mutate != nil {
				mutate(off, b)
			}
			if _, werr := dst.Write(b); werr != nil {
				err = werr
			}
			off += int64(len(b))
			if cut > 0 && off >= cut {
				err = net.ErrClosed
			}
		}
		if err != nil {
			src.Close()
			dst.Close()
			return
		}
	}
}

// freeze stops forwarding on every connection open now.
func (px *proxy) freeze() {
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, p := range px.pairs {
		p.frozen.Store(true)
	}
}

// set changes the faults of connections accepted from now on.
func (px *proxy) set(mutate func(int64, []byte), cutAt int64) {
	px.mu.Lock()
	px.mutate, px.cutAt = mutate, cutAt
	px.mu.Unlock()
}

func (px *proxy) close() {
	close(px.done)
	px.ln.Close()
	px.mu.Lock()
	for _, p := range px.pairs {
		p.client.Close()
		p.server.Close()
	}
	px.mu.Unlock()
	px.wg.Wait()
}
