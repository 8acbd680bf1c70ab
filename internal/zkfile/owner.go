package zkfile

// Kind is what a znode's ephemeralOwner says it is. ZooKeeper stores
// container and TTL znodes' types in that field (EphemeralType, with
// extended types enabled).
type Kind uint8

const (
	// Persistent: owner 0.
	Persistent Kind = iota
	// Ephemeral: owner is the session id.
	Ephemeral
	// Container: owner is math.MinInt64.
	Container
	// TTL: owner's top byte is 0xff, the next two bytes 0, and the low 40
	// bits the TTL in milliseconds.
	TTL
)

const (
	containerOwner = -1 << 63
	extendedMask   = -1 << 56       // 0xff00000000000000
	reservedMask   = 0x00ffff << 40 // the extended feature bits; 0 for TTL
	ttlValueMask   = 1<<40 - 1      // the TTL in milliseconds
	maxTTL         = int64(ttlValueMask)
)

// KindOf returns what owner says a znode is and, for a TTL znode, its TTL.
// An owner whose top byte is 0xff with extended feature bits ZooKeeper does
// not define reads as Ephemeral: that is what a server without extended
// types takes it for.
func KindOf(owner int64) (Kind, int64) {
	switch {
	case owner == 0:
		return Persistent, 0
	case owner == containerOwner:
		return Container, 0
	case owner&extendedMask == extendedMask && owner&reservedMask == 0:
		return TTL, owner & ttlValueMask
	}
	return Ephemeral, 0
}

// OwnerOf returns the ephemeralOwner ZooKeeper stores for a znode of kind k:
// session for Ephemeral, the container marker, or the TTL encoding (ttl must
// be in [1, 2^40−1]).
func OwnerOf(k Kind, session, ttl int64) int64 {
	switch k {
	case Ephemeral:
		return session
	case Container:
		return containerOwner
	case TTL:
		return extendedMask | ttl&ttlValueMask
	}
	return 0
}
