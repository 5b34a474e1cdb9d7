package actor_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chanio/chanio/actor"
)

func newSupervisor(t testing.TB) *actor.Supervisor {
	t.Helper()
	g := actor.NewGroup(nil)
	s, err := actor.NewSupervisor(g)
	if err != nil {
		t.Fatalf("NewSupervisor = %v", err)
	}
	t.Cleanup(func() { stopGroup(t, g) })
	return s
}

// recvTick waits for one tick on m.
func recvTick(t testing.TB, m *actor.Mailbox[actor.Tick], what string) actor.Tick {
	t.Helper()
	tick, err := m.Recv(patienceCtx(t))
	if err != nil {
		t.Fatalf("%s: no tick: %v", what, err)
	}
	return tick
}

// noTick fails if m receives a tick within d.
func noTick(t testing.TB, m *actor.Mailbox[actor.Tick], d time.Duration, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if tick, err := m.Recv(ctx); err == nil {
		t.Fatalf("%s: unexpected tick due %v", what, tick.Due)
	}
}

func TestSupervisorTickDue(t *testing.T) {
	s := newSupervisor(t)
	for _, tc := range []struct {
		name string
		at   func() time.Time
		// exact is true when Due must equal the deadline exactly; a
		// deadline without a monotonic reading goes through the wall
		// clock and may differ by rounding.
		exact bool
	}{
		{"monotonic", func() time.Time { return time.Now().Add(5 * time.Millisecond) }, true},
		{"past", func() time.Time { return time.Now().Add(-time.Second) }, true},
		{"now", time.Now, true},
		{"wall clock only", func() time.Time { return time.Now().Add(5 * time.Millisecond).Round(0) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := actor.NewMailbox[actor.Tick](1)
			timer := s.NewTimer(m)
			at := tc.at()
			timer.Reset(at)
			tick := recvTick(t, m, "timer")
			if tc.exact && !tick.Due.Equal(at) {
				t.Fatalf("Due = %v, want %v (off by %v)", tick.Due, at, tick.Due.Sub(at))
			}
			if d := tick.Due.Sub(at).Abs(); d > time.Microsecond {
				t.Fatalf("Due = %v, want %v (off by %v)", tick.Due, at, d)
			}
			if now := time.Now(); now.Before(at) {
				t.Fatalf("tick due %v arrived early at %v", at, now)
			}
			if timer.Stop() {
				t.Fatal("Stop after firing reported armed")
			}
		})
	}
}

func TestSupervisorOrder(t *testing.T) {
	s := newSupervisor(t)
	const n = 200
	// All timers deliver to one mailbox, so ticks queue in firing order.
	// The order is defined only if arming ends before the first deadline:
	// on a loaded machine, retry with more headroom, and fail only if
	// arming never fits in even the largest.
	var took []time.Duration
	for _, lead := range []time.Duration{20 * time.Millisecond, 200 * time.Millisecond, 2 * time.Second, 5 * time.Second} {
		m := actor.NewMailbox[actor.Tick](n)
		begin := time.Now()
		base := begin.Add(lead)
		deadlines := make([]time.Time, n)
		for i := range deadlines {
			deadlines[i] = base.Add(time.Duration(i) * 100 * time.Microsecond)
		}
		timers := make([]*actor.Timer, n)
		for i := range timers {
			timers[i] = s.NewTimer(m)
		}
		// Arm in random order.
		for _, i := range rand.Perm(n) {
			timers[i].Reset(deadlines[i])
		}
		armed := time.Now()
		var got []actor.Tick
		ctx := patienceCtx(t)
		for len(got) < n {
			tick, err := m.Recv(ctx)
			if err != nil {
				t.Fatalf("after %d of %d ticks: %v", len(got), n, err)
			}
			got = append(got, tick)
		}
		if s.Len() != 0 {
			t.Fatalf("Len after firing = %d", s.Len())
		}
		// In any order, each timer fired once, with its own deadline.
		sorted := slices.SortedFunc(slices.Values(got), func(a, b actor.Tick) int { return a.Due.Compare(b.Due) })
		for i, tick := range sorted {
			if !tick.Due.Equal(deadlines[i]) {
				t.Fatalf("the %dth earliest tick is due %v, want %v: a timer fired twice or not at all", i, tick.Due, deadlines[i])
			}
		}
		if !armed.Before(base) {
			took = append(took, armed.Sub(begin))
			t.Logf("arming took %v, longer than the lead of %v; retrying", armed.Sub(begin), lead)
			continue
		}
		for i, tick := range got {
			if !tick.Due.Equal(deadlines[i]) {
				t.Fatalf("tick %d due %v, want %v: out of deadline order", i, tick.Due, deadlines[i])
			}
		}
		return
	}
	t.Fatalf("arming %d timers never ended before the first deadline: it took %v (leads 20ms, 200ms, 2s, 5s)", n, took)
}

