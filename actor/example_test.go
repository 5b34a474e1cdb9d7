package actor_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chanio/chanio/actor"
)

func ExampleMailbox() {
	m := actor.NewMailbox[string](2)

	fmt.Println(m.TrySend("open"))
	fmt.Println(m.Send(context.Background(), "ping"))
	fmt.Println(m.TrySend("message")) // at the count bound

	batch, err := m.Drain(nil)
	fmt.Println(batch, err)

	m.TrySend("close")
	m.Close()
	fmt.Println(m.TrySend("late"))
	batch, err = m.Drain(batch[:0]) // what was queued before Close
	fmt.Println(batch, err)
	_, err = m.Drain(batch[:0])
	fmt.Println(err)
	// Output:
	// <nil>
	// <nil>
	// actor: mailbox full
	// [open ping] <nil>
	// actor: mailbox closed
	// [close] <nil>
	// actor: mailbox closed
}

// An actor's owner loop: wake on Ready, take everything queued with Drain,
// and stop once the mailbox is closed and empty.
func ExampleMailbox_Ready() {
	m := actor.NewMailbox[int](4)
	go func() {
		for i := range 10 {
			m.Send(context.Background(), i) // waits while the owner is behind
		}
		m.Close()
	}()

	sum := 0
	var batch []int
	for {
		<-m.Ready()
		var err error
		batch, err = m.Drain(batch[:0])
		for _, v := range batch {
			sum += v
		}
		if errors.Is(err, actor.ErrClosed) {
			break
		}
	}
	fmt.Println("sum:", sum)
	// Output: sum: 45
}

func ExampleNewSizedMailbox() {
	// At most 8 items and 10 bytes.
	m := actor.NewSizedMailbox(8, 10, func(s string) int { return len(s) })
	fmt.Println(m.TrySend("hello"), m.TrySend("world"), m.TrySend("!"))
	fmt.Println(m.Len(), m.Bytes())
	// Output:
	// <nil> <nil> actor: mailbox full
	// 2 10
}

func ExampleSupervisor() {
	g := actor.NewGroup(nil)
	defer func() { g.Stop(); g.Wait() }()
	s, err := actor.NewSupervisor(g)
	if err != nil {
		panic(err)
	}

	ticks := actor.NewMailbox[actor.Tick](1)
	timer := s.NewTimer(ticks)
	due := time.Now().Add(10 * time.Millisecond)
	timer.Reset(due)

	tick, err := ticks.Recv(context.Background())
	fmt.Println(err, tick.Due.Equal(due), !time.Now().Before(due))
	fmt.Println("armed after firing:", timer.Stop())
	// Output:
	// <nil> true true
	// armed after firing: false
}

func ExampleGroup() {
	g := actor.NewGroup(func(name string, err error) {
		fmt.Printf("exit %s: %v\n", name, err)
	})

	worker, _ := g.Spawn("worker", func(ctx context.Context) error {
		<-ctx.Done() // run until the group stops
		return nil
	})
	crasher, _ := g.Spawn("crasher", func(ctx context.Context) error {
		panic("out of cheese")
	})

	var pe *actor.PanicError
	if errors.As(crasher.Err(), &pe) {
		fmt.Println("recovered:", pe.Value)
	}

	g.Stop()
	g.Wait()
	fmt.Println("worker:", worker.Err())
	_, err := g.Spawn("late", func(context.Context) error { return nil })
	fmt.Println(err)
	// Output:
	// exit crasher: actor: crasher panicked: out of cheese
	// recovered: out of cheese
	// worker: <nil>
	// actor: group stopped
}
