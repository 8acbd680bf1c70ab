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

func (r *SetWatches) fields(w walker) {
	w.int64(&r.RelativeZxid)
	w.ustrings(&r.DataWatches)
	w.ustrings(&r.ExistWatches)
	w.ustrings(&r.ChildWatches)
}

// SetWatches2 is SetWatches with the persistent watches added
// (OpSetWatches2, 3.6): a SetWatches, then the paths of persistent and of
// persistent recursive watches.
type SetWatches2 struct {
	SetWatches
	PersistentWatches          []string
	PersistentRecursiveWatches []string
}

func (r *SetWatches2) fields(w walker) {
	r.SetWatches.fields(w)
	w.ustrings(&r.PersistentWatches)
	w.ustrings(&r.PersistentRecursiveWatches)
}

// AddWatchRequest adds a persistent watch (OpAddWatch, 3.6). The reply is
// an ErrorResponse with Err 0.
type AddWatchRequest struct {
	Path string
	Mode AddWatchMode
}

func (r *AddWatchRequest) fields(w walker) {
	w.ustring(&r.Path)
	w.int32((*int32)(&r.Mode))
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

func (r *WatchesRecord) fields(w walker) {
	w.ustring(&r.Path)
	w.int32((*int32)(&r.Type))
}
