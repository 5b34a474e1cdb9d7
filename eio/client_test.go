package eio_test

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/clienttest"
	"github.com/chanio/chanio/transport"
	"github.com/gobwas/ws"
)

// clEcho is an in-process chanio server that echoes every message (text
// "close" makes it disconnect the session) and records the disconnects it
// sees.
type clEcho struct {
	srv         *eio.Server
	hs          *httptest.Server
	url         string
	disconnects chan eio.Event
	received    chan eio.Event // every message, when record is set
	record      bool

	mu    sync.Mutex
	conns []net.Conn
	ln    net.Listener
}

type clTrackingListener struct {
	net.Listener
	e *clEcho
}

func (l clTrackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.e.mu.Lock()
		l.e.conns = append(l.e.conns, c)
		l.e.mu.Unlock()
	}
	return c, err
}

func clStartEcho(t *testing.T, opts *eio.Options, record bool) *clEcho {
	t.Helper()
	e := &clEcho{
		srv:         eio.NewServer(opts),
		disconnects: make(chan eio.Event, 16),
		received:    make(chan eio.Event, 4096),
		record:      record,
	}
	e.hs = httptest.NewUnstartedServer(e.srv)
	e.ln = e.hs.Listener
	e.hs.Listener = clTrackingListener{Listener: e.hs.Listener, e: e}
	e.hs.Start()
	e.url = e.hs.URL
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range e.srv.Events() {
			switch ev.Type {
			case eio.EventMessage:
				if e.record {
					e.received <- ev
				}
				switch {
				case ev.Binary:
					_ = e.srv.SendBinary(ev.SID, ev.Data)
				case string(ev.Data) == "close":
					_ = e.srv.Disconnect(ev.SID)
				default:
					_ = e.srv.Send(ev.SID, ev.Data)
				}
			case eio.EventDisconnect:
				e.disconnects <- ev
			}
		}
	}()
	t.Cleanup(func() {
		e.hs.Close()
		<-done
	})
	t.Cleanup(func() { _ = e.srv.Close() })
	return e
}

func (e *clEcho) nextReceived(t *testing.T) eio.Event {
	t.Helper()
	// The echo loop records a session's messages before its disconnect,
	// so a disconnect with nothing received means the message is lost.
	select {
	case ev := <-e.received:
		return ev
	default:
	}
	select {
	case ev := <-e.received:
		return ev
	case ev := <-e.disconnects:
		t.Fatalf("server session ended (%v, %v) before the message", ev.Reason, ev.Err)
	case <-time.After(clienttest.Wait):
		t.Fatal("no message reached the server in time")
	}
	return eio.Event{}
}

func (e *clEcho) nextDisconnect(t *testing.T) eio.Event {
	t.Helper()
	select {
	case ev := <-e.disconnects:
		return ev
	case <-time.After(clienttest.Wait):
		t.Fatal("the server saw no disconnect in time")
	}
	return eio.Event{}
}

// kill drops every connection and stops listening, as a crash would.
func (e *clEcho) kill() {
	_ = e.ln.Close()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.conns {
		_ = c.Close()
	}
}

func clOpts(transports []string) *eio.ClientOptions {
	return &eio.ClientOptions{Transports: transports}
}

func TestClientRoundTrips(t *testing.T) {
	for _, m := range clienttest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			e := clStartEcho(t, nil, false)
			c := clienttest.Dial(t, e.url, clOpts(m.Transports))
			clienttest.WaitTransport(t, c, m.Final) // upgrade: until the switch
			if err := c.Send([]byte("hello é 😀")); err != nil {
				t.Fatal(err)
			}
			clienttest.ExpectText(t, c, "hello é 😀")
			bin := []byte{0, 1, 2, 0x1e, 255}
			if err := c.SendBinary(bin); err != nil {
				t.Fatal(err)
			}
			ev := clienttest.NextMessage(t, c)
			if ev.Type != eio.EventMessage || !ev.Binary || !bytes.Equal(ev.Data, bin) {
				t.Fatalf("binary echo: %+v", ev)
			}
			if err := c.SendJSON(map[string]int{"a": 1}); err != nil {
				t.Fatal(err)
			}
			clienttest.ExpectText(t, c, `{"a":1}`)
			if err := c.Send(nil); err != nil {
				t.Fatal(err)
			}
			clienttest.ExpectText(t, c, "")
			if got := c.Transport(); got != m.Final {
				t.Errorf("Transport() = %s, want %s", got, m.Final)
			}
			if got, _ := e.srv.Transport(c.SID()); got != m.Final {
				t.Errorf("server sees transport %s, want %s", got, m.Final)
			}

			ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
			defer cancel()
			if err := c.Close(ctx); err != nil {
				t.Fatal(err)
			}
			end := clienttest.ExpectEnd(t, c)
			if end.Reason != eio.ReasonClientDisconnect || end.Err != nil || end.SID != c.SID() {
				t.Errorf("disconnect %v (%v) sid %q", end.Reason, end.Err, end.SID)
			}
			sev := e.nextDisconnect(t)
			if sev.Reason != eio.ReasonClientDisconnect {
				t.Errorf("server saw %v (%v), want client disconnect", sev.Reason, sev.Err)
			}
			if err := c.Close(ctx); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if err := c.Send([]byte("x")); !errors.Is(err, eio.ErrSessionClosed) {
				t.Errorf("Send after Close: %v, want ErrSessionClosed", err)
			}
		})
	}
}

