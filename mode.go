package keeper

import "fmt"

// CreateMode is the kind of znode a create makes, as in ZooKeeper.
type CreateMode uint8

const (
	// Persistent znodes live until deleted.
	Persistent CreateMode = iota
	// PersistentSequential znodes get a 10-digit suffix from the parent's
	// cversion appended to their name.
	PersistentSequential
	// Ephemeral znodes are deleted when their owning session ends. They cannot
	// have children.
	Ephemeral
	// EphemeralSequential combines Ephemeral and PersistentSequential.
	EphemeralSequential
	// Container znodes are deleted by the cluster once they have had a child and
	// have none left.
	Container
	// PersistentWithTTL znodes are deleted once they have had no children and no
	// change for their TTL (see WithTTL).
	PersistentWithTTL
	// PersistentSequentialWithTTL combines PersistentWithTTL and
	// PersistentSequential.
	PersistentSequentialWithTTL
)

// IsSequential reports whether the mode appends a sequence suffix.
func (m CreateMode) IsSequential() bool {
	return m == PersistentSequential || m == EphemeralSequential || m == PersistentSequentialWithTTL
}

// IsEphemeral reports whether znodes of the mode die with their session.
func (m CreateMode) IsEphemeral() bool { return m == Ephemeral || m == EphemeralSequential }

// IsTTL reports whether the mode takes a TTL.
func (m CreateMode) IsTTL() bool { return m == PersistentWithTTL || m == PersistentSequentialWithTTL }

func (m CreateMode) String() string {
	switch m {
	case Persistent:
		return "Persistent"
	case PersistentSequential:
		return "PersistentSequential"
	case Ephemeral:
		return "Ephemeral"
	case EphemeralSequential:
		return "EphemeralSequential"
	case Container:
		return "Container"
	case PersistentWithTTL:
		return "PersistentWithTTL"
	case PersistentSequentialWithTTL:
		return "PersistentSequentialWithTTL"
	}
	return fmt.Sprintf("CreateMode(%d)", uint8(m))
}
