package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// Errors of the TCP transport, matchable with errors.Is.
var (
	// ErrBadConfig reports a TCPConfig field that is missing or invalid: a
	// zero ID or ClusterID, a nil Listener, no TLS without Insecure, a peer
	// address that is not host:port, a negative tuning value.
	ErrBadConfig = errors.New("transport: bad config")

	// ErrBadCertificate reports TLS material that cannot serve this member:
	// a file that cannot be read, PEM that does not parse, a key that does
	// not match its certificate, a CA bundle with no certificate, a leaf
	// that does not chain to the CA, or a leaf without this member's
	// identity URI or naming another cluster.
	ErrBadCertificate = errors.New("transport: bad certificate")

	// ErrRefused reports a connection refused at run time, by this member
	// or by the peer. The error is a *RefusalError naming the reason.
	ErrRefused = errors.New("transport: refused")

	// ErrClosed reports a call on a closed TCP transport.
	ErrClosed = errors.New("transport: closed")
)

// Defaults of the TCP transport's tuning fields; a zero field means its
// default.
const (
	// DefaultMaxFrame bounds one frame, and one stream header or chunk. A
	// raft append carries at most keeper's MaxSizePerMsg (1 MiB by default)
	// of entries, so 64 MiB leaves room for any sane setting.
	DefaultMaxFrame = 64 << 20
	// DefaultQueueFrames is the number of frames one lane to one peer holds
	// before Send drops frames on it.
	DefaultQueueFrames = 4096
	// DefaultQueueBytes is the number of frame bytes one lane to one peer
	// holds before Send drops frames on it.
	DefaultQueueBytes = 64 << 20
	// DefaultPingInterval is how often an idle connection sends a ping. A
	// connection on which nothing arrives for DeadPings intervals is closed
	// as dead and redialled: with the default, a half-open link is noticed
	// within 2 s.
	DefaultPingInterval = 500 * time.Millisecond
	// DefaultDialTimeout bounds one dial, TLS handshake and preamble
	// exchange, on both sides.
	DefaultDialTimeout = 2 * time.Second
	// DefaultMaxRedialBackoff caps the wait between redials of a lost
	// peer. It stays below keeper's default election timeout (200 ms), so a
	// restarted member is reached again before it would start an election.
	DefaultMaxRedialBackoff = 100 * time.Millisecond
	// DefaultStreamChunkTimeout bounds how long a snapshot stream may make
	// no progress (no chunk sent or received, no keepalive from a receiver
	// still installing) before it fails.
	DefaultStreamChunkTimeout = 10 * time.Second
	// DefaultMaxStreamsPerPeer is how many snapshot streams one peer may
	// send to this member at once; more are refused.
	DefaultMaxStreamsPerPeer = 2
)

// DeadPings is the number of ping intervals after which a connection that
// received nothing is closed as dead.
const DeadPings = 4

// minRedialBackoff is the first wait before redialling a lost peer.
const minRedialBackoff = 10 * time.Millisecond

