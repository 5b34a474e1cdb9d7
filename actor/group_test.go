package actor_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanio/chanio/actor"
)

// exitLog records onExit calls.
type exitLog struct {
	mu    sync.Mutex
	calls []exitCall
}

type exitCall struct {
	name string
	err  error
}

func (l *exitLog) onExit(name string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, exitCall{name, err})
}

func (l *exitLog) get() []exitCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]exitCall(nil), l.calls...)
}

// stopGroup stops g and waits for it, failing on a hang.
func stopGroup(t testing.TB, g *actor.Group) {
	t.Helper()
	g.Stop()
	if err := g.WaitContext(patienceCtx(t)); err != nil {
		t.Fatalf("group did not stop: %v", err)
	}
}

func TestGroupSpawn(t *testing.T) {
	errBoom := errors.New("boom")
	for _, tc := range []struct {
		name       string
		fn         func(ctx context.Context) error
		wantErr    error
		wantOnExit bool
	}{
		{"nil", func(context.Context) error { return nil }, nil, false},
		{"error", func(context.Context) error { return errBoom }, errBoom, true},
		{"wrapped", func(context.Context) error { return errors.Join(errBoom) }, errBoom, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log exitLog
			g := actor.NewGroup(log.onExit)
			defer stopGroup(t, g)
			ran := make(chan struct{})
			a, err := g.Spawn("worker", func(ctx context.Context) error {
				close(ran)
				return tc.fn(ctx)
			})
			if err != nil {
				t.Fatalf("Spawn = %v", err)
			}
			wait(t, ran, "actor start")
			wait(t, a.Done(), "actor Done")
			if err := a.Err(); !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("Err = %v, want %v", err, tc.wantErr)
			}
			calls := log.get()
			if !tc.wantOnExit {
				if len(calls) != 0 {
					t.Fatalf("onExit called for a clean exit: %v", calls)
				}
				return
			}
			if len(calls) != 1 || calls[0].name != "worker" || !errors.Is(calls[0].err, tc.wantErr) {
				t.Fatalf("onExit calls = %v, want one for worker with %v", calls, tc.wantErr)
			}
		})
	}
}

func TestGroupErrWaits(t *testing.T) {
	g := actor.NewGroup(nil)
	defer stopGroup(t, g)
	release := make(chan struct{})
	a, err := g.Spawn("slow", func(context.Context) error {
		<-release
		return context.Canceled
	})
	if err != nil {
		t.Fatal(err)
	}
	errc := async(a.Err)
	blocked(t, errc, "Err of a running actor")
	blocked(t, a.Done(), "Done of a running actor")
	close(release)
	if err := wait(t, errc, "Err"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Err = %v", err)
	}
}

func TestGroupGo(t *testing.T) {
	var log exitLog
	g := actor.NewGroup(log.onExit)
	errBoom := errors.New("boom")
	if err := g.Go("go", func(context.Context) error { return errBoom }); err != nil {
		t.Fatalf("Go = %v", err)
	}
	stopGroup(t, g)
	if calls := log.get(); len(calls) != 1 || calls[0].name != "go" || calls[0].err != errBoom {
		t.Fatalf("onExit calls = %v", calls)
	}
}

