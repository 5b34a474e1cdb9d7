package eio_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/clienttest"
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
