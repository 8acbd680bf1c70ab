package zkserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/jute"
)

// codes maps keeper's errors to ZooKeeper's codes, most specific first
// (ErrInvalidPath matches ErrBadArguments too).
var codes = []struct {
	err  error
	code jute.Code
}{
	{keeper.ErrNoNode, jute.CodeNoNode},
	{keeper.ErrNodeExists, jute.CodeNodeExists},
	{keeper.ErrBadVersion, jute.CodeBadVersion},
	{keeper.ErrNotEmpty, jute.CodeNotEmpty},
	{keeper.ErrNoChildrenForEphemerals, jute.CodeNoChildrenForEphemerals},
	{keeper.ErrNoAuth, jute.CodeNoAuth},
	{keeper.ErrInvalidACL, jute.CodeInvalidACL},
	{keeper.ErrBadArguments, jute.CodeBadArguments},
	{keeper.ErrRuntimeInconsistency, jute.CodeRuntimeInconsistency},
	{keeper.ErrUnimplemented, jute.CodeUnimplemented},
	{keeper.ErrSessionExpired, jute.CodeSessionExpired},
	{keeper.ErrSessionClosed, jute.CodeSessionExpired},
	{keeper.ErrSessionMoved, jute.CodeSessionMoved},
	{keeper.ErrNoWatcher, jute.CodeNoWatcher},
	{errAuthFailed, jute.CodeAuthFailed},
	{errMarshalling, jute.CodeMarshallingError},
}

// errAuthFailed is an auth packet keeper cannot accept; errMarshalling a
// request whose record does not decode.
var (
	errAuthFailed  = errors.New("zkserver: authentication failed")
	errMarshalling = errors.New("zkserver: request does not decode")
)

// errorCode is ZooKeeper's code for err. fatal reports an error after which
// the connection must close without a reply, as a ZooKeeper server that
// left its quorum closes its clients' connections: the member knows no
// leader, a write's fate is unknown, the member is closing, or the
// request ran out of time.
func errorCode(err error) (code jute.Code, fatal bool) {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code, false
		}
	}
	switch {
	case errors.Is(err, keeper.ErrConnectionLoss), errors.Is(err, keeper.ErrNoLeader),
		errors.Is(err, keeper.ErrIndeterminate), errors.Is(err, keeper.ErrClosed),
		errors.Is(err, keeper.ErrReplicaCorrupt),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return jute.CodeConnectionLoss, true
	}
	return jute.CodeSystemError, false
}

// errReserved refuses a change to ZooKeeper's system nodes.
func errReserved(path string) error {
	return fmt.Errorf("%w: %s is a system node", keeper.ErrBadArguments, path)
}