func TestSupervisorReset(t *testing.T) {
	s := newSupervisor(t)

	t.Run("earlier", func(t *testing.T) {
		m := actor.NewMailbox[actor.Tick](2)
		timer := s.NewTimer(m)
		timer.Reset(time.Now().Add(time.Hour))
		// Other timers so that the one moved is not alone in the heap.
		others := make([]*actor.Timer, 10)
		for i := range others {
			others[i] = s.NewTimer(actor.NewMailbox[actor.Tick](1))
			others[i].Reset(time.Now().Add(time.Hour + time.Duration(i)*time.Minute))
		}
		at := time.Now().Add(5 * time.Millisecond)
		timer.Reset(at)
		if tick := recvTick(t, m, "reset earlier"); !tick.Due.Equal(at) {
			t.Fatalf("Due = %v, want %v", tick.Due, at)
		}
		noTick(t, m, 2*settle, "after the moved timer fired")
		for _, o := range others {
			if !o.Stop() {
				t.Fatal("other timer not armed")
			}
		}
	})

	t.Run("later", func(t *testing.T) {
		// A timer moved later does not fire at its first deadline. That
		// shows only if the move comes before that deadline: on a loaded
		// machine, retry with more headroom, and fail only if two Resets
		// never fit in even the largest.
		var took []time.Duration
		for _, lead := range []time.Duration{5 * settle, 50 * settle, 250 * settle} {
			m := actor.NewMailbox[actor.Tick](2)
			timer := s.NewTimer(m)
			begin := time.Now()
			first := begin.Add(lead)
			timer.Reset(first)
			timer.Reset(time.Now().Add(time.Hour))
			if moved := time.Now(); !moved.Before(first) {
				took = append(took, moved.Sub(begin))
				timer.Stop()
				continue
			}
			// Watch until well past the first deadline.
			noTick(t, m, time.Until(first)+3*settle, "timer moved an hour later")
			if !timer.Stop() {
				t.Fatal("Stop of the moved timer reported not armed")
			}
			return
		}
		t.Fatalf("two Resets never ended before the first deadline: they took %v (leads %v, %v, %v)", took, 5*settle, 50*settle, 250*settle)
	})

	t.Run("later then earlier again", func(t *testing.T) {
		m := actor.NewMailbox[actor.Tick](2)
		timer := s.NewTimer(m)
		timer.Reset(time.Now().Add(time.Hour))
		timer.Reset(time.Now().Add(2 * time.Hour))
		at := time.Now().Add(time.Millisecond)
		timer.Reset(at)
		if tick := recvTick(t, m, "reset"); !tick.Due.Equal(at) {
			t.Fatalf("Due = %v, want %v", tick.Due, at)
		}
	})

	t.Run("re-arm after firing", func(t *testing.T) {
		m := actor.NewMailbox[actor.Tick](1)
		timer := s.NewTimer(m)
		for i := range 5 {
			at := time.Now().Add(time.Duration(i) * time.Millisecond)
			timer.Reset(at)
			if tick := recvTick(t, m, "re-armed timer"); !tick.Due.Equal(at) {
				t.Fatalf("round %d: Due = %v, want %v", i, tick.Due, at)
			}
		}
	})

	t.Run("same deadline many times", func(t *testing.T) {
		m := actor.NewMailbox[actor.Tick](4)
		timer := s.NewTimer(m)
		at := time.Now().Add(5 * time.Millisecond)
		for range 100 {
			timer.Reset(at)
		}
		if s.Len() != 1 {
			t.Fatalf("Len = %d, want 1: Reset of an armed timer added it again", s.Len())
		}
		recvTick(t, m, "timer")
		noTick(t, m, 2*settle, "after firing once")
	})
}

