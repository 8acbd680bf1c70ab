package keeper

import (
	"context"
	"io"
)

// Transport moves byte frames between the members of one cluster. The host
// uses transport.TCP (between processes: TCP with mutual TLS, member
// identities bound to certificates), transport.Memory (in one process), or
// implements it over whatever network it has; keeper itself never listens.
// An implementation should send frames for which BulkFrame reports true on a
// lane of their own, so control traffic never waits behind them.
//
// Frames are opaque and self-contained. A transport may lose, delay, reorder or
// duplicate them: raft tolerates all four. It must not alter a frame's bytes
// silently; a frame that arrives must be the frame that was sent.
type Transport interface {
	// Attach is called once by Open, before any Send. From then until Detach
	// returns, the transport calls deliver for each frame addressed to this
	// member, naming the member that sent it. deliver may be called from many
	// goroutines at once, never blocks for long, and takes ownership of frame.
	Attach(deliver func(from uint64, frame []byte)) error

	// Send hands frame to the network for member to. It must not block the
	// caller (queue or drop instead) and reports nothing: a lost frame is
	// recovered by raft. The transport owns frame after the call.
	Send(to uint64, frame []byte)

	// Detach stops delivery to this member. After it returns, deliver is never
	// called again. Close calls it once.
	Detach()
}

// StreamTransport is an optional extension of Transport that carries long
// byte streams between members: keeper sends raft snapshots over it (the
// whole tree, in the backup stream format) to a member too far behind for
// the retained log. A Transport that does not implement it still works, but
// a member that falls behind the leader's released log (Config.KeepEntries)
// stays behind: the leader logs an error each time raft asks for a snapshot
// it cannot send.
//
// Open calls AttachStream once, after Attach, when cfg.Transport implements
// StreamTransport; Detach removes the receiver too.
type StreamTransport interface {
	// AttachStream registers receive for streams addressed to this member.
	// The transport calls it once per incoming stream, on a goroutine of its
	// own or of the sender, naming the sending member; receive reads body to
	// its end and returns nil when it took the stream, or an error. body's
	// reads fail when the stream breaks (network, sender gone). receive may
	// take long (it builds a tree); it returns promptly once this member
	// closes. Streams may arrive concurrently; receive refuses what it cannot
	// take.
	AttachStream(receive func(from uint64, header []byte, body io.Reader) error) error

	// SendStream sends header, then body read to its end, to member to, and
	// returns nil once the receiver took the whole stream (its receive
	// returned nil), or an error: unreachable, broken, refused. It blocks for
	// the whole transfer and must return promptly once ctx ends. header is
	// small (a few hundred bytes); body's length is unknown in advance. The
	// transport must deliver body's bytes unaltered and in order, or break
	// the stream: never a silently truncated or reordered body.
	SendStream(ctx context.Context, to uint64, header []byte, body io.Reader) error
}
