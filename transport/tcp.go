package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/keeper-go/keeper/internal/frame"
)

// TCP is one member's endpoint of a network of keeper members over TCP,
// with mutual TLS 1.3 binding each connection to a member identity. It
// implements keeper.Transport and keeper.StreamTransport.
//
// # Identity
//
// Every member's certificate carries the URI SAN
// keeper://<cluster id as 16 hex digits>/member/<id> (package
// transport/certs mints such certificates). Both ends of every connection
// verify the other's chain against the cluster CA bundle and read the
// member from that URI: the dialler checks it is the member it dialled,
// the acceptor that it is one of its peers. The `from` handed to deliver
// and to the stream receiver is that certified member, never a claimed
// one. Host names and addresses are not checked.
//
// # Lanes
//
// To each peer a member keeps two connections it dialled itself: a control
// lane (heartbeats, votes, read index traffic, responses, membership
// frames) and a data lane (raft appends and forwarded proposals, as
// keeper.BulkFrame tells), so control traffic never waits behind entries.
// Each snapshot stream gets a connection of its own. Each lane has a send
// queue bounded by frames and bytes; Send never blocks and drops (and
// counts) a frame when the queue is full or the peer is down. The lane's
// writer coalesces everything queued into one buffered write and flushes
// when the queue is empty.
//
// # Liveness
//
// Idle connections send a ping every PingInterval; one on which nothing
// arrives for DeadPings intervals is closed and redialled, so a half-open
// link is found in seconds. A lost peer is redialled with jittered
// exponential backoff capped at MaxRedialBackoff; while it is down, Send
// drops its frames at once.
//
// # Refusals
//
// A connection that fails a check is closed, counted in Stats by Reason
// and logged once per peer and reason; nothing it carried is delivered.
//
// All methods are safe for concurrent use.
type TCP struct {
	cfg TCPConfig
	log *slog.Logger
	mat atomic.Pointer[material]
	srv *tls.Config // nil when Insecure

	ctx    context.Context // ends on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the TCP started

	// deliverMu is held for reading while a frame is handed to deliver,
	// so Detach returns only after the last delivery.
	deliverMu sync.RWMutex
	deliver   func(from uint64, frame []byte)
	// receiveMu is held for reading while a stream is received.
	receiveMu sync.RWMutex
	receive   func(from uint64, header []byte, body io.Reader) error

	mu      sync.Mutex
	closed  bool
	peers   map[uint64]*peer
	live    map[*liveConn]struct{}
	streams map[uint64]int // incoming streams per peer

	stats counters
}

// liveConn is a connection the TCP tracks, to close it on Close,
// RemovePeer or a CA change. conn and inbound never change; the other
// fields are written and read under TCP.mu.
type liveConn struct {
	conn    net.Conn // the TCP connection (closing it ends TLS above it too)
	inbound bool
	peer    uint64 // 0 until known
	lane    laneKind
	chain   []*x509.Certificate // the peer's verified chain; nil if Insecure
}

