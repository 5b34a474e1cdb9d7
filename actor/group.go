package actor

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
)

// ErrStopped is returned by [Group.Spawn] once the group has been stopped.
var ErrStopped = errors.New("actor: group stopped")

// PanicError is the error of an actor whose function panicked. The panic is
// recovered so that one broken actor does not take the process down.
type PanicError struct {
	Name  string // the name given to Spawn
	Value any    // the value passed to panic
	Stack []byte // the goroutine's stack at the panic
}

// Error says which actor panicked and with what.
func (e *PanicError) Error() string {
	return fmt.Sprintf("actor: %s panicked: %v", e.Name, e.Value)
}

// Group owns a set of goroutines: it starts them, tells them to stop, and
// waits for them. Every goroutine in chanio is started by a Group.
//
// The zero Group is not usable; call [NewGroup].
type Group struct {
	ctx    context.Context
	cancel context.CancelFunc
	onExit func(name string, err error)

	mu     sync.Mutex
	sealed bool
	active int
	idle   chan struct{} // closed once sealed and active == 0

	// Goroutines that ran a runner's pass and wait for the next one (see
	// pass): workers hands it over; idleWorkers (guarded by mu, counted
	// in active too) says how many wait; sealedc, closed by Seal, sends
	// them away.
	workers     chan *Runner
	idleWorkers int
	sealedc     chan struct{}
}

// NewGroup returns a running group. onExit, if not nil, is called on the
// exiting goroutine with the name and error of every actor that returns a
// non-nil error or panics; it must not block.
func NewGroup(onExit func(name string, err error)) *Group {
	ctx, cancel := context.WithCancel(context.Background())
	return &Group{ctx: ctx, cancel: cancel, onExit: onExit, idle: make(chan struct{}),
		workers: make(chan *Runner), sealedc: make(chan struct{})}
}

// Actor is a handle on one goroutine started by [Group.Spawn].
type Actor struct {
	done chan struct{}
	err  error
}

// Done is closed when the actor's function has returned.
func (a *Actor) Done() <-chan struct{} { return a.done }

// Err waits for the actor to end and returns what its function returned, or
// a [*PanicError] if it panicked.
func (a *Actor) Err() error {
	<-a.done
	return a.err
}

// Spawn starts fn on a new goroutine owned by g. The context passed to fn
// is cancelled when the group stops; fn should return soon after. Spawn
// returns [ErrStopped] and starts nothing once the group has been sealed or
// stopped.
func (g *Group) Spawn(name string, fn func(ctx context.Context) error) (*Actor, error) {
	a := &Actor{done: make(chan struct{})}
	if err := g.start(name, fn, a); err != nil {
		return nil, err
	}
	return a, nil
}

// Go is Spawn without a handle, for goroutines whose end only the group
// waits for.
func (g *Group) Go(name string, fn func(ctx context.Context) error) error {
	return g.start(name, fn, nil)
}

func (g *Group) start(name string, fn func(ctx context.Context) error, a *Actor) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sealed {
		return ErrStopped
	}
	g.active++
	go g.run(name, fn, a)
	return nil
}

func (g *Group) run(name string, fn func(ctx context.Context) error, a *Actor) {
	var err error
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Name: name, Value: v, Stack: debug.Stack()}
		}
		if err != nil && g.onExit != nil {
			g.onExit(name, err)
		}
		if a != nil {
			a.err = err
			close(a.done)
		}
		g.mu.Lock()
		g.active--
		g.closeIdleLocked()
		g.mu.Unlock()
	}()
	err = fn(g.ctx)
}

// Enter counts a call that runs on its caller's goroutine (an HTTP
// handler, a callback of another library) as one of the group's actors,
// so that [Group.Wait] waits for it too. It returns false, counting
// nothing, once the group is sealed. Call [Group.Exit] when the call
// returns.
func (g *Group) Enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sealed {
		return false
	}
	g.active++
	return true
}

// Adopt counts something that exists already and must be waited for (a
// connection another library accepted) as Enter does, even once the
// group is sealed. Call [Group.Exit] when it is gone.
func (g *Group) Adopt() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.active++
}

// Exit ends what Enter or Adopt counted.
func (g *Group) Exit() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.active--
	g.closeIdleLocked()
}

func (g *Group) closeIdleLocked() {
	if g.sealed && g.active == 0 {
		select {
		case <-g.idle:
		default:
			close(g.idle)
		}
	}
}

// Context returns the context that is cancelled when the group stops.
func (g *Group) Context() context.Context { return g.ctx }

// Seal refuses new spawns but lets running actors go on, for an owner that
// winds them down itself (a graceful shutdown) before calling Stop. It is
// idempotent.
func (g *Group) Seal() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.sealed {
		close(g.sealedc)
	}
	g.sealed = true
	g.closeIdleLocked()
}

// maxIdleWorkers is how many goroutines that ran a runner's pass wait for
// the next pass instead of exiting: enough for the burst of passes that
// one poller wake-up or one broadcast starts, few enough that their stacks
// (some KiB each) cost nothing worth counting next to thousands of
// sessions.
const maxIdleWorkers = 64

// pass runs r's loop on a goroutine: one that ran a pass before and
// waits for the next, if there is one, or a new one. A new goroutine for
// every pass paid for its start, its exit and, on the first deep call of
// every pass, for growing its stack (copystack was about a tenth of the
// CPU of a session woken by one message). The new goroutine runs
// r.loopFn, made once with the runner, so that starting it allocates
// nothing (a go statement with arguments would allocate their closure).
func (g *Group) pass(r *Runner) {
	select {
	case g.workers <- r:
	default:
		go r.loopFn()
	}
}

// serveIdle runs other runners' passes on a goroutine whose own is done,
// until there are enough idle workers or the group is sealed.
func (g *Group) serveIdle() {
	for {
		g.mu.Lock()
		if g.sealed || g.idleWorkers >= maxIdleWorkers {
			g.mu.Unlock()
			return
		}
		g.idleWorkers++
		g.active++
		g.mu.Unlock()
		var r *Runner
		select {
		case r = <-g.workers:
		case <-g.sealedc:
		}
		g.mu.Lock()
		g.idleWorkers--
		g.active--
		g.closeIdleLocked()
		g.mu.Unlock()
		if r == nil {
			return
		}
		r.loop()
	}
}

// Stop seals the group and cancels its context, asking every actor to
// return. It does not wait; see [Group.Wait]. It is idempotent.
func (g *Group) Stop() {
	g.Seal()
	g.cancel()
}

// Len returns the number of running actors.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.active
}

// Done is closed once the group is sealed and every actor has exited.
func (g *Group) Done() <-chan struct{} { return g.idle }

// Wait returns once the group is sealed (or stopped) and every actor has
// exited.
func (g *Group) Wait() { <-g.idle }

// WaitContext is Wait bounded by ctx: it returns ctx.Err() if ctx ends
// first (the actors keep running).
func (g *Group) WaitContext(ctx context.Context) error {
	select {
	case <-g.idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
