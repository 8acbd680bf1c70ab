package jute

// WhoAmIResponse is OpWhoAmI's reply (3.7; the request is the header
// alone): the identities the connection has authenticated as.
type WhoAmIResponse struct {
	ClientInfo []ClientInfo
}

func (r *WhoAmIResponse) fields(w walker) { walkVector(w, &r.ClientInfo, clientInfoMinLen) }

// ReconfigRequest changes the ensemble (OpReconfig, 3.5): servers to add
// and to remove, or a whole new member list, in ZooKeeper's config syntax,
// and the config version it applies to (−1 for any). The reply is a
// GetDataResponse with the new configuration.
type ReconfigRequest struct {
	JoiningServers string
	LeavingServers string
	NewMembers     string
	CurConfigID    int64
}

func (r *ReconfigRequest) fields(w walker) {
	w.ustring(&r.JoiningServers)
	w.ustring(&r.LeavingServers)
	w.ustring(&r.NewMembers)
	w.int64(&r.CurConfigID)
}
