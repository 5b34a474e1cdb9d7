package sio

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock whose timers fire when the test says so. Each
// arming is reported on armed, so that a test waits for the manager to
// arm its timer (and sees the delay) instead of sleeping.
type fakeClock struct {
	mu     sync.Mutex
	timers []*fakeTimer
	armed  chan time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{armed: make(chan time.Duration, 1024)} }

func (f *fakeClock) newTimer() clockTimer {
	t := &fakeTimer{clk: f, c: make(chan time.Time, 1)}
	f.mu.Lock()
	f.timers = append(f.timers, t)
	f.mu.Unlock()
	return t
}

// nextArming waits for the next arming of a timer and returns its delay.
func (f *fakeClock) nextArming(t testing.TB) time.Duration {
	t.Helper()
	select {
	case d := <-f.armed:
		return d
	case <-time.After(waitLong):
		t.Fatal("no timer was armed")
	}
	return 0
}

// expectNoArming fails the test if a timer was armed and not yet taken
// with nextArming.
func (f *fakeClock) expectNoArming(t testing.TB) {
	t.Helper()
	select {
	case d := <-f.armed:
		t.Errorf("a timer was armed (%v), want none", d)
	default:
	}
}

// fire fires every armed timer, as if their delays had passed.
func (f *fakeClock) fire() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.timers {
		if t.active {
			t.active = false
			select {
			case t.c <- time.Now():
			default:
			}
		}
	}
}

type fakeTimer struct {
	clk    *fakeClock
	c      chan time.Time
	active bool // guarded by clk.mu
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) reset(d time.Duration) {
	t.clk.mu.Lock()
	t.active = true
	select { // drop an unreceived firing, as time.Timer.Reset does
	case <-t.c:
	default:
	}
	t.clk.mu.Unlock()
	t.clk.armed <- d
}

func (t *fakeTimer) stop() {
	t.clk.mu.Lock()
	t.active = false
	select {
	case <-t.c:
	default:
	}
	t.clk.mu.Unlock()
}