func TestClientThousandInOrder(t *testing.T) {
	for _, m := range clienttest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			e := clStartEcho(t, nil, false)
			c := clienttest.Dial(t, e.url, clOpts(m.Transports))
			clienttest.SendNumbered(t, c, 1000, false)
		})
	}
}

// TestClientUpgradeWithMessagesInFlight sends while the upgrade is under
// way: every message must arrive once and in order, both ways.
func TestClientUpgradeWithMessagesInFlight(t *testing.T) {
	for i := range 3 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			e := clStartEcho(t, nil, true)
			c := clienttest.Dial(t, e.url, nil)
			clienttest.SendNumbered(t, c, 1000, true)
			clienttest.WaitTransport(t, c, eio.TransportWebSocket)
			for i := range 1000 {
				ev := e.nextReceived(t)
				if string(ev.Data) != "n:"+strconv.Itoa(i) {
					t.Fatalf("server got %q as message %d", ev.Data, i)
				}
			}
			// After the switch, traffic still flows.
			if err := c.Send([]byte("after")); err != nil {
				t.Fatal(err)
			}
			clienttest.ExpectText(t, c, "after")
		})
	}
}

func TestClientNearMaxPayload(t *testing.T) {
	big := strings.Repeat("x", 900_000)
	for _, m := range clienttest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			e := clStartEcho(t, nil, false)
			c := clienttest.Dial(t, e.url, clOpts(m.Transports))
			clienttest.WaitTransport(t, c, m.Final) // upgrade: until the switch
			if err := c.Send([]byte(big)); err != nil {
				t.Fatal(err)
			}
			clienttest.ExpectText(t, c, big)
			if err := c.Send(make([]byte, 1_000_000)); !errors.Is(err, eio.ErrPayloadTooLarge) {
				t.Errorf("Send over maxPayload: %v, want ErrPayloadTooLarge", err)
			}
			// 900 KB binary is 1.2 MB in base64: too large on polling only.
			err := c.SendBinary(make([]byte, 900_000))
			if c.Transport() == eio.TransportPolling {
				if !errors.Is(err, eio.ErrPayloadTooLarge) {
					t.Errorf("SendBinary 900 KB on polling: %v, want ErrPayloadTooLarge", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ev := clienttest.NextMessage(t, c)
			if !ev.Binary || len(ev.Data) != 900_000 {
				t.Fatalf("binary echo: %v binary=%v len %d", ev.Type, ev.Binary, len(ev.Data))
			}
		})
	}
}

func TestClientServerDisconnect(t *testing.T) {
	for _, m := range clienttest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			e := clStartEcho(t, nil, false)
			c := clienttest.Dial(t, e.url, clOpts(m.Transports))
			clienttest.WaitTransport(t, c, m.Final) // upgrade: until the switch
			if err := c.Send([]byte("close")); err != nil {
				t.Fatal(err)
			}
			end := clienttest.ExpectEnd(t, c)
			if end.Reason != eio.ReasonServerDisconnect {
				t.Errorf("reason %v (%v), want server disconnect", end.Reason, end.Err)
			}
		})
	}
}

func TestClientServerKilled(t *testing.T) {
	for _, m := range clienttest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			e := clStartEcho(t, nil, false)
			c := clienttest.Dial(t, e.url, clOpts(m.Transports))
			clienttest.WaitTransport(t, c, m.Final) // upgrade: until the switch
			if err := c.Send([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			clienttest.ExpectText(t, c, "ping")
			e.kill()
			end := clienttest.ExpectEnd(t, c)
			if end.Reason != eio.ReasonTransportClose {
				t.Errorf("reason %v (%v), want transport close", end.Reason, end.Err)
			}
		})
	}
}

func TestClientServerShutdown(t *testing.T) {
	for _, m := range clienttest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			e := clStartEcho(t, nil, false)
			c := clienttest.Dial(t, e.url, clOpts(m.Transports))
			clienttest.WaitTransport(t, c, m.Final) // upgrade: until the switch
			ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
			defer cancel()
			if err := e.srv.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			end := clienttest.ExpectEnd(t, c)
			if end.Reason != eio.ReasonServerDisconnect {
				t.Errorf("reason %v (%v), want server disconnect", end.Reason, end.Err)
			}
		})
	}
}

// TestClientHeartbeat: the client answers pings, so a server with a short
// interval keeps the session.
func TestClientHeartbeat(t *testing.T) {
	for _, m := range clienttest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			e := clStartEcho(t, &eio.Options{PingInterval: 20 * time.Millisecond, PingTimeout: 2 * time.Second}, false)
			c := clienttest.Dial(t, e.url, clOpts(m.Transports))
			time.Sleep(300 * time.Millisecond)
			if err := c.Send([]byte("still here")); err != nil {
				t.Fatal(err)
			}
			clienttest.ExpectText(t, c, "still here")
			select {
			case ev := <-e.disconnects:
				t.Fatalf("server ended the session: %v (%v)", ev.Reason, ev.Err)
			default:
			}
		})
	}
}

