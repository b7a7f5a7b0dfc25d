package main

import (
	"os/exec"
	"syscall"
)

// detach puts Caddy in its own process group and has the kernel kill it
// if the benchmark dies without stopping it.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup sends SIGKILL to Caddy's process group.
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
