package eio

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/transport"
	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// hostileEnv is a server with two bystanders, a WebSocket session and a
// polling session, that a hostile case must leave working.
type hostileEnv struct {
	*loadEnv
	wsBy    *wsClient
	wsSID   string
	pollBy  *pollClient
	echoes  int
	ctx     context.Context
	unknown string // has the shape of a sid, never handed out
}

func newHostileEnv(t *testing.T, opts *Options) *hostileEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	h := &hostileEnv{loadEnv: newLoadEnv(t, opts, true), ctx: ctx, unknown: "AAAAAAAAAAAAAAAAAAAA"}
	var err error
	if h.wsBy, err = wsDial(ctx, h.base, "", nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.wsBy.close)
	if h.wsSID, err = h.wsBy.open(); err != nil {
		t.Fatal(err)
	}
	if h.pollBy, _, err = pollHandshake(ctx, h.hc, h.base); err != nil {
		t.Fatal(err)
	}
	h.app.waitConnect(t, h.wsSID)
	h.app.waitConnect(t, h.pollBy.sid)
	return h
}

// checkHealthy fails the test unless both bystanders still echo and a
// fresh handshake on each transport succeeds.
func (h *hostileEnv) checkHealthy(t *testing.T) {
	t.Helper()
	for _, sid := range []string{h.wsSID, h.pollBy.sid} {
		if s := h.app.get(sid); s.disconnects > 0 {
			t.Fatalf("bystander %s ended: %v (%v)", sid, s.reason, s.err)
		}
	}
	h.echoes++
	msg := fmt.Sprintf("echo-%d", h.echoes)
	if err := h.wsBy.write("4" + msg); err != nil {
		t.Fatalf("websocket bystander: %v", err)
	}
	for {
		data, _, err := h.wsBy.read(5 * time.Second)
		if err != nil {
			t.Fatalf("websocket bystander echo: %v", err)
		}
		if data == "4"+msg {
			break
		}
		if data != "2" {
			t.Fatalf("websocket bystander got %q, want %q", data, "4"+msg)
		}
		_ = h.wsBy.write("3")
	}
	if _, err := h.pollBy.post(h.ctx, textMsg(msg)); err != nil {
		t.Fatalf("polling bystander POST: %v", err)
	}
	for found := false; !found; {
		pkts, status, err := h.pollBy.get(h.ctx)
		if err != nil || status != http.StatusOK {
			t.Fatalf("polling bystander GET: %d %v", status, err)
		}
		for _, p := range pkts {
			switch {
			case p.Type == codec.Message && string(p.Data) == msg:
				found = true
			case p.Type == codec.Ping:
				_, _ = h.pollBy.post(h.ctx, codec.Packet{Type: codec.Pong})
			case p.Type != codec.Noop:
				t.Fatalf("polling bystander got %v, want %q", p, msg)
			}
		}
	}
	// Fresh sessions on both transports, closed by the client.
	p, _, err := pollHandshake(h.ctx, h.hc, h.base)
	if err != nil {
		t.Fatalf("fresh polling handshake: %v", err)
	}
	if _, err := p.post(h.ctx, codec.Packet{Type: codec.Close}); err != nil {
		t.Fatalf("fresh polling close: %v", err)
	}
	c, err := wsDial(h.ctx, h.base, "", nil)
	if err != nil {
		t.Fatalf("fresh websocket handshake: %v", err)
	}
	defer c.close()
	if _, err := c.open(); err != nil {
		t.Fatalf("fresh websocket open: %v", err)
	}
	_ = c.write("1")
	h.app.waitDisconnect(t, p.sid, 5*time.Second)
}

