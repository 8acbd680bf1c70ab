package jute

import "strconv"

// EventType is a WatcherEvent's type (Watcher.Event.EventType,
// release-3.9.5).
type EventType int32

// ZooKeeper's event types.
const (
	EventNone                   EventType = -1 // a change of the session's state
	EventNodeCreated            EventType = 1
	EventNodeDeleted            EventType = 2
	EventNodeDataChanged        EventType = 3
	EventNodeChildrenChanged    EventType = 4
	EventDataWatchRemoved       EventType = 5 // 3.5
	EventChildWatchRemoved      EventType = 6 // 3.5
	EventPersistentWatchRemoved EventType = 7 // 3.6
)

// String returns ZooKeeper's name for t, or the number for an unknown type.
func (t EventType) String() string {
	switch t {
	case EventNone:
		return "None"
	case EventNodeCreated:
		return "NodeCreated"
	case EventNodeDeleted:
		return "NodeDeleted"
	case EventNodeDataChanged:
		return "NodeDataChanged"
	case EventNodeChildrenChanged:
		return "NodeChildrenChanged"
	case EventDataWatchRemoved:
		return "DataWatchRemoved"
	case EventChildWatchRemoved:
		return "ChildWatchRemoved"
	case EventPersistentWatchRemoved:
		return "PersistentWatchRemoved"
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// KeeperState is a WatcherEvent's state (Watcher.Event.KeeperState,
// release-3.9.5). A server sends SyncConnected with every node event;
// Unknown, NoSyncConnected and Closed are never sent by a server.
type KeeperState int32

// ZooKeeper's keeper states.
const (
	StateUnknown           KeeperState = -1
	StateDisconnected      KeeperState = 0
	StateNoSyncConnected   KeeperState = 1
	StateSyncConnected     KeeperState = 3
	StateAuthFailed        KeeperState = 4
	StateConnectedReadOnly KeeperState = 5
	StateSaslAuthenticated KeeperState = 6
	StateExpired           KeeperState = -112
	StateClosed            KeeperState = 7
)

// String returns ZooKeeper's name for s, or the number for an unknown state.
func (s KeeperState) String() string {
	switch s {
	case StateUnknown:
		return "Unknown"
	case StateDisconnected:
		return "Disconnected"
	case StateNoSyncConnected:
		return "NoSyncConnected"
	case StateSyncConnected:
		return "SyncConnected"
	case StateAuthFailed:
		return "AuthFailed"
	case StateConnectedReadOnly:
		return "ConnectedReadOnly"
	case StateSaslAuthenticated:
		return "SaslAuthenticated"
	case StateExpired:
		return "Expired"
	case StateClosed:
		return "Closed"
	}
	return "KeeperState(" + strconv.Itoa(int(s)) + ")"
}

// WatcherType says which watches CheckWatchesRequest and
// RemoveWatchesRequest name (Watcher.WatcherType, release-3.9.5).
type WatcherType int32

// ZooKeeper's watcher types.
const (
	WatcherChildren            WatcherType = 1
	WatcherData                WatcherType = 2
	WatcherAny                 WatcherType = 3
	WatcherPersistent          WatcherType = 4 // 3.6
	WatcherPersistentRecursive WatcherType = 5 // 3.6
)

// AddWatchMode is AddWatchRequest's mode (ZooDefs.AddWatchModes,
// AddWatchMode.java, release-3.9.5).
type AddWatchMode int32

// ZooKeeper's persistent watch modes.
const (
	AddWatchPersistent          AddWatchMode = 0
	AddWatchPersistentRecursive AddWatchMode = 1
)
