package jute_test

import (
	"testing"

	"github.com/keeper-go/keeper/internal/jute"
)

// TestOpCodes pins every opcode's number and name to ZooDefs.OpCode
// (release-3.9.5).
func TestOpCodes(t *testing.T) {
	for _, c := range []struct {
		op   jute.OpCode
		num  int32
		name string
	}{
		{jute.OpNotification, 0, "notification"}, {jute.OpCreate, 1, "create"}, {jute.OpDelete, 2, "delete"},
		{jute.OpExists, 3, "exists"}, {jute.OpGetData, 4, "getData"}, {jute.OpSetData, 5, "setData"},
		{jute.OpGetACL, 6, "getACL"}, {jute.OpSetACL, 7, "setACL"}, {jute.OpGetChildren, 8, "getChildren"},
		{jute.OpSync, 9, "sync"}, {jute.OpPing, 11, "ping"}, {jute.OpGetChildren2, 12, "getChildren2"},
		{jute.OpCheck, 13, "check"}, {jute.OpMulti, 14, "multi"}, {jute.OpCreate2, 15, "create2"},
		{jute.OpReconfig, 16, "reconfig"}, {jute.OpCheckWatches, 17, "checkWatches"},
		{jute.OpRemoveWatches, 18, "removeWatches"}, {jute.OpCreateContainer, 19, "createContainer"},
		{jute.OpDeleteContainer, 20, "deleteContainer"}, {jute.OpCreateTTL, 21, "createTTL"},
		{jute.OpMultiRead, 22, "multiRead"}, {jute.OpAuth, 100, "auth"}, {jute.OpSetWatches, 101, "setWatches"},
		{jute.OpSASL, 102, "sasl"}, {jute.OpGetEphemerals, 103, "getEphemerals"},
		{jute.OpGetAllChildrenNumber, 104, "getAllChildrenNumber"}, {jute.OpSetWatches2, 105, "setWatches2"},
		{jute.OpAddWatch, 106, "addWatch"}, {jute.OpWhoAmI, 107, "whoAmI"},
		{jute.OpCreateSession, -10, "createSession"}, {jute.OpCloseSession, -11, "closeSession"},
		{jute.OpError, -1, "error"}, {jute.OpCode(99), 99, "OpCode(99)"},
	} {
		if int32(c.op) != c.num || c.op.String() != c.name {
			t.Errorf("%s: %d %q, want %d", c.name, int32(c.op), c.op.String(), c.num)
		}
	}
	if jute.XidNotification != -1 || jute.XidPing != -2 || jute.XidAuth != -4 || jute.XidSetWatches != -8 {
		t.Error("special xids differ from ClientCnxn's")
	}
}

// TestCodes pins every error code's number and name to
// KeeperException.Code (release-3.9.5).
func TestCodes(t *testing.T) {
	for _, c := range []struct {
		code jute.Code
		num  int32
		name string
	}{
		{jute.CodeOK, 0, "OK"}, {jute.CodeSystemError, -1, "SYSTEMERROR"},
		{jute.CodeRuntimeInconsistency, -2, "RUNTIMEINCONSISTENCY"}, {jute.CodeDataInconsistency, -3, "DATAINCONSISTENCY"},
		{jute.CodeConnectionLoss, -4, "CONNECTIONLOSS"}, {jute.CodeMarshallingError, -5, "MARSHALLINGERROR"},
		{jute.CodeUnimplemented, -6, "UNIMPLEMENTED"}, {jute.CodeOperationTimeout, -7, "OPERATIONTIMEOUT"},
		{jute.CodeBadArguments, -8, "BADARGUMENTS"}, {jute.CodeUnknownSession, -12, "UNKNOWNSESSION"},
		{jute.CodeNewConfigNoQuorum, -13, "NEWCONFIGNOQUORUM"}, {jute.CodeReconfigInProgress, -14, "RECONFIGINPROGRESS"},
		{jute.CodeAPIError, -100, "APIERROR"}, {jute.CodeNoNode, -101, "NONODE"}, {jute.CodeNoAuth, -102, "NOAUTH"},
		{jute.CodeBadVersion, -103, "BADVERSION"}, {jute.CodeNoChildrenForEphemerals, -108, "NOCHILDRENFOREPHEMERALS"},
		{jute.CodeNodeExists, -110, "NODEEXISTS"}, {jute.CodeNotEmpty, -111, "NOTEMPTY"},
		{jute.CodeSessionExpired, -112, "SESSIONEXPIRED"}, {jute.CodeInvalidCallback, -113, "INVALIDCALLBACK"},
		{jute.CodeInvalidACL, -114, "INVALIDACL"}, {jute.CodeAuthFailed, -115, "AUTHFAILED"},
		{jute.CodeSessionMoved, -118, "SESSIONMOVED"}, {jute.CodeNotReadOnly, -119, "NOTREADONLY"},
		{jute.CodeEphemeralOnLocalSession, -120, "EPHEMERALONLOCALSESSION"}, {jute.CodeNoWatcher, -121, "NOWATCHER"},
		{jute.CodeRequestTimeout, -122, "REQUESTTIMEOUT"}, {jute.CodeReconfigDisabled, -123, "RECONFIGDISABLED"},
		{jute.CodeSessionClosedRequireSASLAuth, -124, "SESSIONCLOSEDREQUIRESASLAUTH"},
		{jute.CodeQuotaExceeded, -125, "QUOTAEXCEEDED"}, {jute.CodeThrottledOp, -127, "THROTTLEDOP"},
		{jute.Code(-999), -999, "Code(-999)"},
	} {
		if int32(c.code) != c.num || c.code.String() != c.name {
			t.Errorf("%s: %d %q, want %d", c.name, int32(c.code), c.code.String(), c.num)
		}
	}
}

