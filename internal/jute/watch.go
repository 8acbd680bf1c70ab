package jute

// SetWatches re-arms a reconnecting client's watches (OpSetWatches, xid
// XidSetWatches): the last zxid the client saw and the paths of its data,
// exist and child watches. The server compares each node's state with
// RelativeZxid and fires at once what the client missed.
type SetWatches struct {
	RelativeZxid int64
	DataWatches  []string
	ExistWatches []string
	ChildWatches []string
}

// Encode appends relativeZxid and the three path vectors.
func (r *SetWatches) Encode(e *Encoder) {
	e.Int64(r.RelativeZxid)
	encodeStrings(e, r.DataWatches)
	encodeStrings(e, r.ExistWatches)
	encodeStrings(e, r.ChildWatches)
}

// Decode reads relativeZxid and the three path vectors.
func (r *SetWatches) Decode(d *Decoder) {
	r.RelativeZxid = d.Int64()
	r.DataWatches = decodeStrings(d)
	r.ExistWatches = decodeStrings(d)
	r.ChildWatches = decodeStrings(d)
}

// SetWatches2 is SetWatches with the persistent watches added
// (OpSetWatches2, 3.6): a SetWatches, then the paths of persistent and of
// persistent recursive watches.
type SetWatches2 struct {
	SetWatches
	PersistentWatches          []string
	PersistentRecursiveWatches []string
}

// Encode appends SetWatches's fields, then the two persistent vectors.
func (r *SetWatches2) Encode(e *Encoder) {
	r.SetWatches.Encode(e)
	encodeStrings(e, r.PersistentWatches)
	encodeStrings(e, r.PersistentRecursiveWatches)
}

// Decode reads SetWatches's fields, then the two persistent vectors.
func (r *SetWatches2) Decode(d *Decoder) {
	r.SetWatches.Decode(d)
	r.PersistentWatches = decodeStrings(d)
	r.PersistentRecursiveWatches = decodeStrings(d)
}

// AddWatchRequest adds a persistent watch (OpAddWatch, 3.6). The reply is
// an ErrorResponse with Err 0.
type AddWatchRequest struct {
	Path string
	Mode AddWatchMode
}

// Encode appends path and mode.
func (r *AddWatchRequest) Encode(e *Encoder) {
	e.UString(r.Path)
	e.Int32(int32(r.Mode))
}

// Decode reads path and mode.
func (r *AddWatchRequest) Decode(d *Decoder) {
	r.Path = d.UString()
	r.Mode = AddWatchMode(d.Int32())
}

// WatchesRecord names the connection's watches of one type on a path, for
// OpCheckWatches and OpRemoveWatches (3.5). Either is answered NOWATCHER
// when there is none; the reply has no body.
type WatchesRecord struct {
	Path string
	Type WatcherType
}

// The records whose layout is WatchesRecord.
type (
	CheckWatchesRequest  = WatchesRecord // OpCheckWatches
	RemoveWatchesRequest = WatchesRecord // OpRemoveWatches
)

// Encode appends path and type.
func (r *WatchesRecord) Encode(e *Encoder) {
	e.UString(r.Path)
	e.Int32(int32(r.Type))
}

// Decode reads path and type.
func (r *WatchesRecord) Decode(d *Decoder) {
	r.Path = d.UString()
	r.Type = WatcherType(d.Int32())
}
