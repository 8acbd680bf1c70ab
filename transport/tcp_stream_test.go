package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// seededBody returns n bytes drawn from a seeded source.
func seededBody(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// received is what a stream receiver saw.
type received struct {
	from   uint64
	header string
	sum    [32]byte
	n      int
	err    error
}

// recordStreams attaches a receiver to n that reads each body to its end
// and reports it on the returned channel.
func recordStreams(t *testing.T, n *node) chan received {
	t.Helper()
	ch := make(chan received, 16)
	err := n.tcp.AttachStream(func(from uint64, header []byte, body io.Reader) error {
		h := sha256.New()
		k, err := io.Copy(h, body)
		r := received{from: from, header: string(header), n: int(k), err: err}
		copy(r.sum[:], h.Sum(nil))
		ch <- r
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestTCPStreamRoundTrip(t *testing.T) {
	noLeaks(t)
	nodes := network(t, newPKI(t, testCluster), []uint64{1, 2}, nil)
	ch := recordStreams(t, nodes[2])
	body := seededBody(1, 3<<20+17)
	if err := nodes[1].tcp.SendStream(t.Context(), 2, []byte("snap-header"), bytes.NewReader(body)); err != nil {
		t.Fatalf("SendStream: %v", err)
	}
	r := <-ch
	if r.err != nil || r.from != 1 || r.header != "snap-header" || r.n != len(body) || r.sum != sha256.Sum256(body) {
		t.Fatalf("received from %d header %q, %d bytes, err %v; sum match %v", r.from, r.header, r.n, r.err, r.sum == sha256.Sum256(body))
	}
	// An empty body is a stream too.
	if err := nodes[1].tcp.SendStream(t.Context(), 2, nil, strings.NewReader("")); err != nil {
		t.Fatalf("empty SendStream: %v", err)
	}
	if r := <-ch; r.err != nil || r.n != 0 {
		t.Fatalf("empty stream: %d bytes, %v", r.n, r.err)
	}
	s1, s2 := nodes[1].tcp.Stats(), nodes[2].tcp.Stats()
	if s1.StreamsSent != 2 || s2.StreamsReceived != 2 || s1.StreamsFailed+s2.StreamsFailed != 0 {
		t.Errorf("stats: sent %d, received %d, failed %d/%d", s1.StreamsSent, s2.StreamsReceived, s1.StreamsFailed, s2.StreamsFailed)
	}
}

func TestTCPStreamReceiverAnswers(t *testing.T) {
	noLeaks(t)
	nodes := network(t, newPKI(t, testCluster), []uint64{1, 2}, nil)
	body := func() io.Reader { return bytes.NewReader(seededBody(2, 1<<20)) }
	if err := nodes[1].tcp.SendStream(t.Context(), 2, nil, body()); !errors.Is(err, ErrNoReceiver) {
		t.Fatalf("no receiver: %v", err)
	}
	nodes[2].tcp.AttachStream(func(uint64, []byte, io.Reader) error { return errors.New("snapshot too old") })
	err := nodes[1].tcp.SendStream(t.Context(), 2, nil, body())
	if err == nil || !strings.Contains(err.Error(), "snapshot too old") {
		t.Fatalf("receiver error: %v", err)
	}
	if err := nodes[1].tcp.SendStream(t.Context(), 7, nil, body()); !errors.Is(err, ErrStreamBroken) {
		t.Fatalf("stream to a member that is not a peer: %v", err)
	}
}

// TestTCPStreamDamage alters or cuts a stream on the way: the receiver's
// body read fails with ErrStreamBroken (so nothing installs) and the sender
// gets an error. Without TLS the chunk checksums catch a flipped byte; with
// TLS its record authentication does.
func TestTCPStreamDamage(t *testing.T) {
	noLeaks(t)
	const size = 1 << 20
	flip := func(off int64, b []byte) {
		if i := 300_000 - off; i >= 0 && i < int64(len(b)) {
			b[i] ^= 0x10
		}
	}
	for _, tc := range []struct {
		name   string
		tls    bool
		mutate func(int64, []byte)
		cut    int64
		reason Reason // counted by the receiver, if any
	}{
		{"flipped byte, plaintext", false, flip, 0, ReasonStreamDamaged},
		{"flipped byte, TLS", true, flip, 0, ""},
		{"cut, plaintext", false, nil, 200_000, ""},
		{"cut, TLS", true, nil, 200_000, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			px := newProxy(t)
			var p *pki
			if tc.tls {
				p = newPKI(t, testCluster)
			}
			nodes := network(t, p, []uint64{1, 2}, func(c *TCPConfig) {
				if c.ID == 1 {
					c.Dial = px.dialVia(c.Peers[2])
				}
			})
			ch := recordStreams(t, nodes[2])
			px.set(tc.mutate, tc.cut)
			err := nodes[1].tcp.SendStream(t.Context(), 2, []byte("h"), bytes.NewReader(seededBody(3, size)))
			if err == nil {
				t.Fatal("SendStream of a damaged stream succeeded")
			}
			r := <-ch
			if !errors.Is(r.err, ErrStreamBroken) {
				t.Fatalf("receiver read %d bytes, err %v; want ErrStreamBroken", r.n, r.err)
			}
			if tc.reason != "" && refusals(nodes[2], tc.reason) == 0 {
				t.Errorf("refusal %s not counted", tc.reason)
			}
			t.Logf("sender: %v; receiver: %v", err, r.err)
		})
	}
}

// failingReader returns n bytes, then err.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	clear(p[:k])
	f.n -= k
	return k, nil
}

// TestTCPStreamSenderBodyFails: a body that fails midway breaks the stream
// for the receiver, never a short body that reads as complete.
func TestTCPStreamSenderBodyFails(t *testing.T) {
	noLeaks(t)
	nodes := network(t, newPKI(t, testCluster), []uint64{1, 2}, nil)
	ch := recordStreams(t, nodes[2])
	boom := errors.New("disk read failed")
	err := nodes[1].tcp.SendStream(t.Context(), 2, nil, &failingReader{n: 600_000, err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("SendStream: %v, want the body's error", err)
	}
	if r := <-ch; !errors.Is(r.err, ErrStreamBroken) {
		t.Fatalf("receiver read %d bytes, err %v", r.n, r.err)
	}
}

// endless is a body that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestTCPStreamContextCancel cancels a stream the receiver is not reading:
// SendStream returns promptly and the receiver's next read fails.
func TestTCPStreamContextCancel(t *testing.T) {
	noLeaks(t)
	nodes := network(t, newPKI(t, testCluster), []uint64{1, 2}, nil)
	started, release := make(chan struct{}), make(chan struct{})
	result := make(chan error, 1)
	nodes[2].tcp.AttachStream(func(_ uint64, _ []byte, body io.Reader) error {
		io.ReadFull(body, make([]byte, 1000))
		close(started)
		<-release
		_, err := io.Copy(io.Discard, body)
		result <- err
		return err
	})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- nodes[1].tcp.SendStream(ctx, 2, nil, endless{}) }()
	<-started
	cancel()
	start := time.Now()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrStreamBroken) {
			t.Fatalf("SendStream: %v, want ErrStreamBroken and context.Canceled", err)
		}
		t.Logf("SendStream returned %v after the cancel", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("SendStream still running 5 s after its context ended")
	}
	close(release)
	if err := <-result; !errors.Is(err, ErrStreamBroken) {
		t.Fatalf("receiver after the cancel: %v", err)
	}
}

// TestTCPStreamLimit holds MaxStreamsPerPeer streams open: one more from
// the same peer is refused, and streams work again once they end.
func TestTCPStreamLimit(t *testing.T) {
	noLeaks(t)
	nodes := network(t, newPKI(t, testCluster), []uint64{1, 2}, nil)
	var inside atomic.Int32
	release := make(chan struct{})
	nodes[2].tcp.AttachStream(func(_ uint64, _ []byte, body io.Reader) error {
		inside.Add(1)
		defer inside.Add(-1)
		<-release
		_, err := io.Copy(io.Discard, body)
		return err
	})
	errc := make(chan error, DefaultMaxStreamsPerPeer)
	for range DefaultMaxStreamsPerPeer {
		go func() { errc <- nodes[1].tcp.SendStream(t.Context(), 2, nil, strings.NewReader("body")) }()
	}
	eventually(t, 10*time.Second, "streams under way", func() bool { return inside.Load() == DefaultMaxStreamsPerPeer })
	err := nodes[1].tcp.SendStream(t.Context(), 2, nil, strings.NewReader("one too many"))
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), string(ReasonTooManyStreams)) {
		t.Fatalf("stream over the limit: %v", err)
	}
	if refusals(nodes[2], ReasonTooManyStreams) != 1 {
		t.Errorf("refusals %v", nodes[2].tcp.Stats().Refusals)
	}
	close(release)
	for range DefaultMaxStreamsPerPeer {
		if err := <-errc; err != nil {
			t.Fatalf("stream within the limit: %v", err)
		}
	}
	if err := nodes[1].tcp.SendStream(t.Context(), 2, nil, strings.NewReader("again")); err != nil {
		t.Fatalf("stream after the others ended: %v", err)
	}
}

