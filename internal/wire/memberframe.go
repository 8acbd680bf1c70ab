package wire

import (
	"encoding/binary"
	"fmt"
)

// A membership frame is a transport frame that carries a membership call
// made off the leader to the leader, or the leader's reply: the cluster id
// (8 bytes, big-endian), MemberFrameMarker, a kind byte, a version byte and
// a fixed body, all integers big-endian:
//
//	request: request id (8) | op (1) | target member id (8)
//	reply:   request id (8) | code (1) | leader id (8) | index (8) | text length (2) | text
//
// The request id is the requester's own sequence number; a reply's index is
// the log index at which the change applied (0 for a refusal), its code
// names the error (ReplyCode) and its text is the leader's error text, at
// most MaxReplyText bytes.

// memberFrameVersion follows the kind byte.
const memberFrameVersion = 1

// MemberFrameKind says whether a membership frame is a request or a reply.
type MemberFrameKind uint8

// Kinds of membership frames.
const (
	MemberRequest MemberFrameKind = 1
	MemberReply   MemberFrameKind = 2
)

// Lengths of membership frames, counted from the marker.
const (
	memberRequestLen = 1 + 1 + 1 + 8 + 1 + 8
	memberReplyHead  = 1 + 1 + 1 + 8 + 1 + 8 + 8 + 2
	// MaxReplyText bounds a reply's error text; the encoder cuts longer
	// texts.
	MaxReplyText = 512
)

// MemberOp is the membership operation a request asks for.
type MemberOp uint8

// Membership operations.
const (
	MemberAddLearner MemberOp = 1
	MemberAddVoter   MemberOp = 2
	MemberPromote    MemberOp = 3
	MemberRemove     MemberOp = 4
	MemberTransfer   MemberOp = 5
)

func (op MemberOp) String() string {
	switch op {
	case MemberAddLearner:
		return "add learner"
	case MemberAddVoter:
		return "add voter"
	case MemberPromote:
		return "promote"
	case MemberRemove:
		return "remove"
	case MemberTransfer:
		return "transfer leadership"
	}
	return fmt.Sprintf("MemberOp(%d)", uint8(op))
}

// ReplyCode is a reply's outcome: ReplyOK, or the keeper error the leader
// returned, one code per sentinel error.
type ReplyCode uint8

// Reply codes.
const (
	ReplyOK            ReplyCode = 0
	ReplyNotLeader     ReplyCode = 1 // ErrNotLeader; the reply names the leader
	ReplyMemberExists  ReplyCode = 2
	ReplyUnknownMember ReplyCode = 3
	ReplyUnsafe        ReplyCode = 4
	ReplyInProgress    ReplyCode = 5 // ErrConfChangeInProgress: another change is pending
	ReplyIndeterminate ReplyCode = 6
	ReplyBadArguments  ReplyCode = 7
	ReplyNoLeader      ReplyCode = 8
	ReplyNotReady      ReplyCode = 9 // the leader has not applied an entry of its term; resend
	ReplyOther         ReplyCode = 10
	// MaxReplyCode is the highest code a decoder accepts.
	MaxReplyCode = ReplyOther
)

// MemberFrame is a decoded membership frame (after the cluster id).
type MemberFrame struct {
	Kind MemberFrameKind
	ID   uint64 // request id
	// request
	Op     MemberOp
	Target uint64
	// reply
	Code   ReplyCode
	Leader uint64
	Index  uint64 // where the change applied
	Text   string
}

// EncodeMemberFrame returns the frame for f, prefixed with clusterID. A
// frame of any kind but MemberRequest is encoded as a reply.
func EncodeMemberFrame(clusterID uint64, f MemberFrame) []byte {
	b := make([]byte, 0, clusterIDLen+memberReplyHead+len(f.Text))
	b = binary.BigEndian.AppendUint64(b, clusterID)
	b = append(b, MemberFrameMarker, byte(f.Kind), memberFrameVersion)
	b = binary.BigEndian.AppendUint64(b, f.ID)
	if f.Kind == MemberRequest {
		b = append(b, byte(f.Op))
		return binary.BigEndian.AppendUint64(b, f.Target)
	}
	text := f.Text
	if len(text) > MaxReplyText {
		text = text[:MaxReplyText]
	}
	b = append(b, byte(f.Code))
	b = binary.BigEndian.AppendUint64(b, f.Leader)
	b = binary.BigEndian.AppendUint64(b, f.Index)
	b = binary.BigEndian.AppendUint16(b, uint16(len(text)))
	return append(b, text...)
}

// DecodeMemberFrame decodes b, a frame without its cluster id (b starts at
// the marker). It returns an error matching ErrBadMemberFrame for anything
// EncodeMemberFrame would not produce.
func DecodeMemberFrame(b []byte) (MemberFrame, error) {
	var f MemberFrame
	if len(b) < 3 || b[0] != MemberFrameMarker {
		return f, fmt.Errorf("%w: no marker", ErrBadMemberFrame)
	}
	if b[2] != memberFrameVersion {
		return f, fmt.Errorf("%w: version %d", ErrBadMemberFrame, b[2])
	}
	f.Kind = MemberFrameKind(b[1])
	switch f.Kind {
	case MemberRequest:
		if len(b) != memberRequestLen {
			return f, fmt.Errorf("%w: request of %d bytes", ErrBadMemberFrame, len(b))
		}
		f.ID = binary.BigEndian.Uint64(b[3:])
		f.Op = MemberOp(b[11])
		f.Target = binary.BigEndian.Uint64(b[12:])
		if f.Op < MemberAddLearner || f.Op > MemberTransfer {
			return f, fmt.Errorf("%w: op %d", ErrBadMemberFrame, f.Op)
		}
	case MemberReply:
		if len(b) < memberReplyHead {
			return f, fmt.Errorf("%w: reply of %d bytes", ErrBadMemberFrame, len(b))
		}
		f.ID = binary.BigEndian.Uint64(b[3:])
		f.Code = ReplyCode(b[11])
		f.Leader = binary.BigEndian.Uint64(b[12:])
		f.Index = binary.BigEndian.Uint64(b[20:])
		n := int(binary.BigEndian.Uint16(b[28:]))
		if f.Code > MaxReplyCode {
			return f, fmt.Errorf("%w: code %d", ErrBadMemberFrame, f.Code)
		}
		if n > MaxReplyText || len(b) != memberReplyHead+n {
			return f, fmt.Errorf("%w: text of %d bytes in a reply of %d", ErrBadMemberFrame, n, len(b))
		}
		f.Text = string(b[memberReplyHead:])
	default:
		return f, fmt.Errorf("%w: kind %d", ErrBadMemberFrame, f.Kind)
	}
	return f, nil
}
