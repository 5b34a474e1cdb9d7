//go:build !unix

package eio

import "time"

// processCPU is unknown here: benchmarks leave their CPU metric out.
func processCPU() time.Duration { return 0 }
