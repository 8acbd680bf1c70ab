package keeper

import (
	"testing"
	"time"
)

// The derived ids are stored in every data dir, WAL and backup: the rule
// must never change, or members restarted after an upgrade would refuse
// their own dirs.
func TestClusterIDDerivationsStable(t *testing.T) {
	h := BackupInfo{ClusterID: 0xabc, Zxid: 77, Time: time.UnixMilli(1700000000123)}
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"new", deriveClusterID([]uint64{3, 1, 2}), 0xc2654236a2e0585},
		{"restored", restoredClusterID(h, []uint64{5, 4}), 0xb2d42d51156333b4},
		{"recovered", recoveredClusterID(0xabc, 99, []uint64{2, 1}), 0x10407b3013761cd4},
	} {
		if c.got != c.want {
			t.Errorf("%s cluster id %#x, want %#x", c.name, c.got, c.want)
		}
	}
}
