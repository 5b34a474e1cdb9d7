package actor_test

import (
	"context"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/chanio/chanio/actor"
)

// benchCapacity is the capacity of both the mailbox and the channel it is
// compared with.
const benchCapacity = 128

// BenchmarkQueue compares a Mailbox with a buffered channel of the same
// capacity; sub-benchmark names line up as queue/pattern:
//
//	single      one goroutine sends then receives one item per op
//	spsc        one producer goroutine, one consumer goroutine, item by item
//	drain       one goroutine fills a batch, then empties it (Drain vs a
//	            receive loop); per item
//	spsc-drain  producer goroutine, consumer that wakes and takes every
//	            queued item at once; per item
//
// "mailbox" uses TrySend/TryRecv where it cannot block and Send/Recv with a
// context where it must; "mailbox-ctx" is single with Send/Recv.
func BenchmarkQueue(b *testing.B) {
	ctx := context.Background()

	b.Run("mailbox/single", func(b *testing.B) {
		m := actor.NewMailbox[int](benchCapacity)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := m.TrySend(i); err != nil {
				b.Fatal(err)
			}
			if _, ok := m.TryRecv(); !ok {
				b.Fatal("empty")
			}
		}
	})
	b.Run("mailbox-ctx/single", func(b *testing.B) {
		m := actor.NewMailbox[int](benchCapacity)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := m.Send(ctx, i); err != nil {
				b.Fatal(err)
			}
			if _, err := m.Recv(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("channel/single", func(b *testing.B) {
		ch := make(chan int, benchCapacity)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			ch <- i
			<-ch
		}
	})

	b.Run("mailbox/spsc", func(b *testing.B) {
		m := actor.NewMailbox[int](benchCapacity)
		b.ReportAllocs()
		n := b.N
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range n {
				if err := m.Send(ctx, i); err != nil {
					panic(err)
				}
			}
		}()
		for range n {
			if _, err := m.Recv(ctx); err != nil {
				b.Fatal(err)
			}
		}
		<-done
	})
	b.Run("channel/spsc", func(b *testing.B) {
		ch := make(chan int, benchCapacity)
		b.ReportAllocs()
		n := b.N
		go func() {
			for i := range n {
				ch <- i
			}
		}()
		for range n {
			<-ch
		}
	})

	b.Run("mailbox/drain", func(b *testing.B) {
		m := actor.NewMailbox[int](benchCapacity)
		buf := make([]int, 0, benchCapacity)
		b.ReportAllocs()
		for i := 0; i < b.N; {
			k := min(benchCapacity, b.N-i)
			for j := range k {
				if err := m.TrySend(i + j); err != nil {
					b.Fatal(err)
				}
			}
			buf, _ = m.Drain(buf[:0])
			if len(buf) != k {
				b.Fatalf("drained %d, want %d", len(buf), k)
			}
			i += k
		}
	})
	b.Run("channel/drain", func(b *testing.B) {
		ch := make(chan int, benchCapacity)
		buf := make([]int, 0, benchCapacity)
		b.ReportAllocs()
		for i := 0; i < b.N; {
			k := min(benchCapacity, b.N-i)
			for j := range k {
				ch <- i + j
			}
			buf = buf[:0]
		loop:
			for {
				select {
				case v := <-ch:
					buf = append(buf, v)
				default:
					break loop
				}
			}
			if len(buf) != k {
				b.Fatalf("drained %d, want %d", len(buf), k)
			}
			i += k
		}
	})

	b.Run("mailbox/spsc-drain", func(b *testing.B) {
		m := actor.NewMailbox[int](benchCapacity)
		buf := make([]int, 0, benchCapacity)
		b.ReportAllocs()
		n := b.N
		go func() {
			for i := range n {
				if err := m.Send(ctx, i); err != nil {
					panic(err)
				}
			}
			m.Close()
		}()
		got := 0
		for {
			<-m.Ready()
			var err error
			buf, err = m.Drain(buf[:0])
			got += len(buf)
			if err != nil {
				break
			}
		}
		if got != n {
			b.Fatalf("received %d, want %d", got, n)
		}
	})
	b.Run("channel/spsc-drain", func(b *testing.B) {
		ch := make(chan int, benchCapacity)
		buf := make([]int, 0, benchCapacity)
		b.ReportAllocs()
		n := b.N
		go func() {
			for i := range n {
				ch <- i
			}
			close(ch)
		}()
		got := 0
		for v := range ch {
			// Woken by one item: take it and everything else queued.
			buf = append(buf[:0], v)
		loop:
			for {
				select {
				case v, ok := <-ch:
					if !ok {
						break loop
					}
					buf = append(buf, v)
				default:
					break loop
				}
			}
			got += len(buf)
		}
		if got != n {
			b.Fatalf("received %d, want %d", got, n)
		}
	})
}