func TestSupervisorStop(t *testing.T) {
	s := newSupervisor(t)

	t.Run("prevents firing", func(t *testing.T) {
		// Stop prevents the firing only if it comes before the deadline:
		// on a loaded machine, retry with more headroom, and fail only if
		// Reset and Stop never fit in even the largest.
		var took []time.Duration
		for _, lead := range []time.Duration{5 * settle, 50 * settle, 250 * settle} {
			m := actor.NewMailbox[actor.Tick](1)
			timer := s.NewTimer(m)
			if timer.Stop() {
				t.Fatal("Stop of a new timer reported armed")
			}
			begin := time.Now()
			at := begin.Add(lead)
			timer.Reset(at)
			armedLen := s.Len()
			stopped := timer.Stop()
			if end := time.Now(); !end.Before(at) {
				took = append(took, end.Sub(begin))
				continue // the deadline passed first: the timer may have fired
			}
			if armedLen != 1 {
				t.Fatalf("Len = %d, want 1", armedLen)
			}
			if !stopped {
				t.Fatal("Stop of an armed timer reported not armed")
			}
			if timer.Stop() {
				t.Fatal("second Stop reported armed")
			}
			if s.Len() != 0 {
				t.Fatalf("Len after Stop = %d", s.Len())
			}
			// Watch until well past the deadline.
			noTick(t, m, time.Until(at)+3*settle, "stopped timer")
			return
		}
		t.Fatalf("Reset and Stop never ended before the deadline: they took %v (leads %v, %v, %v)", took, 5*settle, 50*settle, 250*settle)
	})

	t.Run("leaves the others", func(t *testing.T) {
		// Stopping one timer leaves the others alone, wherever it is in
		// the heap. Arm far off first so that no Stop races a firing.
		const n = 30
		shared := actor.NewMailbox[actor.Tick](n)
		timers := make([]*actor.Timer, n)
		far := time.Now().Add(time.Hour)
		for _, i := range rand.Perm(n) {
			timers[i] = s.NewTimer(shared)
			timers[i].Reset(far.Add(time.Duration(i) * time.Millisecond))
		}
		for i := 0; i < n; i += 3 {
			if !timers[i].Stop() {
				t.Fatalf("timer %d not armed", i)
			}
		}
		base := time.Now().Add(time.Millisecond)
		var want []time.Time
		for i := range timers {
			if i%3 != 0 {
				at := base.Add(time.Duration(i) * time.Millisecond)
				timers[i].Reset(at)
				want = append(want, at)
			}
		}
		seen := map[time.Duration]int{}
		for range want {
			seen[recvTick(t, shared, "remaining timers").Due.Sub(base)]++
		}
		for _, at := range want {
			if c := seen[at.Sub(base)]; c != 1 {
				t.Fatalf("timer due %v fired %d times", at, c)
			}
		}
		noTick(t, shared, 2*settle, "after the remaining timers")
		if s.Len() != 0 {
			t.Fatalf("Len = %d", s.Len())
		}
	})
}

