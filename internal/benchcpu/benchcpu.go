//go:build unix

// Package benchcpu reports a benchmark's process CPU time per operation
// next to its wall-clock ns/op. On a shared machine ns/op includes
// waiting for a core; cpu-ns/op does not.
package benchcpu

import (
	"syscall"
	"testing"
)

// PerOp starts measuring the process's CPU time (user and system, all
// threads, so the garbage collector's share is counted) and returns a
// function that reports it per operation as "cpu-ns/op". Call it after
// ResetTimer, and the returned function after the loop.
func PerOp(b *testing.B) func() {
	start := processCPU()
	return func() {
		b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
	}
}

func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
