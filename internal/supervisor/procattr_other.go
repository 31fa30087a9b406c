//go:build unix && !linux

package supervisor

import "syscall"

// childProcAttr: a process group of its own, so a Ctrl-C at the terminal
// reaches only the supervisor, which stops the children in order. Without
// Linux's Pdeathsig, a worker child of a supervisor killed with SIGKILL
// keeps running until it is stopped by hand.
func childProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
