//go:build !linux

package zkserver

import "syscall"

// sysProcAttr has nothing to add off Linux.
func sysProcAttr() *syscall.SysProcAttr { return nil }
