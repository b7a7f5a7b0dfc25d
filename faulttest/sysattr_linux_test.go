package faulttest

import "syscall"

// sysProcAttr puts a child in its own process group (so a kill reaches
// everything it started) and has Linux kill it if the test process dies
// first (a go test timeout), so nothing outlives the run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
