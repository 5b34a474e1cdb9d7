package conformance

import (
	"mime"
	"net/http"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// Spec: Protocol > Handshake. The server answers a handshake with an open
// packet whose JSON has sid, upgrades, pingInterval, pingTimeout and
// maxPayload; the client sends the sid with every later request.
func TestHandshake(t *testing.T) {
	s := startServer(t)

	t.Run("polling", func(t *testing.T) {
		r := s.get(t, "EIO=4&transport=polling")
		if r.status != http.StatusOK {
			t.Fatalf("handshake: %v, want 200", r)
		}
		if ct := r.header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
			t.Errorf("Content-Type %q, want %q", ct, "text/plain; charset=UTF-8")
		}
		if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		pkts := decodePayload(t, r.body)
		if len(pkts) != 1 || pkts[0].typ != typeOpen {
			t.Fatalf("payload %v, want exactly one open packet", pkts)
		}
		s.checkOpen(t, pkts[0].data, []string{"websocket"})
	})

	t.Run("websocket", func(t *testing.T) {
		c, err := s.dialWS(t, "EIO=4&transport=websocket")
		if err != nil {
			t.Fatalf("handshake: %v, want 101", err)
		}
		f := c.next(t)
		if f.op != ws.OpText || len(f.data) == 0 || f.data[0] != typeOpen {
			t.Fatalf("first frame %v, want a text frame with the open packet", f)
		}
		s.checkOpen(t, string(f.data[1:]), []string{})
	})

	t.Run("the sid opens the session", func(t *testing.T) {
		p := s.openPolling(t)
		p.mustPost(t, "4first")
		if m := p.receive(t, 1); m[0].data != "first" {
			t.Fatalf("echo %v, want \"first\"", m)
		}
	})

	t.Run("unknown query parameters are ignored", func(t *testing.T) {
		// engine.io-client adds a cache-busting timestamp, t.
		r := s.get(t, "EIO=4&transport=polling&t=PAvkc3n&foo=bar")
		if r.status != http.StatusOK {
			t.Fatalf("handshake with extra parameters: %v, want 200", r)
		}
		pkts := decodePayload(t, r.body)
		if len(pkts) != 1 || pkts[0].typ != typeOpen {
			t.Fatalf("payload %v, want one open packet", pkts)
		}
		s.checkOpen(t, pkts[0].data, []string{"websocket"})
	})

	t.Run("session ids are distinct", func(t *testing.T) {
		seen := make(map[string]bool)
		for range 20 {
			p := s.openPolling(t)
			if seen[p.sid] {
				t.Fatalf("sid %s handed out twice", p.sid)
			}
			seen[p.sid] = true
		}
		for range 5 {
			c, h := s.openWS(t)
			if seen[h.SID] {
				t.Fatalf("sid %s handed out twice", h.SID)
			}
			seen[h.SID] = true
			_ = c.conn.Close()
		}
	})

	t.Run("cors", func(t *testing.T) {
		// -cors '*': any origin may call, and may read the errors too.
		const origin = "http://example.com"
		allowed := func(t *testing.T, what string, h http.Header) {
			t.Helper()
			if a := h.Get("Access-Control-Allow-Origin"); a != origin && a != "*" {
				t.Errorf("%s: Access-Control-Allow-Origin %q, want %q or *", what, a, origin)
			}
		}
		r := s.request(t, http.MethodGet, "EIO=4&transport=polling", nil, http.Header{"Origin": {origin}})
		if r.status != http.StatusOK {
			t.Fatalf("cross-origin handshake: %v", r)
		}
		allowed(t, "handshake", r.header)

		pre := s.request(t, http.MethodOptions, "EIO=4&transport=polling", nil, http.Header{
			"Origin":                         {origin},
			"Access-Control-Request-Method":  {"POST"},
			"Access-Control-Request-Headers": {"content-type"},
		})
		if pre.status != http.StatusOK && pre.status != http.StatusNoContent {
			t.Errorf("preflight: %v, want 200 or 204", pre)
		}
		allowed(t, "preflight", pre.header)
		if m := pre.header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "GET") || !strings.Contains(m, "POST") {
			t.Errorf("preflight Access-Control-Allow-Methods %q, want GET and POST", m)
		}

		bad := s.request(t, http.MethodGet, "EIO=4&transport=nope", nil, http.Header{"Origin": {origin}})
		checkError(t, bad, http.StatusBadRequest, 0, "Transport unknown")
		allowed(t, "error", bad.header)
	})
}

// Spec: a POST is answered 200 "ok". The reference sends it as text/html
// (so that no user agent offers to download it).
func TestPostAnswer(t *testing.T) {
	s := startServer(t)
	p := s.openPolling(t)
	r := p.post(t, "4hello")
	if r.status != http.StatusOK || string(r.body) != "ok" {
		t.Fatalf("POST: %v, want 200 \"ok\"", r)
	}
	if mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type")); mt != "text/html" {
		t.Errorf("POST answer Content-Type %q, want text/html", r.header.Get("Content-Type"))
	}
}