// checkJSONError checks a refusal: its status and the reference body
// {"code":N,"message":"..."} (msg "" means the code's own message).
func checkJSONError(t *testing.T, status int, header http.Header, body []byte, wantStatus int, code ErrorCode, msg string) {
	t.Helper()
	if msg == "" {
		msg = code.Message()
	}
	var e struct {
		Code    *int    `json:"code"`
		Message *string `json:"message"`
	}
	if status != wantStatus {
		t.Fatalf("status %d (%s), want %d", status, body, wantStatus)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Code == nil || e.Message == nil {
		t.Fatalf("body %q is not {code, message}: %v", body, err)
	}
	if ErrorCode(*e.Code) != code || *e.Message != msg {
		t.Fatalf("error {%d %q}, want {%d %q}", *e.Code, *e.Message, code, msg)
	}
}

// do sends one request on the env's client, failing the test on a
// transport error.
func (h *hostileEnv) do(t *testing.T, method, url string, header http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(h.ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Body = io.NopCloser(strings.NewReader(string(body)))
		req.ContentLength = int64(len(body))
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// raw writes req on a new connection and reads one response.
func (h *hostileEnv) raw(t *testing.T, req string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", h.hs.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (h *hostileEnv) path(query string) string { return "/engine.io/?EIO=4&" + query }

// wsUpgradeHeader is what a WebSocket handshake request carries.
func wsUpgradeHeader() http.Header {
	return http.Header{
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Version": {"13"},
	}
}

// expectWSClose reads until the server closes c and returns the close
// code (0 if the connection ended without a close frame). It reads raw
// frames: wsutil would answer the close frame and report the failure of
// that write instead, the server having closed the connection by then.
func expectWSClose(t *testing.T, c *wsClient) ws.StatusCode {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		h, err := ws.ReadHeader(c.conn)
		var payload []byte
		if err == nil {
			if h.Length > 1<<20 {
				t.Fatalf("frame of %d bytes", h.Length)
			}
			payload = make([]byte, h.Length)
			_, err = io.ReadFull(c.conn, payload)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("connection still open after 5s")
			}
			t.Logf("closed without a close frame: %v", err)
			return 0
		}
		switch h.OpCode {
		case ws.OpClose:
			if len(payload) == 0 {
				return ws.StatusNoStatusRcvd
			}
			code, _ := ws.ParseCloseFrameData(payload)
			return code
		case ws.OpText:
			if string(payload) != "2" {
				t.Fatalf("got %q, want the connection closed", payload)
			}
		}
	}
}

type hostileCase struct {
	name string
	opts *Options
	// run misbehaves; it returns the sid of the session that must end
	// ("" if none) and the reason it must end with.
	run func(t *testing.T, h *hostileEnv) (string, Reason)
}

// TestHostileInput is the battery of the "hostile input" section:
// each case misbehaves against a server holding two bystander sessions,
// checks the answer (status and reference JSON error) and that the
// offending session, if any, ended with the right reason; then both
// bystanders must still echo and fresh handshakes must succeed.
func TestHostileInput(t *testing.T) {
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			h := newHostileEnv(t, tc.opts)
			sid, reason := tc.run(t, h)
			if sid != "" {
				s := h.app.waitDisconnect(t, sid, 5*time.Second)
				if s.reason != reason {
					t.Fatalf("offending session ended with %v (%v), want %v", s.reason, s.err, reason)
				}
				if reason == ReasonTransportError && s.err == nil {
					t.Error("transport error without Event.Err")
				}
			}
			h.checkHealthy(t)
			h.wsBy.close()
			h.close()
			h.app.checkComplete(t)
			h.checkNoErrors(t)
			if n := h.srv.Len(); n != 0 {
				t.Errorf("%d sessions left after Close", n)
			}
		})
	}
}

