//go:build !linux

package zkconform

import "syscall"

// sysProcAttr puts the child in a process group of its own, so that it and
// everything it starts can be killed together.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