func TestClientCloseFlushesQueue(t *testing.T) {
	for _, m := range clienttest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			e := clStartEcho(t, nil, true)
			c := clienttest.Dial(t, e.url, clOpts(m.Transports))
			for i := range 200 {
				if err := c.Send([]byte("n:" + strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
			defer cancel()
			if err := c.Close(ctx); err != nil {
				t.Fatal(err)
			}
			for i := range 200 {
				ev := e.nextReceived(t)
				if string(ev.Data) != "n:"+strconv.Itoa(i) {
					t.Fatalf("server got %q as message %d", ev.Data, i)
				}
			}
			if sev := e.nextDisconnect(t); sev.Reason != eio.ReasonClientDisconnect {
				t.Errorf("server saw %v (%v), want client disconnect", sev.Reason, sev.Err)
			}
			if end := clienttest.ExpectEnd(t, c); end.Reason != eio.ReasonClientDisconnect {
				t.Errorf("reason %v (%v)", end.Reason, end.Err)
			}
		})
	}
}

// TestClientHeadersAndQuery: extra headers and query parameters reach the
// server on every request: handshake, polls, POSTs and the WebSocket.
func TestClientHeadersAndQuery(t *testing.T) {
	srv := eio.NewServer(&eio.Options{Path: "/custom/"})
	defer srv.Close()
	var mu sync.Mutex
	var bad []string
	kinds := map[string]bool{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		if r.Header.Get("X-Token") != "secret" || q.Get("token") != "abc" || q.Get("fromurl") != "1" {
			bad = append(bad, r.Method+" "+r.URL.String())
		}
		kinds[r.Method+" "+q.Get("transport")] = true
		mu.Unlock()
		srv.ServeHTTP(w, r)
	}))
	defer hs.Close()
	go func() {
		for ev := range srv.Events() {
			if ev.Type == eio.EventMessage {
				_ = srv.Send(ev.SID, ev.Data)
			}
		}
	}()
	for _, transports := range [][]string{{eio.TransportPolling}, nil} {
		c := clienttest.Dial(t, hs.URL+"/custom?fromurl=1", &eio.ClientOptions{
			Transports: transports,
			Header:     http.Header{"X-Token": {"secret"}},
			Query:      url.Values{"token": {"abc"}},
		})
		if transports == nil {
			clienttest.WaitTransport(t, c, eio.TransportWebSocket)
		}
		if err := c.Send([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		clienttest.ExpectText(t, c, "hi")
		ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
		err := c.Close(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("requests without the header or query: %v", bad)
	}
	for _, k := range []string{"GET polling", "GET websocket", "POST polling"} {
		if !kinds[k] {
			t.Errorf("no %s request seen (saw %v)", k, kinds)
		}
	}
}

func TestClientPathAndScheme(t *testing.T) {
	e := clStartEcho(t, &eio.Options{Path: "/rt/"}, false)
	wsURL := "ws" + strings.TrimPrefix(e.url, "http")
	cases := []struct {
		name string
		url  string
		opts *eio.ClientOptions
	}{
		{"url path", e.url + "/rt", nil},
		{"url path with slash", e.url + "/rt/", nil},
		{"option path", e.url, &eio.ClientOptions{Path: "/rt"}},
		{"ws scheme", wsURL + "/rt/", &eio.ClientOptions{Transports: []string{eio.TransportWebSocket}}},
		{"ws scheme polling", wsURL + "/rt/", &eio.ClientOptions{Transports: []string{eio.TransportPolling}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := clienttest.Dial(t, tc.url, tc.opts)
			if err := c.Send([]byte("x")); err != nil {
				t.Fatal(err)
			}
			clienttest.ExpectText(t, c, "x")
		})
	}
}

func TestClientDialErrors(t *testing.T) {
	pollOnly := clStartEcho(t, &eio.Options{Transports: []string{eio.TransportPolling}}, false)
	wsOnly := clStartEcho(t, &eio.Options{Transports: []string{eio.TransportWebSocket}}, false)
	cases := []struct {
		name       string
		url        string
		transports []string
		code       eio.ErrorCode
	}{
		{"polling refused", wsOnly.url, nil, eio.CodeUnknownTransport},
		{"websocket refused", pollOnly.url, []string{eio.TransportWebSocket}, eio.CodeUnknownTransport},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
			defer cancel()
			c, err := eio.Dial(ctx, tc.url, clOpts(tc.transports))
			var he *eio.HTTPError
			if !errors.As(err, &he) {
				if c != nil {
					_ = c.Close(ctx)
				}
				t.Fatalf("Dial: %v, want *HTTPError", err)
			}
			if he.Status != http.StatusBadRequest || he.Code != tc.code || he.Message != tc.code.Message() {
				t.Errorf("HTTPError %+v, want 400 code %d %q", he, tc.code, tc.code.Message())
			}
		})
	}

	t.Run("bad options", func(t *testing.T) {
		ctx := context.Background()
		for _, u := range []string{"ftp://example.com", "http://", "::"} {
			if _, err := eio.Dial(ctx, u, nil); err == nil {
				t.Errorf("Dial(%q) succeeded", u)
			}
		}
		if _, err := eio.Dial(ctx, pollOnly.url, clOpts([]string{"carrier-pigeon"})); err == nil {
			t.Error("Dial with an unknown transport succeeded")
		}
	})

	// A server that never answers the handshake.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("transport") == eio.TransportWebSocket {
			conn, _, _, err := ws.UpgradeHTTP(r, w)
			if err != nil {
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(clienttest.Wait))
			_, _ = io.Copy(io.Discard, conn)
			return
		}
		<-r.Context().Done()
	}))
	defer hang.Close()
	for _, m := range clienttest.Modes[:2] {
		t.Run("cancel "+m.Name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			_, err := eio.Dial(ctx, hang.URL, clOpts(m.Transports))
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Dial: %v, want context.Canceled", err)
			}
		})
		t.Run("request timeout "+m.Name, func(t *testing.T) {
			opts := clOpts(m.Transports)
			opts.RequestTimeout = 50 * time.Millisecond
			_, err := eio.Dial(context.Background(), hang.URL, opts)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Dial: %v, want context.DeadlineExceeded", err)
			}
		})
	}
}

