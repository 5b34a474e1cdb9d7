//go:build unix

package eio

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) the test process has
// used, for benchmarks that report CPU per operation: on a shared machine
// it varies less than the wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
