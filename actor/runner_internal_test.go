package actor

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
)

// TestRunnerPassAllocations: a pass of an idle runner, its goroutine
// included, allocates nothing: a server schedules one per session for each
// message it sends, and a broadcast to thousands must not allocate per
// session.
func TestRunnerPassAllocations(t *testing.T) {
	g := NewGroup(nil)
	done := make(chan struct{}, 1)
	var stop atomic.Bool
	r, err := g.NewRunner("test", func(context.Context) bool {
		done <- struct{}{}
		return stop.Load()
	})
	if err != nil {
		t.Fatal(err)
	}
	pass := func() {
		r.Schedule()
		<-done
		for r.state.Load() != runnerIdle {
			runtime.Gosched() // the pass has signalled; its goroutine is ending
		}
	}
	pass()
	if n := testing.AllocsPerRun(100, pass); n != 0 {
		t.Errorf("%v allocations per pass, want 0", n)
	}
	stop.Store(true)
	r.Schedule()
	<-done
	g.Seal()
	g.Wait()
}