// TCPConfig configures one member's endpoint of a TCP network. Zero tuning
// fields mean their documented defaults; NewTCP never changes the caller's
// copy.
type TCPConfig struct {
	// ID is this member's id (required, non-zero).
	ID uint64
	// ClusterID is the cluster's id, as in keeper.Config.ClusterID
	// (required, non-zero). Certificates and connections naming another
	// cluster are refused.
	ClusterID uint64
	// Listener is opened by the host (required). The TCP owns it from
	// NewTCP on and closes it on Close. It is served with TLS unless
	// Insecure.
	Listener net.Listener
	// Peers maps member ids to the "host:port" to dial them at. Only these
	// members may connect; change the map later with SetPeer and
	// RemovePeer. An entry for ID itself is ignored.
	Peers map[uint64]string
	// TLS is the source of this member's certificate and key and of the
	// cluster CA: TLSFiles (paths, re-read by Reload) or TLSPEM (bytes).
	// Required unless Insecure.
	TLS TLSSource
	// Insecure runs plaintext with no identity check, for tests only: the
	// `from` handed to deliver is then the id the dialler announces.
	Insecure bool
	// Logger receives refusals (once per peer and reason), peers going
	// down and up, and failed streams. Nil: silent.
	Logger *slog.Logger

	// MaxFrame bounds a frame, a stream header and a stream chunk, in
	// bytes. A peer sending more is refused. Default DefaultMaxFrame.
	MaxFrame int
	// QueueFrames bounds the frames queued on one lane to one peer.
	// Default DefaultQueueFrames.
	QueueFrames int
	// QueueBytes bounds the bytes queued on one lane to one peer. Default
	// DefaultQueueBytes. A single frame larger than QueueBytes is dropped.
	QueueBytes int
	// PingInterval is how often an idle connection sends a ping; DeadPings
	// intervals without any byte received close it. Default
	// DefaultPingInterval.
	PingInterval time.Duration
	// DialTimeout bounds a dial with its handshake and preamble, and an
	// incoming connection's handshake and preamble. Default
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// MaxRedialBackoff caps the jittered exponential wait between redials
	// of a peer that is down. Keep it below the election timeout. Default
	// DefaultMaxRedialBackoff.
	MaxRedialBackoff time.Duration
	// StreamChunkTimeout bounds how long a snapshot stream may make no
	// progress. Default DefaultStreamChunkTimeout.
	StreamChunkTimeout time.Duration
	// MaxStreamsPerPeer bounds the snapshot streams one peer may send to
	// this member at once. Default DefaultMaxStreamsPerPeer.
	MaxStreamsPerPeer int
	// Dial opens a connection to addr. Default: a net.Dialer. Tests use it
	// to put a proxy in the way.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
}

// withDefaults returns a copy of c with zero tuning fields set to their
// defaults. Peers is copied too.
func (c TCPConfig) withDefaults() TCPConfig {
	orDefault(&c.MaxFrame, DefaultMaxFrame)
	orDefault(&c.QueueFrames, DefaultQueueFrames)
	orDefault(&c.QueueBytes, DefaultQueueBytes)
	orDefault(&c.PingInterval, DefaultPingInterval)
	orDefault(&c.DialTimeout, DefaultDialTimeout)
	orDefault(&c.MaxRedialBackoff, DefaultMaxRedialBackoff)
	orDefault(&c.StreamChunkTimeout, DefaultStreamChunkTimeout)
	orDefault(&c.MaxStreamsPerPeer, DefaultMaxStreamsPerPeer)
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	peers := make(map[uint64]string, len(c.Peers))
	for id, addr := range c.Peers {
		if id != c.ID {
			peers[id] = addr
		}
	}
	c.Peers = peers
	return c
}

// orDefault sets *v to d when *v is zero.
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// validate reports every invalid field of c at once, each error matching
// ErrBadConfig.
func (c TCPConfig) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...))
	}
	if c.ID == 0 {
		bad("ID is zero")
	}
	if c.ClusterID == 0 {
		bad("ClusterID is zero")
	}
	if c.Listener == nil {
		bad("Listener is nil")
	}
	if c.TLS == nil && !c.Insecure {
		bad("TLS is nil and Insecure is false")
	}
	for id, addr := range c.Peers {
		if id == 0 {
			bad("Peers holds member id 0")
			continue
		}
		if err := checkAddr(addr); err != nil {
			bad("Peers[%d]: %v", id, err)
		}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxFrame", int64(c.MaxFrame)},
		{"QueueFrames", int64(c.QueueFrames)},
		{"QueueBytes", int64(c.QueueBytes)},
		{"PingInterval", int64(c.PingInterval)},
		{"DialTimeout", int64(c.DialTimeout)},
		{"MaxRedialBackoff", int64(c.MaxRedialBackoff)},
		{"StreamChunkTimeout", int64(c.StreamChunkTimeout)},
		{"MaxStreamsPerPeer", int64(c.MaxStreamsPerPeer)},
	} {
		if f.v < 0 {
			bad("%s is negative (%d)", f.name, f.v)
		}
	}
	return errors.Join(errs...)
}

// checkAddr reports whether addr is "host:port" with a non-empty host and a
// numeric port.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("address %q has no host", addr)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("address %q has no valid port", addr)
	}
	return nil
}
