//go:build !race

package eio

// raceEnabled reports a race-detector build; see race_test.go.
const raceEnabled = false
