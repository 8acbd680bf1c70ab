//go:build !linux

package zkserver

// fileDescriptors returns -1, -1: ZooKeeper's values where it cannot read
// the process's file descriptors.
func fileDescriptors() (limit, open int64) { return -1, -1 }

// osVersion is the kernel's release, Java's os.version; "" where unknown.
func osVersion() string { return "" }
