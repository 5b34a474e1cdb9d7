package eio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// This file holds a hand-written protocol peer for the server's tests, so
// that they do not depend on the Client under test.

// testServer starts srv behind an httptest server; both stop at cleanup.
func testServer(t *testing.T, opts *Options) (*Server, string) {
	t.Helper()
	srv := NewServer(opts)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		_ = srv.Close()
		hs.Close()
	})
	return srv, hs.URL
}

// nextEvent returns the next event, failing the test after 5s.
func nextEvent(t *testing.T, srv *Server) Event {
	t.Helper()
	select {
	case ev, ok := <-srv.Events():
		if !ok {
			t.Fatal("events channel closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return Event{}
}

// expectEvent reads the next event and checks its type and sid (any sid
// when sid is "").
func expectEvent(t *testing.T, srv *Server, typ EventType, sid string) Event {
	t.Helper()
	ev := nextEvent(t, srv)
	if ev.Type != typ || sid != "" && ev.SID != sid {
		t.Fatalf("event = %v %q (reason %v, data %q), want %v %q", ev.Type, ev.SID, ev.Reason, ev.Data, typ, sid)
	}
	return ev
}

func eioURL(base string, query string) string {
	return base + "/engine.io/?EIO=4&" + query
}

// httpDo sends one request and returns status and body.
func httpDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

type openBody struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int64    `json:"maxPayload"`
}

func parseOpen(t *testing.T, packet string) openBody {
	t.Helper()
	if !strings.HasPrefix(packet, "0") {
		t.Fatalf("not an open packet: %q", packet)
	}
	var o openBody
	if err := json.Unmarshal([]byte(packet[1:]), &o); err != nil {
		t.Fatalf("open packet %q: %v", packet, err)
	}
	return o
}

// pollOpen performs a polling handshake and returns the sid.
func pollOpen(t *testing.T, base string) string {
	t.Helper()
	status, body := httpDo(t, http.MethodGet, eioURL(base, "transport=polling"), "")
	if status != http.StatusOK {
		t.Fatalf("handshake: %d %s", status, body)
	}
	return parseOpen(t, body).SID
}

func pollURL(base, sid string) string { return eioURL(base, "transport=polling&sid="+sid) }

// wsPeer is a raw WebSocket client.
type wsPeer struct {
	t    *testing.T
	conn net.Conn
}

func dialWS(t *testing.T, base, sid string) *wsPeer {
	t.Helper()
	return dialWSURL(t, wsURL(base, sid))
}

// dialWSQuery is dialWS (with no sid) with query added to the URL's.
func dialWSQuery(t *testing.T, base, query string) *wsPeer {
	t.Helper()
	u := wsURL(base, "")
	if query != "" {
		u += "&" + query
	}
	return dialWSURL(t, u)
}

// dialWSURL dials the WebSocket URL u ("ws://...") as dialWS does.
func dialWSURL(t *testing.T, u string) *wsPeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, u)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	if br != nil {
		// The server never writes before the client's first frame except
		// the open packet; keep the buffered bytes in front of the conn.
		conn = &bufferedConn{Conn: conn, r: io.MultiReader(br, conn)}
	}
	p := &wsPeer{t: t, conn: conn}
	t.Cleanup(func() { _ = conn.Close() })
	return p
}

type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (p *wsPeer) send(text string) {
	p.t.Helper()
	if err := wsutil.WriteClientText(p.conn, []byte(text)); err != nil {
		p.t.Fatalf("ws write %q: %v", text, err)
	}
}

func (p *wsPeer) sendBinary(b []byte) {
	p.t.Helper()
	if err := wsutil.WriteClientBinary(p.conn, b); err != nil {
		p.t.Fatalf("ws write: %v", err)
	}
}

// recv returns the next data frame; err is set when the connection ended.
func (p *wsPeer) recv() (data []byte, op ws.OpCode, err error) {
	_ = p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	return wsutil.ReadServerData(p.conn)
}

// expect reads the next frame and checks that it is the text s.
func (p *wsPeer) expect(s string) {
	p.t.Helper()
	data, op, err := p.recv()
	if err != nil {
		p.t.Fatalf("ws read, want %q: %v", s, err)
	}
	if op != ws.OpText || string(data) != s {
		p.t.Fatalf("ws read %v %q, want text %q", op, data, s)
	}
}

// open reads the open packet of a WebSocket-only session.
func (p *wsPeer) open() openBody {
	p.t.Helper()
	data, _, err := p.recv()
	if err != nil {
		p.t.Fatalf("ws open: %v", err)
	}
	return parseOpen(p.t, string(data))
}

// expectClosed reads until the connection ends, skipping pings, and fails
// if a message arrives first.
func (p *wsPeer) expectClosed() {
	p.t.Helper()
	for {
		data, _, err := p.recv()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				p.t.Fatal("connection still open after 5s")
			}
			return
		}
		if !bytes.Equal(data, []byte("2")) && !bytes.Equal(data, []byte("1")) {
			p.t.Fatalf("unexpected frame %q before close", data)
		}
	}
}

func wsutilWrite(p *wsPeer, text string) error {
	return wsutil.WriteClientText(p.conn, []byte(text))
}
