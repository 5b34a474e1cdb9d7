// Package clienttest drives an eio.Client in tests: dial, read events
// with a deadline, check echoes and the end of a connection. The eio,
// interop and cluster tests share it; it is for tests only.
package clienttest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
)

// Wait bounds every wait: long enough for a loaded machine under the race
// detector. No test asserts an upper bound tighter than this.
const Wait = 30 * time.Second

// Mode is one way a client connects, and the transport it ends up on.
type Mode struct {
	Name       string
	Transports []string // ClientOptions.Transports
	Final      string
}

// Modes are the three ways a client connects.
var Modes = []Mode{
	{"polling", []string{eio.TransportPolling}, eio.TransportPolling},
	{"websocket", []string{eio.TransportWebSocket}, eio.TransportWebSocket},
	{"upgrade", nil, eio.TransportWebSocket},
}

// Dial connects to url, closes the client at cleanup, and checks that the
// first event is the connect.
func Dial(t testing.TB, url string, opts *eio.ClientOptions) *eio.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	c, err := eio.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial(%s): %v", url, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Wait)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close at cleanup: %v", err)
		}
	})
	ev := Next(t, c)
	if ev.Type != eio.EventConnect || ev.SID == "" || ev.SID != c.SID() {
		t.Fatalf("first event %+v, want connect with SID %q", ev, c.SID())
	}
	return c
}

// Next returns the client's next event.
func Next(t testing.TB, c *eio.Client) eio.Event {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatal("events channel closed")
		}
		return ev
	case <-time.After(Wait):
		t.Fatal("no client event in time")
	}
	return eio.Event{}
}

// ExpectText checks that the next event is the text message want.
func ExpectText(t testing.TB, c *eio.Client, want string) {
	t.Helper()
	ev := Next(t, c)
	if ev.Type != eio.EventMessage || ev.Binary || string(ev.Data) != want {
		t.Fatalf("got %v binary=%v %.80q (reason %v, err %v), want text %.80q",
			ev.Type, ev.Binary, ev.Data, ev.Reason, ev.Err, want)
	}
}

// ExpectEnd reads up to the disconnect, checks that it is the only one,
// that the channel closes after it and that Done, Reason and Err agree
// with it, and returns it.
func ExpectEnd(t testing.TB, c *eio.Client) eio.Event {
	t.Helper()
	var end eio.Event
	for end.Type != eio.EventDisconnect {
		end = Next(t, c)
	}
	select {
	case ev, ok := <-c.Events():
		if ok {
			t.Fatalf("event %+v after the disconnect", ev)
		}
	case <-time.After(Wait):
		t.Fatal("events channel not closed after the disconnect")
	}
	select {
	case <-c.Done():
	case <-time.After(Wait):
		t.Fatal("Done not closed after the disconnect")
	}
	if c.Reason() != end.Reason || c.Err() != end.Err {
		t.Errorf("Reason/Err = %v/%v, event says %v/%v", c.Reason(), c.Err(), end.Reason, end.Err)
	}
	return end
}

// WaitTransport waits until the client is on the transport want.
func WaitTransport(t testing.TB, c *eio.Client, want string) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for c.Transport() != want {
		if time.Now().After(deadline) {
			t.Fatalf("transport %s, want %s", c.Transport(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// SendNumbered sends count messages "n:i", from another goroutine when
// concurrently, and checks that an echo server returns each once and in
// order.
func SendNumbered(t testing.TB, c *eio.Client, count int, concurrently bool) {
	t.Helper()
	errc := make(chan error, 1)
	send := func() {
		for i := range count {
			if err := c.Send([]byte("n:" + strconv.Itoa(i))); err != nil {
				errc <- fmt.Errorf("send %d: %w", i, err)
				return
			}
		}
		errc <- nil
	}
	if concurrently {
		go send()
	} else {
		send()
	}
	for i := range count {
		ExpectText(t, c, "n:"+strconv.Itoa(i))
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// Every calls f(0), f(1), ... every d, on a goroutine of its own, until
// stop is called or f fails (which fails the test). stop waits for the
// goroutine and returns how many calls succeeded; it may be called more
// than once, and is called at the test's cleanup.
func Every(t testing.TB, d time.Duration, f func(n int) error) (stop func() int) {
	quit := make(chan struct{})
	count := make(chan int, 1)
	go func() {
		tick := time.NewTicker(d)
		defer tick.Stop()
		n := 0
		defer func() { count <- n }()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				if err := f(n); err != nil {
					t.Errorf("call %d: %v", n, err)
					return
				}
				n++
			}
		}
	}()
	var once sync.Once
	var n int
	stop = func() int {
		once.Do(func() {
			close(quit)
			n = <-count
		})
		return n
	}
	t.Cleanup(func() { stop() })
	return stop
}