// slowBody yields a chunk every interval.
type slowBody struct {
	chunks   int
	interval time.Duration
}

func (s *slowBody) Read(p []byte) (int, error) {
	if s.chunks == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.interval)
	s.chunks--
	n := min(len(p), 64<<10)
	clear(p[:n])
	return n, nil
}

// TestTCPStreamProgressDeadline: the stream deadline bounds time without
// progress, not the whole stream. A stream slower in total than
// StreamChunkTimeout but steady completes, as does a receiver that works
// long after the body's end (it pings); a receiver that stops reading
// fails the stream within the timeout.
func TestTCPStreamProgressDeadline(t *testing.T) {
	noLeaks(t)
	const timeout = time.Second
	nodes := network(t, newPKI(t, testCluster), []uint64{1, 2}, func(c *TCPConfig) {
		c.StreamChunkTimeout = timeout
		c.PingInterval = 100 * time.Millisecond
	})
	var mode atomic.Int32
	stuck := make(chan struct{})
	defer close(stuck)
	nodes[2].tcp.AttachStream(func(_ uint64, _ []byte, body io.Reader) error {
		if mode.Load() == 2 {
			<-stuck
			return errors.New("stuck")
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return err
		}
		if mode.Load() == 1 {
			time.Sleep(2 * timeout) // installing
		}
		return nil
	})
	start := time.Now()
	if err := nodes[1].tcp.SendStream(t.Context(), 2, nil, &slowBody{chunks: 6, interval: timeout / 4}); err != nil {
		t.Fatalf("steady slow stream: %v", err)
	}
	if d := time.Since(start); d < timeout {
		t.Fatalf("the slow stream took %v, not longer than the timeout: the test proves nothing", d)
	}
	mode.Store(1)
	if err := nodes[1].tcp.SendStream(t.Context(), 2, nil, strings.NewReader("x")); err != nil {
		t.Fatalf("stream with a long install: %v", err)
	}
	mode.Store(2)
	start = time.Now()
	err := nodes[1].tcp.SendStream(t.Context(), 2, nil, endless{})
	if !errors.Is(err, ErrStreamBroken) {
		t.Fatalf("stream to a receiver that stopped reading: %v", err)
	}
	t.Logf("stuck receiver: failed after %v: %v", time.Since(start), err)
}
