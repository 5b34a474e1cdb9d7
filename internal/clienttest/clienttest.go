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

// NextMessage returns the client's next event other than an upgrade: a
// message, or the disconnect. An upgrade may fall between any two
// messages; TestClientUpgradeEvent checks where.
func NextMessage(t testing.TB, c *eio.Client) eio.Event {
	t.Helper()
	for {
		if ev := Next(t, c); ev.Type != eio.EventUpgrade {
			return ev
		}
	}
}

// ExpectText checks that the next message event is the text message want.
func ExpectText(t testing.TB, c *eio.Client, want string) {
	t.Helper()
	ev := NextMessage(t, c)
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

// Ticker calls f(0), f(1), ... every d on a goroutine of its own, as an
// application that emits steadily, until Stop or until f fails (which
// fails the test). Start one with Every.
type Ticker struct {
	mu   sync.Mutex // held around each call of f
	Sent Log[int]   // the calls that succeeded
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

// Every starts a Ticker calling f every d; it is stopped at the test's
// cleanup.
func Every(t testing.TB, d time.Duration, f func(n int) error) *Ticker {
	k := &Ticker{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(k.done)
		tick := time.NewTicker(d)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-k.quit:
				return
			case <-tick.C:
				k.mu.Lock()
				err := f(n)
				k.mu.Unlock()
				if err != nil {
					t.Errorf("call %d: %v", n, err)
					return
				}
				k.Sent.Add(n)
			}
		}
	}()
	t.Cleanup(func() { k.Stop() })
	return k
}

// Stop stops the ticker, waits for its goroutine, and returns how many
// calls succeeded. It may be called more than once.
func (k *Ticker) Stop() int {
	k.once.Do(func() { close(k.quit) })
	<-k.done
	return len(k.Sent.All())
}

// AtQuietMoment calls f at a moment when quiet returns true, with no call
// of the ticker's f under way or starting between the check and f. It
// looks every millisecond, up to Wait, and fails the test if no such
// moment comes.
func (k *Ticker) AtQuietMoment(t testing.TB, quiet func() bool, f func()) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for {
		k.mu.Lock()
		if quiet() {
			f()
			k.mu.Unlock()
			return
		}
		k.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("no quiet moment came")
		}
		time.Sleep(time.Millisecond) // looking for a quiet moment is about time
	}
}

// Log is a list that goroutines append to and a test waits on. The zero
// Log is ready to use.
type Log[T any] struct {
	mu      sync.Mutex
	vals    []T
	changed chan struct{} // capacity 1, made on first use
}

func (l *Log[T]) signal() chan struct{} {
	if l.changed == nil {
		l.changed = make(chan struct{}, 1)
	}
	return l.changed
}

// Add appends v.
func (l *Log[T]) Add(v T) {
	l.mu.Lock()
	l.vals = append(l.vals, v)
	ch := l.signal()
	l.mu.Unlock()
	select {
	case ch <- struct{}{}:
	default:
	}
}

// All returns what was added so far.
func (l *Log[T]) All() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.vals[:len(l.vals):len(l.vals)]
}

// Wait waits, up to Wait, until done (given what was added so far) returns
// true, and returns that; it fails the test, saying it waited for what,
// otherwise.
func (l *Log[T]) Wait(t testing.TB, what string, done func([]T) bool) []T {
	t.Helper()
	deadline := time.After(Wait)
	for {
		l.mu.Lock()
		vals := l.vals[:len(l.vals):len(l.vals)]
		ch := l.signal()
		l.mu.Unlock()
		if done(vals) {
			return vals
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no %s in time (%d entries)", what, len(vals))
		}
	}
}
