package sio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanio/chanio/sio"
	"github.com/chanio/chanio/sio/wire"
)

// recoverable connects a raw client, joins room r and has one event with an
// offset delivered; it returns the client, the socket, its pid and the
// offset.
func recoverable(t *testing.T, srv *sio.Server, url string) (*rawClient, *sio.Socket, string, string) {
	t.Helper()
	c := dial(t, url)
	c.send(wire.Packet{Type: wire.Connect})
	ans := c.next()
	var body struct{ SID, PID string }
	if err := json.Unmarshal(ans.Data, &body); err != nil || body.PID == "" {
		t.Fatalf("CONNECT answer %s has no pid", ans.Data)
	}
	s := expectEvent(t, srv.Of("/"), sio.EventConnect, "").Socket
	s.Join("r")
	s.SetData("kept")
	if err := s.Emit("first", 1); err != nil {
		t.Fatal(err)
	}
	p := c.next()
	var first int
	var offset string
	if _, args, err := wire.EventArgs(&p); err != nil || args.Decode(&first, &offset) != nil || offset == "" {
		t.Fatalf("event %s carries no offset", p.Data)
	}
	return c, s, body.PID, offset
}

// comeBack dials a new connection and asks for the socket whose pid it
// gives back, from the packet offset on.
func comeBack(t *testing.T, url, pid, offset string) *rawClient {
	t.Helper()
	c := dial(t, url)
	c.send(wire.Packet{Type: wire.Connect, Data: json.RawMessage(fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))})
	return c
}

func TestRecovery(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, &sio.Options{Recovery: &sio.Recovery{}})
	nsp := srv.Of("/")
	old, s, pid, offset := recoverable(t, srv, url)
	if err := srv.Engine().Disconnect(s.EngineID()); err != nil {
		t.Fatal(err)
	}
	if ev := expectEvent(t, nsp, sio.EventDisconnect, ""); ev.Reason != sio.ReasonForcedClose {
		t.Fatalf("reason %v", ev.Reason)
	}
	old.expectEnd()
	// While it is away: what it must get, and what it must not.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(nsp.To("r").Emit("missed", "room"))
	must(nsp.To("other").Emit("not-for-it"))
	must(nsp.Except("r").Emit("not-for-it"))
	must(nsp.Emit("missed", "all", []byte{1, 2}))
	must(nsp.Volatile().Emit("not-for-it")) // volatile packets are not kept

	c := comeBack(t, url, pid, offset)
	ans := c.next()
	var body struct{ SID, PID string }
	if err := json.Unmarshal(ans.Data, &body); err != nil || body.SID != s.ID() || body.PID != pid {
		t.Fatalf("CONNECT answer %s, want sid %s pid %s", ans.Data, s.ID(), pid)
	}
	for _, want := range []string{"room", "all"} {
		p := c.next()
		name, args, _ := wire.EventArgs(&p)
		var what, off string
		if err := args.Decode(&what); name != "missed" || err != nil || what != want {
			t.Fatalf("missed packet %s, want %q", p.Data, want)
		}
		if want == "all" {
			var bin []byte
			if err := args.Decode(nil, &bin, &off); err != nil || string(bin) != "\x01\x02" || off == "" {
				t.Fatalf("binary missed packet %s %v: %v", p.Data, p.Attachments, err)
			}
		}
	}
	ev := expectEvent(t, nsp, sio.EventConnect, "")
	r := ev.Socket
	if !r.Recovered() || r.ID() != s.ID() || r.Data() != "kept" || !slices.Equal(r.Rooms(), []string{s.ID(), "r"}) {
		t.Fatalf("recovered socket: %v %s %v %v", r.Recovered(), r.ID(), r.Data(), r.Rooms())
	}
	// Nothing else was missed: the next packet is a fresh one.
	must(r.Emit("fresh"))
	if p := c.next(); !strings.HasPrefix(string(p.Data), `["fresh"`) {
		t.Fatalf("after the missed packets: %s", p.Data)
	}
	// The session was used up: the same pid cannot come back twice.
	c2 := comeBack(t, url, pid, offset)
	c2.next()
	if ev := expectEvent(t, nsp, sio.EventConnect, ""); ev.Socket.Recovered() || ev.Socket.ID() == s.ID() {
		t.Fatal("a session recovered twice")
	}
}

func TestRecoveryRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		reason func(*sio.Socket, *rawClient, *sio.Server) // how the socket leaves
		auth   func(pid, offset string) string
	}{
		{"unknown pid", drop, func(_, off string) string { return fmt.Sprintf(`{"pid":"nope","offset":%q}`, off) }},
		{"bad offset", drop, func(pid, _ string) string { return fmt.Sprintf(`{"pid":%q,"offset":"x-1"}`, pid) }},
		{"no offset", drop, func(pid, _ string) string { return fmt.Sprintf(`{"pid":%q}`, pid) }},
		{"left on purpose", func(s *sio.Socket, c *rawClient, _ *sio.Server) { c.send(wire.Packet{Type: wire.Disconnect}) },
			func(pid, off string) string { return fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, off) }},
		{"disconnected by the server", func(s *sio.Socket, _ *rawClient, _ *sio.Server) { _ = s.Disconnect(false) },
			func(pid, off string) string { return fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, off) }},
		{"connection closed by the server", func(s *sio.Socket, _ *rawClient, _ *sio.Server) { _ = s.Disconnect(true) },
			func(pid, off string) string { return fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, off) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, url := newServer(t, &sio.Options{Recovery: &sio.Recovery{}})
			old, s, pid, offset := recoverable(t, srv, url)
			tc.reason(s, old, srv)
			expectEvent(t, srv.Of("/"), sio.EventDisconnect, "")
			c := dial(t, url)
			c.send(wire.Packet{Type: wire.Connect, Data: json.RawMessage(tc.auth(pid, offset))})
			c.next()
			if ev := expectEvent(t, srv.Of("/"), sio.EventConnect, ""); ev.Socket.Recovered() || ev.Socket.ID() == s.ID() {
				t.Fatal("recovered")
			}
		})
	}
}

func drop(s *sio.Socket, _ *rawClient, srv *sio.Server) { _ = srv.Engine().Disconnect(s.EngineID()) }

// TestRecoveryExpires checks MaxDisconnectionDuration: the elapsed time is
// what is tested.
func TestRecoveryExpires(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, &sio.Options{Recovery: &sio.Recovery{MaxDisconnectionDuration: 50 * time.Millisecond}})
	_, s, pid, offset := recoverable(t, srv, url)
	drop(s, nil, srv)
	expectEvent(t, srv.Of("/"), sio.EventDisconnect, "")
	// Past the 50ms window, counted from before the event: elapsed time is
	// what is tested.
	time.Sleep(100 * time.Millisecond)
	c := comeBack(t, url, pid, offset)
	c.next()
	if ev := expectEvent(t, srv.Of("/"), sio.EventConnect, ""); ev.Socket.Recovered() {
		t.Fatal("recovered after the window")
	}
}

func TestRecoveryMiddleware(t *testing.T) {
	t.Parallel()
	for _, run := range []bool{false, true} {
		t.Run(fmt.Sprint("RunMiddlewares=", run), func(t *testing.T) {
			t.Parallel()
			srv, url := newServer(t, &sio.Options{Recovery: &sio.Recovery{RunMiddlewares: run}})
			var calls atomic.Int32
			srv.Use(func(ctx context.Context, s *sio.Socket) error {
				calls.Add(1)
				return nil
			})
			_, s, pid, offset := recoverable(t, srv, url)
			drop(s, nil, srv)
			expectEvent(t, srv.Of("/"), sio.EventDisconnect, "")
			c := comeBack(t, url, pid, offset)
			c.next()
			if ev := expectEvent(t, srv.Of("/"), sio.EventConnect, ""); !ev.Socket.Recovered() {
				t.Fatal("not recovered")
			}
			want := int32(1)
			if run {
				want = 2
			}
			if got := calls.Load(); got != want {
				t.Fatalf("middleware ran %d times, want %d", got, want)
			}
		})
	}
}

// TestRecoveryRace broadcasts to a room without pause while a socket of it
// comes back: every packet after its offset must reach it exactly once,
// whether from the log or live.
func TestRecoveryRace(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, &sio.Options{Recovery: &sio.Recovery{}})
	nsp := srv.Of("/")
	_, s, pid, offset := recoverable(t, srv, url)
	drop(s, nil, srv)
	expectEvent(t, nsp, sio.EventDisconnect, "")
	const total = 2000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range total {
			_ = nsp.To("r").Emit("n", i)
		}
	}()
	c := comeBack(t, url, pid, offset)
	c.next()
	<-done
	if ev := expectEvent(t, nsp, sio.EventConnect, ""); !ev.Socket.Recovered() {
		t.Fatal("not recovered")
	}
	for i := range total {
		p := c.next()
		var n int
		if _, args, err := wire.EventArgs(&p); err != nil || args.Decode(&n) != nil || n != i {
			t.Fatalf("packet %d: %s", i, p.Data)
		}
	}
}

