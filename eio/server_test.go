package eio

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestServerEventsInOrder(t *testing.T) {
	t.Run("polling", func(t *testing.T) {
		srv, base := testServer(t, nil)
		sid := pollOpen(t, base)
		ev := expectEvent(t, srv, EventConnect, sid)
		if ev.Request == nil || ev.Request.URL.Query().Get("transport") != "polling" {
			t.Fatalf("connect event request = %v", ev.Request)
		}
		if status, body := httpDo(t, http.MethodPost, pollURL(base, sid), "4one\x1ebAAH/\x1e4three"); status != 200 || body != "ok" {
			t.Fatalf("POST: %d %q", status, body)
		}
		for _, want := range []struct {
			data   string
			binary bool
		}{{"one", false}, {"\x00\x01\xff", true}, {"three", false}} {
			ev := expectEvent(t, srv, EventMessage, sid)
			if string(ev.Data) != want.data || ev.Binary != want.binary {
				t.Fatalf("message %q binary=%v, want %q binary=%v", ev.Data, ev.Binary, want.data, want.binary)
			}
		}
		httpDo(t, http.MethodPost, pollURL(base, sid), "1")
		ev = expectEvent(t, srv, EventDisconnect, sid)
		if ev.Reason != ReasonClientDisconnect {
			t.Fatalf("reason %v, want client disconnect", ev.Reason)
		}
	})
	t.Run("websocket", func(t *testing.T) {
		srv, base := testServer(t, nil)
		p := dialWS(t, base, "")
		o := p.open()
		if len(o.Upgrades) != 0 {
			t.Fatalf("websocket session advertises upgrades %v", o.Upgrades)
		}
		expectEvent(t, srv, EventConnect, o.SID)
		p.send("4text")
		p.sendBinary([]byte{1, 2})
		if ev := expectEvent(t, srv, EventMessage, o.SID); string(ev.Data) != "text" || ev.Binary {
			t.Fatalf("got %q binary=%v", ev.Data, ev.Binary)
		}
		if ev := expectEvent(t, srv, EventMessage, o.SID); !bytes.Equal(ev.Data, []byte{1, 2}) || !ev.Binary {
			t.Fatalf("got %q binary=%v", ev.Data, ev.Binary)
		}
		p.send("1")
		if ev := expectEvent(t, srv, EventDisconnect, o.SID); ev.Reason != ReasonClientDisconnect {
			t.Fatalf("reason %v", ev.Reason)
		}
		p.expectClosed()
	})
}

func TestServerSend(t *testing.T) {
	srv, base := testServer(t, nil)
	p := dialWS(t, base, "")
	sid := p.open().SID
	expectEvent(t, srv, EventConnect, sid)
	if err := srv.Send(sid, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	p.expect("4hi")
	if err := srv.SendBinary(sid, []byte{9, 8}); err != nil {
		t.Fatal(err)
	}
	if data, op, err := p.recv(); err != nil || op != ws.OpBinary || !bytes.Equal(data, []byte{9, 8}) {
		t.Fatalf("binary: %v %q %v", op, data, err)
	}
	if err := srv.SendJSON(sid, map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	p.expect(`4{"a":1}`)
	if err := srv.SendJSON(sid, func() {}); err == nil {
		t.Fatal("SendJSON of a func succeeded")
	}

	if err := srv.Send("no-such-sid", []byte("x")); !errors.Is(err, ErrUnknownSession) {
		t.Fatalf("Send to unknown sid: %v", err)
	}
	if err := srv.Disconnect("no-such-sid"); !errors.Is(err, ErrUnknownSession) {
		t.Fatalf("Disconnect unknown sid: %v", err)
	}
	if _, err := srv.Transport("no-such-sid"); !errors.Is(err, ErrUnknownSession) {
		t.Fatalf("Transport unknown sid: %v", err)
	}
	if err := srv.Disconnect(sid); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, srv, EventDisconnect, sid)
	if err := srv.Send(sid, []byte("late")); !errors.Is(err, ErrUnknownSession) && !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("Send after disconnect: %v", err)
	}
}

