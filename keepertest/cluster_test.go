package keepertest

import "testing"

// TestNewCluster runs once keeper.Open carries the tree; until then it skips.
func TestNewCluster(t *testing.T) {
	c := NewCluster(t, 3)
	leader := c.Leader()
	c.Kill(leader.ID())
	c.WaitLeader()
	c.Restart(leader.ID())
	c.Partition([]uint64{1}, c.Others(1))
	c.Heal()
	c.WaitConverged()
}