func TestGroupPanic(t *testing.T) {
	type custom struct{ code int }
	for _, tc := range []struct {
		name  string
		value any
	}{
		{"string", "kaboom"},
		{"error", errors.New("bad")},
		{"struct", custom{7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log exitLog
			g := actor.NewGroup(log.onExit)
			defer stopGroup(t, g)
			a, err := g.Spawn("crasher", func(context.Context) error { panic(tc.value) })
			if err != nil {
				t.Fatal(err)
			}
			var pe *actor.PanicError
			if err := a.Err(); !errors.As(err, &pe) {
				t.Fatalf("Err = %T %v, want *PanicError", err, err)
			}
			if pe.Name != "crasher" || pe.Value != tc.value {
				t.Fatalf("PanicError = {Name: %q, Value: %v}, want crasher, %v", pe.Name, pe.Value, tc.value)
			}
			if len(pe.Stack) == 0 {
				t.Fatal("PanicError without a stack")
			}
			if pe.Error() == "" {
				t.Fatal("empty Error()")
			}
			calls := log.get()
			if len(calls) != 1 || calls[0].name != "crasher" || !errors.As(calls[0].err, new(*actor.PanicError)) {
				t.Fatalf("onExit calls = %v", calls)
			}
			// The process and the group survive: another actor runs.
			b, err := g.Spawn("after", func(context.Context) error { return nil })
			if err != nil {
				t.Fatalf("Spawn after panic = %v", err)
			}
			if err := b.Err(); err != nil {
				t.Fatalf("actor after panic: %v", err)
			}
		})
	}

	t.Run("Go", func(t *testing.T) {
		var log exitLog
		g := actor.NewGroup(log.onExit)
		if err := g.Go("gopanic", func(context.Context) error { panic("x") }); err != nil {
			t.Fatal(err)
		}
		stopGroup(t, g)
		calls := log.get()
		var pe *actor.PanicError
		if len(calls) != 1 || !errors.As(calls[0].err, &pe) || pe.Name != "gopanic" || pe.Value != "x" {
			t.Fatalf("onExit calls = %v", calls)
		}
	})
}

func TestGroupRefusesAfterStopOrSeal(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(g *actor.Group)
	}{
		{"Stop", (*actor.Group).Stop},
		{"Seal", (*actor.Group).Seal},
		{"Seal then Stop", func(g *actor.Group) { g.Seal(); g.Stop() }},
		{"Stop twice", func(g *actor.Group) { g.Stop(); g.Stop() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := actor.NewGroup(nil)
			tc.end(g)
			var ran atomic.Bool
			fn := func(context.Context) error { ran.Store(true); return nil }
			a, err := g.Spawn("late", fn)
			if !errors.Is(err, actor.ErrStopped) || a != nil {
				t.Fatalf("Spawn = %v, %v; want nil, ErrStopped", a, err)
			}
			if err := g.Go("late", fn); !errors.Is(err, actor.ErrStopped) {
				t.Fatalf("Go = %v, want ErrStopped", err)
			}
			g.Stop()
			g.Wait()
			if ran.Load() {
				t.Fatal("refused actor ran")
			}
			if g.Len() != 0 {
				t.Fatalf("Len = %d", g.Len())
			}
		})
	}
}

func TestGroupSealLetsActorsRun(t *testing.T) {
	g := actor.NewGroup(nil)
	release := make(chan struct{})
	a, err := g.Spawn("graceful", func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	g.Seal()
	g.Seal()
	blocked(t, g.Done(), "Done with an actor running")
	if g.Context().Err() != nil {
		t.Fatal("Seal cancelled the context")
	}
	close(release)
	wait(t, g.Done(), "Done after the last actor")
	if err := a.Err(); err != nil {
		t.Fatalf("Err = %v, want nil (not cancelled)", err)
	}
	g.Stop()
}

func TestGroupStopCancelsContext(t *testing.T) {
	var log exitLog
	g := actor.NewGroup(log.onExit)
	const n = 20
	var actors []*actor.Actor
	for range n {
		a, err := g.Spawn("waiter", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		actors = append(actors, a)
	}
	if err := g.Context().Err(); err != nil {
		t.Fatalf("Context().Err() before Stop = %v", err)
	}
	g.Stop()
	if err := g.Context().Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Context().Err() after Stop = %v", err)
	}
	for _, a := range actors {
		if err := a.Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("actor Err = %v, want Canceled", err)
		}
	}
	g.Wait()
	if got := len(log.get()); got != n {
		t.Fatalf("onExit called %d times, want %d", got, n)
	}
}

