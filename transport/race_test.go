//go:build race

package transport_test

// raceEnabled reports a race-detector build, under which sync.Pool drops
// a share of what is put back: tests that count allocations of code that
// borrows pooled buffers skip.
const raceEnabled = true
