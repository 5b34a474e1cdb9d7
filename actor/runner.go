package actor

import (
	"context"
	"runtime/debug"
	"sync/atomic"
)

// Runner is an actor whose goroutine exists only while it has work. Its
// owner calls [Runner.Schedule] whenever work may have arrived (a
// [Mailbox] does it through [Mailbox.SetNotify]); the runner then runs the
// actor's work function on a goroutine of its [Group], one pass at a time,
// never two at once, and lets the goroutine go when a pass finds nothing
// more to do. An idle actor costs its state and no stack: this is how a
// server holds many mostly idle sessions cheaply while each stays a single
// owner of its state.
//
// A Schedule during a pass makes the runner do another pass right after,
// so no wake-up is lost. A pass that must wait (for room in a channel, say)
// should also wait on [Runner.Kick] so that it notices new work.
type Runner struct {
	g     *Group
	name  string
	work  func(ctx context.Context) (ended bool)
	state atomic.Uint32
	kick  atomic.Pointer[chan struct{}] // made by the first Kick: most runners never wait
	// loopFn is loop, then the group's idle-worker loop, as a func value
	// made once: `go r.loop()` would allocate the closure anew for every
	// pass's goroutine, which is an allocation per message sent to an
	// idle session.
	loopFn func()
}

const (
	runnerIdle    uint32 = iota
	runnerRunning        // a pass is running
	runnerRerun          // a pass is running and another is due
	runnerEnded
)

// NewRunner registers an actor with g. work does one pass: it handles what
// it finds and returns; it returns true once the actor has ended, after
// which the runner does nothing more. The actor counts as running for
// [Group.Wait] from now until then, goroutine or not. The ctx passed to
// work is the group's: cancelled by [Group.Stop]. An idle runner notices
// only when scheduled, so an owner that stops its group schedules its
// runners.
//
// NewRunner returns [ErrStopped] once the group is sealed; a runner made
// before that can still be scheduled.
func (g *Group) NewRunner(name string, work func(ctx context.Context) (ended bool)) (*Runner, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sealed {
		return nil, ErrStopped
	}
	g.active++
	r := &Runner{g: g, name: name, work: work}
	r.loopFn = func() {
		r.loop()
		g.serveIdle()
	}
	return r, nil
}

// Schedule asks for a pass of work: at once on a new goroutine if none is
// running, or right after the current pass. It never blocks and is safe
// from any goroutine.
func (r *Runner) Schedule() {
	for {
		switch st := r.state.Load(); st {
		case runnerIdle:
			if r.state.CompareAndSwap(runnerIdle, runnerRunning) {
				r.g.pass(r)
				return
			}
		case runnerRunning:
			if r.state.CompareAndSwap(runnerRunning, runnerRerun) {
				r.kickPass()
				return
			}
		case runnerRerun:
			r.kickPass()
			return
		default: // ended
			return
		}
	}
}

// Run does a pass on the calling goroutine when none is running, and the
// passes scheduled meanwhile, as the goroutine Schedule starts would do
// them; when one is running, it schedules another as Schedule does. It is
// for an owner that has a goroutine at hand with nothing left to do (the
// HTTP handler that made a session), and spares the start of another
// goroutine and the growth of its stack. A pass that waits makes Run
// wait.
func (r *Runner) Run() {
	if r.state.CompareAndSwap(runnerIdle, runnerRunning) {
		r.loop()
		return
	}
	r.Schedule()
}

func (r *Runner) kickPass() {
	if k := r.kick.Load(); k != nil {
		select {
		case *k <- struct{}{}:
		default:
		}
	}
}

// Kick returns a channel that receives when Schedule is called during a
// pass. A pass that waits should wait on it too, then look for new work.
func (r *Runner) Kick() <-chan struct{} {
	if k := r.kick.Load(); k != nil {
		return *k
	}
	k := make(chan struct{}, 1)
	if !r.kick.CompareAndSwap(nil, &k) {
		return *r.kick.Load()
	}
	// A Schedule that saw no channel yet has set the rerun state: pass its
	// wake-up on. (Schedule sets the state before it looks for the channel,
	// Kick publishes the channel before it looks at the state, so one of
	// them always sees the other.)
	if r.state.Load() == runnerRerun {
		select {
		case k <- struct{}{}:
		default: // Schedule got there too
		}
	}
	return k
}

// Ended reports whether the actor has ended.
func (r *Runner) Ended() bool { return r.state.Load() == runnerEnded }

func (r *Runner) loop() {
	g := r.g
	ended := false
	defer func() {
		if v := recover(); v != nil {
			ended = true
			if g.onExit != nil {
				g.onExit(r.name, &PanicError{Name: r.name, Value: v, Stack: debug.Stack()})
			}
		}
		if ended {
			r.state.Store(runnerEnded)
			g.mu.Lock()
			g.active--
			g.closeIdleLocked()
			g.mu.Unlock()
		}
	}()
	for {
		if r.work(g.ctx) {
			ended = true
			return
		}
		if r.state.CompareAndSwap(runnerRunning, runnerIdle) {
			return
		}
		// Scheduled during the pass: run another.
		r.state.Store(runnerRunning)
	}
}