func TestSupervisorCoalesce(t *testing.T) {
	s := newSupervisor(t)

	t.Run("full mailbox", func(t *testing.T) {
		full := actor.NewMailbox[actor.Tick](1)
		stale := actor.Tick{Due: time.Unix(1, 0)}
		if err := full.TrySend(stale); err != nil {
			t.Fatal(err)
		}
		blockedTimer := s.NewTimer(full)
		blockedTimer.Reset(time.Now())
		// The supervisor does not block on the full mailbox: a later
		// timer to another mailbox still fires.
		other := actor.NewMailbox[actor.Tick](1)
		otherTimer := s.NewTimer(other)
		at := time.Now().Add(time.Millisecond)
		otherTimer.Reset(at)
		if tick := recvTick(t, other, "timer after a full mailbox"); !tick.Due.Equal(at) {
			t.Fatalf("Due = %v, want %v", tick.Due, at)
		}
		if got := full.Len(); got != 1 {
			t.Fatalf("full mailbox Len = %d, want 1", got)
		}
		if tick, _ := full.TryRecv(); tick != stale {
			t.Fatalf("full mailbox holds %v, want the tick that was waiting", tick)
		}
		if blockedTimer.Stop() {
			t.Fatal("timer to the full mailbox still armed")
		}
	})

	t.Run("two timers one slot", func(t *testing.T) {
		m := actor.NewMailbox[actor.Tick](1)
		a, b := s.NewTimer(m), s.NewTimer(m)
		now := time.Now()
		a.Reset(now)
		b.Reset(now.Add(time.Millisecond))
		first := recvTick(t, m, "coalesced")
		if !first.Due.Equal(now) && !first.Due.Equal(now.Add(time.Millisecond)) {
			t.Fatalf("Due = %v", first.Due)
		}
	})

	t.Run("closed mailbox", func(t *testing.T) {
		m := actor.NewMailbox[actor.Tick](1)
		m.Close()
		s.NewTimer(m).Reset(time.Now())
		other := actor.NewMailbox[actor.Tick](1)
		s.NewTimer(other).Reset(time.Now().Add(time.Millisecond))
		recvTick(t, other, "timer after a closed mailbox")
	})
}

// TestSupervisorMany arms many timers and checks that each fires exactly
// once with its own deadline.
func TestSupervisorMany(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 2000
	}
	s := newSupervisor(t)
	m := actor.NewMailbox[actor.Tick](2 * n)
	timers := make([]*actor.Timer, n)
	for i := range timers {
		timers[i] = s.NewTimer(m)
	}
	base := time.Now().Add(10 * time.Millisecond)
	// Distinct deadlines a microsecond apart, armed in random order; the
	// deadline identifies the timer.
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Microsecond) }
	for _, i := range rand.Perm(n) {
		timers[i].Reset(at(i))
	}
	seen := make([]int, n)
	ctx := patienceCtx(t)
	var buf []actor.Tick
	for got := 0; got < n; {
		select {
		case <-m.Ready():
		case <-ctx.Done():
			t.Fatalf("%d of %d timers fired", got, n)
		}
		buf, _ = m.Drain(buf[:0])
		for _, tick := range buf {
			i := int(tick.Due.Sub(base) / time.Microsecond)
			if i < 0 || i >= n || !tick.Due.Equal(at(i)) {
				t.Fatalf("tick due %v matches no timer", tick.Due)
			}
			seen[i]++
			got++
		}
	}
	noTick(t, m, 2*settle, "after all fired")
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("timer %d fired %d times", i, c)
		}
	}
	if s.Len() != 0 {
		t.Fatalf("Len = %d", s.Len())
	}
}

