package zkserver

import (
	"slices"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/internal/jute"
)

// ZooKeeper's system nodes under /zookeeper, which keeper's tree keeps as
// a reserved node without children. The server shows them as a ZooKeeper
// ensemble does: /zookeeper/quota empty and world-readable,
// /zookeeper/config the membership in ZooKeeper's dynamic-configuration
// text (system_config.go), readable by anyone; neither is writable.
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
	switch path {
	case systemQuota:
		return []byte{}, jute.Stat{}, true
	case systemConfig:
		data, st := c.srv.configData()
		return data, st, true
	}
	return nil, jute.Stat{}, false
}

// systemACL returns a system node's ACL and Stat: ZooKeeper's, OpenACL
// for /zookeeper/quota and ReadACL for /zookeeper/config.
func (c *conn) systemACL(path string) ([]keeper.ACL, jute.Stat, bool) {
	_, st, ok := c.systemData(path)
	if path == systemConfig {
		return keeper.ReadACL(), st, ok
	}
	return keeper.OpenACL(), st, ok
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
