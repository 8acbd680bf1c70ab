package zkserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/jute"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("zkserver: server closed")

// DefaultHandshakeTimeout is how long a new connection has to send its
// connect request, Options.HandshakeTimeout's default.
const DefaultHandshakeTimeout = 10 * time.Second

// Options configure a Server. The zero value serves with the defaults.
type Options struct {
	// Logger receives the server's log lines: refused connections,
	// malformed packets, unexpected errors. Nil logs nothing.
	Logger *slog.Logger
	// FourLetterWords lists the four-letter words the server answers, as
	// ZooKeeper 3.8's 4lw.commands.whitelist does: any of "ruok", "isro",
	// "srvr", "stat", "cons", "mntr", "envi", "conf", "dirs", "wchs",
	// "wchc", "wchp", "crst", "srst", or "*" for all of them. As in
	// ZooKeeper, "srvr" is always answered (zkServer.sh status needs it),
	// so nil or an empty list answer "srvr" only. A word not allowed, and
	// the words ZooKeeper knows that keeper does not serve ("dump",
	// "gtmk", "stmk", "hash"), get ZooKeeper's refusal: "<word> is not
	// executed because it is not in the whitelist."
	FourLetterWords []string
	// MaxPacket bounds a client's packets, in bytes, as ZooKeeper's
	// jute.maxbuffer; a bigger one closes its connection. Default
	// jute.DefaultMaxPacket (0xfffff).
	MaxPacket int
	// HandshakeTimeout bounds how long a connection may take to send its
	// connect request. Default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MemberAddrs returns the addresses of member id that
	// /zookeeper/config shows in its server line (see MemberAddrs): keeper
	// knows its members' ids, the host knows where they listen. It is
	// called for each member on every read of the node, from connection
	// goroutines at once, so it must be quick and safe for concurrent use;
	// a member added later is asked for too. Nil: no address is known, and
	// each line shows a member's id and role only.
	MemberAddrs func(id uint64) MemberAddrs
}

// Server serves ZooKeeper's client protocol on one keeper member. Its
// methods are safe for concurrent use.
type Server struct {
	n       *keeper.Node
	opts    Options
	log     *slog.Logger
	words   map[string]bool // allowed four-letter words
	stats   *serverStats
	version string // Version as srvr, stat, envi and mntr report it
	fpCache footprintCache

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closed    bool
	wg        sync.WaitGroup // Serve calls and connections
}

// New returns a server of member n. It serves nothing until Serve.
func New(n *keeper.Node, opts Options) *Server {
	if opts.MaxPacket <= 0 {
		opts.MaxPacket = jute.DefaultMaxPacket
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	stats := newServerStats()
	return &Server{
		n:         n,
		opts:      opts,
		log:       log,
		words:     allowedWords(opts.FourLetterWords),
		stats:     stats,
		version:   fullVersion(stats.started),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}
}

// Serve accepts ZooKeeper clients on ln until ln fails or Shutdown is
// called, serving each connection on its own goroutines. It closes ln when
// it returns. After Shutdown it returns ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("zkserver: accept", "err", err, "retry", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("zkserver: accept: %w", err)
		}
		delay = 0
		c := newConn(s, nc)
		if !s.track(c) {
			nc.Close()
			return ErrServerClosed
		}
		go func() {
			defer s.untrack(c)
			c.serve()
		}()
	}
}

// Shutdown stops accepting, closes every client connection and waits for
// their goroutines, or for ctx. Sessions are not closed: their clients
// resume them on another member, or they expire. A Server cannot serve
// again after Shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("zkserver: shutdown: %w", ctx.Err())
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track adds c to the served connections, unless the server is closed.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// connections returns the connections served now, in the order they were
// established.
func (s *Server) connections() []*conn {
	s.mu.Lock()
	out := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b *conn) int {
		if c := a.stats.established.Compare(b.stats.established); c != 0 {
			return c
		}
		return strings.Compare(a.nc.RemoteAddr().String(), b.nc.RemoteAddr().String())
	})
	return out
}
