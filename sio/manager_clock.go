package sio

import "time"

// clock is where a [Manager] gets its one timer (the delay before the next
// reconnection attempt): the real clock, or a test's, which fires timers
// when the test says so.
type clock interface {
	// newTimer returns a stopped timer.
	newTimer() clockTimer
}

// clockTimer is a timer that can be re-armed, as time.Timer.
type clockTimer interface {
	// C delivers once per arming, when the timer fires.
	C() <-chan time.Time
	// reset arms the timer to fire after d, dropping an earlier arming
	// that has not been received.
	reset(d time.Duration)
	// stop disarms the timer.
	stop()
}

// realClock is the clock of time.Timer.
type realClock struct{}

func (realClock) newTimer() clockTimer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return realTimer{t}
}

// realTimer relies on Go 1.23 timers: Reset and Stop leave no stale value
// in C.
type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time   { return r.t.C }
func (r realTimer) reset(d time.Duration) { r.t.Reset(d) }
func (r realTimer) stop()                 { r.t.Stop() }
