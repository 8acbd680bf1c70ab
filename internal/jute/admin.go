package jute

// WhoAmIResponse is OpWhoAmI's reply (3.7; the request is the header
// alone): the identities the connection has authenticated as.
type WhoAmIResponse struct {
	ClientInfo []ClientInfo
}

// clientInfoMinLen is the shortest encoded ClientInfo: two empty strings.
const clientInfoMinLen = 4 + 4

// Encode appends the clientInfo vector.
func (r *WhoAmIResponse) Encode(e *Encoder) {
	e.VectorLen(len(r.ClientInfo))
	for i := range r.ClientInfo {
		r.ClientInfo[i].Encode(e)
	}
}

// Decode reads the clientInfo vector; null and empty read as nil.
func (r *WhoAmIResponse) Decode(d *Decoder) {
	r.ClientInfo = decodeVector(d, clientInfoMinLen, func(d *Decoder) (c ClientInfo) {
		c.Decode(d)
		return c
	})
}

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

// Encode appends the fields in jute's order.
func (r *ReconfigRequest) Encode(e *Encoder) {
	e.UString(r.JoiningServers)
	e.UString(r.LeavingServers)
	e.UString(r.NewMembers)
	e.Int64(r.CurConfigID)
}

// Decode reads the fields in jute's order.
func (r *ReconfigRequest) Decode(d *Decoder) {
	r.JoiningServers = d.UString()
	r.LeavingServers = d.UString()
	r.NewMembers = d.UString()
	r.CurConfigID = d.Int64()
}
