package zkserver

import (
	"slices"

	"github.com/keeper-go/keeper/internal/jute"
)

// ZooKeeper's system nodes under /zookeeper, which keeper's tree keeps as
// a reserved node without children. The server shows them as a ZooKeeper
// server without dynamic reconfiguration does: /zookeeper/quota and
// /zookeeper/config, both empty and world-readable, neither writable.
const (
	systemRoot   = "/zookeeper"
	systemQuota  = "/zookeeper/quota"
	systemConfig = "/zookeeper/config"
)

// isSystemPath reports whether path is one of the nodes the server shows
// in place of keeper's tree.
func isSystemPath(path string) bool { return path == systemQuota || path == systemConfig }

// systemData returns a system node's data and Stat.
func (c *conn) systemData(path string) ([]byte, jute.Stat, bool) {
	if !isSystemPath(path) {
		return nil, jute.Stat{}, false
	}
	return []byte{}, jute.Stat{}, true
}

// systemStat returns a system node's Stat.
func (c *conn) systemStat(path string) (jute.Stat, bool) {
	_, st, ok := c.systemData(path)
	return st, ok
}

// systemChildren returns the children of the system nodes: /zookeeper's
// two, and none below them.
func (c *conn) systemChildren(path string) ([]string, jute.Stat, bool) {
	if isSystemPath(path) {
		return []string{}, jute.Stat{}, true
	}
	return nil, jute.Stat{}, false
}

// withSystemChildren adds /zookeeper's two system children to the names and
// Stat keeper's tree gave for it.
func withSystemChildren(names []string, st jute.Stat) ([]string, jute.Stat) {
	for _, name := range []string{"config", "quota"} {
		if !slices.Contains(names, name) {
			names = append(names, name)
			st.NumChildren++
		}
	}
	return names, st
}
