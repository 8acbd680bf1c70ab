package jute

// RequestHeader starts every client packet after the ConnectRequest: the
// client's xid (counting up from 1, or a special Xid…) and the opcode of
// the request record that follows.
type RequestHeader struct {
	Xid  int32
	Type OpCode
}

// RequestHeaderLen is the length of an encoded RequestHeader.
const RequestHeaderLen = 8

// Encode appends xid and type.
func (r *RequestHeader) Encode(e *Encoder) {
	e.Int32(r.Xid)
	e.Int32(int32(r.Type))
}

// Decode reads xid and type.
func (r *RequestHeader) Decode(d *Decoder) {
	r.Xid = d.Int32()
	r.Type = OpCode(d.Int32())
}

// ReplyHeader starts every server packet after the ConnectResponse: the
// request's xid (or XidNotification, XidPing, …), the zxid the server had
// reached, and the error code. A reply with Err other than CodeOK is the
// header alone.
type ReplyHeader struct {
	Xid  int32
	Zxid int64
	Err  Code
}

// ReplyHeaderLen is the length of an encoded ReplyHeader.
const ReplyHeaderLen = 16

// Encode appends xid, zxid and err.
func (r *ReplyHeader) Encode(e *Encoder) {
	e.Int32(r.Xid)
	e.Int64(r.Zxid)
	e.Int32(int32(r.Err))
}

// Decode reads xid, zxid and err.
func (r *ReplyHeader) Decode(d *Decoder) {
	r.Xid = d.Int32()
	r.Zxid = d.Int64()
	r.Err = Code(d.Int32())
}

// WatcherEvent is a watch notification, after a ReplyHeader whose xid is
// XidNotification.
type WatcherEvent struct {
	Type  EventType
	State KeeperState
	Path  string
}

// Encode appends type, state and path.
func (r *WatcherEvent) Encode(e *Encoder) {
	e.Int32(int32(r.Type))
	e.Int32(int32(r.State))
	e.UString(r.Path)
}

// Decode reads type, state and path.
func (r *WatcherEvent) Decode(d *Decoder) {
	r.Type = EventType(d.Int32())
	r.State = KeeperState(d.Int32())
	r.Path = d.UString()
}

// ErrorResponse is a failed op's result in a multi (after a MultiHeader of
// type OpError) and the reply to addWatch (Err 0).
type ErrorResponse struct {
	Err Code
}

// Encode appends err.
func (r *ErrorResponse) Encode(e *Encoder) { e.Int32(int32(r.Err)) }

// Decode reads err.
func (r *ErrorResponse) Decode(d *Decoder) { r.Err = Code(d.Int32()) }

// AuthPacket adds an identity to the connection (OpAuth, xid XidAuth): a
// scheme ("digest", …) and its credentials ("user:password" for digest).
// Type is 0 in every client. A failure is answered with AUTHFAILED and the
// connection closed.
type AuthPacket struct {
	Type   int32
	Scheme string
	Auth   []byte
}

// Encode appends type, scheme and auth.
func (r *AuthPacket) Encode(e *Encoder) {
	e.Int32(r.Type)
	e.UString(r.Scheme)
	e.Buffer(r.Auth)
}

// Decode reads type, scheme and auth.
func (r *AuthPacket) Decode(d *Decoder) {
	r.Type = d.Int32()
	r.Scheme = d.UString()
	r.Auth = d.Buffer()
}
