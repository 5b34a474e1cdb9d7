package actor

import (
	"context"
	"sync"
	"time"
)

// Tick is what a [Timer] delivers to its mailbox when its deadline passes.
// A tick can arrive late or be stale (its timer was reset meanwhile), so a
// receiver re-checks its own deadlines against the clock rather than
// trusting the tick.
type Tick struct {
	Due time.Time // the deadline that fired
}

// Supervisor runs the deadlines of many actors (next ping, pong due,
// upgrade timeout) on one goroutine and one runtime timer, however many
// deadlines there are. Deadlines live in a binary heap, so arming, re-arming
// and cancelling a [Timer] cost O(log n) and no allocation.
//
// Create it with [NewSupervisor]; it stops with its group.
type Supervisor struct {
	mu   sync.Mutex
	heap []*Timer
	next int64 // deadline (an Instant) the loop sleeps until; never when idle

	wake   chan struct{} // capacity 1: the earliest deadline moved earlier
	firing []firing      // reused by the loop
}

type firing struct {
	t    *Timer
	when int64
}

const never = int64(^uint64(0) >> 1)

// NewSupervisor starts a supervisor whose goroutine belongs to g and ends
// when g stops.
func NewSupervisor(g *Group) (*Supervisor, error) {
	s := &Supervisor{next: never, wake: make(chan struct{}, 1)}
	if err := g.Go("supervisor", s.run); err != nil {
		return nil, err
	}
	return s, nil
}

// Timer is one actor's deadline: when it passes, the supervisor delivers a
// [Tick] to the timer's mailbox with TrySend, so a full mailbox (a tick
// already waiting) coalesces ticks instead of blocking the supervisor; or,
// made by [Supervisor.NewTimerFunc], calls its function. An actor keeps one
// Timer and re-arms it to its nearest deadline.
type Timer struct {
	s     *Supervisor
	fire  func(due time.Time) // never changes
	when  int64               // an Instant; guarded by s.mu
	index int                 // position in s.heap, -1 when not armed; guarded by s.mu
}

// NewTimer returns an unarmed timer that delivers to target. A mailbox of
// capacity 1 is the usual target.
func (s *Supervisor) NewTimer(target *Mailbox[Tick]) *Timer {
	return s.NewTimerFunc(func(due time.Time) { _ = target.TrySend(Tick{Due: due}) })
}

// NewTimerFunc returns an unarmed timer that calls fire with the deadline
// that passed, on the supervisor's goroutine. fire must not block: it is
// meant to set a flag and schedule a [Runner], which costs an actor less
// than a mailbox of its own for ticks (many thousands of idle actors each
// keep one).
func (s *Supervisor) NewTimerFunc(fire func(due time.Time)) *Timer {
	return &Timer{s: s, fire: fire, index: -1}
}

// since returns t on the heap's scale: its [Instant].
func (s *Supervisor) since(t time.Time) int64 { return int64(InstantOf(t)) }

// Reset arms t to fire at the given time, replacing any earlier setting. A
// time in the past fires at once.
func (t *Timer) Reset(at time.Time) { t.ResetAt(InstantOf(at)) }

// ResetAt is [Timer.Reset] for a deadline on chanio's clock.
func (t *Timer) ResetAt(at Instant) {
	s := t.s
	when := int64(at)
	s.mu.Lock()
	t.when = when
	if t.index < 0 {
		t.index = len(s.heap)
		s.heap = append(s.heap, t)
		s.up(t.index)
	} else if !s.down(t.index) {
		s.up(t.index)
	}
	wake := when < s.next
	if wake {
		s.next = when
	}
	s.mu.Unlock()
	if wake {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Stop disarms t and reports whether it was armed. A tick already
// delivered stays in the mailbox.
func (t *Timer) Stop() bool {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.index < 0 {
		return false
	}
	s.remove(t.index)
	return true
}

// Len returns the number of armed timers.
func (s *Supervisor) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.heap)
}

func (s *Supervisor) run(ctx context.Context) error {
	clock := time.NewTimer(time.Hour)
	defer clock.Stop()
	for {
		now := int64(Now())
		s.mu.Lock()
		for len(s.heap) > 0 && s.heap[0].when <= now {
			t := s.heap[0]
			s.firing = append(s.firing, firing{t, t.when})
			s.remove(0)
		}
		s.next = never
		sleep := time.Hour
		if len(s.heap) > 0 {
			s.next = s.heap[0].when
			sleep = min(time.Duration(s.next-now), time.Hour)
		}
		s.mu.Unlock()

		// Deliver outside the lock: TrySend takes the mailbox's own lock,
		// and a fire function may re-arm its timer.
		for i, f := range s.firing {
			f.t.fire(Instant(f.when).Time())
			s.firing[i] = firing{}
		}
		s.firing = s.firing[:0]

		clock.Reset(sleep)
		select {
		case <-clock.C:
		case <-s.wake:
		case <-ctx.Done():
			return nil
		}
	}
}

// Heap operations; called with s.mu held.

func (s *Supervisor) less(i, j int) bool { return s.heap[i].when < s.heap[j].when }

func (s *Supervisor) swap(i, j int) {
	h := s.heap
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (s *Supervisor) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !s.less(j, i) {
			break
		}
		s.swap(i, j)
		j = i
	}
}

// down sifts element i down and reports whether it moved.
func (s *Supervisor) down(i0 int) bool {
	i, n := i0, len(s.heap)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && s.less(r, l) {
			j = r
		}
		if !s.less(j, i) {
			break
		}
		s.swap(i, j)
		i = j
	}
	return i > i0
}

func (s *Supervisor) remove(i int) {
	last := len(s.heap) - 1
	t := s.heap[i]
	if i != last {
		s.swap(i, last)
	}
	s.heap[last] = nil
	s.heap = s.heap[:last]
	if i != last {
		if !s.down(i) {
			s.up(i)
		}
	}
	t.index = -1
}
