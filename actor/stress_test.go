package actor_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanio/chanio/actor"
)

// TestStressActors runs many actors, each owning a mailbox, and floods them
// with messages from several producers through Send. Every message must be
// delivered exactly once, to the actor it was sent to; then the mailboxes
// close, the actors drain and exit, and the group waits for all of them
// (TestMain's goleak check then finds no goroutine left).
func TestStressActors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		actors    int
		messages  int
		producers int
		capacity  int
		short     bool // run under -short too
	}{
		{"100 actors 100k messages capacity 1", 100, 100_000, 4, 1, true},
		{"1k actors 100k messages", 1_000, 100_000, 4, 16, true},
		{"10k actors 1M messages", 10_000, 1_000_000, 4, 16, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && !tc.short {
				t.Skip("skipped in -short mode")
			}
			stress(t, tc.actors, tc.messages, tc.producers, tc.capacity)
		})
	}
}

func stress(t *testing.T, actors, messages, producers, capacity int) {
	start := time.Now()
	var log exitLog
	g := actor.NewGroup(log.onExit)
	defer stopGroup(t, g) // only matters on failure paths

	ctx, cancel := context.WithTimeout(g.Context(), 2*time.Minute)
	defer cancel()

	// delivered[id] counts deliveries of message id; owner[id] is the
	// actor it was sent to.
	delivered := make([]atomic.Uint32, messages)
	owner := make([]int32, messages)
	sentTo := make([]atomic.Int64, actors)
	received := make([]int64, actors) // each written by its own actor only
	var checksum atomic.Uint64        // sum of the ids received

	boxes := make([]*actor.Mailbox[uint32], actors)
	handles := make([]*actor.Actor, actors)
	for i := range boxes {
		boxes[i] = actor.NewMailbox[uint32](capacity)
	}
	for i := range boxes {
		box := boxes[i]
		a, err := g.Spawn("stress", func(ctx context.Context) error {
			var buf []uint32
			var sum uint64
			defer func() { checksum.Add(sum) }()
			for {
				select {
				case <-box.Ready():
				case <-ctx.Done():
					return ctx.Err()
				}
				var err error
				buf, err = box.Drain(buf[:0])
				for _, id := range buf {
					if owner[id] != int32(i) {
						return errors.New("message delivered to the wrong actor")
					}
					delivered[id].Add(1)
					sum += uint64(id)
				}
				received[i] += int64(len(buf))
				if errors.Is(err, actor.ErrClosed) {
					return nil
				}
			}
		})
		if err != nil {
			t.Fatalf("Spawn = %v", err)
		}
		handles[i] = a
	}
	if got := g.Len(); got != actors {
		t.Fatalf("group Len = %d, want %d", got, actors)
	}

	var wg sync.WaitGroup
	per := messages / producers
	for p := range producers {
		lo, hi := p*per, (p+1)*per
		if p == producers-1 {
			hi = messages
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(p), 0x5eed))
			for id := lo; id < hi; id++ {
				to := rng.IntN(actors)
				owner[id] = int32(to) // before the send, which publishes it
				sentTo[to].Add(1)
				if err := boxes[to].Send(ctx, uint32(id)); err != nil {
					t.Errorf("producer %d: Send of %d = %v", p, id, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	sent := time.Since(start)

	for _, box := range boxes {
		box.Close()
	}
	for i, a := range handles {
		if err := a.Err(); err != nil {
			t.Fatalf("actor %d: %v", i, err)
		}
	}
	g.Stop()
	g.Wait()
	if calls := log.get(); len(calls) != 0 {
		t.Fatalf("onExit calls: %v", calls[:min(len(calls), 5)])
	}

	for id := range delivered {
		if c := delivered[id].Load(); c != 1 {
			t.Fatalf("message %d delivered %d times", id, c)
		}
	}
	total := int64(0)
	for i := range received {
		if want := sentTo[i].Load(); received[i] != want {
			t.Fatalf("actor %d received %d messages, was sent %d", i, received[i], want)
		}
		total += received[i]
	}
	if total != int64(messages) {
		t.Fatalf("received %d messages, want %d", total, messages)
	}
	if want := uint64(messages) * uint64(messages-1) / 2; checksum.Load() != want {
		t.Fatalf("checksum = %d, want %d", checksum.Load(), want)
	}
	for i, box := range boxes {
		if box.Len() != 0 {
			t.Fatalf("mailbox %d has %d items left", i, box.Len())
		}
	}
	t.Logf("%d actors, %d messages: sent in %v, done in %v", actors, messages, sent, time.Since(start))
}

// TestStressSupervisedActors runs actors that each keep a timer armed and
// re-arm it on every tick, with mailboxes receiving messages at the same
// time, then stops everything through the group.
func TestStressSupervisedActors(t *testing.T) {
	actors, rounds := 1000, 5
	if testing.Short() {
		actors = 200
	}
	g := actor.NewGroup(nil)
	s, err := actor.NewSupervisor(g)
	if err != nil {
		t.Fatal(err)
	}
	var ticks, parked atomic.Int64
	allParked := make(chan struct{})
	var wg sync.WaitGroup
	for i := range actors {
		ticksBox := actor.NewMailbox[actor.Tick](1)
		timer := s.NewTimer(ticksBox)
		wg.Add(1)
		if err := g.Go("ticker", func(ctx context.Context) error {
			defer wg.Done()
			timer.Reset(time.Now().Add(time.Duration(i%7) * time.Millisecond))
			for n := 0; n < rounds; {
				select {
				case <-ticksBox.Ready():
				case <-ctx.Done():
					return ctx.Err()
				}
				if _, ok := ticksBox.TryRecv(); !ok {
					continue
				}
				n++
				ticks.Add(1)
				if n < rounds {
					timer.Reset(time.Now().Add(time.Duration(i%3) * time.Millisecond))
				}
			}
			// Park until the group stops, with a timer armed far off.
			timer.Reset(time.Now().Add(time.Hour))
			if parked.Add(1) == int64(actors) {
				close(allParked)
			}
			<-ctx.Done()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-allParked:
	case <-time.After(patience):
		t.Fatalf("%d of %d ticks delivered", ticks.Load(), actors*rounds)
	}
	if got := ticks.Load(); got != int64(actors*rounds) {
		t.Fatalf("%d ticks delivered, want %d", got, actors*rounds)
	}
	if got := s.Len(); got != actors {
		t.Fatalf("supervisor Len = %d, want %d parked timers", got, actors)
	}
	stopGroup(t, g)
	wg.Wait()
}