// clOpen is an open packet for hand-written servers.
func clOpen(sid string, intervalMS, timeoutMS int, upgrades string) string {
	return fmt.Sprintf(`0{"sid":%q,"upgrades":[%s],"pingInterval":%d,"pingTimeout":%d,"maxPayload":1000000}`,
		sid, upgrades, intervalMS, timeoutMS)
}

// clFakePolling is a hand-written polling server: the handshake answers
// open, and every later GET is answered by poll (called with the count of
// GETs so far); POSTs get "ok".
func clFakePolling(t *testing.T, open string, poll func(w http.ResponseWriter, r *http.Request, n int)) string {
	t.Helper()
	var mu sync.Mutex
	n := 0
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("sid") == "" {
			_, _ = io.WriteString(w, open)
			return
		}
		if r.Method == http.MethodPost {
			_, _ = io.WriteString(w, "ok")
			return
		}
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		poll(w, r, i)
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

// clFakeWebSocket is a hand-written WebSocket server: it upgrades, calls
// serve with the connection, then reads until the client goes.
func clFakeWebSocket(t *testing.T, serve func(conn net.Conn)) string {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(clienttest.Wait))
		serve(conn)
		_, _ = io.Copy(io.Discard, conn)
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

func clWriteText(conn net.Conn, s string) {
	_ = ws.WriteFrame(conn, ws.NewTextFrame([]byte(s)))
}

func TestClientPingTimeout(t *testing.T) {
	silentPoll := clFakePolling(t, clOpen("quiet", 50, 50, ""), func(w http.ResponseWriter, r *http.Request, _ int) {
		<-r.Context().Done()
	})
	silentWS := clFakeWebSocket(t, func(conn net.Conn) {
		clWriteText(conn, clOpen("quiet", 50, 50, ""))
	})
	for _, tc := range []struct {
		name, url, transport string
	}{
		{"polling", silentPoll, eio.TransportPolling},
		{"websocket", silentWS, eio.TransportWebSocket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clienttest.Dial(t, tc.url, clOpts([]string{tc.transport}))
			end := clienttest.ExpectEnd(t, c)
			if end.Reason != eio.ReasonPingTimeout {
				t.Errorf("reason %v (%v), want ping timeout", end.Reason, end.Err)
			}
		})
	}
}

func TestClientPollErrors(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		check  func(t *testing.T, err error)
	}{
		{"400 unknown sid", 400, `{"code":1,"message":"Session ID unknown"}`, func(t *testing.T, err error) {
			var he *eio.HTTPError
			if !errors.As(err, &he) || he.Code != eio.CodeUnknownSID || he.Status != 400 {
				t.Errorf("err %v, want *HTTPError code 1", err)
			}
		}},
		{"500 text", 500, `oops`, func(t *testing.T, err error) {
			var he *eio.HTTPError
			if !errors.As(err, &he) || he.Code != -1 || string(he.Body) != "oops" {
				t.Errorf("err %v, want *HTTPError with body", err)
			}
		}},
		{"garbage", 200, "garbage", func(t *testing.T, err error) {
			if !errors.Is(err, codec.ErrUnknownType) {
				t.Errorf("err %v, want codec.ErrUnknownType", err)
			}
		}},
		{"bad base64", 200, "4ok\x1ebnot-base64!", func(t *testing.T, err error) {
			if !errors.Is(err, codec.ErrBadBase64) {
				t.Errorf("err %v, want codec.ErrBadBase64", err)
			}
		}},
		{"empty body", 200, "", func(t *testing.T, err error) {
			if !errors.Is(err, codec.ErrEmptyPayload) {
				t.Errorf("err %v, want codec.ErrEmptyPayload", err)
			}
		}},
		{"too many packets", 200, strings.Repeat("6\x1e", 1<<20) + "6", func(t *testing.T, err error) {
			if !errors.Is(err, codec.ErrTooManyPackets) {
				t.Errorf("err %v, want codec.ErrTooManyPackets", err)
			}
		}},
		{"second open", 200, clOpen("again", 50, 50, ""), func(t *testing.T, err error) {
			if err == nil {
				t.Error("no error for a second open packet")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := clFakePolling(t, clOpen("s", 10000, 10000, ""), func(w http.ResponseWriter, r *http.Request, _ int) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			c := clienttest.Dial(t, u, clOpts([]string{eio.TransportPolling}))
			end := clienttest.ExpectEnd(t, c)
			if end.Reason != eio.ReasonTransportError {
				t.Errorf("reason %v (%v), want transport error", end.Reason, end.Err)
			}
			tc.check(t, end.Err)
		})
	}
}

func TestClientWebSocketErrors(t *testing.T) {
	cases := []struct {
		name   string
		serve  func(conn net.Conn)
		reason eio.Reason
		check  func(t *testing.T, err error)
	}{
		{"oversize frame", func(conn net.Conn) {
			// A header announcing 2 KiB, over the client's 1 KiB bound.
			_ = ws.WriteHeader(conn, ws.Header{Fin: true, OpCode: ws.OpText, Length: 2048})
		}, eio.ReasonTransportError, func(t *testing.T, err error) {
			if !errors.Is(err, transport.ErrMessageTooBig) {
				t.Errorf("err %v, want transport.ErrMessageTooBig", err)
			}
		}},
		{"garbage frame", func(conn net.Conn) {
			clWriteText(conn, "x marks the spot")
		}, eio.ReasonTransportError, func(t *testing.T, err error) {
			if !errors.Is(err, codec.ErrUnknownType) {
				t.Errorf("err %v, want codec.ErrUnknownType", err)
			}
		}},
		{"invalid utf8", func(conn net.Conn) {
			clWriteText(conn, "4\xff\xfe")
		}, eio.ReasonTransportError, func(t *testing.T, err error) {
			if !errors.Is(err, transport.ErrInvalidUTF8) {
				t.Errorf("err %v, want transport.ErrInvalidUTF8", err)
			}
		}},
		{"close packet", func(conn net.Conn) {
			clWriteText(conn, "1")
		}, eio.ReasonServerDisconnect, nil},
		{"close frame", func(conn net.Conn) {
			_ = ws.WriteFrame(conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
		}, eio.ReasonServerDisconnect, nil},
		{"going away", func(conn net.Conn) {
			_ = ws.WriteFrame(conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, "bye")))
		}, eio.ReasonTransportClose, nil},
		{"dropped", func(conn net.Conn) {
			_ = conn.Close()
		}, eio.ReasonTransportClose, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := clFakeWebSocket(t, func(conn net.Conn) {
				clWriteText(conn, clOpen("s", 10000, 10000, ""))
				tc.serve(conn)
			})
			c := clienttest.Dial(t, u, &eio.ClientOptions{Transports: []string{eio.TransportWebSocket}, MaxPayload: 1024})
			end := clienttest.ExpectEnd(t, c)
			if end.Reason != tc.reason {
				t.Errorf("reason %v (%v), want %v", end.Reason, end.Err, tc.reason)
			}
			if tc.check != nil {
				tc.check(t, end.Err)
			}
		})
	}
}

