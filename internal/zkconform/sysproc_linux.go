package zkconform

import "syscall"

// sysProcAttr puts the child in a process group of its own, so that it and
// everything it starts can be killed together, and makes the kernel kill
// the child if the test process dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
