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

func (r *RequestHeader) fields(w walker) {
	w.int32(&r.Xid)
	w.int32((*int32)(&r.Type))
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

func (r *ReplyHeader) fields(w walker) {
	w.int32(&r.Xid)
	w.int64(&r.Zxid)
	w.int32((*int32)(&r.Err))
}

// WatcherEvent is a watch notification, after a ReplyHeader whose xid is
// XidNotification.
type WatcherEvent struct {
	Type  EventType
	State KeeperState
	Path  string
}

func (r *WatcherEvent) fields(w walker) {
	w.int32((*int32)(&r.Type))
	w.int32((*int32)(&r.State))
	w.ustring(&r.Path)
}

// ErrorResponse is a failed op's result in a multi (after a MultiHeader of
// type OpError) and the reply to addWatch (Err 0).
type ErrorResponse struct {
	Err Code
}

func (r *ErrorResponse) fields(w walker) { w.int32((*int32)(&r.Err)) }

// AuthPacket adds an identity to the connection (OpAuth, xid XidAuth): a
// scheme ("digest", …) and its credentials ("user:password" for digest).
// Type is 0 in every client. A failure is answered with AUTHFAILED and the
// connection closed.
type AuthPacket struct {
	Type   int32
	Scheme string
	Auth   []byte
}

func (r *AuthPacket) fields(w walker) {
	w.int32(&r.Type)
	w.ustring(&r.Scheme)
	w.buffer(&r.Auth)
}