// TestSupervisorConcurrentResets re-arms timers from many goroutines. The
// intermediate deadlines are far off, so only the final ones fire, each
// exactly once.
func TestSupervisorConcurrentResets(t *testing.T) {
	s := newSupervisor(t)
	const workers, per = 8, 250
	m := actor.NewMailbox[actor.Tick](workers * per)
	base := time.Now()
	final := func(w, i int) time.Time {
		return base.Add(20*time.Millisecond + time.Duration(w*per+i)*time.Microsecond)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			timers := make([]*actor.Timer, per)
			for i := range timers {
				timers[i] = s.NewTimer(m)
			}
			for range 20 * per {
				i := rng.IntN(per)
				switch rng.IntN(4) {
				case 0:
					timers[i].Stop()
				default:
					timers[i].Reset(base.Add(time.Hour + time.Duration(rng.IntN(1e9))))
				}
			}
			for i, timer := range timers {
				timer.Reset(final(w, i))
			}
		}()
	}
	wg.Wait()
	// Key ticks by their offset from base on the monotonic clock.
	seen := map[time.Duration]int{}
	ctx := patienceCtx(t)
	for len(seen) < workers*per {
		tick, err := m.Recv(ctx)
		if err != nil {
			t.Fatalf("%d of %d fired: %v", len(seen), workers*per, err)
		}
		seen[tick.Due.Sub(base)]++
	}
	noTick(t, m, 2*settle, "after all fired")
	for w := range workers {
		for i := range per {
			if c := seen[final(w, i).Sub(base)]; c != 1 {
				t.Fatalf("timer %d/%d fired %d times", w, i, c)
			}
		}
	}
}

func TestSupervisorLen(t *testing.T) {
	s := newSupervisor(t)
	m := actor.NewMailbox[actor.Tick](8)
	timers := []*actor.Timer{s.NewTimer(m), s.NewTimer(m), s.NewTimer(m)}
	if s.Len() != 0 {
		t.Fatalf("Len with unarmed timers = %d", s.Len())
	}
	for i, timer := range timers {
		timer.Reset(time.Now().Add(time.Hour))
		if got := s.Len(); got != i+1 {
			t.Fatalf("Len = %d, want %d", got, i+1)
		}
	}
	timers[1].Stop()
	if got := s.Len(); got != 2 {
		t.Fatalf("Len after Stop = %d, want 2", got)
	}
	timers[0].Reset(time.Now())
	recvTick(t, m, "timer")
	if got := s.Len(); got != 1 {
		t.Fatalf("Len after firing = %d, want 1", got)
	}
}

func TestSupervisorStopsWithGroup(t *testing.T) {
	g := actor.NewGroup(nil)
	s, err := actor.NewSupervisor(g)
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 1 {
		t.Fatalf("group Len = %d, want 1 (the supervisor)", g.Len())
	}
	s.NewTimer(actor.NewMailbox[actor.Tick](1)).Reset(time.Now().Add(time.Hour))
	stopGroup(t, g)
	// Timers of a stopped supervisor may be armed but never fire; arming
	// must not block or panic.
	m := actor.NewMailbox[actor.Tick](1)
	s.NewTimer(m).Reset(time.Now())
	noTick(t, m, settle, "stopped supervisor")

	if _, err := actor.NewSupervisor(g); !errors.Is(err, actor.ErrStopped) {
		t.Fatalf("NewSupervisor on a stopped group = %v, want ErrStopped", err)
	}
}

