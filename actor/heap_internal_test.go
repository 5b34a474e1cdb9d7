package actor

import (
	"math/rand/v2"
	"testing"
	"time"
)

// checkHeap verifies the heap order and every timer's index.
func checkHeap(t *testing.T, s *Supervisor, armed map[*Timer]int64) {
	t.Helper()
	if len(s.heap) != len(armed) {
		t.Fatalf("heap holds %d timers, want %d", len(s.heap), len(armed))
	}
	for i, tm := range s.heap {
		if tm.index != i {
			t.Fatalf("heap[%d].index = %d", i, tm.index)
		}
		if want, ok := armed[tm]; !ok || tm.when != want {
			t.Fatalf("heap[%d] when = %d, armed %v want %d", i, tm.when, ok, want)
		}
		if i > 0 && s.heap[(i-1)/2].when > tm.when {
			t.Fatalf("heap order broken at %d", i)
		}
	}
}

// TestSupervisorHeap drives the heap of a supervisor whose loop is not
// running through random Reset, Stop and fire operations, checking the heap
// invariants after each.
func TestSupervisorHeap(t *testing.T) {
	s := &Supervisor{next: never, wake: make(chan struct{}, 1)}
	rng := rand.New(rand.NewPCG(3, 4))
	m := NewMailbox[Tick](1)
	timers := make([]*Timer, 64)
	for i := range timers {
		timers[i] = s.NewTimer(m)
	}
	armed := map[*Timer]int64{}
	for step := range 20000 {
		tm := timers[rng.IntN(len(timers))]
		switch op := rng.IntN(10); {
		case op < 6:
			// Few distinct deadlines, so that ties are common.
			at := time.Now().Add(time.Duration(rng.IntN(50)) * time.Millisecond)
			tm.Reset(at)
			armed[tm] = s.since(at)
		case op < 9:
			_, was := armed[tm]
			if got := tm.Stop(); got != was {
				t.Fatalf("step %d: Stop = %v, want %v", step, got, was)
			}
			delete(armed, tm)
		default:
			// What the loop does on firing.
			if len(s.heap) > 0 {
				top := s.heap[0]
				for _, when := range armed {
					if when < top.when {
						t.Fatalf("step %d: top %d is not the earliest (%d)", step, top.when, when)
					}
				}
				s.remove(0)
				if top.index != -1 {
					t.Fatalf("step %d: fired timer index = %d", step, top.index)
				}
				delete(armed, top)
			}
		}
		checkHeap(t, s, armed)
		if s.next > s.earliest() {
			t.Fatalf("step %d: next = %d after the earliest deadline %d: the loop would oversleep", step, s.next, s.earliest())
		}
		// The loop recomputes next after each wake-up.
		select {
		case <-s.wake:
			s.next = s.earliest()
		default:
		}
	}
}

// earliest is the deadline the loop must wake by.
func (s *Supervisor) earliest() int64 {
	if len(s.heap) == 0 {
		return never
	}
	return s.heap[0].when
}
