package transport

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Reason names why a connection or a stream was refused. Stats counts
// refusals by reason and the log names it; docs/RUNBOOK.md says what each
// means for an operator.
type Reason string

// Refusal reasons.
const (
	// ReasonNotTLS: the first bytes on the TLS port were not a TLS
	// handshake (a plaintext client, a port scanner, a load balancer's
	// probe).
	ReasonNotTLS Reason = "not-tls"
	// ReasonHandshake: the TLS handshake failed for a reason other than
	// the certificate checks below (protocol version, timeout, reset).
	ReasonHandshake Reason = "handshake"
	// ReasonNoCertificate: the peer presented no certificate.
	ReasonNoCertificate Reason = "no-certificate"
	// ReasonUnknownCA: the peer's certificate does not chain to this
	// member's CA bundle (wrong CA, or a CA rotated out).
	ReasonUnknownCA Reason = "unknown-ca"
	// ReasonExpired: the peer's certificate is expired or not yet valid
	// (also check both clocks).
	ReasonExpired Reason = "expired"
	// ReasonBadCertificate: the peer's certificate chains to the CA but is
	// unusable otherwise (key usage, malformed chain).
	ReasonBadCertificate Reason = "bad-certificate"
	// ReasonNoIdentity: the peer's certificate has no keeper member URI
	// SAN, or more than one, or a malformed one.
	ReasonNoIdentity Reason = "no-identity"
	// ReasonOtherCluster: the peer's certificate or preamble names another
	// cluster id.
	ReasonOtherCluster Reason = "other-cluster"
	// ReasonUnknownMember: the peer's certificate names a member that is
	// not one of this member's peers (SetPeer it first).
	ReasonUnknownMember Reason = "unknown-member"
	// ReasonWrongMember: the member answering at a peer's address is not
	// that peer (a stale address, or one member's certificate on another's
	// host).
	ReasonWrongMember Reason = "wrong-member"
	// ReasonImpersonation: the preamble claims a sender other than the
	// member its certificate names.
	ReasonImpersonation Reason = "impersonation"
	// ReasonWrongDestination: the preamble is meant for another member
	// than this one.
	ReasonWrongDestination Reason = "wrong-destination"
	// ReasonGarbage: bytes that are not keeper's protocol (bad preamble,
	// unknown record, malformed length).
	ReasonGarbage Reason = "garbage"
	// ReasonOversize: a frame, stream header or chunk over MaxFrame.
	ReasonOversize Reason = "oversize"
	// ReasonTooManyStreams: the peer already sends MaxStreamsPerPeer
	// streams to this member.
	ReasonTooManyStreams Reason = "too-many-streams"
	// ReasonStreamDamaged: a stream chunk failed its checksum, or the end
	// marker disagrees with the body received.
	ReasonStreamDamaged Reason = "stream-damaged"
	// ReasonByPeer: the peer refused this member's connection (its log
	// says why; the error text carries what it sent back).
	ReasonByPeer Reason = "refused-by-peer"
	// ReasonRevoked: an established connection whose peer certificate no
	// longer verifies after Reload was closed.
	ReasonRevoked Reason = "revoked"
)

// RefusalError is a connection or stream refused at run time. It matches
// ErrRefused with errors.Is.
type RefusalError struct {
	// Peer is the member the connection is to or from, when known (0 for
	// an unidentified remote, such as a plaintext client).
	Peer uint64
	// Reason says why.
	Reason Reason
	// Err is the underlying error, if any.
	Err error
}

func (e *RefusalError) Error() string {
	s := fmt.Sprintf("transport: refused (%s)", e.Reason)
	if e.Peer != 0 {
		s += fmt.Sprintf(" member %d", e.Peer)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is makes a RefusalError match ErrRefused.
func (e *RefusalError) Is(target error) bool { return target == ErrRefused }

// Unwrap returns the underlying error.
func (e *RefusalError) Unwrap() error { return e.Err }

// refuse returns a *RefusalError.
func refuse(peer uint64, r Reason, err error) *RefusalError {
	return &RefusalError{Peer: peer, Reason: r, Err: err}
}

// LaneStats counts one lane's traffic, summed over peers.
type LaneStats struct {
	// Sent is the number of frames written to the network.
	Sent uint64
	// SentBytes is the number of frame bytes written to the network.
	SentBytes uint64
	// Dropped is the number of frames Send dropped: the queue was full, the
	// peer was down or unknown, or the connection broke with them queued.
	Dropped uint64
	// Received is the number of frames delivered from peers on this lane.
	Received uint64
}

// TCPStats is a snapshot of a TCP transport's counters since NewTCP.
type TCPStats struct {
	// Control and Data count the two frame lanes.
	Control, Data LaneStats
	// Pings is the number of pings sent on idle connections.
	Pings uint64
	// Dials is the number of connections this member opened (both lanes
	// and streams); Redials those after a failure or a lost connection.
	Dials, Redials uint64
	// DeadLinks is the number of connections closed because nothing
	// arrived for DeadPings ping intervals.
	DeadLinks uint64
	// StreamsSent and StreamsReceived count completed snapshot streams;
	// StreamsFailed counts streams that failed on either side.
	StreamsSent, StreamsReceived, StreamsFailed uint64
	// Refusals counts refused connections and streams by reason, both the
	// ones this member refused and ReasonByPeer for those refused to it.
	Refusals map[Reason]uint64
	// Up lists, per peer, whether both its frame lanes are connected now.
	Up map[uint64]bool
}

// laneCounters are one lane's counters.
type laneCounters struct {
	sent, sentBytes, dropped, received atomic.Uint64
}

func (c *laneCounters) snapshot() LaneStats {
	return LaneStats{
		Sent: c.sent.Load(), SentBytes: c.sentBytes.Load(),
		Dropped: c.dropped.Load(), Received: c.received.Load(),
	}
}

// maxLogged bounds the peer and reason pairs remembered for logging once;
// past it, new pairs are counted but not logged.
const maxLogged = 1024

// counters are the TCP transport's counters and its refusal log.
type counters struct {
	lanes                                       [numLanes]laneCounters
	pings, dials, redials, deadLinks            atomic.Uint64
	streamsSent, streamsReceived, streamsFailed atomic.Uint64

	mu       sync.Mutex
	refusals map[Reason]uint64
	logged   map[string]bool
}

// refused counts a refusal and logs it the first time this peer (or remote
// address, for an unidentified one) is refused for this reason.
func (c *counters) refused(log *slog.Logger, remote string, e *RefusalError) {
	c.mu.Lock()
	if c.refusals == nil {
		c.refusals = make(map[Reason]uint64)
		c.logged = make(map[string]bool)
	}
	c.refusals[e.Reason]++
	key := fmt.Sprintf("%d/%s/%s", e.Peer, remote, e.Reason)
	if e.Peer != 0 {
		key = fmt.Sprintf("%d/%s", e.Peer, e.Reason)
	}
	first := !c.logged[key] && len(c.logged) < maxLogged
	if first {
		c.logged[key] = true
	}
	c.mu.Unlock()
	if first {
		log.Warn("transport: connection refused (logged once per peer and reason)",
			"peer", e.Peer, "remote", remote, "reason", string(e.Reason), "err", e.Err)
	}
}

func (c *counters) refusalCounts() map[Reason]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[Reason]uint64, len(c.refusals))
	for r, n := range c.refusals {
		m[r] = n
	}
	return m
}
