package zkserver

import (
	"os"
	"strings"
	"syscall"
)

// fileDescriptors returns the process's limit of open files and how many
// it has open, as ZooKeeper's zk_max_file_descriptor_count and
// zk_open_file_descriptor_count; -1 for one it cannot read.
func fileDescriptors() (limit, open int64) {
	limit, open = -1, -1
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		limit = int64(rl.Cur)
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		open = int64(len(fds))
	}
	return limit, open
}

// osVersion is the kernel's release, Java's os.version; "" if unknown.
func osVersion() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
