package zkserver

import (
	"fmt"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/jute"
)

// toStat is keeper's Stat in ZooKeeper's record.
func toStat(s keeper.Stat) jute.Stat {
	return jute.Stat{
		Czxid:          int64(s.Czxid),
		Mzxid:          int64(s.Mzxid),
		Ctime:          s.Ctime,
		Mtime:          s.Mtime,
		Version:        s.Version,
		Cversion:       s.Cversion,
		Aversion:       s.Aversion,
		EphemeralOwner: int64(s.EphemeralOwner),
		DataLength:     s.DataLength,
		NumChildren:    s.NumChildren,
		Pzxid:          int64(s.Pzxid),
	}
}

func toACL(acl []keeper.ACL) []jute.ACL {
	out := make([]jute.ACL, len(acl))
	for i, a := range acl {
		out[i] = jute.ACL{Perms: int32(a.Perms), Scheme: a.Scheme, ID: a.ID}
	}
	return out
}

// fromACL is a client's ACL in keeper's terms; keeper checks it as
// ZooKeeper does (an empty list is INVALIDACL).
func fromACL(acl []jute.ACL) []keeper.ACL {
	out := make([]keeper.ACL, len(acl))
	for i, a := range acl {
		out[i] = keeper.ACL{Perms: keeper.Perm(a.Perms), Scheme: a.Scheme, ID: a.ID}
	}
	return out
}

// createModes maps ZooKeeper's create flags to keeper's modes.
var createModes = map[jute.CreateMode]keeper.CreateMode{
	jute.ModePersistent:                  keeper.Persistent,
	jute.ModeEphemeral:                   keeper.Ephemeral,
	jute.ModePersistentSequential:        keeper.PersistentSequential,
	jute.ModeEphemeralSequential:         keeper.EphemeralSequential,
	jute.ModeContainer:                   keeper.Container,
	jute.ModePersistentWithTTL:           keeper.PersistentWithTTL,
	jute.ModePersistentSequentialWithTTL: keeper.PersistentSequentialWithTTL,
}

// createArgs checks a create request as ZooKeeper's PrepRequestProcessor
// does for its opcode and returns keeper's mode and options for it.
func createArgs(op jute.OpCode, q *jute.CreateRequest, ttl int64) (keeper.CreateMode, []keeper.CreateOption, error) {
	mode, ok := createModes[q.Flags]
	if !ok {
		return 0, nil, fmt.Errorf("%w: create flags %d", keeper.ErrBadArguments, q.Flags)
	}
	switch op {
	case jute.OpCreateContainer:
		if mode != keeper.Container {
			return 0, nil, fmt.Errorf("%w: createContainer with flags %d", keeper.ErrBadArguments, q.Flags)
		}
	case jute.OpCreateTTL:
		if !mode.IsTTL() {
			return 0, nil, fmt.Errorf("%w: createTTL with flags %d", keeper.ErrBadArguments, q.Flags)
		}
	default:
		// ZooKeeper takes a container from a plain create too; a TTL
		// needs createTTL, which carries it.
		if mode.IsTTL() {
			return 0, nil, fmt.Errorf("%w: flags %d need createTTL", keeper.ErrBadArguments, q.Flags)
		}
	}
	opts := []keeper.CreateOption{keeper.WithACL(fromACL(q.ACL)...)}
	if mode.IsTTL() {
		opts = append(opts, keeper.WithTTL(time.Duration(ttl)*time.Millisecond))
	}
	return mode, opts, nil
}

// createRequest is the create request of a create opcode's record and its
// TTL (0 but for createTTL).
func createRequest(rec jute.Record) (*jute.CreateRequest, int64) {
	if t, ok := rec.(*jute.CreateTTLRequest); ok {
		return &t.CreateRequest, t.TTL
	}
	return rec.(*jute.CreateRequest), 0
}

// watcherEvent is the notification of a keeper watch event; ok is false
// for events that are not notifications (state changes and the like).
func watcherEvent(ev keeper.Event) (jute.WatcherEvent, bool) {
	var t jute.EventType
	switch ev.Type {
	case keeper.NodeCreated:
		t = jute.EventNodeCreated
	case keeper.NodeDeleted:
		t = jute.EventNodeDeleted
	case keeper.NodeDataChanged:
		t = jute.EventNodeDataChanged
	case keeper.NodeChildrenChanged:
		t = jute.EventNodeChildrenChanged
	default:
		return jute.WatcherEvent{}, false
	}
	return jute.WatcherEvent{Type: t, State: jute.StateSyncConnected, Path: ev.Path}, true
}