func TestClientInvalidOpen(t *testing.T) {
	bodies := map[string]string{
		"empty sid":      `0{"sid":"","upgrades":[],"pingInterval":25000,"pingTimeout":20000}`,
		"no interval":    `0{"sid":"x","upgrades":[],"pingTimeout":20000}`,
		"not json":       `0{not json`,
		"message first":  `4hello`,
		"unknown type":   `9`,
		"binary message": `bAAEC`,
	}
	for name, body := range bodies {
		t.Run("polling "+name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, body)
			}))
			defer hs.Close()
			_, err := eio.Dial(context.Background(), hs.URL, clOpts([]string{eio.TransportPolling}))
			if !errors.Is(err, codec.ErrBadHandshake) {
				t.Errorf("Dial: %v, want codec.ErrBadHandshake", err)
			}
		})
		if name == "binary message" {
			continue
		}
		t.Run("websocket "+name, func(t *testing.T) {
			u := clFakeWebSocket(t, func(conn net.Conn) { clWriteText(conn, body) })
			_, err := eio.Dial(context.Background(), u, clOpts([]string{eio.TransportWebSocket}))
			if !errors.Is(err, codec.ErrBadHandshake) {
				t.Errorf("Dial: %v, want codec.ErrBadHandshake", err)
			}
		})
	}
}

// TestClientCompressedPolling: polling responses in gzip, zlib deflate and
// raw deflate are decoded; one over MaxPayload once decoded is refused.
func TestClientCompressedPolling(t *testing.T) {
	payload := []byte("4" + strings.Repeat("compressible ", 200) + "\x1e4second")
	encoders := map[string]func(w io.Writer) io.WriteCloser{
		"gzip":        func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) },
		"deflate":     func(w io.Writer) io.WriteCloser { return zlib.NewWriter(w) },
		"raw deflate": func(w io.Writer) io.WriteCloser { fw, _ := flate.NewWriter(w, 5); return fw },
	}
	for name, enc := range encoders {
		t.Run(name, func(t *testing.T) {
			var body bytes.Buffer
			zw := enc(&body)
			_, _ = zw.Write(payload)
			_ = zw.Close()
			header := strings.TrimPrefix(name, "raw ")
			u := clFakePolling(t, clOpen("z", 10000, 10000, ""), func(w http.ResponseWriter, r *http.Request, n int) {
				if n > 1 {
					<-r.Context().Done()
					return
				}
				if !strings.Contains(r.Header.Get("Accept-Encoding"), header) {
					t.Errorf("Accept-Encoding %q", r.Header.Get("Accept-Encoding"))
				}
				w.Header().Set("Content-Encoding", header)
				_, _ = w.Write(body.Bytes())
			})
			c := clienttest.Dial(t, u, clOpts([]string{eio.TransportPolling}))
			clienttest.ExpectText(t, c, strings.Repeat("compressible ", 200))
			clienttest.ExpectText(t, c, "second")
		})
	}
	t.Run("bomb", func(t *testing.T) {
		var body bytes.Buffer
		zw := gzip.NewWriter(&body)
		_, _ = zw.Write([]byte("4"))
		_, _ = zw.Write(make([]byte, 10<<20))
		_ = zw.Close()
		u := clFakePolling(t, clOpen("z", 10000, 10000, ""), func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(body.Bytes())
		})
		c := clienttest.Dial(t, u, &eio.ClientOptions{Transports: []string{eio.TransportPolling}, MaxPayload: 1 << 20})
		end := clienttest.ExpectEnd(t, c)
		if end.Reason != eio.ReasonTransportError || !errors.Is(end.Err, codec.ErrTooLarge) {
			t.Errorf("reason %v (%v), want transport error over the limit", end.Reason, end.Err)
		}
	})
}

