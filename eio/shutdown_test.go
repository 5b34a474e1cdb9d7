package eio

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
)

// quietOptions never ping within a test: nothing but Shutdown can end a
// session or release a held GET.
func quietOptions() *Options {
	return &Options{PingInterval: time.Hour, PingTimeout: time.Hour}
}

// TestShutdownAbandonedPolling: polling sessions whose clients vanished
// after their handshake (no GET held, none coming) do not hold Shutdown up
// for PingTimeout (an hour here): Shutdown ends them after a short grace
// and returns, and each ends as a server disconnect.
func TestShutdownAbandonedPolling(t *testing.T) {
	n := 1000
	if raceEnabled {
		n = 300
	}
	e := newLoadEnv(t, quietOptions(), false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range n {
		if _, _, err := pollHandshake(ctx, e.hc, e.base); err != nil {
			t.Fatal(err)
		}
	}
	if !e.app.waitFor(10*time.Second, func() bool { return len(e.app.sessions) == n }) {
		t.Fatal("not every session connected")
	}
	start := time.Now()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v (it waited for the abandoned sessions' PingTimeout)", err)
	}
	t.Logf("Shutdown of %d abandoned polling sessions took %v", n, time.Since(start))
	<-e.app.done
	for sid, s := range e.app.sessions {
		if s.disconnects != 1 || s.reason != ReasonServerDisconnect {
			t.Fatalf("session %s: %d disconnects, reason %v; want one server disconnect", sid, s.disconnects, s.reason)
		}
	}
}

// TestShutdownClosePacketToLateGet: a polling client that polls again
// during Shutdown's grace still gets its close packet. (The grace is made
// long here, so that when the GET arrives cannot matter.)
func TestShutdownClosePacketToLateGet(t *testing.T) {
	e := newLoadEnv(t, quietOptions(), false)
	e.srv.opts.shutdownGrace = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, _, err := pollHandshake(ctx, e.hc, e.base)
	if err != nil {
		t.Fatal(err)
	}
	e.app.waitConnect(t, p.sid)
	shut := make(chan error, 1)
	go func() { shut <- e.srv.Shutdown(ctx) }()
	pkts, status, err := p.get(ctx)
	if err != nil || status != http.StatusOK || len(pkts) != 1 || pkts[0].Type != codec.Close {
		t.Fatalf("GET during Shutdown: %d %v %v, want the close packet", status, pkts, err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	<-e.app.done
	if s := e.app.get(p.sid); s.reason != ReasonServerDisconnect {
		t.Errorf("reason %v, want server disconnect", s.reason)
	}
}

// TestShutdownFromHTTPServer: the http.Server that serves the Server is
// shut down first, while a long-poll is held and a WebSocket is open. Its
// Shutdown must not wait for the held poll (nothing would release it for
// an hour): it begins the Server's Shutdown, which answers the poll with
// the close packet, sends the WebSocket its close packet, and closes the
// Events channel, without the application calling Server.Shutdown.
func TestShutdownFromHTTPServer(t *testing.T) {
	srv := NewServer(quietOptions())
	t.Cleanup(func() { _ = srv.Close() })
	pollHeld := make(chan string, 1)
	srv.env.hooks = &testHooks{pollHeld: func(sid string) { pollHeld <- sid }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	app := startAppLog(srv, false)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc := loadClient(4)
	defer hc.CloseIdleConnections()
	p, _, err := pollHandshake(ctx, hc, base)
	if err != nil {
		t.Fatal(err)
	}
	wsc, err := wsDial(ctx, base, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wsc.close()
	wsSID, err := wsc.open()
	if err != nil {
		t.Fatal(err)
	}
	if !app.waitFor(10*time.Second, func() bool { return len(app.sessions) == 2 }) {
		t.Fatal("sessions did not connect")
	}
	type pollResult struct {
		pkts   []codec.Packet
		status int
		err    error
	}
	held := make(chan pollResult, 1)
	go func() {
		pkts, status, err := p.get(ctx)
		held <- pollResult{pkts, status, err}
	}()
	select {
	case <-pollHeld:
	case <-ctx.Done():
		t.Fatal("the GET was not held")
	}

	if err := hs.Shutdown(ctx); err != nil {
		t.Fatalf("http.Server.Shutdown: %v (it waited for the held poll)", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	r := <-held
	if r.err != nil || r.status != http.StatusOK || len(r.pkts) == 0 || r.pkts[len(r.pkts)-1].Type != codec.Close {
		t.Errorf("held GET: %d %v %v, want the close packet", r.status, r.pkts, r.err)
	}
	if data, _, err := wsc.read(10 * time.Second); err != nil || data != "1" {
		t.Errorf("websocket: %q %v, want the close packet", data, err)
	}
	select {
	case <-app.done: // the Events channel closed: the Server shut down
	case <-ctx.Done():
		t.Fatal("the Events channel did not close")
	}
	for _, sid := range []string{p.sid, wsSID} {
		if s := app.get(sid); s.reason != ReasonServerDisconnect {
			t.Errorf("session %s ended with %v, want server disconnect", sid, s.reason)
		}
	}
}

// TestSendDuringShutdown: once Shutdown has begun, Send and Disconnect say
// ErrServerClosed, during it and after it.
func TestSendDuringShutdown(t *testing.T) {
	e := newLoadEnv(t, quietOptions(), false)
	e.srv.opts.shutdownGrace = time.Minute // keeps the session ending during the test
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, _, err := pollHandshake(ctx, e.hc, e.base)
	if err != nil {
		t.Fatal(err)
	}
	e.app.waitConnect(t, p.sid)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = e.srv.Shutdown(ctx)
	}()
	if !pollUntil(10*time.Second, func() bool { return e.srv.closing.Load() }) {
		t.Fatal("Shutdown did not begin")
	}
	for name, call := range map[string]func() error{
		"Send":       func() error { return e.srv.Send(p.sid, []byte("x")) },
		"SendBinary": func() error { return e.srv.SendBinary(p.sid, []byte{1}) },
		"Disconnect": func() error { return e.srv.Disconnect(p.sid) },
	} {
		if err := call(); !errors.Is(err, ErrServerClosed) {
			t.Errorf("%s during Shutdown: %v, want ErrServerClosed", name, err)
		}
	}
	if _, _, err := p.get(ctx); err != nil { // takes the close packet: Shutdown ends
		t.Fatal(err)
	}
	wg.Wait()
	if err := e.srv.Send(p.sid, []byte("x")); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Send after Shutdown: %v, want ErrServerClosed", err)
	}
}

// TestServerEndSaysServerClosed: a session that Shutdown or Close ends
// reports ReasonServerDisconnect with an Err that wraps ErrServerClosed
// (what sio tells apart as "server shutting down"); one that Disconnect
// ends reports the same reason with no error.
func TestServerEndSaysServerClosed(t *testing.T) {
	for _, end := range []string{"Shutdown", "Close", "Disconnect"} {
		t.Run(end, func(t *testing.T) {
			srv, base := testServer(t, nil)
			p := dialWSQuery(t, base, "")
			sid := p.open().SID
			expectEvent(t, srv, EventConnect, sid)
			stopped := make(chan error, 1)
			switch end {
			case "Shutdown":
				go func() { stopped <- srv.Shutdown(context.Background()) }()
			case "Close":
				go func() { stopped <- srv.Close() }()
			case "Disconnect":
				stopped <- srv.Disconnect(sid)
			}
			ev := expectEvent(t, srv, EventDisconnect, sid)
			if err := <-stopped; err != nil {
				t.Fatalf("%s: %v", end, err)
			}
			if ev.Reason != ReasonServerDisconnect {
				t.Fatalf("reason %v, want %v", ev.Reason, ReasonServerDisconnect)
			}
			if got, want := errors.Is(ev.Err, ErrServerClosed), end != "Disconnect"; got != want {
				t.Fatalf("after %s, Err = %v: wraps ErrServerClosed %v, want %v", end, ev.Err, got, want)
			}
		})
	}
}
