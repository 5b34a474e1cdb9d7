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

// TestRunnerPasses: work runs once per burst of Schedules, never two passes
// at once, and sees every item a notifying mailbox received.
func TestRunnerPasses(t *testing.T) {
	g := actor.NewGroup(nil)
	mb := actor.NewMailbox[int](1 << 20)
	const senders, each = 8, 20000
	var inPass, overlaps atomic.Int32
	var got atomic.Int64
	var stop atomic.Bool
	var batch []int
	all := make(chan struct{}) // closed by the pass that sees the last item
	r, err := g.NewRunner("test", func(context.Context) bool {
		if inPass.Add(1) != 1 {
			overlaps.Add(1)
		}
		defer inPass.Add(-1)
		batch, _ = mb.Drain(batch[:0])
		if n := len(batch); n > 0 && got.Add(int64(n)) == senders*each {
			close(all)
		}
		return stop.Load()
	})
	if err != nil {
		t.Fatal(err)
	}
	mb.SetNotify(r.Schedule)

	var wg sync.WaitGroup
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				if err := mb.TrySend(j); err != nil {
					t.Error(err)
					return
				}
				// Extra schedules are harmless; in the second half, only the
				// mailbox's own wake-ups run the work, so none may be lost.
				if j%100 == 0 && j < each/2 {
					r.Schedule()
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-all:
	case <-time.After(patience):
		t.Fatalf("work saw %d items, want %d", got.Load(), senders*each)
	}
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("%d passes overlapped", n)
	}
	g.Seal()
	if err := g.WaitContext(ctxTimeout(t, 50*time.Millisecond)); err == nil {
		t.Fatal("Wait returned while a runner is still live")
	}
	stop.Store(true)
	r.Schedule()
	g.Wait()
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestRunnerLifecycle: a live runner keeps Wait waiting with no goroutine;
// ending it releases Wait; Schedule after the end does nothing; a sealed
// group refuses new runners but still schedules old ones.
func TestRunnerLifecycle(t *testing.T) {
	g := actor.NewGroup(nil)
	var passes atomic.Int32
	var stop atomic.Bool
	passed := make(chan int32, 3)
	r, err := g.NewRunner("life", func(context.Context) bool {
		passed <- passes.Add(1)
		return stop.Load()
	})
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 1 {
		t.Fatalf("Len %d with one idle runner", g.Len())
	}
	g.Seal()
	if _, err := g.NewRunner("late", func(context.Context) bool { return true }); !errors.Is(err, actor.ErrStopped) {
		t.Fatalf("NewRunner after Seal: %v", err)
	}
	r.Schedule()
	if n := wait(t, passed, "first pass"); n != 1 {
		t.Fatalf("pass %d, want 1", n)
	}
	if err := g.WaitContext(ctxTimeout(t, 50*time.Millisecond)); err == nil {
		t.Fatal("Wait returned while the runner is live")
	}
	stop.Store(true)
	r.Schedule()
	g.Wait()
	if !r.Ended() {
		t.Fatal("runner not ended")
	}
	if n := wait(t, passed, "last pass"); n != 2 {
		t.Fatalf("pass %d, want 2", n)
	}
	r.Schedule()
	// That nothing runs can only be watched for a while: a window.
	blocked(t, passed, "a pass scheduled after the end")
	if n := passes.Load(); n != 2 {
		t.Fatalf("%d passes; Schedule after the end ran work", n)
	}
}

// TestRunnerPanic: a panicking pass ends the actor and is reported.
func TestRunnerPanic(t *testing.T) {
	reported := make(chan error, 1)
	g := actor.NewGroup(func(_ string, err error) { reported <- err })
	r, _ := g.NewRunner("boom", func(context.Context) bool { panic("bad state") })
	r.Schedule()
	var pe *actor.PanicError
	if err := <-reported; !errors.As(err, &pe) || pe.Value != "bad state" || pe.Name != "boom" {
		t.Fatalf("reported %v", err)
	}
	g.Seal()
	g.Wait()
	if !r.Ended() {
		t.Fatal("panicked runner not ended")
	}
}

