package jute

// Many of zookeeper.jute's records share one layout. Each layout is one type
// here, and each jute record of that layout is an alias of it, named as in
// zookeeper.jute; the opcode in the RequestHeader, not the Go type, says
// which record a packet holds.

// PathRecord is a record of one ustring, a path.
type PathRecord struct {
	Path string
}

// The records whose layout is PathRecord.
type (
	SyncRequest                 = PathRecord // OpSync
	SyncResponse                = PathRecord // OpSync's reply: the path
	GetACLRequest               = PathRecord // OpGetACL
	GetAllChildrenNumberRequest = PathRecord // OpGetAllChildrenNumber
	GetEphemeralsRequest        = PathRecord // OpGetEphemerals: jute's prefixPath; empty or "/" for all
	CreateResponse              = PathRecord // OpCreate's reply: the created path
	// DeleteContainerRequest is OpDeleteContainer's request, a Java class
	// outside zookeeper.jute whose path is written as a buffer of UTF-8
	// bytes: the same bytes as a ustring.
	DeleteContainerRequest = PathRecord
)

func (r *PathRecord) fields(w walker) { w.ustring(&r.Path) }

// PathWatchRecord is a read request: a path, and whether to leave a watch
// on it.
type PathWatchRecord struct {
	Path  string
	Watch bool
}

// The records whose layout is PathWatchRecord.
type (
	ExistsRequest       = PathWatchRecord // OpExists
	GetDataRequest      = PathWatchRecord // OpGetData
	GetChildrenRequest  = PathWatchRecord // OpGetChildren
	GetChildren2Request = PathWatchRecord // OpGetChildren2
)

func (r *PathWatchRecord) fields(w walker) {
	w.ustring(&r.Path)
	w.boolean(&r.Watch)
}

// PathVersionRecord is a path and the version the node must have (−1 for
// any).
type PathVersionRecord struct {
	Path    string
	Version int32
}

// The records whose layout is PathVersionRecord.
type (
	DeleteRequest       = PathVersionRecord // OpDelete
	CheckVersionRequest = PathVersionRecord // OpCheck
)

func (r *PathVersionRecord) fields(w walker) {
	w.ustring(&r.Path)
	w.int32(&r.Version)
}

// StatRecord is a reply of one Stat.
type StatRecord struct {
	Stat Stat
}

// The records whose layout is StatRecord.
type (
	ExistsResponse  = StatRecord // OpExists's reply; a missing node is NONODE, no body
	SetDataResponse = StatRecord // OpSetData's reply
	SetACLResponse  = StatRecord // OpSetACL's reply
)

func (r *StatRecord) fields(w walker) { r.Stat.fields(w) }

// TokenRecord is a record of one buffer, a SASL token.
type TokenRecord struct {
	Token []byte
}

// The records whose layout is TokenRecord.
type (
	GetSASLRequest  = TokenRecord // OpSASL
	SetSASLResponse = TokenRecord // OpSASL's reply
)

func (r *TokenRecord) fields(w walker) { w.buffer(&r.Token) }