// remote returns the connection's remote address.
func (lc *liveConn) remote() string {
	if a := lc.conn.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

// NewTCP validates cfg, loads its TLS material and starts serving
// cfg.Listener and dialling the peers. Errors match ErrBadConfig or
// ErrBadCertificate; on error cfg.Listener is left open.
func NewTCP(cfg TCPConfig) (*TCP, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	t := &TCP{
		cfg:     cfg,
		log:     cfg.Logger,
		peers:   make(map[uint64]*peer),
		live:    make(map[*liveConn]struct{}),
		streams: make(map[uint64]int),
	}
	if t.log == nil {
		t.log = slog.New(discardHandler{})
	}
	if !cfg.Insecure {
		m, err := loadMaterial(cfg.TLS, cfg.ClusterID, cfg.ID)
		if err != nil {
			return nil, err
		}
		t.mat.Store(m)
		t.srv = t.serverTLS()
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.mu.Lock()
	for id, addr := range cfg.Peers {
		t.addPeerLocked(id, addr)
	}
	t.mu.Unlock()
	t.wg.Add(1)
	go t.acceptLoop()
	return t, nil
}

// discardHandler is a slog.Handler that drops everything.
type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }

// Attach starts delivering frames from peers to deliver, which may run on
// many goroutines at once (one per incoming connection). It replaces any
// previous attachment. Frames that arrive while nothing is attached are
// dropped.
func (t *TCP) Attach(deliver func(from uint64, frame []byte)) error {
	if t.isClosed() {
		return ErrClosed
	}
	t.deliverMu.Lock()
	t.deliver = deliver
	t.deliverMu.Unlock()
	return nil
}

// Detach stops delivery and removes the stream receiver. After it returns
// neither is called again; it waits for deliveries and streams being
// received. Connections stay up (Close closes them).
func (t *TCP) Detach() {
	t.deliverMu.Lock()
	t.deliver = nil
	t.deliverMu.Unlock()
	t.receiveMu.Lock()
	t.receive = nil
	t.receiveMu.Unlock()
}

// Send queues frame for member to on the lane its kind belongs to. It never
// blocks: the frame is dropped (and counted in Stats) when to is not a peer,
// when the peer is down, when the lane's queue is full, or when the frame
// is over MaxFrame. The TCP owns frame after the call.
func (t *TCP) Send(to uint64, frame []byte) {
	lane := laneControl
	if isBulk(frame) {
		lane = laneData
	}
	t.mu.Lock()
	p := t.peers[to]
	t.mu.Unlock()
	if p == nil {
		t.stats.lanes[lane].dropped.Add(1)
		return
	}
	p.lanes[lane].push(frame)
}

// isBulk is the lane rule: keeper's own classification of its frames.
func isBulk(f []byte) bool { return frame.Bulk(f) }

// SetPeer adds member id as a peer at addr, or moves it to addr. Call it
// before keeper's AddMember, so the new member is accepted and reached. An
// invalid address or id 0 (or this member's own id) is ignored and logged.
func (t *TCP) SetPeer(id uint64, addr string) {
	if id == 0 || id == t.cfg.ID {
		t.log.Warn("transport: SetPeer ignored", "peer", id, "reason", "zero or own id")
		return
	}
	if err := checkAddr(addr); err != nil {
		t.log.Warn("transport: SetPeer ignored", "peer", id, "err", err)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if p := t.peers[id]; p != nil {
		if p.addr == addr {
			return
		}
		t.removePeerLocked(id)
	}
	t.addPeerLocked(id, addr)
}

// RemovePeer forgets member id: its outgoing lanes stop, its connections
// close and it is no longer accepted. Call it after keeper's RemoveMember.
func (t *TCP) RemovePeer(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removePeerLocked(id)
}

// knownPeer reports whether id is a current peer.
func (t *TCP) knownPeer(id uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.peers[id] != nil
}

// Stats returns the transport's counters.
func (t *TCP) Stats() TCPStats {
	s := TCPStats{
		Control:         t.stats.lanes[laneControl].snapshot(),
		Data:            t.stats.lanes[laneData].snapshot(),
		Pings:           t.stats.pings.Load(),
		Dials:           t.stats.dials.Load(),
		Redials:         t.stats.redials.Load(),
		DeadLinks:       t.stats.deadLinks.Load(),
		StreamsSent:     t.stats.streamsSent.Load(),
		StreamsReceived: t.stats.streamsReceived.Load(),
		StreamsFailed:   t.stats.streamsFailed.Load(),
		Refusals:        t.stats.refusalCounts(),
		Up:              make(map[uint64]bool),
	}
	t.mu.Lock()
	for id, p := range t.peers {
		s.Up[id] = p.up()
	}
	t.mu.Unlock()
	return s
}

// Close closes the listener and every connection and stops every goroutine
// the TCP started; frames queued are dropped. Later Sends are dropped and
// SendStream fails with ErrClosed. Close is idempotent and returns nil.
func (t *TCP) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	for id := range t.peers {
		t.removePeerLocked(id)
	}
	for lc := range t.live {
		lc.conn.Close()
	}
	t.mu.Unlock()
	t.cancel()
	t.cfg.Listener.Close()
	t.wg.Wait()
	return nil
}

// isClosed reports whether Close was called.
func (t *TCP) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// track registers a live connection; it returns false (and closes the
// connection) when the TCP is closed.
func (t *TCP) track(lc *liveConn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		lc.conn.Close()
		return false
	}
	t.live[lc] = struct{}{}
	return true
}

// untrack removes a live connection from the registry.
func (t *TCP) untrack(lc *liveConn) {
	t.mu.Lock()
	delete(t.live, lc)
	t.mu.Unlock()
}

// setChain records the peer chain a connection was verified with.
func (t *TCP) setChain(lc *liveConn, chain []*x509.Certificate) {
	t.mu.Lock()
	lc.chain = chain
	t.mu.Unlock()
}