const benchTimers = 100_000

// benchSupervisor returns a running supervisor and n timers delivering to
// one mailbox that can hold a tick from each.
func benchSupervisor(b *testing.B, n int) (*actor.Supervisor, []*actor.Timer, *actor.Mailbox[actor.Tick]) {
	b.Helper()
	g := actor.NewGroup(nil)
	s, err := actor.NewSupervisor(g)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Stop(); g.Wait() })
	m := actor.NewMailbox[actor.Tick](n)
	timers := make([]*actor.Timer, n)
	for i := range timers {
		timers[i] = s.NewTimer(m)
	}
	return s, timers, m
}

// BenchmarkSupervisor measures the supervisor at 100,000 deadlines:
//
//	fire-100k         per op: arm 100,000 timers (random order, deadlines
//	                  already due) and receive all 100,000 ticks; reported
//	                  per deadline as well
//	reset-100k-armed  per op: re-arm one timer in a heap of 100,000 armed
//	                  timers (no wake-up of the supervisor's goroutine)
func BenchmarkSupervisor(b *testing.B) {
	b.Run("fire-100k", func(b *testing.B) {
		_, timers, m := benchSupervisor(b, benchTimers)
		order := rand.Perm(benchTimers)
		buf := make([]actor.Tick, 0, benchTimers)
		round := func() {
			base := time.Now().Add(-time.Second)
			for _, i := range order {
				timers[i].Reset(base.Add(time.Duration(i)))
			}
			for got := 0; got < benchTimers; {
				<-m.Ready()
				buf, _ = m.Drain(buf[:0])
				got += len(buf)
			}
		}
		// One untimed round grows the heap, the mailbox's ring and the
		// supervisor's firing list to their steady-state sizes.
		round()
		b.ReportAllocs()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.ResetTimer()
		for range b.N {
			round()
		}
		b.StopTimer()
		runtime.ReadMemStats(&after)
		deadlines := float64(b.N) * benchTimers
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deadlines, "ns/deadline")
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/deadlines, "allocs/deadline")
	})

	b.Run("reset-100k-armed", func(b *testing.B) {
		s, timers, _ := benchSupervisor(b, benchTimers)
		base := time.Now()
		// timers[0] holds the earliest deadline, so that no Reset below
		// moves the earliest and wakes the supervisor's goroutine.
		timers[0].Reset(base.Add(time.Hour))
		rng := rand.New(rand.NewPCG(1, 2))
		offset := func() time.Duration { return 2*time.Hour + time.Duration(rng.Int64N(int64(time.Hour))) }
		for _, t := range timers[1:] {
			t.Reset(base.Add(offset()))
		}
		if s.Len() != benchTimers {
			b.Fatalf("Len = %d", s.Len())
		}
		idx := make([]int, 4096)
		ats := make([]time.Time, 4096)
		for i := range idx {
			idx[i] = 1 + rng.IntN(benchTimers-1)
			ats[i] = base.Add(offset())
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			timers[idx[i%4096]].Reset(ats[i%4096])
		}
	})
}