// TestServerDisconnectReasons drives a session to each way of ending and
// checks the reason the application sees and what the peer gets.
func TestServerDisconnectReasons(t *testing.T) {
	fast := &Options{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond}
	cases := []struct {
		name   string
		opts   *Options
		end    func(t *testing.T, srv *Server, p *wsPeer, sid string)
		reason Reason
	}{
		{"client close packet", nil, func(t *testing.T, _ *Server, p *wsPeer, _ string) {
			p.send("1")
		}, ReasonClientDisconnect},
		{"server disconnect", nil, func(t *testing.T, srv *Server, p *wsPeer, sid string) {
			_ = srv.Send(sid, []byte("last words"))
			if err := srv.Disconnect(sid); err != nil {
				t.Fatal(err)
			}
			p.expect("4last words")
			p.expect("1")
		}, ReasonServerDisconnect},
		{"ping timeout", fast, func(t *testing.T, _ *Server, p *wsPeer, _ string) {
			p.expect("2") // and never answer
		}, ReasonPingTimeout},
		{"transport close", nil, func(t *testing.T, _ *Server, p *wsPeer, _ string) {
			_ = p.conn.Close()
		}, ReasonTransportClose},
		{"client ping is a transport error", nil, func(t *testing.T, _ *Server, p *wsPeer, _ string) {
			p.send("2")
		}, ReasonTransportError},
		{"undecodable packet", nil, func(t *testing.T, _ *Server, p *wsPeer, _ string) {
			p.send("x")
		}, ReasonTransportError},
		{"invalid utf-8", nil, func(t *testing.T, _ *Server, p *wsPeer, _ string) {
			p.send("4\xff\xfe")
		}, ReasonTransportError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, base := testServer(t, tc.opts)
			p := dialWS(t, base, "")
			sid := p.open().SID
			expectEvent(t, srv, EventConnect, sid)
			tc.end(t, srv, p, sid)
			ev := expectEvent(t, srv, EventDisconnect, sid)
			if ev.Reason != tc.reason {
				t.Fatalf("reason %v (err %v), want %v", ev.Reason, ev.Err, tc.reason)
			}
			if tc.reason == ReasonTransportError && ev.Err == nil {
				t.Fatal("transport error without Err")
			}
			if srv.Len() != 0 {
				// The registry entry goes before the disconnect event.
				t.Fatalf("server still holds %d sessions", srv.Len())
			}
		})
	}
}

func TestServerPingKeepsSessionAlive(t *testing.T) {
	srv, base := testServer(t, &Options{PingInterval: 30 * time.Millisecond, PingTimeout: 60 * time.Millisecond})
	p := dialWS(t, base, "")
	sid := p.open().SID
	expectEvent(t, srv, EventConnect, sid)
	for i := 0; i < 5; i++ {
		p.expect("2")
		p.send("3")
	}
	if tr, err := srv.Transport(sid); err != nil || tr != TransportWebSocket {
		t.Fatalf("Transport = %q, %v", tr, err)
	}
}

// TestServerPingGrace: a pong later than PingTimeout but within the grace
// period keeps the session.
func TestServerPingGrace(t *testing.T) {
	srv, base := testServer(t, &Options{PingInterval: 20 * time.Millisecond, PingTimeout: 20 * time.Millisecond, PingGrace: 2 * time.Second})
	p := dialWS(t, base, "")
	o := p.open()
	if o.PingTimeout != 20 {
		t.Fatalf("advertised pingTimeout %d: the grace must not be advertised", o.PingTimeout)
	}
	expectEvent(t, srv, EventConnect, o.SID)
	p.expect("2")
	time.Sleep(200 * time.Millisecond) // ten times PingTimeout
	p.send("3")
	p.expect("2")
	p.send("4still here")
	if ev := expectEvent(t, srv, EventMessage, o.SID); string(ev.Data) != "still here" {
		t.Fatalf("got %q", ev.Data)
	}
}

func TestServerSlowConsumer(t *testing.T) {
	srv, base := testServer(t, &Options{MaxQueueBytes: 64 << 10})
	p := dialWS(t, base, "")
	sid := p.open().SID
	expectEvent(t, srv, EventConnect, sid)
	// The peer never reads: once the socket buffers fill, the queue does.
	msg := bytes.Repeat([]byte("x"), 16<<10)
	var err error
	for i := 0; i < 100000 && err == nil; i++ {
		err = srv.Send(sid, msg)
	}
	if !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("Send never reported a slow consumer: %v", err)
	}
	ev := expectEvent(t, srv, EventDisconnect, sid)
	if ev.Reason != ReasonSlowConsumer {
		t.Fatalf("reason %v", ev.Reason)
	}
}

