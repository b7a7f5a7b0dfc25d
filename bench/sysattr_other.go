//go:build !linux

package main

import (
	"os"
	"os/exec"
)

// The benchmark runs on Linux only (it reads /proc); these keep the
// package building elsewhere.

func detach(*exec.Cmd) {}

func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
