package keeper

// Transport moves byte frames between the members of one cluster. The host
// implements it over whatever network it has (or uses transport.Memory in one
// process); keeper never listens or dials by itself.
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
