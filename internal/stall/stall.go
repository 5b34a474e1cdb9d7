// Package stall lets a test measure what a stalled peer costs: it waits
// until goroutines are blocked in a given function (the moment a peer that
// declared bytes and sent none has been read as far as it goes), and reads
// the heap in use. It reads the goroutine dump, so it is for tests only.
package stall

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"time"
)

// States a goroutine dump gives blocked goroutines.
const (
	IOWait = "IO wait" // on the network
	Select = "select"
)

// Count returns how many goroutines are blocked in state with fn (as the
// dump prints it: "pkg.(*T).Method" or "pkg.Func") on their stack.
func Count(state, fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		header, _, _ := bytes.Cut(g, []byte("\n"))
		if bytes.Contains(header, []byte("["+state)) && bytes.Contains(g, []byte(fn+"(")) {
			count++
		}
	}
	return count
}

// Wait waits until at least n goroutines are blocked in state in fn, or
// ctx ends.
func Wait(ctx context.Context, state, fn string, n int) error {
	for {
		got := Count(state, fn)
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d goroutines blocked (%s) in %s, want %d: %w", got, state, fn, n, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Any matches a goroutine in any state, for Count and Wait.
const Any = ""

// WaitGone waits until no goroutine has fn on its stack (the moment a
// request's handler has returned), or ctx ends.
func WaitGone(ctx context.Context, fn string) error {
	for {
		got := Count(Any, fn)
		if got == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d goroutines still in %s: %w", got, fn, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// HeapInuse returns the heap in use after two collections (the second
// empties the sync.Pool victim caches).
func HeapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