// TestClientSlowConsumer: with the POST stuck, sends fill the queue and
// are refused, the connection stays up, and Close with a short ctx cuts it.
func TestClientSlowConsumer(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Query().Get("sid") == "":
			_, _ = io.WriteString(w, clOpen("slow", 10000, 10000, ""))
		default:
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
	}))
	defer hs.Close()
	c := clienttest.Dial(t, hs.URL, &eio.ClientOptions{Transports: []string{eio.TransportPolling}, MaxQueueBytes: 4096})
	msg := make([]byte, 512)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = c.Send(msg)
	}
	if !errors.Is(err, eio.ErrSlowConsumer) {
		t.Fatalf("Send into a full queue: %v, want ErrSlowConsumer", err)
	}
	select {
	case <-c.Done():
		t.Fatal("the client ended on a full queue")
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v, want context.DeadlineExceeded", err)
	}
	free()
	end := clienttest.ExpectEnd(t, c)
	if end.Reason != eio.ReasonClientDisconnect {
		t.Errorf("reason %v (%v)", end.Reason, end.Err)
	}
}

// TestClientProbeRefused: a server that offers the upgrade but refuses the
// WebSocket leaves the client on polling, working.
func TestClientProbeRefused(t *testing.T) {
	srv := eio.NewServer(&eio.Options{Transports: []string{eio.TransportPolling}})
	defer srv.Close()
	go func() {
		for ev := range srv.Events() {
			if ev.Type == eio.EventMessage {
				_ = srv.Send(ev.SID, ev.Data)
			}
		}
	}()
	// Advertise the upgrade anyway by rewriting the open packet.
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("sid") == "" && r.Method == http.MethodGet {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, r)
			body := strings.Replace(rec.Body.String(), `"upgrades":[]`, `"upgrades":["websocket"]`, 1)
			_, _ = io.WriteString(w, body)
			return
		}
		srv.ServeHTTP(w, r)
	}))
	defer hs.Close()
	defer srv.Close() // first: it releases a held GET, which hs.Close waits for
	var log clienttest.Log[string]
	c := clienttest.Dial(t, hs.URL, &eio.ClientOptions{Logger: slog.New(logMessages{&log})})
	log.Wait(t, "the refused probe", logged("eio: websocket probe failed; staying on polling"))
	clienttest.SendNumbered(t, c, 50, false)
	if c.Transport() != eio.TransportPolling {
		t.Errorf("Transport() = %s after a refused probe", c.Transport())
	}
}

// TestClientTLS: https and wss, with the TLS configuration given directly
// or taken from an HTTPClient's transport (which the WebSocket dial also
// uses).
func TestClientTLS(t *testing.T) {
	srv := eio.NewServer(nil)
	hs := httptest.NewTLSServer(srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range srv.Events() {
			if ev.Type == eio.EventMessage {
				_ = srv.Send(ev.SID, ev.Data)
			}
		}
	}()
	defer func() {
		_ = srv.Close()
		hs.Close()
		<-done
	}()
	tlsConfig := hs.Client().Transport.(*http.Transport).TLSClientConfig
	for _, m := range clienttest.Modes {
		for _, how := range []string{"TLSConfig", "HTTPClient"} {
			t.Run(m.Name+" "+how, func(t *testing.T) {
				opts := clOpts(m.Transports)
				if how == "TLSConfig" {
					opts.TLSConfig = tlsConfig
				} else {
					opts.HTTPClient = hs.Client()
				}
				c := clienttest.Dial(t, hs.URL, opts)
				clienttest.WaitTransport(t, c, m.Final)
				if err := c.Send([]byte("secret")); err != nil {
					t.Fatal(err)
				}
				clienttest.ExpectText(t, c, "secret")
				if m.Final != eio.TransportWebSocket || how != "TLSConfig" {
					return
				}
				// Quiet for longer than a server reader waits before
				// parking its connection: a TLS one cannot be parked, so
				// its reader must go on reading.
				time.Sleep(300 * time.Millisecond)
				if err := c.Send([]byte("after a quiet spell")); err != nil {
					t.Fatal(err)
				}
				clienttest.ExpectText(t, c, "after a quiet spell")
			})
		}
	}
	t.Run("untrusted", func(t *testing.T) {
		_, err := eio.Dial(context.Background(), hs.URL, nil)
		if err == nil {
			t.Fatal("Dial trusted the test server's certificate")
		}
	})
}

// TestClientDialContext: the dial hook opens every connection, polling and
// WebSocket alike.
func TestClientDialContext(t *testing.T) {
	e := clStartEcho(t, nil, false)
	var mu sync.Mutex
	dials := 0
	var d net.Dialer
	opts := &eio.ClientOptions{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dials++
		mu.Unlock()
		return d.DialContext(ctx, network, addr)
	}}
	c := clienttest.Dial(t, e.url, opts)
	clienttest.WaitTransport(t, c, eio.TransportWebSocket)
	if err := c.Send([]byte("x")); err != nil {
		t.Fatal(err)
	}
	clienttest.ExpectText(t, c, "x")
	mu.Lock()
	defer mu.Unlock()
	// At least the handshake's connection and the WebSocket's.
	if dials < 2 {
		t.Errorf("%d dials through the hook, want at least 2", dials)
	}
}

