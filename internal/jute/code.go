package jute

import "strconv"

// Code is an error code: ReplyHeader.Err, a multi result's ErrorResponse
// (KeeperException.Code, release-3.9.5). Codes between CodeSystemError and
// CodeAPIError are server-side errors, codes below CodeAPIError are errors of
// the request; neither of those two is ever sent.
type Code int32

// ZooKeeper's error codes.
const (
	CodeOK                           Code = 0
	CodeSystemError                  Code = -1
	CodeRuntimeInconsistency         Code = -2 // a multi's ops after the failed one
	CodeDataInconsistency            Code = -3
	CodeConnectionLoss               Code = -4
	CodeMarshallingError             Code = -5
	CodeUnimplemented                Code = -6
	CodeOperationTimeout             Code = -7
	CodeBadArguments                 Code = -8
	CodeUnknownSession               Code = -12
	CodeNewConfigNoQuorum            Code = -13
	CodeReconfigInProgress           Code = -14
	CodeAPIError                     Code = -100
	CodeNoNode                       Code = -101
	CodeNoAuth                       Code = -102
	CodeBadVersion                   Code = -103
	CodeNoChildrenForEphemerals      Code = -108
	CodeNodeExists                   Code = -110
	CodeNotEmpty                     Code = -111
	CodeSessionExpired               Code = -112
	CodeInvalidCallback              Code = -113
	CodeInvalidACL                   Code = -114
	CodeAuthFailed                   Code = -115
	CodeSessionMoved                 Code = -118
	CodeNotReadOnly                  Code = -119
	CodeEphemeralOnLocalSession      Code = -120
	CodeNoWatcher                    Code = -121
	CodeRequestTimeout               Code = -122
	CodeReconfigDisabled             Code = -123
	CodeSessionClosedRequireSASLAuth Code = -124
	CodeQuotaExceeded                Code = -125
	CodeThrottledOp                  Code = -127
)

// String returns ZooKeeper's name for c (KeeperException.Code's constant),
// or the number for an unknown code.
func (c Code) String() string {
	switch c {
	case CodeOK:
		return "OK"
	case CodeSystemError:
		return "SYSTEMERROR"
	case CodeRuntimeInconsistency:
		return "RUNTIMEINCONSISTENCY"
	case CodeDataInconsistency:
		return "DATAINCONSISTENCY"
	case CodeConnectionLoss:
		return "CONNECTIONLOSS"
	case CodeMarshallingError:
		return "MARSHALLINGERROR"
	case CodeUnimplemented:
		return "UNIMPLEMENTED"
	case CodeOperationTimeout:
		return "OPERATIONTIMEOUT"
	case CodeBadArguments:
		return "BADARGUMENTS"
	case CodeUnknownSession:
		return "UNKNOWNSESSION"
	case CodeNewConfigNoQuorum:
		return "NEWCONFIGNOQUORUM"
	case CodeReconfigInProgress:
		return "RECONFIGINPROGRESS"
	case CodeAPIError:
		return "APIERROR"
	case CodeNoNode:
		return "NONODE"
	case CodeNoAuth:
		return "NOAUTH"
	case CodeBadVersion:
		return "BADVERSION"
	case CodeNoChildrenForEphemerals:
		return "NOCHILDRENFOREPHEMERALS"
	case CodeNodeExists:
		return "NODEEXISTS"
	case CodeNotEmpty:
		return "NOTEMPTY"
	case CodeSessionExpired:
		return "SESSIONEXPIRED"
	case CodeInvalidCallback:
		return "INVALIDCALLBACK"
	case CodeInvalidACL:
		return "INVALIDACL"
	case CodeAuthFailed:
		return "AUTHFAILED"
	case CodeSessionMoved:
		return "SESSIONMOVED"
	case CodeNotReadOnly:
		return "NOTREADONLY"
	case CodeEphemeralOnLocalSession:
		return "EPHEMERALONLOCALSESSION"
	case CodeNoWatcher:
		return "NOWATCHER"
	case CodeRequestTimeout:
		return "REQUESTTIMEOUT"
	case CodeReconfigDisabled:
		return "RECONFIGDISABLED"
	case CodeSessionClosedRequireSASLAuth:
		return "SESSIONCLOSEDREQUIRESASLAUTH"
	case CodeQuotaExceeded:
		return "QUOTAEXCEEDED"
	case CodeThrottledOp:
		return "THROTTLEDOP"
	}
	return "Code(" + strconv.Itoa(int(c)) + ")"
}
