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

// Encode appends the path.
func (r *PathRecord) Encode(e *Encoder) { e.UString(r.Path) }

// Decode reads the path.
func (r *PathRecord) Decode(d *Decoder) { r.Path = d.UString() }

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

// Encode appends path and watch.
func (r *PathWatchRecord) Encode(e *Encoder) {
	e.UString(r.Path)
	e.Bool(r.Watch)
}

// Decode reads path and watch.
func (r *PathWatchRecord) Decode(d *Decoder) {
	r.Path = d.UString()
	r.Watch = d.Bool()
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

// Encode appends path and version.
func (r *PathVersionRecord) Encode(e *Encoder) {
	e.UString(r.Path)
	e.Int32(r.Version)
}

// Decode reads path and version.
func (r *PathVersionRecord) Decode(d *Decoder) {
	r.Path = d.UString()
	r.Version = d.Int32()
}

// StatRecord is a reply of one Stat.
type StatRecord struct {
	Stat Stat
}

// The records whose layout is StatRecord.
type (
	ExistsResponse  = StatRecord // OpExists's reply; a missing node is NONODE, no body
	SetDataResponse = StatRecord // OpSetData's reply, and a lone OpCheck's
	SetACLResponse  = StatRecord // OpSetACL's reply
)

// Encode appends the Stat.
func (r *StatRecord) Encode(e *Encoder) { r.Stat.Encode(e) }

// Decode reads the Stat.
func (r *StatRecord) Decode(d *Decoder) { r.Stat.Decode(d) }

// TokenRecord is a record of one buffer, a SASL token.
type TokenRecord struct {
	Token []byte
}

// The records whose layout is TokenRecord.
type (
	GetSASLRequest  = TokenRecord // OpSASL
	SetSASLResponse = TokenRecord // OpSASL's reply
)

// Encode appends the token.
func (r *TokenRecord) Encode(e *Encoder) { e.Buffer(r.Token) }

// Decode reads the token.
func (r *TokenRecord) Decode(d *Decoder) { r.Token = d.Buffer() }
