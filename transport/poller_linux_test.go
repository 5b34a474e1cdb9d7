//go:build linux

package transport

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
)

func runPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.Run()
	}()
	t.Cleanup(func() {
		_ = p.Close()
		<-done
	})
	return p
}

func wsPair(t *testing.T) (client, server *WebSocket) {
	t.Helper()
	cc, sc := tcpPair(t)
	return NewWebSocket(cc, nil, ClientSide, 1<<20, 0), NewWebSocket(sc, nil, ServerSide, 1<<20, 0)
}

func send(t *testing.T, c *WebSocket, text string) {
	t.Helper()
	if err := c.WritePackets([]codec.Packet{{Type: codec.Message, Data: []byte(text)}}, codec.V4); err != nil {
		t.Fatal(err)
	}
}

// TestParkWakesOnData: a parked connection's function runs once data
// arrives, and the message then reads whole.
func TestParkWakesOnData(t *testing.T) {
	p := runPoller(t)
	client, server := wsPair(t)
	if err := server.WaitReadable(20 * time.Millisecond); !errors.Is(err, ErrIdle) {
		t.Fatalf("WaitReadable on a quiet connection: %v", err)
	}
	woke := make(chan struct{}, 2)
	if err := server.Park(p, func() { woke <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woke:
		t.Fatal("woke with nothing to read")
	case <-time.After(50 * time.Millisecond):
	}
	send(t, client, "wake up")
	select {
	case <-woke:
	case <-time.After(5 * time.Second):
		t.Fatal("parked connection not woken by data")
	}
	if data, _, err := server.ReadMessage(); err != nil || string(data) != "4wake up" {
		t.Fatalf("read after wake: %q %v", data, err)
	}
	// Parking again re-arms the one-shot registration.
	if err := server.WaitReadable(20 * time.Millisecond); !errors.Is(err, ErrIdle) {
		t.Fatalf("WaitReadable: %v", err)
	}
	if err := server.Park(p, func() { woke <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	send(t, client, "again")
	select {
	case <-woke:
	case <-time.After(5 * time.Second):
		t.Fatal("re-parked connection not woken")
	}
	if len(woke) != 0 {
		t.Fatal("woken twice")
	}
}

// TestParkCloseFires: closing a parked connection runs its function once,
// whether the peer or this side closes.
func TestParkCloseFires(t *testing.T) {
	for _, peerCloses := range []bool{false, true} {
		// A poller of its own: once it has stopped, no run can be pending.
		p, err := NewPoller()
		if err != nil {
			t.Fatal(err)
		}
		stopped := make(chan struct{})
		go func() { defer close(stopped); _ = p.Run() }()
		client, server := wsPair(t)
		var runs atomic.Int32
		fired := make(chan struct{}, 2)
		if err := server.Park(p, func() { runs.Add(1); fired <- struct{}{} }); err != nil {
			t.Fatal(err)
		}
		if peerCloses {
			_ = client.Close()
		} else {
			_ = server.Close()
		}
		select {
		case <-fired:
		case <-time.After(5 * time.Second):
			t.Fatalf("peerCloses=%v: parked function not run", peerCloses)
		}
		_ = server.Close()
		_ = p.Close() // runs what is still parked
		<-stopped
		if n := runs.Load(); n != 1 {
			t.Fatalf("peerCloses=%v: function ran %d times", peerCloses, n)
		}
		if peerCloses {
			if _, _, err := server.ReadMessage(); err == nil {
				t.Fatal("read after the peer closed succeeded")
			}
		}
	}
}

// TestPollerCloseRunsParked: stopping the poller runs every parked
// function, so no reader is forgotten.
func TestPollerCloseRunsParked(t *testing.T) {
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run() }()
	var ran atomic.Int32
	for i := 0; i < 10; i++ {
		_, server := wsPair(t)
		if err := server.Park(p, func() { ran.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	_ = p.Close()
	<-done
	if n := ran.Load(); n != 10 {
		t.Fatalf("%d of 10 parked functions ran", n)
	}
	_, server := wsPair(t)
	if err := server.Park(p, func() {}); !errors.Is(err, ErrNotPollable) {
		t.Fatalf("Park on a closed poller: %v", err)
	}
}

// TestIdleDeadlineSparesSlowMessages: once WaitReadable has set the idle
// deadline, a message that takes longer than it to arrive still reads.
func TestIdleDeadlineSparesSlowMessages(t *testing.T) {
	client, server := wsPair(t)
	var frame []byte
	c := NewWebSocket(&captureConn{Conn: client.conn, out: &frame}, nil, ClientSide, 1<<20, 0)
	if err := c.WritePackets([]codec.Packet{{Type: codec.Message, Data: []byte("slowly")}}, codec.V4); err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = client.conn.Write(frame[:3])
		// Five idle periods: a message slower than the idle deadline is
		// the case tested, and that takes time.
		time.Sleep(100 * time.Millisecond)
		_, _ = client.conn.Write(frame[3:])
	}()
	if err := server.WaitReadable(20 * time.Millisecond); err != nil {
		t.Fatalf("WaitReadable: %v", err)
	}
	if data, _, err := server.ReadMessage(); err != nil || string(data) != "4slowly" {
		t.Fatalf("slow message: %q %v", data, err)
	}
}

// TestParkStress parks and wakes many connections concurrently.
func TestParkStress(t *testing.T) {
	p := runPoller(t)
	const conns, rounds = 50, 20
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		client, server := wsPair(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				woke := make(chan struct{})
				if err := server.WaitReadable(time.Millisecond); err == nil {
					t.Error("data before it was sent")
					return
				}
				if err := server.Park(p, func() { close(woke) }); err != nil {
					t.Error(err)
					return
				}
				if err := client.WritePackets([]codec.Packet{{Type: codec.Message, Data: []byte("x")}}, codec.V4); err != nil {
					t.Error(err)
					return
				}
				<-woke
				if data, _, err := server.ReadMessage(); err != nil || string(data) != "4x" {
					t.Errorf("round %d: %q %v", r, data, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
