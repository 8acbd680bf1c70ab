package transport

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestTCPSetAndRemovePeer: a member that is not a peer is refused until
// SetPeer names it; RemovePeer cuts a peer off both ways.
func TestTCPSetAndRemovePeer(t *testing.T) {
	noLeaks(t)
	nodes := network(t, newPKI(t, testCluster), []uint64{1, 2, 3}, func(c *TCPConfig) {
		if c.ID == 1 {
			delete(c.Peers, 3)
		}
	})
	n1, n2, n3 := nodes[1], nodes[2], nodes[3]
	eventually(t, 10*time.Second, "member 3 refused by member 1", func() bool {
		return refusals(n1, ReasonUnknownMember) > 0
	})
	n1.tcp.SetPeer(3, n3.addr)
	eventually(t, 10*time.Second, "member 3 up at member 1 and back", func() bool {
		return n1.tcp.Stats().Up[3] && n3.tcp.Stats().Up[1]
	})
	n3.tcp.Send(1, testFrame(testCluster, typHeartbeat, 31, 8))
	if g := n1.sink.next(t, 10*time.Second); g.from != 3 || frameSeq(g.frame) != 31 {
		t.Fatalf("member 1 got frame %d from %d", frameSeq(g.frame), g.from)
	}

	n1.tcp.RemovePeer(2)
	if _, ok := n1.tcp.Stats().Up[2]; ok {
		t.Fatal("member 2 still listed after RemovePeer")
	}
	dropped := n1.tcp.Stats().Control.Dropped
	n1.tcp.Send(2, testFrame(testCluster, typHeartbeat, 1, 8))
	if d := n1.tcp.Stats().Control.Dropped; d != dropped+1 {
		t.Fatalf("Send to a removed peer: dropped %d, want %d", d, dropped+1)
	}
	// Member 2's connections to member 1 were closed and are refused now.
	before := refusals(n1, ReasonUnknownMember)
	eventually(t, 10*time.Second, "member 2 refused after RemovePeer", func() bool {
		return refusals(n1, ReasonUnknownMember) > before && !n2.tcp.Stats().Up[1]
	})
	delivered := n1.sink.n.Load()
	for i := range uint64(20) {
		n2.tcp.Send(1, testFrame(testCluster, typHeartbeat, i, 8))
	}
	n3.tcp.Send(1, testFrame(testCluster, typHeartbeat, 32, 8))
	if g := n1.sink.next(t, 10*time.Second); g.from != 3 {
		t.Fatalf("member 1 got a frame from removed member %d", g.from)
	}
	if n := n1.sink.n.Load(); n != delivered+1 {
		t.Fatalf("member 1 delivered %d frames, want %d", n-delivered, 1)
	}
}