// TestSupervisorResetRacesFiring re-arms and stops timers around the
// present from many goroutines while the supervisor fires them, then parks
// every timer far off: no panic, no lost timer, and afterwards each fires
// exactly once when brought due again.
func TestSupervisorResetRacesFiring(t *testing.T) {
	s := newSupervisor(t)
	const workers, per = 4, 64
	boxes := make([][]*actor.Mailbox[actor.Tick], workers)
	timers := make([][]*actor.Timer, workers)
	for w := range workers {
		for range per {
			m := actor.NewMailbox[actor.Tick](1)
			boxes[w] = append(boxes[w], m)
			timers[w] = append(timers[w], s.NewTimer(m))
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for range 5000 {
				i := rng.IntN(per)
				switch rng.IntN(5) {
				case 0:
					timers[w][i].Stop()
				case 1:
					boxes[w][i].TryRecv()
				default:
					d := time.Duration(rng.IntN(2000)-1000) * time.Microsecond
					timers[w][i].Reset(time.Now().Add(d))
				}
			}
			far := time.Now().Add(time.Hour)
			for _, timer := range timers[w] {
				timer.Reset(far)
			}
		}()
	}
	wg.Wait()
	if got := s.Len(); got != workers*per {
		t.Fatalf("Len = %d, want %d parked timers", got, workers*per)
	}
	// Firings the supervisor took from the heap before the timers were
	// parked may still be on their way to the mailboxes. It delivers one
	// batch after another, so once a timer armed now has fired, they have
	// all arrived. Then empty the mailboxes and bring every timer due once
	// more: each delivers that tick and no stale one.
	barrier := make(chan struct{})
	s.NewTimerFunc(func(time.Time) { close(barrier) }).Reset(time.Now())
	wait(t, barrier, "a timer armed after the race")
	due := make([][]time.Time, workers)
	for w := range workers {
		for i := range per {
			boxes[w][i].Drain(nil)
			at := time.Now()
			due[w] = append(due[w], at)
			timers[w][i].Reset(at)
		}
	}
	for w := range workers {
		for i := range per {
			if tick := recvTick(t, boxes[w][i], "timer after the race"); !tick.Due.Equal(due[w][i]) {
				t.Fatalf("timer %d/%d: tick due %v, want %v", w, i, tick.Due, due[w][i])
			}
		}
	}
	if s.Len() != 0 {
		t.Fatalf("Len = %d", s.Len())
	}
}

func TestSupervisorTimerFunc(t *testing.T) {
	s := newSupervisor(t)
	fired := make(chan time.Time, 10)
	var timer *actor.Timer
	rearms := 2
	var dues []time.Time
	timer = s.NewTimerFunc(func(due time.Time) {
		dues = append(dues, due)
		fired <- time.Now()
		// A fire function may re-arm its own timer: the supervisor calls
		// it outside its lock.
		if rearms > 0 {
			rearms--
			timer.Reset(time.Now().Add(time.Millisecond))
		}
	})
	deadline := time.Now().Add(5 * time.Millisecond)
	timer.Reset(deadline)
	ctx := patienceCtx(t)
	for i := 0; i < 3; i++ {
		select {
		case at := <-fired:
			if i == 0 && at.Before(deadline) {
				t.Fatalf("fired at %v, before its deadline %v", at, deadline)
			}
		case <-ctx.Done():
			t.Fatalf("fire %d of 3 never came", i+1)
		}
	}
	if s.Len() != 0 {
		t.Fatalf("Len after the last fire = %d, want 0", s.Len())
	}
	if !dues[0].Equal(deadline) {
		t.Fatalf("first fire's due = %v, want the deadline %v", dues[0], deadline)
	}

	// A stopped timer does not fire. That shows only if Stop comes before
	// the deadline: on a loaded machine, retry with more headroom.
	var took []time.Duration
	for _, lead := range []time.Duration{20 * time.Millisecond, 200 * time.Millisecond, 2 * time.Second} {
		begin := time.Now()
		at := begin.Add(lead)
		timer.Reset(at)
		stopped := timer.Stop()
		if end := time.Now(); !end.Before(at) {
			took = append(took, end.Sub(begin))
			if !stopped {
				wait(t, fired, "the fire of a timer Stop came too late for")
			}
			continue
		}
		if !stopped {
			t.Fatal("Stop of an armed timer = false")
		}
		// Watch until well past the deadline.
		select {
		case <-fired:
			t.Fatal("a stopped timer fired")
		case <-time.After(time.Until(at) + 2*settle):
		}
		return
	}
	t.Fatalf("Reset and Stop never ended before the deadline: they took %v (leads 20ms, 200ms, 2s)", took)
}
