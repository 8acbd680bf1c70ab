package keeper

import kframe "github.com/keeper-go/keeper/internal/frame"

// BulkFrame reports whether a frame handed to Transport.Send carries log
// entries (raft appends and forwarded proposals). A host writing its own
// Transport sends such frames on a lane of their own, so that heartbeats,
// votes, read-index traffic and membership frames never queue behind them:
// session renewals ride on heartbeat responses, so a heartbeat held up by a
// long burst of appends can expire sessions, not just move the leader.
//
// BulkFrame reads only the frame's envelope and the message type, never
// allocates and never panics; a frame it cannot read counts as control
// traffic (false). transport.TCP uses the same rule.
func BulkFrame(frame []byte) bool { return kframe.Bulk(frame) }
