package jute

// ConnectRequest is a client's first packet, with no RequestHeader before
// it: 44 bytes with a 16-byte password, 45 with readOnly.
//
// readOnly is the one optional field of the protocol: clients up to 3.3, and
// go-zookeeper to this day, do not send it. ZooKeeper reads it when the
// packet has a byte left and answers in kind (ProtocolManager, release-3.9.5).
// Decoding sets WithReadOnly to record whether the client sent it, and
// encoding writes ReadOnly only when WithReadOnly is set.
type ConnectRequest struct {
	ProtocolVersion int32 // 0 in every client to date
	LastZxidSeen    int64 // the last zxid the client saw, 0 for a new session
	TimeOut         int32 // the session timeout the client asks for, ms
	SessionID       int64 // 0 to create a session, else the one to resume
	Passwd          []byte
	ReadOnly        bool // the client accepts a read-only server
	WithReadOnly    bool // the packet carries the readOnly byte
}

func (r *ConnectRequest) fields(w walker) {
	w.int32(&r.ProtocolVersion)
	w.int64(&r.LastZxidSeen)
	w.int32(&r.TimeOut)
	w.int64(&r.SessionID)
	w.buffer(&r.Passwd)
	w.optionalBoolean(&r.ReadOnly, &r.WithReadOnly)
}

// ConnectResponse is the server's answer to a ConnectRequest, with no
// ReplyHeader before it. A session that cannot be resumed is answered with
// TimeOut 0, SessionID 0 and 16 zero bytes of password, which clients read
// as expiry. Send readOnly only to a client that sent it (WithReadOnly): an
// older client refuses a response of unexpected length.
type ConnectResponse struct {
	ProtocolVersion int32
	TimeOut         int32 // the negotiated session timeout, ms
	SessionID       int64
	Passwd          []byte
	ReadOnly        bool // the server is read-only
	WithReadOnly    bool // the packet carries the readOnly byte
}

func (r *ConnectResponse) fields(w walker) {
	w.int32(&r.ProtocolVersion)
	w.int32(&r.TimeOut)
	w.int64(&r.SessionID)
	w.buffer(&r.Passwd)
	w.optionalBoolean(&r.ReadOnly, &r.WithReadOnly)
}
