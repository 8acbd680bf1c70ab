package transport

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink collects frames delivered to one endpoint.
type sink struct {
	mu     sync.Mutex
	frames []string
	from   []uint64
}

func (s *sink) deliver(from uint64, frame []byte) {
	s.mu.Lock()
	s.frames = append(s.frames, string(frame))
	s.from = append(s.from, from)
	s.mu.Unlock()
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.frames)
}

func (s *sink) snapshot() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.frames...)
}

// waitCount waits until s holds n frames or the deadline passes.
func waitCount(t *testing.T, s *sink, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d frames, want %d", s.count(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// settle sends a marker after the frames under test and waits for it, so
// anything the fault let through before it has arrived (links are FIFO
// without delay).
func settle(t *testing.T, m *Memory, from, to uint64, s *sink) {
	t.Helper()
	m.DropAll(0)
	m.Drop(from, to, 0)
	markerSeq++
	marker := fmt.Sprintf("marker%d", markerSeq)
	m.Endpoint(from).Send(to, []byte(marker))
	deadline := time.Now().Add(5 * time.Second)
	for {
		f := s.snapshot()
		if len(f) > 0 && f[len(f)-1] == marker {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("marker frame never arrived")
		}
		time.Sleep(time.Millisecond)
	}
}

// markerSeq makes each settle marker unique; tests here do not run in parallel.
var markerSeq int

func newPair(t *testing.T, seed int64) (*Memory, *sink, *sink) {
	m := NewMemory(seed)
	t.Cleanup(m.Close)
	a, b := &sink{}, &sink{}
	if err := m.Endpoint(1).Attach(a.deliver); err != nil {
		t.Fatal(err)
	}
	if err := m.Endpoint(2).Attach(b.deliver); err != nil {
		t.Fatal(err)
	}
	return m, a, b
}

func TestMemoryDeliversInOrder(t *testing.T) {
	m, _, b := newPair(t, 1)
	for i := 0; i < 100; i++ {
		m.Endpoint(1).Send(2, []byte(fmt.Sprint(i)))
	}
	waitCount(t, b, 100)
	for i, f := range b.snapshot() {
		if f != fmt.Sprint(i) {
			t.Fatalf("frame %d = %q; FIFO order broken without delay", i, f)
		}
	}
	if b.from[0] != 1 {
		t.Fatalf("from = %d, want 1", b.from[0])
	}
}

func TestMemoryPartitionAndHeal(t *testing.T) {
	m, a, b := newPair(t, 1)
	c := &sink{}
	m.Endpoint(3).Attach(c.deliver)
	m.Partition([]uint64{1}, []uint64{2, 3})
	m.Endpoint(1).Send(2, []byte("x"))
	m.Endpoint(2).Send(1, []byte("x"))
	m.Endpoint(2).Send(3, []byte("same side"))
	waitCount(t, c, 1)
	m.Heal()
	settle(t, m, 1, 2, b)
	settle(t, m, 2, 1, a)
	if got := b.snapshot(); len(got) != 1 || !strings.HasPrefix(got[0], "marker") {
		t.Fatalf("2 got %q across the partition", got)
	}
	if got := a.snapshot(); len(got) != 1 {
		t.Fatalf("1 got %q across the partition", got)
	}
}

func TestMemoryIsolate(t *testing.T) {
	m, _, b := newPair(t, 1)
	m.Isolate(1)
	m.Endpoint(1).Send(2, []byte("x"))
	m.Heal()
	settle(t, m, 1, 2, b)
	if got := b.snapshot(); len(got) != 1 {
		t.Fatalf("isolated member's frame arrived: %q", got)
	}
}

func TestMemoryDropFraction(t *testing.T) {
	m, _, b := newPair(t, 42)
	m.Drop(1, 2, 0.5)
	const n = 2000
	for i := 0; i < n; i++ {
		m.Endpoint(1).Send(2, []byte("x"))
	}
	settle(t, m, 1, 2, b)
	got := b.count() - 1
	if got < n*4/10 || got > n*6/10 {
		t.Fatalf("delivered %d of %d at drop 0.5", got, n)
	}
	// Only the named link drops.
	m.DropAll(1)
	m.Endpoint(1).Send(2, []byte("y"))
	m.DropAll(0)
	settle(t, m, 1, 2, b)
	if b.count()-1 != got+1 {
		t.Fatalf("DropAll(1) let a frame through")
	}
}

func TestMemoryDropIsSeeded(t *testing.T) {
	run := func() []string {
		m, _, b := newPair(t, 7)
		m.DropAll(0.3)
		for i := 0; i < 200; i++ {
			m.Endpoint(1).Send(2, []byte(fmt.Sprint(i)))
		}
		settle(t, m, 1, 2, b)
		f := b.snapshot()
		return f[:len(f)-1]
	}
	x, y := run(), run()
	if fmt.Sprint(x) != fmt.Sprint(y) {
		t.Fatalf("same seed, different drops")
	}
}

func TestMemoryDuplicate(t *testing.T) {
	m, _, b := newPair(t, 3)
	m.Duplicate(1)
	m.Endpoint(1).Send(2, []byte("x"))
	waitCount(t, b, 2)
	m.Duplicate(0)
	settle(t, m, 1, 2, b)
	if got := b.snapshot(); len(got) != 3 || got[0] != "x" || got[1] != "x" {
		t.Fatalf("got %q, want the frame twice", got)
	}
}

func TestMemoryDelayAndReorder(t *testing.T) {
	m, _, b := newPair(t, 5)
	m.Delay(20*time.Millisecond, 20*time.Millisecond)
	start := time.Now()
	const n = 200
	for i := 0; i < n; i++ {
		m.Endpoint(1).Send(2, []byte(fmt.Sprint(i)))
	}
	waitCount(t, b, n)
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Fatalf("frames arrived after %v, want >= 20ms", el)
	}
	reordered := false
	for i, f := range b.snapshot() {
		if f != fmt.Sprint(i) {
			reordered = true
		}
	}
	if !reordered {
		t.Fatalf("jitter did not reorder any of %d frames", n)
	}
}

func TestMemoryQueueBound(t *testing.T) {
	m := NewMemory(1, WithQueueLen(10))
	defer m.Close()
	b := &sink{}
	m.Endpoint(2).Attach(b.deliver)
	m.Delay(time.Hour, 0)
	for i := 0; i < 100; i++ {
		m.Endpoint(1).Send(2, []byte("x")) // must not block
	}
	m.mu.Lock()
	l := m.links[linkKey{1, 2}]
	m.mu.Unlock()
	l.mu.Lock()
	q, full := len(l.q), l.full
	l.mu.Unlock()
	if q != 10 || full != 90 {
		t.Fatalf("queue %d, dropped %d; want 10 and 90", q, full)
	}
}

func TestMemoryDetachStopsDelivery(t *testing.T) {
	m, _, b := newPair(t, 1)
	m.Endpoint(1).Send(2, []byte("x"))
	waitCount(t, b, 1)
	m.Endpoint(2).Detach()
	m.Endpoint(1).Send(2, []byte("y"))
	m.Endpoint(1).Detach() // waits for 1's links, so "y" was handled
	if b.count() != 1 {
		t.Fatalf("frame delivered after Detach")
	}
	m.Close()
	m.Close()
	m.Endpoint(1).Send(2, []byte("z")) // dropped, no panic
}
