package keeper

// CatchUpFactor is catchUpFactor for the external tests: how many
// KeepEntries of log the leader may keep for a catching-up follower.
const CatchUpFactor = catchUpFactor

// LogFirst is the first index of the member's in-memory raft log. A member
// whose log ends before LogFirst()-1 of the leader's can be caught up by a raft
// snapshot only.
func (n *Node) LogFirst() uint64 {
	i, _ := n.r.ms.FirstIndex()
	return i
}