// TestEventsStatesModes pins event types, keeper states, watcher types,
// watch modes, create modes and permission bits to Watcher.java,
// AddWatchMode.java, CreateMode.java and ZooDefs.Perms (release-3.9.5).
func TestEventsStatesModes(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int32
	}{
		{jute.EventNone.String(), int32(jute.EventNone), -1},
		{jute.EventNodeCreated.String(), int32(jute.EventNodeCreated), 1},
		{jute.EventNodeDeleted.String(), int32(jute.EventNodeDeleted), 2},
		{jute.EventNodeDataChanged.String(), int32(jute.EventNodeDataChanged), 3},
		{jute.EventNodeChildrenChanged.String(), int32(jute.EventNodeChildrenChanged), 4},
		{jute.EventDataWatchRemoved.String(), int32(jute.EventDataWatchRemoved), 5},
		{jute.EventChildWatchRemoved.String(), int32(jute.EventChildWatchRemoved), 6},
		{jute.EventPersistentWatchRemoved.String(), int32(jute.EventPersistentWatchRemoved), 7},
		{jute.StateUnknown.String(), int32(jute.StateUnknown), -1},
		{jute.StateDisconnected.String(), int32(jute.StateDisconnected), 0},
		{jute.StateNoSyncConnected.String(), int32(jute.StateNoSyncConnected), 1},
		{jute.StateSyncConnected.String(), int32(jute.StateSyncConnected), 3},
		{jute.StateAuthFailed.String(), int32(jute.StateAuthFailed), 4},
		{jute.StateConnectedReadOnly.String(), int32(jute.StateConnectedReadOnly), 5},
		{jute.StateSaslAuthenticated.String(), int32(jute.StateSaslAuthenticated), 6},
		{jute.StateExpired.String(), int32(jute.StateExpired), -112},
		{jute.StateClosed.String(), int32(jute.StateClosed), 7},
		{"Children", int32(jute.WatcherChildren), 1},
		{"Data", int32(jute.WatcherData), 2},
		{"Any", int32(jute.WatcherAny), 3},
		{"Persistent", int32(jute.WatcherPersistent), 4},
		{"PersistentRecursive", int32(jute.WatcherPersistentRecursive), 5},
		{"PERSISTENT watch", int32(jute.AddWatchPersistent), 0},
		{"PERSISTENT_RECURSIVE watch", int32(jute.AddWatchPersistentRecursive), 1},
		{"PERSISTENT", int32(jute.ModePersistent), 0},
		{"EPHEMERAL", int32(jute.ModeEphemeral), 1},
		{"PERSISTENT_SEQUENTIAL", int32(jute.ModePersistentSequential), 2},
		{"EPHEMERAL_SEQUENTIAL", int32(jute.ModeEphemeralSequential), 3},
		{"CONTAINER", int32(jute.ModeContainer), 4},
		{"PERSISTENT_WITH_TTL", int32(jute.ModePersistentWithTTL), 5},
		{"PERSISTENT_SEQUENTIAL_WITH_TTL", int32(jute.ModePersistentSequentialWithTTL), 6},
		{"READ", jute.PermRead, 1},
		{"WRITE", jute.PermWrite, 2},
		{"CREATE", jute.PermCreate, 4},
		{"DELETE", jute.PermDelete, 8},
		{"ADMIN", jute.PermAdmin, 16},
		{"ALL", jute.PermAll, 31},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
	if jute.EventType(42).String() != "EventType(42)" || jute.KeeperState(2).String() != "KeeperState(2)" {
		t.Error("unknown event type or state not printed as a number")
	}
}