// TestRecoveryMaxPackets: a client whose offset has been pushed out of the
// log by MaxPackets newer packets gets a fresh socket.
func TestRecoveryMaxPackets(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, &sio.Options{Recovery: &sio.Recovery{MaxPackets: 3}})
	_, s, pid, offset := recoverable(t, srv, url)
	drop(s, nil, srv)
	expectEvent(t, srv.Of("/"), sio.EventDisconnect, "")
	for i := range 3 {
		if err := srv.Emit("n", i); err != nil {
			t.Fatal(err)
		}
	}
	c := comeBack(t, url, pid, offset)
	c.next()
	if ev := expectEvent(t, srv.Of("/"), sio.EventConnect, ""); ev.Socket.Recovered() {
		t.Fatal("recovered from an offset the log no longer has")
	}
}

// TestRecoveryBroadcastsOvertaking: a broadcast encoded before another but
// sent after it, to a socket that drops in between. The client comes back
// with the offset of the one it got, and must get the other then.
func TestRecoveryBroadcastsOvertaking(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, &sio.Options{Recovery: &sio.Recovery{}})
	nsp := srv.Of("/")
	old, s, pid, _ := recoverable(t, srv, url)
	var calls atomic.Int32
	encoded, release := make(chan struct{}), make(chan struct{})
	sio.SetBroadcastEncodedHook(srv, func() {
		if calls.Add(1) == 1 {
			close(encoded)
			<-release
		}
	})
	first := make(chan error, 1)
	go func() { first <- nsp.To("r").Emit("n", 1) }()
	<-encoded
	if err := nsp.To("r").Emit("n", 2); err != nil {
		t.Fatal(err)
	}
	p := old.next()
	var n int
	var offset string
	if _, args, err := wire.EventArgs(&p); err != nil || args.Decode(&n, &offset) != nil || n != 2 {
		t.Fatalf("event %s", p.Data)
	}
	drop(s, nil, srv)
	expectEvent(t, nsp, sio.EventDisconnect, "")
	old.expectEnd()
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}

	c := comeBack(t, url, pid, offset)
	var body struct{ SID string }
	if ans := c.next(); json.Unmarshal(ans.Data, &body) != nil || body.SID != s.ID() {
		t.Fatalf("CONNECT answer %s: not recovered", ans.Data)
	}
	p = c.next()
	if _, args, err := wire.EventArgs(&p); err != nil || args.Decode(&n) != nil || n != 1 {
		t.Fatalf("missed packet %s", p.Data)
	}
}

// TestRecoveryLogTrimmedWhileMiddlewareRuns: the packets after a returning
// client's offset are forgotten (MaxPackets) while its middleware runs: it
// cannot have them all, so it gets a fresh socket, as when its offset is
// unknown, rather than its old one without them.
func TestRecoveryLogTrimmedWhileMiddlewareRuns(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, &sio.Options{Recovery: &sio.Recovery{MaxPackets: 3, RunMiddlewares: true}})
	started, release := make(chan struct{}), make(chan struct{})
	srv.Use(func(ctx context.Context, s *sio.Socket) error {
		if strings.Contains(string(s.Handshake().Auth), "pid") {
			close(started)
			<-release
		}
		return nil
	})
	_, s, pid, offset := recoverable(t, srv, url)
	drop(s, nil, srv)
	expectEvent(t, srv.Of("/"), sio.EventDisconnect, "")
	c := comeBack(t, url, pid, offset)
	<-started
	for i := range 5 { // MaxPackets 3: the first after the offset falls out of the log
		if err := srv.Emit("n", i); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	var body struct{ SID string }
	if ans := c.next(); json.Unmarshal(ans.Data, &body) != nil || body.SID == s.ID() {
		t.Fatalf("CONNECT answer %s: recovered without the packets it missed", ans.Data)
	}
	if ev := expectEvent(t, srv.Of("/"), sio.EventConnect, ""); ev.Socket.Recovered() {
		t.Fatal("recovered")
	}
}
