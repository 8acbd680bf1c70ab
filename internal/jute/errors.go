package jute

import "errors"

// ErrMalformed is matched (errors.Is) by every error the Decoder returns for
// bytes that are not the record they should be: input cut short, a length
// below −1 or past the packet's end, an unknown op type inside a multi, or
// bytes left over where the caller asked for the record to end the packet.
// The wrapped message names what was wrong and at which offset.
var ErrMalformed = errors.New("jute: malformed record")

// ErrPacketTooLarge is returned by ReadPacket for a length prefix above the
// limit; the body is not read, so the connection cannot be read further.
var ErrPacketTooLarge = errors.New("jute: packet too large")

// ErrUnknownOp is returned by DecodeRequest for an opcode it has no request
// record for. ZooKeeper answers such a request with UNIMPLEMENTED (−6), then
// closes the session's connection (ZooKeeperServer.submitRequest hands it to
// UnimplementedRequestProcessor, release-3.9.5).
var ErrUnknownOp = errors.New("jute: unknown opcode")
