//go:build linux

package transport

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanio/chanio/actor"
	"github.com/chanio/chanio/codec"
)

// parkReceiver counts what a [Readers] reader hands it. Its Idle does
// nothing, so that it orders nothing between a reader that parked and the
// one the poller starts after it.
type parkReceiver struct {
	got  chan codec.Packet
	ends atomic.Int32
}

func (r *parkReceiver) Receive(_ Conn, p codec.Packet) error { r.got <- p; return nil }
func (r *parkReceiver) End(Conn, error)                      { r.ends.Add(1) }
func (r *parkReceiver) Ready(Conn, bool)                     {}
func (r *parkReceiver) Idle(Conn)                            {}

// awaitPark spins until the reader of s has begun a park other than the
// one under token before (Park stores its token before it registers the
// descriptor), and returns its token; 0 if the reader ended first.
func awaitPark(s *WebSocket, r *parkReceiver, before uint64) uint64 {
	for {
		if tok := s.in.parkedToken.Load(); tok != 0 && tok != before {
			return tok
		}
		if r.ends.Load() != 0 {
			return 0
		}
	}
}

// TestParkRacesClose: a Close, or data, that comes while a reader is
// parking its connection (its token published, the descriptor not yet
// registered) never leaves two readers on the connection: once Close or
// the poller has run the parked function, which starts the next reader,
// the one that parked reads nothing more, even when its registration
// failed because Close got there first. Run under -race; each connection
// is read to its end exactly once.
//
// The poller's registering hook puts the Close or the data in that
// window on purpose; the last case races a Close from this goroutine
// against the park as it comes.
func TestParkRacesClose(t *testing.T) {
	p := runPoller(t)
	inWindow := make(chan func(), 2)      // what the next parks do in the window
	afterRegister := make(chan func(), 1) // what the next park does once registered
	p.registering = func() {
		select {
		case f := <-inWindow:
			f()
		default:
		}
	}
	p.registered = func() {
		select {
		case f := <-afterRegister:
			f()
		default:
		}
	}
	cases := []struct {
		name string
		// data: a message arrives in the first park's window; the
		// reader the poller starts for it reads it and parks again.
		data bool
		// closeInWindow: Close comes in the (last) park's window;
		// otherwise this goroutine calls it once the park has begun.
		closeInWindow bool
		// overtaken: with data, the park that registered holds on
		// until the reader the poller started for the data has begun
		// its own park.
		overtaken bool
	}{
		{name: "close in window", closeInWindow: true},
		{name: "data, overtaken, then close racing", data: true, overtaken: true},
		{name: "data then close in window", data: true, closeInWindow: true},
		{name: "data then close racing", data: true},
		{name: "close racing"},
	}
	iterations := 200
	if testing.Short() {
		iterations = 50
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < iterations; i++ {
				client, server := wsPair(t)
				g := actor.NewGroup(nil)
				rs := Readers{Group: g, Poller: p, Quiet: time.Millisecond}
				rec := &parkReceiver{got: make(chan codec.Packet, 1)}
				sent := make(chan error, 1)
				overtaken := make(chan struct{})
				if tc.data {
					var first uint64
					inWindow <- func() {
						first = server.in.parkedToken.Load()
						sent <- client.WritePackets([]codec.Packet{{Type: codec.Message, Data: []byte("x")}}, codec.V4)
					}
					if tc.overtaken {
						afterRegister <- func() {
							awaitPark(server, rec, first)
							close(overtaken)
						}
					}
				}
				closed := make(chan struct{})
				if tc.closeInWindow {
					inWindow <- func() { _ = server.Close(); close(closed) }
				}
				if err := rs.Read(server, rec); err != nil {
					t.Fatal(err)
				}
				if tc.data {
					if err := <-sent; err != nil {
						t.Fatal(err)
					}
					select {
					case pk := <-rec.got:
						if string(pk.Data) != "x" {
							t.Fatalf("iteration %d: read %q", i, pk.Data)
						}
					case <-time.After(10 * time.Second):
						t.Fatalf("iteration %d: data that came while parking was not read", i)
					}
				}
				if tc.overtaken {
					select {
					case <-overtaken:
					case <-time.After(10 * time.Second):
						t.Fatalf("iteration %d: the reader that read the data did not park", i)
					}
				}
				if tc.closeInWindow {
					select {
					case <-closed:
					case <-time.After(10 * time.Second):
						t.Fatalf("iteration %d: no park came to close in", i)
					}
				} else {
					awaitPark(server, rec, 0)
					_ = server.Close()
				}
				// Close has run any parked function: every reader has
				// started.
				g.Seal()
				g.Wait()
				_ = client.Close()
				_ = server.Close()
				if n := rec.ends.Load(); n != 1 {
					t.Fatalf("iteration %d: reading ended %d times, want 1", i, n)
				}
			}
		})
	}
}