// TestTCPDropsWhilePeerDown: while a peer is unreachable Send drops at
// once and the transport dials at its backoff pace, not per frame; once
// the peer listens, it is reached within the backoff cap.
func TestTCPDropsWhilePeerDown(t *testing.T) {
	noLeaks(t)
	p := newPKI(t, testCluster)
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr2 := hole.Addr().String()
	hole.Close()
	nodes := network(t, p, []uint64{1}, func(c *TCPConfig) { c.Peers[2] = addr2 })
	n1 := nodes[1]
	eventually(t, 10*time.Second, "member 2 seen down", func() bool { return n1.tcp.Stats().Redials > 2 })
	dials := n1.tcp.Stats().Dials
	const frames = 5000
	start := time.Now()
	for i := range uint64(frames) {
		typ := uint64(typHeartbeat)
		if i%2 == 0 {
			typ = typApp
		}
		n1.tcp.Send(2, testFrame(testCluster, typ, i, 64))
	}
	took := time.Since(start)
	s := n1.tcp.Stats()
	if s.Control.Dropped+s.Data.Dropped < frames {
		t.Fatalf("dropped %d of %d frames to a down peer", s.Control.Dropped+s.Data.Dropped, frames)
	}
	if s.Dials-dials > 50 {
		t.Errorf("%d dials during %d sends in %v: dialling per frame", s.Dials-dials, frames, took)
	}

	// Member 2 comes up at its address.
	ln, err := net.Listen("tcp", addr2)
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", addr2, err)
	}
	m2 := p.member(t, 2)
	tr2, err := NewTCP(TCPConfig{ID: 2, ClusterID: testCluster, Listener: ln, TLS: m2, Peers: map[uint64]string{1: n1.addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Close()
	sink2 := newSink()
	tr2.Attach(sink2.deliver)
	up := time.Now()
	eventually(t, 10*time.Second, "member 2 reached", func() bool { return n1.tcp.Stats().Up[2] })
	t.Logf("%d sends to a down peer took %v; member 2 reached %v after it listened", frames, took, time.Since(up))
	n1.tcp.Send(2, testFrame(testCluster, typHeartbeat, 7, 8))
	if g := sink2.next(t, 10*time.Second); frameSeq(g.frame) != 7 {
		t.Fatalf("got frame %d", frameSeq(g.frame))
	}
}

// TestLaneQueueBounds checks a lane's queue bounds by frames and bytes.
func TestLaneQueueBounds(t *testing.T) {
	tr := &TCP{cfg: TCPConfig{QueueFrames: 3, QueueBytes: 100, MaxFrame: 80}}
	l := &lane{p: &peer{t: tr}, c: &tr.stats.lanes[laneData], wake: make(chan struct{}, 1), state: laneUp}
	for range 3 {
		l.push(make([]byte, 10))
	}
	l.push(make([]byte, 10)) // over the frame bound
	if got := l.c.dropped.Load(); got != 1 {
		t.Fatalf("dropped %d, want 1", got)
	}
	if b := l.take(); len(b) != 3 {
		t.Fatalf("took %d frames", len(b))
	}
	l.push(make([]byte, 60))
	l.push(make([]byte, 60)) // over the byte bound
	l.push(make([]byte, 81)) // over MaxFrame
	if got := l.c.dropped.Load(); got != 3 {
		t.Fatalf("dropped %d, want 3", got)
	}
	l.setState(laneDown) // drops the one queued
	l.push(make([]byte, 1))
	if got := l.c.dropped.Load(); got != 5 {
		t.Fatalf("dropped %d, want 5", got)
	}
}

// TestTCPLogsRefusalOnce: repeated refusals of one peer for one reason are
// counted each time and logged once.
func TestTCPLogsRefusalOnce(t *testing.T) {
	noLeaks(t)
	p := newPKI(t, testCluster)
	var logs lockedBuffer
	nodes := network(t, p, []uint64{1}, func(c *TCPConfig) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	m9 := p.member(t, 9)
	for range 3 {
		c := tlsClient(t, nodes[1].addr, &m9)
		send(t, c, preamble{lane: laneControl, cluster: testCluster, from: 9, to: 1}, nil, 0)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, c)
		c.Close()
	}
	eventually(t, 10*time.Second, "3 refusals", func() bool { return refusals(nodes[1], ReasonUnknownMember) == 3 })
	if n := strings.Count(logs.String(), "reason=unknown-member"); n != 1 {
		t.Fatalf("refusal logged %d times:\n%s", n, logs.String())
	}
}

// TestTCPDetachWaitsAndClose: Detach returns after the delivery under way
// and nothing is delivered after it; Close ends a stream being received
// and one being sent, and later calls fail or drop.
func TestTCPDetachWaitsAndClose(t *testing.T) {
	noLeaks(t)
	nodes := network(t, newPKI(t, testCluster), []uint64{1, 2}, nil)
	n1, n2 := nodes[1], nodes[2]
	inside, release := make(chan struct{}), make(chan struct{})
	var after atomic.Bool
	var calls atomic.Int32
	n2.tcp.Attach(func(uint64, []byte) {
		if after.Load() {
			calls.Add(1)
		}
		select {
		case inside <- struct{}{}:
			<-release
		default:
		}
	})
	n1.tcp.Send(2, testFrame(testCluster, typHeartbeat, 1, 8))
	<-inside
	detached := make(chan struct{})
	go func() { n2.tcp.Detach(); close(detached) }()
	select {
	case <-detached:
		t.Fatal("Detach returned during a delivery")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-detached
	after.Store(true)
	n1.tcp.Send(2, testFrame(testCluster, typHeartbeat, 2, 8))
	eventually(t, 10*time.Second, "frame reached member 2", func() bool { return n2.tcp.Stats().Control.Received >= 2 })
	if calls.Load() != 0 {
		t.Fatal("deliver called after Detach")
	}

	// Close ends a stream being received (its body read fails) and the
	// sender's SendStream.
	readErr := make(chan error, 1)
	receiving := make(chan struct{})
	n2.tcp.AttachStream(func(_ uint64, _ []byte, body io.Reader) error {
		close(receiving)
		_, err := io.Copy(io.Discard, body)
		readErr <- err
		return err
	})
	sendErr := make(chan error, 1)
	go func() { sendErr <- n1.tcp.SendStream(t.Context(), 2, nil, endless{}) }()
	<-receiving
	n2.tcp.Close()
	if err := <-readErr; !errors.Is(err, ErrStreamBroken) {
		t.Fatalf("receiver's read after Close: %v", err)
	}
	if err := <-sendErr; err == nil {
		t.Fatal("SendStream to a closed member succeeded")
	}
	n2.tcp.Send(1, testFrame(testCluster, typHeartbeat, 3, 8))
	if err := n2.tcp.SendStream(t.Context(), 1, nil, bytes.NewReader(nil)); !errors.Is(err, ErrClosed) {
		t.Fatalf("SendStream after Close: %v", err)
	}
	if err := n2.tcp.Reload(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reload after Close: %v", err)
	}
}
