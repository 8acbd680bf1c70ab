// Package keeper is an embeddable, raft-replicated, ZooKeeper-style znode tree
// persisted in Pebble, whose centre is data backup, restore and recovery as plain
// function calls on the node handle.
package keeper
