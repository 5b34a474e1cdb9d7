package eio_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/clienttest"
	"github.com/chanio/chanio/transport"
)

// TestClientSendInvalidUTF8: the client refuses a text message that is not
// UTF-8 with ErrInvalidUTF8, sends nothing, and the connection goes on.
func TestClientSendInvalidUTF8(t *testing.T) {
	for _, m := range clienttest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			e := clStartEcho(t, nil, true)
			c := clienttest.Dial(t, e.url, clOpts(m.Transports))
			if err := c.Send([]byte("ok\xff")); !errors.Is(err, eio.ErrInvalidUTF8) {
				t.Fatalf("Send of invalid UTF-8: %v, want ErrInvalidUTF8", err)
			}
			if err := c.Send([]byte("next")); err != nil {
				t.Fatalf("Send after the refusal: %v", err)
			}
			if ev := e.nextReceived(t); string(ev.Data) != "next" {
				t.Fatalf("the server received %q first, want \"next\"", ev.Data)
			}
			clienttest.ExpectText(t, c, "next")
		})
	}
}

// TestClientHTTPErrorBody: a refused handshake's JSON body is parsed,
// {"code","message"} as the reference servers send it and {"message"} as
// Authorize does, and the error names the URL without its query, which
// here carries the token.
func TestClientHTTPErrorBody(t *testing.T) {
	cases := []struct {
		name     string
		err      error
		status   int
		code     eio.ErrorCode
		message  string
		wantText string
	}{
		{"message only", errors.New("bad or missing token"), 401, -1, "bad or missing token",
			"answered 401: bad or missing token"},
		{"code and message", &eio.Rejection{Status: 403, Body: map[string]any{"code": 4, "message": "Forbidden"}},
			403, eio.CodeForbidden, "Forbidden", "answered 403: Forbidden (code 4)"},
		{"neither", &eio.Rejection{Status: 429, Body: []int{1}}, 429, -1, "", `answered 429: "[1]"`},
	}
	for _, tc := range cases {
		for _, transports := range [][]string{{eio.TransportPolling}, {eio.TransportWebSocket}} {
			t.Run(tc.name+"/"+transports[0], func(t *testing.T) {
				t.Parallel()
				e := clStartEcho(t, &eio.Options{Authorize: func(*http.Request) error { return tc.err }}, false)
				_, err := eio.Dial(context.Background(), e.url+"/engine.io/?token=secret", clOpts(transports))
				var he *eio.HTTPError
				if !errors.As(err, &he) {
					t.Fatalf("Dial: %v, want *HTTPError", err)
				}
				wantURL := "http" + strings.TrimPrefix(e.url, "http") + "/engine.io/"
				if transports[0] == eio.TransportWebSocket {
					wantURL = "ws" + strings.TrimPrefix(e.url, "http") + "/engine.io/"
				}
				if he.Status != tc.status || he.Code != tc.code || he.Message != tc.message || he.URL != wantURL {
					t.Errorf("HTTPError status %d code %d message %q URL %q; want %d %d %q %q",
						he.Status, he.Code, he.Message, he.URL, tc.status, tc.code, tc.message, wantURL)
				}
				text := err.Error()
				if !strings.Contains(text, wantURL) || !strings.Contains(text, tc.wantText) || strings.Contains(text, "secret") {
					t.Errorf("error text %q: want the URL %s, %q, and no query", text, wantURL, tc.wantText)
				}
			})
		}
	}
}