// clCountingConn counts the bytes read from a connection.
type clCountingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c clCountingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestClientWebSocketCompression: with permessage-deflate offered and
// accepted, large messages travel compressed both ways.
func TestClientWebSocketCompression(t *testing.T) {
	e := clStartEcho(t, &eio.Options{WebSocketCompression: true}, false)
	big := strings.Repeat("zip ", 5000)
	for _, m := range clienttest.Modes[1:] {
		t.Run(m.Name, func(t *testing.T) {
			var read atomic.Int64
			var d net.Dialer
			c := clienttest.Dial(t, e.url, &eio.ClientOptions{
				Transports:           m.Transports,
				WebSocketCompression: true,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					conn, err := d.DialContext(ctx, network, addr)
					if err != nil {
						return nil, err
					}
					return clCountingConn{conn, &read}, nil
				},
			})
			clienttest.WaitTransport(t, c, eio.TransportWebSocket)
			before := read.Load()
			for range 5 {
				if err := c.Send([]byte(big)); err != nil {
					t.Fatal(err)
				}
				clienttest.ExpectText(t, c, big)
			}
			if n := read.Load() - before; n > int64(len(big)) {
				t.Errorf("read %d bytes for 5 echoes of %d bytes: not compressed", n, len(big))
			}
		})
	}
}

// TestClientCloseWithFullEvents: Close called by an application that has
// stopped reading Events, with the buffer full, gives up at its ctx and
// still delivers exactly one disconnect.
func TestClientCloseWithFullEvents(t *testing.T) {
	for _, m := range clienttest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			e := clStartEcho(t, nil, false)
			c := clienttest.Dial(t, e.url, &eio.ClientOptions{Transports: m.Transports, EventBuffer: 1})
			for i := range 20 {
				if err := c.Send([]byte("n:" + strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
			}
			// Let the echoes fill the buffer and back up in the client.
			time.Sleep(200 * time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			if err := c.Close(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Close: %v", err)
			}
			var evs []eio.Event
			for ev := range c.Events() {
				evs = append(evs, ev)
			}
			disconnects := 0
			for _, ev := range evs {
				if ev.Type == eio.EventDisconnect {
					disconnects++
				}
			}
			if disconnects != 1 || evs[len(evs)-1].Type != eio.EventDisconnect {
				t.Fatalf("%d disconnects in %d events, last %v", disconnects, len(evs), evs[len(evs)-1].Type)
			}
			if r := evs[len(evs)-1].Reason; r != eio.ReasonClientDisconnect {
				t.Errorf("reason %v", r)
			}
		})
	}
}

// clProxy is a forward HTTP proxy that also tunnels CONNECT, counting the
// requests of each kind and checking their credentials.
type clProxy struct {
	hs *httptest.Server
	tr *http.Transport

	mu      sync.Mutex
	counts  map[string]int
	closing bool           // set before tunnels waits; guarded by mu
	tunnels sync.WaitGroup // CONNECT tunnels, hijacked from hs
}

func clStartProxy(t *testing.T) *clProxy {
	t.Helper()
	p := &clProxy{tr: &http.Transport{}, counts: map[string]int{}}
	p.hs = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		p.hs.Close()
		p.mu.Lock()
		p.closing = true
		p.mu.Unlock()
		p.tunnels.Wait()
		p.tr.CloseIdleConnections()
	})
	return p
}

func (p *clProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.counts[r.Method]++
	p.mu.Unlock()
	if r.Header.Get("Proxy-Authorization") != "Basic dXNlcjpwdw==" { // user:pw
		http.Error(w, "who are you", http.StatusProxyAuthRequired)
		return
	}
	if r.Method != http.MethodConnect {
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.Header.Del("Proxy-Authorization")
		resp, err := p.tr.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		return
	}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return
	}
	p.tunnels.Add(1)
	p.mu.Unlock()
	defer p.tunnels.Done()
	target, err := net.Dial("tcp", r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = target.Close()
		return
	}
	_, _ = io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
	up := make(chan struct{})
	go func() {
		defer close(up)
		_, _ = io.Copy(target, conn)
		_ = target.Close()
	}()
	_, _ = io.Copy(conn, target)
	_ = conn.Close()
	<-up
}

// TestClientProxy: polling goes through the HTTPClient's proxy, and the
// WebSocket tunnels through it with CONNECT, credentials included.
func TestClientProxy(t *testing.T) {
	e := clStartEcho(t, nil, false)
	for _, m := range clienttest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			p := clStartProxy(t)
			pu, _ := url.Parse(p.hs.URL)
			pu.User = url.UserPassword("user", "pw")
			tr := &http.Transport{Proxy: http.ProxyURL(pu)}
			defer tr.CloseIdleConnections()
			c := clienttest.Dial(t, e.url, &eio.ClientOptions{Transports: m.Transports, HTTPClient: &http.Client{Transport: tr}})
			clienttest.WaitTransport(t, c, m.Final)
			if err := c.Send([]byte("via proxy")); err != nil {
				t.Fatal(err)
			}
			clienttest.ExpectText(t, c, "via proxy")
			ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
			defer cancel()
			if err := c.Close(ctx); err != nil {
				t.Fatal(err)
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			if m.Final == eio.TransportWebSocket && p.counts[http.MethodConnect] == 0 {
				t.Errorf("no CONNECT through the proxy (saw %v)", p.counts)
			}
			if m.Transports == nil || m.Final == eio.TransportPolling {
				if p.counts[http.MethodGet] == 0 {
					t.Errorf("no GET through the proxy (saw %v)", p.counts)
				}
			}
		})
	}
	t.Run("unsupported scheme", func(t *testing.T) {
		tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "socks5", Host: "127.0.0.1:1"})}
		ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
		defer cancel()
		_, err := eio.Dial(ctx, e.url, &eio.ClientOptions{
			Transports: []string{eio.TransportWebSocket},
			HTTPClient: &http.Client{Transport: tr},
		})
		if err == nil || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("Dial: %v, want the unsupported proxy scheme", err)
		}
	})
}

