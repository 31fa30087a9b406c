package supervisor

import "syscall"

// childProcAttr: a worker child must not outlive its supervisor, even a
// killed one (Pdeathsig); in a process group of its own, a Ctrl-C at the
// terminal reaches only the supervisor, which stops the children in order
// (gateway first).
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
}