func TestGroupWait(t *testing.T) {
	g := actor.NewGroup(nil)
	const n = 50
	var exited, stopping atomic.Int64
	dawdlers := make(chan struct{}) // closed to let the slow ones out
	for i := range n {
		if err := g.Go("worker", func(ctx context.Context) error {
			<-ctx.Done()
			// One in five dawdles on the way out, until let go.
			if i%5 == 0 {
				stopping.Add(1)
				<-dawdlers
			}
			exited.Add(1)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if got := g.Len(); got != n {
		t.Fatalf("Len = %d, want %d", got, n)
	}
	waited := async(func() error { g.Wait(); return nil })
	blocked(t, waited, "Wait before Stop")
	g.Stop()
	progress(t, &stopping, n/5) // every dawdler has seen the Stop
	blocked(t, waited, "Wait with actors still on their way out")
	close(dawdlers)
	wait(t, waited, "Wait after Stop")
	if got := exited.Load(); got != n {
		t.Fatalf("Wait returned with %d of %d actors exited", got, n)
	}
	if got := g.Len(); got != 0 {
		t.Fatalf("Len after Wait = %d", got)
	}
	select {
	case <-g.Done():
	default:
		t.Fatal("Done not closed after Wait")
	}
	// Wait and Done keep answering.
	g.Wait()
	if err := g.WaitContext(context.Background()); err != nil {
		t.Fatalf("WaitContext after Wait = %v", err)
	}
}

func TestGroupWaitNeedsSeal(t *testing.T) {
	g := actor.NewGroup(nil)
	// No actors, but not sealed: not done, as more may be spawned.
	blocked(t, g.Done(), "Done of an unsealed empty group")
	a, err := g.Spawn("quick", func(context.Context) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	a.Err()
	blocked(t, g.Done(), "Done of an unsealed group after its actor ended")
	g.Seal()
	wait(t, g.Done(), "Done after Seal")
}

func TestGroupWaitContext(t *testing.T) {
	g := actor.NewGroup(nil)
	release := make(chan struct{})
	if err := g.Go("stubborn", func(context.Context) error {
		<-release // ignores its context
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	g.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), settle)
	defer cancel()
	if err := g.WaitContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitContext = %v, want DeadlineExceeded", err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := g.WaitContext(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitContext = %v, want Canceled", err)
	}
	if got := g.Len(); got != 1 {
		t.Fatalf("Len = %d, want 1 (the actor keeps running)", got)
	}
	close(release)
	if err := g.WaitContext(patienceCtx(t)); err != nil {
		t.Fatalf("WaitContext after release = %v", err)
	}
}

func TestGroupLen(t *testing.T) {
	g := actor.NewGroup(nil)
	defer stopGroup(t, g)
	if g.Len() != 0 {
		t.Fatalf("Len of new group = %d", g.Len())
	}
	releases := make([]chan struct{}, 3)
	actors := make([]*actor.Actor, 3)
	for i := range releases {
		releases[i] = make(chan struct{})
		a, err := g.Spawn("a", func(context.Context) error { <-releases[i]; return nil })
		if err != nil {
			t.Fatal(err)
		}
		actors[i] = a
		if got := g.Len(); got != i+1 {
			t.Fatalf("Len = %d, want %d", got, i+1)
		}
	}
	for i := range releases {
		close(releases[i])
		actors[i].Err()
		// Done is closed just before the count drops, on the same
		// goroutine: no event follows the drop, so look until it shows.
		want := len(releases) - i - 1
		deadline := time.Now().Add(patience)
		for g.Len() != want {
			if time.Now().After(deadline) {
				t.Fatalf("Len = %d, want %d", g.Len(), want)
			}
			runtime.Gosched()
		}
	}
}

// TestGroupSpawnRacesStop spawns from many goroutines while the group stops:
// every Spawn either runs its actor or returns ErrStopped, and Wait covers
// every actor that was started.
func TestGroupSpawnRacesStop(t *testing.T) {
	for round := range 10 {
		g := actor.NewGroup(nil)
		var started, ran, exited atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					err := g.Go("racer", func(ctx context.Context) error {
						ran.Add(1)
						<-ctx.Done()
						exited.Add(1)
						return nil
					})
					if errors.Is(err, actor.ErrStopped) {
						return
					}
					if err != nil {
						t.Errorf("Go = %v", err)
						return
					}
					started.Add(1)
				}
			}()
		}
		// Stop at a different point of the spawning each round.
		progress(t, &started, int64(round%3)*50)
		g.Stop()
		wg.Wait()
		g.Wait()
		if s, r, e := started.Load(), ran.Load(), exited.Load(); s != r || r != e {
			t.Fatalf("round %d: started %d, ran %d, exited %d", round, s, r, e)
		}
	}
}
