package jute

import "strconv"

// OpCode is a request's type (RequestHeader.Type, MultiHeader.Type), with
// ZooKeeper's numbers and names (ZooDefs.OpCode, release-3.9.5). The
// version that introduced an op is noted where it is after 3.4.
//
// OpCheck is an op of a multi only: ZooKeeper 3.9 treats a lone check as an
// unknown op (Request.isValid), and 3.8.0 drops the connection on one (its
// reply's Stat is null), so NewRequest and NewResponse know none.
type OpCode int32

// ZooKeeper's opcodes.
const (
	OpNotification         OpCode = 0
	OpCreate               OpCode = 1
	OpDelete               OpCode = 2
	OpExists               OpCode = 3
	OpGetData              OpCode = 4
	OpSetData              OpCode = 5
	OpGetACL               OpCode = 6
	OpSetACL               OpCode = 7
	OpGetChildren          OpCode = 8
	OpSync                 OpCode = 9
	OpPing                 OpCode = 11
	OpGetChildren2         OpCode = 12
	OpCheck                OpCode = 13 // only inside a multi
	OpMulti                OpCode = 14
	OpCreate2              OpCode = 15  // 3.5
	OpReconfig             OpCode = 16  // 3.5
	OpCheckWatches         OpCode = 17  // 3.5
	OpRemoveWatches        OpCode = 18  // 3.5
	OpCreateContainer      OpCode = 19  // 3.5.1
	OpDeleteContainer      OpCode = 20  // 3.5.1, sent by the server's container manager
	OpCreateTTL            OpCode = 21  // 3.5.3
	OpMultiRead            OpCode = 22  // 3.6
	OpAuth                 OpCode = 100 // with XidAuth
	OpSetWatches           OpCode = 101 // with XidSetWatches
	OpSASL                 OpCode = 102
	OpGetEphemerals        OpCode = 103 // 3.6
	OpGetAllChildrenNumber OpCode = 104 // 3.6
	OpSetWatches2          OpCode = 105 // 3.6, with XidSetWatches
	OpAddWatch             OpCode = 106 // 3.6
	OpWhoAmI               OpCode = 107 // 3.7
	OpCreateSession        OpCode = -10 // server side only
	OpCloseSession         OpCode = -11
	OpError                OpCode = -1 // a failed op's result in a multi
)

// String returns ZooKeeper's name for op (ZooDefs.OpCode's field name), or
// the number for an unknown op.
func (op OpCode) String() string {
	switch op {
	case OpNotification:
		return "notification"
	case OpCreate:
		return "create"
	case OpDelete:
		return "delete"
	case OpExists:
		return "exists"
	case OpGetData:
		return "getData"
	case OpSetData:
		return "setData"
	case OpGetACL:
		return "getACL"
	case OpSetACL:
		return "setACL"
	case OpGetChildren:
		return "getChildren"
	case OpSync:
		return "sync"
	case OpPing:
		return "ping"
	case OpGetChildren2:
		return "getChildren2"
	case OpCheck:
		return "check"
	case OpMulti:
		return "multi"
	case OpCreate2:
		return "create2"
	case OpReconfig:
		return "reconfig"
	case OpCheckWatches:
		return "checkWatches"
	case OpRemoveWatches:
		return "removeWatches"
	case OpCreateContainer:
		return "createContainer"
	case OpDeleteContainer:
		return "deleteContainer"
	case OpCreateTTL:
		return "createTTL"
	case OpMultiRead:
		return "multiRead"
	case OpAuth:
		return "auth"
	case OpSetWatches:
		return "setWatches"
	case OpSASL:
		return "sasl"
	case OpGetEphemerals:
		return "getEphemerals"
	case OpGetAllChildrenNumber:
		return "getAllChildrenNumber"
	case OpSetWatches2:
		return "setWatches2"
	case OpAddWatch:
		return "addWatch"
	case OpWhoAmI:
		return "whoAmI"
	case OpCreateSession:
		return "createSession"
	case OpCloseSession:
		return "closeSession"
	case OpError:
		return "error"
	}
	return "OpCode(" + strconv.Itoa(int(op)) + ")"
}

// Special xids: a RequestHeader or ReplyHeader with one of these is not an
// ordinary request and its reply (ClientCnxn.java, release-3.9.5).
const (
	// XidNotification marks a watch event: a ReplyHeader with this xid, the
	// zxid that triggered the event and err 0, then a WatcherEvent.
	XidNotification int32 = -1
	// XidPing marks a ping (OpPing, header alone) and its reply.
	XidPing int32 = -2
	// XidAuth marks an AuthPacket (OpAuth) and its reply.
	XidAuth int32 = -4
	// XidSetWatches marks SetWatches and SetWatches2, which a client sends
	// on reconnecting, in batches of at most 128 KiB of paths.
	XidSetWatches int32 = -8
)