// TestServerBackpressure: an application that stops reading Events stalls
// the session's reads instead of buffering without bound, and the client is
// not timed out for pongs the server did not read.
func TestServerBackpressure(t *testing.T) {
	srv, base := testServer(t, &Options{PingInterval: 20 * time.Millisecond, PingTimeout: 40 * time.Millisecond, EventBuffer: 1})
	p := dialWS(t, base, "")
	sid := p.open().SID
	expectEvent(t, srv, EventConnect, sid)

	// Keep answering pings in the background while the app is stalled.
	const n = 300
	var wg sync.WaitGroup
	wg.Add(1)
	writes := make(chan string, n)
	go func() {
		defer wg.Done()
		for {
			data, _, err := p.recv()
			if err != nil {
				return
			}
			if string(data) == "2" {
				writes <- "3"
			}
		}
	}()
	go func() {
		for i := 0; i < n; i++ {
			writes <- "4m" + strings.Repeat("y", 1000)
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for w := range writes {
			if wsutilWrite(p, w) != nil {
				return
			}
		}
	}()
	time.Sleep(500 * time.Millisecond) // about 8 ping timeouts' worth
	for i := 0; i < n; i++ {
		ev := nextEvent(t, srv)
		if ev.Type != EventMessage {
			t.Fatalf("event %d: %v %v (err %v), want a message", i, ev.Type, ev.Reason, ev.Err)
		}
	}
	if err := srv.Disconnect(sid); err != nil {
		t.Fatalf("session gone after the stall: %v", err)
	}
	ev := expectEvent(t, srv, EventDisconnect, sid)
	if ev.Reason != ReasonServerDisconnect {
		t.Fatalf("reason %v", ev.Reason)
	}
	_ = p.conn.Close()
	close(writes)
	wg.Wait()
	<-done
}

func TestServerUpgrade(t *testing.T) {
	srv, base, hooks := hookedServer(t, nil)
	sid := pollOpen(t, base)
	expectEvent(t, srv, EventConnect, sid)
	if tr, _ := srv.Transport(sid); tr != TransportPolling {
		t.Fatalf("transport %q", tr)
	}
	// A held GET is released with a noop once the probe is answered.
	held := make(chan string, 1)
	go func() {
		_, body := httpDo(t, http.MethodGet, pollURL(base, sid), "")
		held <- body
	}()
	hooks.held.wait(t, "held", sid, 1)
	p := dialWS(t, base, sid)
	p.send("2probe")
	p.expect("3probe")
	if body := <-held; body != "6" {
		t.Fatalf("held GET got %q, want noop", body)
	}
	// Sent during the upgrade: must come over the WebSocket, in order.
	for _, m := range []string{"a", "b", "c"} {
		if err := srv.Send(sid, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if status, body := httpDo(t, http.MethodGet, pollURL(base, sid), ""); status != 200 || body != "6" {
		t.Fatalf("GET during upgrade: %d %q", status, body)
	}
	p.send("5")
	p.expect("4a")
	p.expect("4b")
	p.expect("4c")
	if tr, _ := srv.Transport(sid); tr != TransportWebSocket {
		t.Fatalf("transport after upgrade %q", tr)
	}
	if status, _ := httpDo(t, http.MethodGet, pollURL(base, sid), ""); status != http.StatusBadRequest {
		t.Fatalf("polling after upgrade: %d", status)
	}
}

func TestServerShutdown(t *testing.T) {
	srv, base := testServer(t, nil)
	p := dialWS(t, base, "")
	wsSID := p.open().SID
	expectEvent(t, srv, EventConnect, wsSID)
	pollSID := pollOpen(t, base)
	expectEvent(t, srv, EventConnect, pollSID)
	if err := srv.Send(wsSID, []byte("queued")); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		_, body := httpDo(t, http.MethodGet, pollURL(base, pollSID), "")
		got <- body
	}()

	shutdownErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shutdownErr <- srv.Shutdown(ctx)
	}()
	p.expect("4queued")
	p.expect("1")
	if body := <-got; body != "1" {
		t.Fatalf("held GET got %q, want the close packet", body)
	}
	reasons := map[string]Reason{}
	for ev := range srv.Events() {
		if ev.Type == EventDisconnect {
			reasons[ev.SID] = ev.Reason
		}
	}
	if err := <-shutdownErr; err != nil {
		t.Fatal(err)
	}
	if reasons[wsSID] != ReasonServerDisconnect || reasons[pollSID] != ReasonServerDisconnect {
		t.Fatalf("reasons %v", reasons)
	}
	if status, _ := httpDo(t, http.MethodGet, eioURL(base, "transport=polling"), ""); status != http.StatusServiceUnavailable {
		t.Fatalf("handshake after shutdown: %d", status)
	}
	// Both idempotent.
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestServerCloseCutsSessions(t *testing.T) {
	srv, base := testServer(t, nil)
	p := dialWS(t, base, "")
	sid := p.open().SID
	expectEvent(t, srv, EventConnect, sid)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	ev := expectEvent(t, srv, EventDisconnect, sid)
	if ev.Reason != ReasonServerDisconnect {
		t.Fatalf("reason %v", ev.Reason)
	}
	if _, ok := <-srv.Events(); ok {
		t.Fatal("events channel still open after Close")
	}
	p.expectClosed()
}

func TestServerPath(t *testing.T) {
	_, base := testServer(t, &Options{Path: "/rt"})
	for _, path := range []string{"/rt/", "/rt"} {
		status, body := httpDo(t, http.MethodGet, base+path+"?EIO=4&transport=polling", "")
		if status != 200 || !strings.HasPrefix(body, "0{") {
			t.Fatalf("%s: %d %q", path, status, body)
		}
	}
	if status, _ := httpDo(t, http.MethodGet, base+"/engine.io/?EIO=4&transport=polling", ""); status != http.StatusNotFound {
		t.Fatalf("other path: %d", status)
	}
}

func TestServerEIO3(t *testing.T) {
	_, base := testServer(t, nil)
	if status, body := httpDo(t, http.MethodGet, base+"/engine.io/?EIO=3&transport=polling", ""); status != 400 || !strings.Contains(body, `"code":5`) {
		t.Fatalf("EIO=3 refused by default: %d %s", status, body)
	}
	srv, base := testServer(t, &Options{AllowEIO3: true, PingInterval: time.Hour})
	status, body := httpDo(t, http.MethodGet, base+"/engine.io/?EIO=3&transport=polling", "")
	if status != 200 {
		t.Fatalf("EIO=3: %d %s", status, body)
	}
	// A protocol 3 payload: "<length>:<packet>".
	n, rest, ok := strings.Cut(body, ":")
	if !ok || n != "" && rest[0] != '0' {
		t.Fatalf("EIO=3 handshake body %q", body)
	}
	sid := parseOpen(t, rest).SID
	expectEvent(t, srv, EventConnect, sid)
	url := base + "/engine.io/?EIO=3&transport=polling&sid=" + sid
	if status, _ := httpDo(t, http.MethodPost, url, "6:4héllo2:2x"); status != 200 {
		t.Fatal(status)
	}
	if ev := expectEvent(t, srv, EventMessage, sid); string(ev.Data) != "héllo" {
		t.Fatalf("got %q", ev.Data)
	}
	// The client's ping is answered with a pong (the v3 heartbeat).
	if _, body := httpDo(t, http.MethodGet, url, ""); body != "2:3x" {
		t.Fatalf("pong payload %q", body)
	}
}

// TestServerQueued checks that Queued counts what waits for a polling
// session's next GET, and nothing once the GET has taken it.
func TestServerQueued(t *testing.T) {
	srv, base := testServer(t, nil)
	sid := pollOpen(t, base)
	expectEvent(t, srv, EventConnect, sid)
	if n, err := srv.Queued(sid); n != 0 || err != nil {
		t.Fatalf("Queued of a fresh session = %d, %v", n, err)
	}
	for i, m := range []string{"a", "b"} {
		if err := srv.Send(sid, []byte(m)); err != nil {
			t.Fatal(err)
		}
		if n, err := srv.Queued(sid); n != i+1 || err != nil {
			t.Fatalf("Queued after %d sends = %d, %v", i+1, n, err)
		}
	}
	if status, body := httpDo(t, http.MethodGet, pollURL(base, sid), ""); status != http.StatusOK || body != "4a\x1e4b" {
		t.Fatalf("poll = %d %q", status, body)
	}
	if n, err := srv.Queued(sid); n != 0 || err != nil {
		t.Fatalf("Queued after the poll took both = %d, %v", n, err)
	}
	if _, err := srv.Queued("no-such-sid"); !errors.Is(err, ErrUnknownSession) {
		t.Fatalf("Queued of an unknown sid: %v", err)
	}
}

// TestServerDisconnectDuringUpgrade ends a session after its WebSocket
// probe has been answered, as engine.io-client and eio.Client do: they stop
// polling and send the upgrade packet on the probe. The queued message and
// the close packet must go out on the WebSocket, at once, rather than wait
// PingTimeout for a GET that will not come.
func TestServerDisconnectDuringUpgrade(t *testing.T) {
	srv, base := testServer(t, &Options{PingInterval: time.Minute, PingTimeout: time.Minute})
	sid := pollOpen(t, base)
	expectEvent(t, srv, EventConnect, sid)
	p := dialWS(t, base, sid)
	p.send("2probe")
	p.expect("3probe")
	if err := srv.Send(sid, []byte("last")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Disconnect(sid); err != nil {
		t.Fatal(err)
	}
	// The session takes the end in (Send then fails) before the upgrade
	// packet comes; what it accepted until then is owed too.
	deadline := time.Now().Add(5 * time.Second)
	accepted := 0
	for srv.Send(sid, []byte("more")) == nil {
		accepted++
		if time.Now().After(deadline) {
			t.Fatal("Send still accepted 5s after Disconnect")
		}
		runtime.Gosched()
	}
	p.send("5")
	p.expect("4last")
	for range accepted {
		p.expect("4more")
	}
	p.expect("1")
	// The upgrade did happen, on the way out: it is reported, in order.
	expectEvent(t, srv, EventUpgrade, sid)
	if ev := expectEvent(t, srv, EventDisconnect, sid); ev.Reason != ReasonServerDisconnect {
		t.Fatalf("reason %v", ev.Reason)
	}
}
