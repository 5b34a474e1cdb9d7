//go:build race

package eio

// raceEnabled reports a race-detector build. The detector allows at most
// 8128 goroutines alive at once, so tests that hold thousands of sessions
// size themselves down under it (see shutdownBusySize).
const raceEnabled = true