// TestClientHugePingValues: absurd pingInterval and pingTimeout in the open
// packet do not overflow into an immediate ping timeout.
func TestClientHugePingValues(t *testing.T) {
	open := `0{"sid":"big","upgrades":[],"pingInterval":9000000000000000000,"pingTimeout":9000000000000000000}`
	u := clFakePolling(t, open, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			_, _ = io.WriteString(w, "4hi")
			return
		}
		<-r.Context().Done()
	})
	c := clienttest.Dial(t, u, clOpts([]string{eio.TransportPolling}))
	clienttest.ExpectText(t, c, "hi")
	select {
	case ev := <-c.Events():
		t.Fatalf("unexpected %v (%v, %v)", ev.Type, ev.Reason, ev.Err)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestClientBindCookie: against a server that binds sessions to a
// cookie, the client with its default HTTP client keeps the cookie and
// works on every transport, upgrade included (the upgrade request must
// carry it).
func TestClientBindCookie(t *testing.T) {
	for _, m := range clienttest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			e := clStartEcho(t, &eio.Options{BindCookie: &http.Cookie{}}, false)
			c := clienttest.Dial(t, e.url, clOpts(m.Transports))
			clienttest.WaitTransport(t, c, m.Final)
			clienttest.SendNumbered(t, c, 50, false)
			ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
			defer cancel()
			if err := c.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if ev := e.nextDisconnect(t); ev.Reason != eio.ReasonClientDisconnect {
				t.Fatalf("server saw %v (%v), want client disconnect", ev.Reason, ev.Err)
			}
		})
	}
}

// TestClientSendPackets: a unit of messages sent with SendPackets reaches
// the server contiguous and in order, whatever is sent concurrently, over
// each transport mode; a packet that is not a message is refused; a unit
// that does not fit the outbound queue fails with ErrSlowConsumer and the
// connection goes on.
func TestClientSendPackets(t *testing.T) {
	for _, m := range clienttest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			e := clStartEcho(t, nil, true)
			c := clienttest.Dial(t, e.url, clOpts(m.Transports))
			const senders, units = 3, 60 // the echoes (720) fit in the client's Events, unread
			var wg sync.WaitGroup
			for s := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for u := range units {
						err := c.SendPackets(
							codec.Packet{Type: codec.Message, Data: []byte(fmt.Sprintf("unit %d %d", s, u))},
							codec.Packet{Type: codec.Message, Data: []byte{byte(s), byte(u), 1}, Binary: true},
							codec.Packet{Type: codec.Message, Data: []byte{byte(s), byte(u), 2}, Binary: true},
						)
						if err != nil {
							t.Error(err)
						}
						if err := c.Send([]byte("single")); err != nil {
							t.Error(err)
						}
					}
				}()
			}
			wg.Wait()
			next := make([]int, senders)
			for range senders * units {
				var s, u int
				ev := e.nextReceived(t)
				for string(ev.Data) == "single" {
					ev = e.nextReceived(t)
				}
				if _, err := fmt.Sscanf(string(ev.Data), "unit %d %d", &s, &u); err != nil || ev.Binary {
					t.Fatalf("got %q (binary %v), want the start of a unit", ev.Data, ev.Binary)
				}
				if u != next[s] {
					t.Fatalf("sender %d: unit %d after %d", s, u, next[s]-1)
				}
				next[s]++
				for k := byte(1); k <= 2; k++ {
					part := e.nextReceived(t)
					if !part.Binary || !bytes.Equal(part.Data, []byte{byte(s), byte(u), k}) {
						t.Fatalf("unit %d %d: part %d is %q (binary %v)", s, u, k, part.Data, part.Binary)
					}
				}
			}
			if err := c.SendPackets(codec.Packet{Type: codec.Ping}); err == nil {
				t.Error("SendPackets took a ping")
			}
		})
	}
	t.Run("full queue", func(t *testing.T) {
		release := make(chan struct{})
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("sid") == "" {
				_, _ = io.WriteString(w, clOpen("slow", 10000, 10000, ""))
				return
			}
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer hs.Close()
		defer close(release)
		c := clienttest.Dial(t, hs.URL, &eio.ClientOptions{Transports: []string{eio.TransportPolling}, MaxQueueBytes: 4096})
		unit := []codec.Packet{
			{Type: codec.Message, Data: make([]byte, 1500), Binary: true},
			{Type: codec.Message, Data: make([]byte, 1500), Binary: true},
		}
		var err error
		for i := 0; i < 10 && err == nil; i++ {
			err = c.SendPackets(unit...)
		}
		if !errors.Is(err, eio.ErrSlowConsumer) {
			t.Fatalf("SendPackets into a full queue: %v, want ErrSlowConsumer", err)
		}
		select {
		case <-c.Done():
			t.Fatal("the client ended on a full queue")
		default:
		}
	})
}