// TestRunnerKick: a pass that waits hears of new work on Kick.
func TestRunnerKick(t *testing.T) {
	g := actor.NewGroup(nil)
	waiting := make(chan struct{})
	kicked := make(chan struct{})
	var passes atomic.Int32
	var r *actor.Runner
	r, _ = g.NewRunner("kick", func(ctx context.Context) bool {
		if passes.Add(1) == 1 {
			close(waiting)
			select {
			case <-r.Kick():
				close(kicked)
			case <-time.After(5 * time.Second):
			}
			return false
		}
		return true
	})
	r.Schedule()
	<-waiting
	r.Schedule()
	select {
	case <-kicked:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting pass was not kicked")
	}
	g.Seal()
	g.Wait() // the Schedule also asked for a second pass, which ends it
	if passes.Load() != 2 {
		t.Fatalf("%d passes, want 2", passes.Load())
	}
}

// TestRunnerRun: Run does the pass on the calling goroutine, with the
// passes scheduled meanwhile, and has returned only once they are done;
// while another goroutine runs a pass, Run schedules the next and returns.
func TestRunnerRun(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		g := actor.NewGroup(nil)
		var passes int // no atomic: every pass runs on this goroutine
		var r *actor.Runner
		r, _ = g.NewRunner("run", func(context.Context) bool {
			passes++
			if passes == 1 {
				r.Schedule() // work that arrives during the pass
			}
			return passes == 3
		})
		r.Run()
		if passes != 2 {
			t.Fatalf("%d passes when Run returned, want 2", passes)
		}
		r.Run()
		if passes != 3 || !r.Ended() {
			t.Fatalf("%d passes, ended %v; want 3 and ended", passes, r.Ended())
		}
		g.Seal()
		g.Wait()
		r.Run() // after the end: nothing
		if passes != 3 {
			t.Fatalf("%d passes; Run after the end ran work", passes)
		}
	})
	t.Run("busy", func(t *testing.T) {
		g := actor.NewGroup(nil)
		inPass := make(chan struct{})
		release := make(chan struct{})
		passed := make(chan int32, 2)
		var passes atomic.Int32
		r, _ := g.NewRunner("busy", func(context.Context) bool {
			n := passes.Add(1)
			if n == 1 {
				close(inPass)
				<-release
			}
			passed <- n
			return n == 2
		})
		r.Schedule()
		<-inPass
		r.Run() // returns at once: the running pass's goroutine does the next
		close(release)
		if n := wait(t, passed, "first pass"); n != 1 {
			t.Fatalf("pass %d, want 1", n)
		}
		if n := wait(t, passed, "pass Run asked for"); n != 2 {
			t.Fatalf("pass %d, want 2", n)
		}
		g.Seal()
		g.Wait()
	})
}

// TestRunnerIdleWorkers: the goroutines that ran passes wait for the next
// ones and count as active while they wait, so that Wait after Seal still
// means no goroutine of the group is left (goleak checks that at the end
// of the package); a pass handed to a waiting goroutine runs as any other.
func TestRunnerIdleWorkers(t *testing.T) {
	g := actor.NewGroup(nil)
	const n = 20
	var ran atomic.Int32
	var ending atomic.Bool
	passes := make(chan struct{}, 2*n)
	runners := make([]*actor.Runner, n)
	for i := range runners {
		r, err := g.NewRunner("r", func(context.Context) bool {
			ran.Add(1)
			passes <- struct{}{}
			return ending.Load()
		})
		if err != nil {
			t.Fatal(err)
		}
		runners[i] = r
	}
	for _, r := range runners {
		r.Schedule()
	}
	for range n {
		<-passes
	}
	// Every pass is over: its goroutine now waits for another, counted
	// with the runners themselves.
	deadline := time.Now().Add(10 * time.Second)
	for g.Len() <= n {
		if time.Now().After(deadline) {
			t.Fatalf("%d active, want the %d runners and their waiting goroutines", g.Len(), n)
		}
		runtime.Gosched()
	}
	// Second passes: handed to the waiting goroutines, and the runners end.
	ending.Store(true)
	for _, r := range runners {
		r.Schedule()
	}
	for range n {
		<-passes
	}
	g.Seal()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.WaitContext(ctx); err != nil {
		t.Fatalf("Wait after Seal: %v with %d active", err, g.Len())
	}
	if got := ran.Load(); got != 2*n {
		t.Fatalf("%d passes, want %d", got, 2*n)
	}
}