func hostileCases() []hostileCase {
	refused := func(method, query string, code ErrorCode) func(t *testing.T, h *hostileEnv) (string, Reason) {
		return func(t *testing.T, h *hostileEnv) (string, Reason) {
			var body []byte
			if method == http.MethodPost {
				body = []byte("4x")
			}
			status, hdr, b := h.do(t, method, h.base+"/engine.io/?"+query, nil, body)
			checkJSONError(t, status, hdr, b, http.StatusBadRequest, code, "")
			return "", 0
		}
	}
	// newPoll opens a polling session for a case to abuse.
	newPoll := func(t *testing.T, h *hostileEnv) *pollClient {
		t.Helper()
		p, _, err := pollHandshake(h.ctx, h.hc, h.base)
		if err != nil {
			t.Fatal(err)
		}
		h.app.waitConnect(t, p.sid)
		return p
	}
	newWS := func(t *testing.T, h *hostileEnv) (*wsClient, string) {
		t.Helper()
		c, err := wsDial(h.ctx, h.base, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.close)
		sid, err := c.open()
		if err != nil {
			t.Fatal(err)
		}
		h.app.waitConnect(t, sid)
		return c, sid
	}
	// badPost POSTs body with header to a new session: it must be refused
	// with status and code, and end the session.
	badPost := func(header http.Header, body string, status int, code ErrorCode, msg string) func(t *testing.T, h *hostileEnv) (string, Reason) {
		return func(t *testing.T, h *hostileEnv) (string, Reason) {
			p := newPoll(t, h)
			st, hdr, b := h.do(t, http.MethodPost, pollURL(h.base, p.sid), header, []byte(body))
			checkJSONError(t, st, hdr, b, status, code, msg)
			return p.sid, ReasonTransportError
		}
	}
	// badFrame sends text on a new WebSocket session: the session must end
	// with a transport error and the connection close with want.
	badFrame := func(text string, want ws.StatusCode) func(t *testing.T, h *hostileEnv) (string, Reason) {
		return func(t *testing.T, h *hostileEnv) (string, Reason) {
			c, sid := newWS(t, h)
			if err := c.write(text); err != nil {
				t.Fatal(err)
			}
			if code := expectWSClose(t, c); code != want {
				t.Errorf("close code %d, want %d", code, want)
			}
			return sid, ReasonTransportError
		}
	}
	small := &Options{MaxPayload: 1000}
	return []hostileCase{
		{name: "missing EIO", run: refused(http.MethodGet, "transport=polling", CodeUnsupportedProtocolVersion)},
		{name: "EIO=9", run: refused(http.MethodGet, "EIO=9&transport=polling", CodeUnsupportedProtocolVersion)},
		{name: "unknown transport", run: refused(http.MethodGet, "EIO=4&transport=flashsocket", CodeUnknownTransport)},
		{name: "unknown sid GET", run: refused(http.MethodGet, "EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA", CodeUnknownSID)},
		{name: "unknown sid POST", run: refused(http.MethodPost, "EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA", CodeUnknownSID)},
		{name: "POST handshake", run: refused(http.MethodPost, "EIO=4&transport=polling", CodeBadHandshakeMethod)},
		{name: "PUT on a session", run: func(t *testing.T, h *hostileEnv) (string, Reason) {
			status, hdr, b := h.do(t, http.MethodPut, pollURL(h.base, h.pollBy.sid), nil, []byte("4x"))
			checkJSONError(t, status, hdr, b, http.StatusBadRequest, CodeBadRequest, "")
			return "", 0
		}},
		{name: "garbage polling body", run: badPost(nil, "abc\x1e\x1e", http.StatusBadRequest, CodeBadRequest, "")},
		{name: "unknown packet type in a POST", run: badPost(nil, "4a\x1e9x", http.StatusBadRequest, CodeBadRequest, "")},
		{name: "octet-stream POST", run: badPost(http.Header{"Content-Type": {"application/octet-stream"}}, "4hello", http.StatusBadRequest, CodeBadRequest, "")},
		{name: "gzip POST (decompressed size on polling)", run: badPost(http.Header{"Content-Encoding": {"gzip"}}, "\x1f\x8b\x08\x00", http.StatusBadRequest, CodeBadRequest, "")},
		{name: "oversize POST with Content-Length", opts: small, run: func(t *testing.T, h *hostileEnv) (string, Reason) {
			p := newPoll(t, h)
			body := "4" + strings.Repeat("a", 4000)
			resp, b := h.raw(t, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n\r\n%s",
				h.path("transport=polling&sid="+p.sid), len(body), body))
			checkJSONError(t, resp.StatusCode, resp.Header, b, http.StatusRequestEntityTooLarge, CodeBadRequest, "Payload too large")
			return p.sid, ReasonTransportError
		}},
		{name: "oversize POST chunked", opts: small, run: func(t *testing.T, h *hostileEnv) (string, Reason) {
			p := newPoll(t, h)
			var req strings.Builder
			fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\nTransfer-Encoding: chunked\r\n\r\n",
				h.path("transport=polling&sid="+p.sid))
			fmt.Fprintf(&req, "1\r\n4\r\n")
			for i := 0; i < 5; i++ {
				fmt.Fprintf(&req, "%x\r\n%s\r\n", 600, strings.Repeat("b", 600))
			}
			req.WriteString("0\r\n\r\n")
			resp, b := h.raw(t, req.String())
			checkJSONError(t, resp.StatusCode, resp.Header, b, http.StatusRequestEntityTooLarge, CodeBadRequest, "Payload too large")
			return p.sid, ReasonTransportError
		}},
		{name: "POST at MaxPayload is accepted", opts: small, run: func(t *testing.T, h *hostileEnv) (string, Reason) {
			p := newPoll(t, h)
			if status, err := p.post(h.ctx, textMsg(strings.Repeat("c", 999))); status != http.StatusOK || err != nil {
				t.Fatalf("POST of MaxPayload bytes: %d %v", status, err)
			}
			h.app.waitMessages(t, p.sid, 1, 5*time.Second)
			_, _ = p.post(h.ctx, codec.Packet{Type: codec.Close})
			return p.sid, ReasonClientDisconnect
		}},
		{name: "two concurrent GETs", run: func(t *testing.T, h *hostileEnv) (string, Reason) {
			p := newPoll(t, h)
			held := make(chan []codec.Packet, 1)
			go func() {
				pkts, _, _ := p.get(h.ctx)
				held <- pkts
			}()
			time.Sleep(100 * time.Millisecond) // the first GET is now held
			status, hdr, b := h.do(t, http.MethodGet, pollURL(h.base, p.sid), nil, nil)
			checkJSONError(t, status, hdr, b, http.StatusBadRequest, CodeBadRequest, "")
			if pkts := <-held; len(pkts) != 1 || pkts[0].Type != codec.Close {
				t.Errorf("held GET got %v, want the close packet", pkts)
			}
			return p.sid, ReasonTransportError
		}},
		{name: "two concurrent POSTs", run: func(t *testing.T, h *hostileEnv) (string, Reason) {
			p := newPoll(t, h)
			conn, err := net.Dial("tcp", h.hs.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Headers and half the body, then nothing: the server is reading.
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n4first",
				h.path("transport=polling&sid="+p.sid))
			time.Sleep(100 * time.Millisecond)
			status, hdr, b := h.do(t, http.MethodPost, pollURL(h.base, p.sid), nil, []byte("4second"))
			checkJSONError(t, status, hdr, b, http.StatusBadRequest, CodeBadRequest, "")
			return p.sid, ReasonTransportError
		}},
		{name: "unknown packet type over WebSocket", run: badFrame("9x", ws.StatusUnsupportedData)},
		{name: "empty text frame over WebSocket", run: badFrame("", ws.StatusUnsupportedData)},
		{name: "invalid UTF-8 in a text frame", run: badFrame("4\xff\xfe", ws.StatusInvalidFramePayloadData)},
		{name: "ping from the client", run: badFrame("2", ws.StatusNormalClosure)},
		{name: "open packet from the client", run: badFrame("0{}", ws.StatusNormalClosure)},
		{name: "message over MaxPayload on WebSocket", opts: small, run: badFrame("4"+strings.Repeat("d", 1000), ws.StatusMessageTooBig)},
		{name: "compressed message inflating past MaxPayload", opts: &Options{MaxPayload: 1000, WebSocketCompression: true},
			run: func(t *testing.T, h *hostileEnv) (string, Reason) {
				d := ws.Dialer{Extensions: []httphead.Option{transport.DeflateOffer()}}
				conn, br, hs, err := d.Dial(h.ctx, wsURL(h.base, ""))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if on, err := transport.DeflateAccepted(hs.Extensions); !on || err != nil {
					t.Fatalf("deflate not negotiated: %v %v", on, err)
				}
				if br != nil {
					conn = &bufferedConn{Conn: conn, r: io.MultiReader(br, conn)}
				}
				c := &wsClient{conn: conn}
				sid, err := c.open()
				if err != nil {
					t.Fatal(err)
				}
				h.app.waitConnect(t, sid)
				z, _ := wsflate.DefaultHelper.Compress([]byte("4" + strings.Repeat("z", 1<<20)))
				f := ws.NewTextFrame(z)
				f.Header.Rsv = ws.Rsv(true, false, false)
				if err := ws.WriteFrame(conn, ws.MaskFrameInPlace(f)); err != nil {
					t.Fatal(err)
				}
				if code := expectWSClose(t, c); code != ws.StatusMessageTooBig {
					t.Errorf("close code %d, want 1009", code)
				}
				return sid, ReasonTransportError
			}},
		{name: "upgrade for an unknown sid", run: func(t *testing.T, h *hostileEnv) (string, Reason) {
			status, hdr, b := h.do(t, http.MethodGet, eioURL(h.base, "transport=websocket&sid="+h.unknown), wsUpgradeHeader(), nil)
			checkJSONError(t, status, hdr, b, http.StatusBadRequest, CodeUnknownSID, "")
			return "", 0
		}},
		{name: "upgrade of a WebSocket session", run: func(t *testing.T, h *hostileEnv) (string, Reason) {
			// As the reference: let in, then closed with a close frame
			// without a status code; the session goes on.
			c, err := wsDial(h.ctx, h.base, h.wsSID, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.close)
			if code := expectWSClose(t, c); code != ws.StatusNoStatusRcvd {
				t.Errorf("second WebSocket closed with %d, want a close frame without a status (1005)", code)
			}
			if _, err := h.srv.Transport(h.wsSID); err != nil {
				t.Errorf("the session ended: %v", err)
			}
			return "", 0
		}},
		{name: "second upgrade", run: func(t *testing.T, h *hostileEnv) (string, Reason) {
			p := newPoll(t, h)
			first, err := wsDial(h.ctx, h.base, p.sid, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(first.close)
			_ = first.write("2probe")
			if data, _, err := first.read(5 * time.Second); err != nil || data != "3probe" {
				t.Fatalf("probe answer %q %v", data, err)
			}
			// A second WebSocket while the first is probing is let in and
			// closed at once, as the reference does it (a close frame
			// without a status code); the first goes on.
			second, err := wsDial(h.ctx, h.base, p.sid, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(second.close)
			if code := expectWSClose(t, second); code != ws.StatusNoStatusRcvd {
				t.Errorf("second upgrade closed with %d, want a close frame without a status (1005)", code)
			}
			_ = first.write("5")
			_ = first.write("4after")
			if data, _, err := first.read(5 * time.Second); err != nil || data != "4after" {
				t.Fatalf("echo over the upgraded WebSocket: %q %v", data, err)
			}
			// Once upgraded, a third is treated the same way.
			third, err := wsDial(h.ctx, h.base, p.sid, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(third.close)
			if code := expectWSClose(t, third); code != ws.StatusNoStatusRcvd {
				t.Errorf("third upgrade closed with %d, want a close frame without a status (1005)", code)
			}
			_ = first.write("4still")
			if data, _, err := first.read(5 * time.Second); err != nil || data != "4still" {
				t.Fatalf("echo after the refused upgrade: %q %v", data, err)
			}
			_ = first.write("1")
			return p.sid, ReasonClientDisconnect
		}},
		{name: "Origin not allowed over HTTP", run: func(t *testing.T, h *hostileEnv) (string, Reason) {
			evil := http.Header{"Origin": {"https://evil.example"}}
			status, hdr, b := h.do(t, http.MethodGet, eioURL(h.base, "transport=polling"), evil, nil)
			checkJSONError(t, status, hdr, b, http.StatusBadRequest, CodeBadRequest, "Not an accepted origin")
			// Nor may a foreign page use an existing session.
			status, hdr, b = h.do(t, http.MethodPost, pollURL(h.base, h.pollBy.sid), evil, []byte("4stolen"))
			checkJSONError(t, status, hdr, b, http.StatusBadRequest, CodeBadRequest, "Not an accepted origin")
			return "", 0
		}},
		{name: "Origin not allowed over WebSocket", run: func(t *testing.T, h *hostileEnv) (string, Reason) {
			evil := http.Header{"Origin": {"https://evil.example"}}
			for _, sid := range []string{"", h.pollBy.sid} {
				_, err := wsDial(h.ctx, h.base, sid, evil)
				var se ws.StatusError
				if !errors.As(err, &se) || int(se) != http.StatusBadRequest {
					t.Fatalf("WebSocket (sid %q) from a refused origin: %v, want HTTP 400", sid, err)
				}
			}
			up := wsUpgradeHeader()
			up.Set("Origin", "https://evil.example")
			status, hdr, b := h.do(t, http.MethodGet, eioURL(h.base, "transport=websocket"), up, nil)
			checkJSONError(t, status, hdr, b, http.StatusBadRequest, CodeBadRequest, "Not an accepted origin")
			return "", 0
		}},
		{name: "query over 8 KiB", run: func(t *testing.T, h *hostileEnv) (string, Reason) {
			status, hdr, b := h.do(t, http.MethodGet, eioURL(h.base, "transport=polling&pad="+strings.Repeat("q", maxQueryBytes)), nil, nil)
			checkJSONError(t, status, hdr, b, http.StatusBadRequest, CodeBadRequest, "")
			return "", 0
		}},
		{name: "header over http.Server.MaxHeaderBytes", run: func(t *testing.T, h *hostileEnv) (string, Reason) {
			// Header size is the http.Server's to bound: serve the same
			// handler with MaxHeaderBytes set. net/http allows 4 KiB of
			// slack past it and answers 431.
			hs := httptest.NewUnstartedServer(h.srv)
			hs.Config.MaxHeaderBytes = 8 << 10
			hs.Start()
			defer hs.Close()
			big := http.Header{"X-Big": {strings.Repeat("h", 16<<10)}}
			status, _, _ := h.do(t, http.MethodGet, eioURL(hs.URL, "transport=polling"), big, nil)
			if status != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("status %d, want 431", status)
			}
			p, _, err := pollHandshake(h.ctx, h.hc, hs.URL)
			if err != nil {
				t.Fatalf("handshake under MaxHeaderBytes: %v", err)
			}
			h.app.waitConnect(t, p.sid)
			_, _ = p.post(h.ctx, codec.Packet{Type: codec.Close})
			return p.sid, ReasonClientDisconnect
		}},
		{name: "handshake rate limit through Authorize", opts: &Options{Authorize: newHandshakeLimiter(3).authorize},
			run: func(t *testing.T, h *hostileEnv) (string, Reason) {
				limited := http.Header{"X-Client": {"flooder"}}
				var opened []string
				for i := 0; i < 10; i++ {
					status, hdr, b := h.do(t, http.MethodGet, eioURL(h.base, "transport=polling"), limited, nil)
					switch status {
					case http.StatusOK:
						opened = append(opened, parseOpen(t, string(b)).SID)
					case http.StatusTooManyRequests:
						if hdr.Get("Content-Type") != "application/json" || !strings.Contains(string(b), "Too Many Requests") {
							t.Errorf("429 answer: %q %s", hdr.Get("Content-Type"), b)
						}
					default:
						t.Fatalf("handshake %d: %d %s", i, status, b)
					}
				}
				if len(opened) != 3 {
					t.Fatalf("%d handshakes let through, want 3 (the burst)", len(opened))
				}
				for _, sid := range opened {
					h.app.waitConnect(t, sid)
					_, _ = (&pollClient{hc: h.hc, base: h.base, sid: sid}).post(h.ctx, codec.Packet{Type: codec.Close})
					h.app.waitDisconnect(t, sid, 5*time.Second)
				}
				return "", 0
			}},
		{name: "MaxSessions", opts: &Options{MaxSessions: 4}, run: func(t *testing.T, h *hostileEnv) (string, Reason) {
			a, b := newPoll(t, h), newPoll(t, h)
			for _, tr := range []string{"polling", "websocket"} {
				hdr := http.Header(nil)
				if tr == "websocket" {
					hdr = wsUpgradeHeader()
				}
				status, rh, body := h.do(t, http.MethodGet, eioURL(h.base, "transport="+tr), hdr, nil)
				checkJSONError(t, status, rh, body, http.StatusServiceUnavailable, CodeBadRequest, "Server full")
			}
			if n := h.srv.Len(); n != 4 {
				t.Fatalf("%d sessions, want 4", n)
			}
			// Room again once two leave.
			for _, p := range []*pollClient{a, b} {
				_, _ = p.post(h.ctx, codec.Packet{Type: codec.Close})
				h.app.waitDisconnect(t, p.sid, 5*time.Second)
			}
			return "", 0
		}},
	}
}

// handshakeLimiter is a token-bucket rate limiter on handshakes, keyed by
// the X-Client header (a real one would key by client address): the shape
// of an Options.Authorize limiter. Requests without the header pass.
type handshakeLimiter struct {
	mu     sync.Mutex
	burst  float64
	perSec float64
	tokens map[string]float64
	last   map[string]time.Time
}

func newHandshakeLimiter(burst int) *handshakeLimiter {
	return &handshakeLimiter{burst: float64(burst), perSec: 1, tokens: map[string]float64{}, last: map[string]time.Time{}}
}

func (l *handshakeLimiter) authorize(r *http.Request) error {
	key := r.Header.Get("X-Client")
	if key == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	tok, seen := l.tokens[key]
	if !seen {
		tok = l.burst
	} else {
		tok = min(l.burst, tok+now.Sub(l.last[key]).Seconds()*l.perSec)
	}
	l.last[key] = now
	if tok < 1 {
		l.tokens[key] = tok
		return &Rejection{Status: http.StatusTooManyRequests, Body: map[string]string{"message": "Too Many Requests"}}
	}
	l.tokens[key] = tok - 1
	return nil
}