// TestClientNotEngineIO: Dial against something that answers but is not
// an Engine.IO server says so plainly, with the URL, whichever transport
// it opens on.
func TestClientNotEngineIO(t *testing.T) {
	page := "<!doctype html><title>Welcome</title><p>Hello"
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, page)
	}))
	defer plain.Close()
	// A WebSocket server that speaks something else.
	chat := clFakeWebSocket(t, func(conn net.Conn) { clWriteText(conn, "hello, who are you?") })
	cases := []struct {
		name, url  string
		transports []string
		detail     string
	}{
		{"web page over polling", plain.URL, []string{eio.TransportPolling}, "<!doctype html>"},
		{"web page over websocket", plain.URL, []string{eio.TransportWebSocket}, "200"},
		{"another websocket protocol", chat, []string{eio.TransportWebSocket}, "hello, who are you?"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			c, err := eio.Dial(context.Background(), tc.url+"/?token=secret", clOpts(tc.transports))
			if c != nil {
				_ = c.Close(context.Background())
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, eio.ErrNotEngineIO) || !errors.Is(err, codec.ErrBadHandshake) {
				t.Errorf("Dial: %v, want ErrNotEngineIO (and codec.ErrBadHandshake)", err)
			}
			want := "eio: dial http://" + u.Host + "/engine.io/: not an Engine.IO server"
			if text := err.Error(); !strings.HasPrefix(text, want) || !strings.Contains(text, tc.detail) ||
				strings.Contains(text, "codec:") || strings.Contains(text, "secret") {
				t.Errorf("error text %q: want it to start %q and show %q, without codec's wording or the query", text, want, tc.detail)
			}
		})
	}
}

// TestClientDialFailsAfterHandshake: when Dial fails once the server has
// opened the session (here the open packet is over MaxPayload), the client
// ends that session on its way out rather than leave it to its ping
// timeout.
func TestClientDialFailsAfterHandshake(t *testing.T) {
	cases := []struct {
		name       string
		transports []string
		reason     eio.Reason
	}{
		{"polling", []string{eio.TransportPolling}, eio.ReasonClientDisconnect},
		{"websocket", []string{eio.TransportWebSocket}, eio.ReasonTransportClose},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The default heartbeat: the session would live 45s unclosed.
			e := clStartEcho(t, nil, false)
			opts := clOpts(tc.transports)
			opts.MaxPayload = 100
			c, err := eio.Dial(context.Background(), e.url, opts)
			if c != nil {
				_ = c.Close(context.Background())
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, codec.ErrTooLarge) && !errors.Is(err, transport.ErrMessageTooBig) {
				t.Fatalf("Dial: %v, want an over-MaxPayload error", err)
			}
			if ev := e.nextDisconnect(t); ev.Reason != tc.reason {
				t.Errorf("the server's session ended with %v (%v), want %v", ev.Reason, ev.Err, tc.reason)
			}
			if n := e.srv.Len(); n != 0 {
				t.Errorf("the server holds %d sessions", n)
			}
		})
	}
}

// TestClientUpgradeEvent: a client reports its upgrade with an
// EventUpgrade naming the new transport, after what came over polling (the
// server's initial message) and before what comes over the WebSocket; a
// client that does not upgrade reports none.
func TestClientUpgradeEvent(t *testing.T) {
	for _, m := range clienttest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			e := clStartEcho(t, &eio.Options{InitialMessage: []byte("welcome")}, false)
			ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
			defer cancel()
			c, err := eio.Dial(ctx, e.url, clOpts(m.Transports))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			open := eio.TransportPolling
			if m.Transports != nil {
				open = m.Transports[0]
			}
			if ev := clienttest.Next(t, c); ev.Type != eio.EventConnect || ev.Transport != open {
				t.Fatalf("first event %v transport %q, want connect on %s", ev.Type, ev.Transport, open)
			}
			if ev := clienttest.Next(t, c); ev.Type != eio.EventMessage || string(ev.Data) != "welcome" {
				t.Fatalf("second event %v %q, want the initial message", ev.Type, ev.Data)
			}
			if open != m.Final {
				ev := clienttest.Next(t, c)
				if ev.Type != eio.EventUpgrade || ev.Transport != eio.TransportWebSocket || ev.SID != c.SID() {
					t.Fatalf("event %v transport %q sid %q, want the upgrade to websocket", ev.Type, ev.Transport, ev.SID)
				}
				if tr := c.Transport(); tr != eio.TransportWebSocket {
					t.Fatalf("Transport() = %q at the upgrade event", tr)
				}
			}
			if err := c.Send([]byte("after")); err != nil {
				t.Fatal(err)
			}
			if ev := clienttest.Next(t, c); ev.Type != eio.EventMessage || string(ev.Data) != "after" {
				t.Fatalf("event %v %q, want the echo", ev.Type, ev.Data)
			}
			if err := c.Close(ctx); err != nil {
				t.Fatal(err)
			}
			for ev := range c.Events() {
				if ev.Type == eio.EventUpgrade {
					t.Fatalf("an upgrade event after the end")
				}
			}
		})
	}
}
