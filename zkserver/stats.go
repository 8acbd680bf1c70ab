package zkserver

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/keeper-go/keeper"
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
// The mean is exact; ZooKeeper's connections print it cut to an integer,
// its server as a double.
func (l *latency) get() (lo int64, avg float64, hi, last int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count == 0 {
		return 0, 0, 0, 0
	}
	return l.min, float64(l.sum) / float64(l.count), l.max, l.last
}

// intAvg is the mean cut to an integer, as a ZooKeeper connection's
// avglat: the sum divided by the count in long arithmetic.
func (l *latency) intAvg() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count == 0 {
		return 0
	}
	return l.sum / l.count
}

func (l *latency) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count, l.sum, l.min, l.max, l.last = 0, 0, 0, 0, 0
}

// sizes keeps the last, smallest and largest size of the replies sent, as
// ZooKeeper's BufferStats: -1 for each before the first. Every reply and
// notification of every connection adds to it, so it takes no lock.
type sizes struct {
	last, min, max atomic.Int64
}

func (b *sizes) add(n int) {
	v := int64(n)
	b.last.Store(v)
	for lo := b.min.Load(); (lo == -1 || v < lo) && !b.min.CompareAndSwap(lo, v); lo = b.min.Load() {
	}
	for hi := b.max.Load(); v > hi && !b.max.CompareAndSwap(hi, v); hi = b.max.Load() {
	}
}

func (b *sizes) get() (last, lo, hi int) {
	return int(b.last.Load()), int(b.min.Load()), int(b.max.Load())
}

func (b *sizes) reset() {
	b.last.Store(-1)
	b.min.Store(-1)
	b.max.Store(-1)
}

// serverStats are the server's counters for the four-letter words.
type serverStats struct {
	started        time.Time
	received, sent atomic.Int64
	lat            latency
	replySizes     sizes
	authFailed     atomic.Int64

	// The term in which the member was last seen leading, and since when;
	// mntr's zk_leader_uptime.
	leadMu      sync.Mutex
	leadTerm    uint64
	leaderSince time.Time
}

func newServerStats() *serverStats {
	s := &serverStats{started: time.Now()}
	s.replySizes.reset()
	return s
}

// served records a request read at at and answered now.
func (s *serverStats) served(at time.Time) { s.lat.add(time.Since(at).Milliseconds()) }

// reset is srst's: latencies, packet counts and reply sizes start again.
func (s *serverStats) reset() {
	s.lat.reset()
	s.received.Store(0)
	s.sent.Store(0)
	s.replySizes.reset()
}

// leading returns how long the member has led in st's term, as far as
// this server has seen: from the first time it asked in that term.
func (s *serverStats) leading(st keeper.Status) time.Duration {
	s.leadMu.Lock()
	defer s.leadMu.Unlock()
	if s.leaderSince.IsZero() || s.leadTerm != st.Term {
		s.leadTerm, s.leaderSince = st.Term, time.Now()
	}
	return time.Since(s.leaderSince)
}

// connStats are one connection's counters and what cons shows of it.
type connStats struct {
	established    time.Time
	received, sent atomic.Int64
	lat            latency
	// fourLetter is set while the connection answers a four-letter word.
	fourLetter atomic.Bool

	mu sync.Mutex
	// The session, once the handshake made one, and its timeout.
	sess    *keeper.Session
	timeout time.Duration
	// The last request answered: ZooKeeper's short name of its opcode,
	// its xid (-1: none yet) and the zxid of its reply (-1: none yet), and
	// when it was answered (zero: not yet).
	lastOp       string
	lastCxid     int64
	lastZxid     int64
	lastResponse time.Time
}

func newConnStats() connStats {
	return connStats{established: time.Now(), lastOp: "NA", lastCxid: -1, lastZxid: -1}
}

// begin records the session the handshake made.
func (s *connStats) begin(sess *keeper.Session, timeout time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sess, s.timeout = sess, timeout
}

// session returns the connection's session, nil before the handshake made
// one, and its timeout.
func (s *connStats) session() (*keeper.Session, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sess, s.timeout
}

// served records the reply to a request of op with xid, whose reply
// carried zxid, read at at. Auth packets leave the last operation as it
// was, as ZooKeeper answers them outside its request pipeline.
func (s *connStats) served(op jute.OpCode, xid int32, zxid int64, at time.Time) {
	s.lat.add(time.Since(at).Milliseconds())
	if op == jute.OpAuth || op == jute.OpSASL {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if xid >= 0 {
		// Special xids (pings, auth, setWatches) keep the client's last
		// real one, as ZooKeeper's do.
		s.lastCxid = int64(xid)
	}
	s.lastOp, s.lastZxid, s.lastResponse = lopName(op), zxid, time.Now()
}

// reset is crst's: the counters and the last operation start again.
func (s *connStats) reset() {
	s.received.Store(0)
	s.sent.Store(0)
	s.lat.reset()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastOp, s.lastCxid, s.lastZxid, s.lastResponse = "NA", -1, -1, time.Time{}
}

// lopNames are ZooKeeper's short names of the opcodes in cons's lop
// (FinalRequestProcessor's).
var lopNames = map[jute.OpCode]string{
	jute.OpPing:                 "PING",
	jute.OpCreateSession:        "SESS",
	jute.OpMulti:                "MULT",
	jute.OpMultiRead:            "MLTR",
	jute.OpCreate:               "CREA",
	jute.OpCreate2:              "CREA",
	jute.OpCreateTTL:            "CREA",
	jute.OpCreateContainer:      "CREA",
	jute.OpDelete:               "DELE",
	jute.OpDeleteContainer:      "DELE",
	jute.OpSetData:              "SETD",
	jute.OpReconfig:             "RECO",
	jute.OpSetACL:               "SETA",
	jute.OpCloseSession:         "CLOS",
	jute.OpSync:                 "SYNC",
	jute.OpCheck:                "CHEC",
	jute.OpExists:               "EXIS",
	jute.OpGetData:              "GETD",
	jute.OpSetWatches:           "SETW",
	jute.OpSetWatches2:          "STW2",
	jute.OpAddWatch:             "ADDW",
	jute.OpGetACL:               "GETA",
	jute.OpGetChildren:          "GETC",
	jute.OpGetChildren2:         "GETC",
	jute.OpGetAllChildrenNumber: "GETACN",
	jute.OpCheckWatches:         "CHKW",
	jute.OpRemoveWatches:        "REMW",
	jute.OpWhoAmI:               "HOMI",
	jute.OpGetEphemerals:        "GETE",
}

// lopName is ZooKeeper's short name of op; "NA" for one it has none for.
func lopName(op jute.OpCode) string {
	if n, ok := lopNames[op]; ok {
		return n
	}
	return "NA"
}
