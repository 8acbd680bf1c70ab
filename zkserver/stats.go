package zkserver

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/keeper-go/keeper/internal/jute"
)

// latency keeps the min, max and mean of request latencies in
// milliseconds, as ZooKeeper's ServerStats and connection stats report
// them.
type latency struct {
	mu         sync.Mutex
	count, sum int64
	min, max   int64
	last       int64
}

func (l *latency) add(ms int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count == 0 || ms < l.min {
		l.min = ms
	}
	l.max = max(l.max, ms)
	l.count++
	l.sum += ms
	l.last = ms
}

// get returns min, avg, max and last; all zero before the first request.
func (l *latency) get() (lo int64, avg float64, hi, last int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count == 0 {
		return 0, 0, 0, 0
	}
	return l.min, float64(l.sum) / float64(l.count), l.max, l.last
}

func (l *latency) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	*l = latency{}
}

// serverStats are the server's counters for the four-letter words.
type serverStats struct {
	started        time.Time
	received, sent atomic.Int64
	lat            latency
}

func newServerStats() *serverStats { return &serverStats{started: time.Now()} }

// served records a request read at at and answered now.
func (s *serverStats) served(at time.Time) { s.lat.add(time.Since(at).Milliseconds()) }

// connStats are one connection's counters (cons).
type connStats struct {
	established    time.Time
	received, sent atomic.Int64
	lat            latency
	mu             sync.Mutex
	lastOp         jute.OpCode
	lastXid        int32
	lastResponse   time.Time
}

// served records the reply to a request of op read at at.
func (s *connStats) served(op jute.OpCode, at time.Time) {
	s.lat.add(time.Since(at).Milliseconds())
	s.mu.Lock()
	s.lastOp, s.lastResponse = op, time.Now()
	s.mu.Unlock()
}
