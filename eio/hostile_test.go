package eio

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/internal/stall"
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
			h.hooks.held.wait(t, "held a GET", p.sid, 1)
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
			if err := stall.Wait(h.ctx, stall.IOWait, "eio.(*Server).readBody", 1); err != nil {
				t.Fatal(err)
			}
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
		{name: "frame length with its top bit set", run: func(t *testing.T, h *hostileEnv) (string, Reason) {
			// RFC 6455 5.2: the most significant bit of a 64-bit length
			// must be 0. A violation is a protocol error: 1002.
			c, sid := newWS(t, h)
			if _, err := c.conn.Write([]byte{0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 2, 1, 2, 3, 4}); err != nil {
				t.Fatal(err)
			}
			if code := expectWSClose(t, c); code != ws.StatusProtocolError {
				t.Errorf("close code %d, want 1002", code)
			}
			return sid, ReasonTransportError
		}},
		{name: "POST body that never arrives", opts: &Options{PingInterval: time.Hour, PingTimeout: 300 * time.Millisecond},
			run: func(t *testing.T, h *hostileEnv) (string, Reason) {
				// BodyTimeout is zero: PingTimeout bounds the body. The
				// session's own ping timeout is an hour away.
				p := newPoll(t, h)
				start := time.Now()
				resp, b := h.raw(t, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 100\r\n\r\n4partial",
					h.path("transport=polling&sid="+p.sid)))
				cut := time.Since(start)
				t.Logf("a POST stalled after 8 of its 100 bytes was answered %d after %v (BodyTimeout 300ms)", resp.StatusCode, cut.Round(time.Millisecond))
				checkJSONError(t, resp.StatusCode, resp.Header, b, http.StatusRequestTimeout, CodeBadRequest, "Request timeout")
				if cut < 300*time.Millisecond {
					t.Errorf("answered after %v, before BodyTimeout", cut)
				}
				if s := h.app.waitDisconnect(t, p.sid, 5*time.Second); !errors.Is(s.err, errPostTimeout) {
					t.Errorf("session ended with %v, want errPostTimeout", s.err)
				}
				return p.sid, ReasonTransportError
			}},
		{name: "MaxBytesInFlight", opts: &Options{MaxBytesInFlight: 64 << 10}, run: func(t *testing.T, h *hostileEnv) (string, Reason) {
			// One client holds 56 KiB of the 64 KiB budget with a message
			// half sent; a WebSocket message and a POST that need more are
			// refused and end their sessions; the first message, once
			// complete, is delivered and its bytes given back.
			holder, holderSID := newWS(t, h)
			big := "4" + strings.Repeat("h", 56<<10-1)
			var frame bytes.Buffer
			_ = ws.WriteFrame(&frame, ws.MaskFrameInPlace(ws.NewTextFrame([]byte(big))))
			wire := frame.Bytes()
			if _, err := holder.conn.Write(wire[:40<<10]); err != nil {
				t.Fatal(err)
			}
			if !pollUntil(5*time.Second, func() bool { return h.srv.budget.InUse() == 56<<10 }) {
				t.Fatalf("budget in use %d, want %d", h.srv.budget.InUse(), 56<<10)
			}
			c, sid := newWS(t, h)
			if err := c.write("4" + strings.Repeat("w", 16<<10)); err != nil {
				t.Fatal(err)
			}
			if code := expectWSClose(t, c); code != 1013 {
				t.Errorf("close code %d, want 1013 (try again later)", code)
			}
			p := newPoll(t, h)
			st, hdr, b := h.do(t, http.MethodPost, pollURL(h.base, p.sid), nil, []byte("4"+strings.Repeat("p", 16<<10)))
			checkJSONError(t, st, hdr, b, http.StatusServiceUnavailable, CodeBadRequest, "Server busy")
			if s := h.app.waitDisconnect(t, p.sid, 5*time.Second); s.reason != ReasonTransportError {
				t.Errorf("POSTing session ended with %v, want transport error", s.reason)
			}
			if _, err := holder.conn.Write(wire[40<<10:]); err != nil {
				t.Fatal(err)
			}
			for {
				data, _, err := holder.read(5 * time.Second)
				if err != nil {
					t.Fatalf("echo of the held message: %v", err)
				}
				if data == big {
					break
				}
			}
			if n := h.srv.budget.InUse(); n != 0 {
				t.Errorf("budget in use %d once the message was delivered", n)
			}
			_ = holder.write("1")
			h.app.waitDisconnect(t, holderSID, 5*time.Second)
			return sid, ReasonTransportError
		}},
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

// quotingRejection is an Authorize error that quotes what the client
// sent and answers as a Rejection.
type quotingRejection struct{ msg string }

func (e quotingRejection) Error() string { return e.msg }
func (e quotingRejection) Unwrap() error { return &Rejection{Status: http.StatusForbidden} }

// fakeClock is a time that moves only when told, for the log rate limit.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := new(fakeClock)
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// memServer is a server answered in memory (ServeHTTP on a recorder) with
// its Info log captured and its log clock frozen, and an application that
// counts disconnects.
type memServer struct {
	srv         *Server
	log         *lockedWriter
	clock       *fakeClock
	disconnects atomic.Int64
	done        chan struct{}
}

func newMemServer(t *testing.T, opts *Options) *memServer {
	t.Helper()
	o := *opts
	m := &memServer{log: new(lockedWriter), clock: newFakeClock(), done: make(chan struct{})}
	o.Logger = slog.New(slog.NewTextHandler(m.log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m.srv = newServer(&o, m.clock.now)
	go func() {
		defer close(m.done)
		for ev := range m.srv.Events() {
			if ev.Type == EventDisconnect {
				m.disconnects.Add(1)
			}
		}
	}()
	t.Cleanup(func() {
		_ = m.srv.Close()
		<-m.done
	})
	return m
}

// serve answers one request in memory and returns its status.
func (m *memServer) serve(req *http.Request) (int, string) {
	rec := httptest.NewRecorder()
	m.srv.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// logged returns what was logged since the last call.
func (m *memServer) logged() string {
	m.log.mu.Lock()
	defer m.log.mu.Unlock()
	s := m.log.b.String()
	m.log.b.Reset()
	return s
}

// TestHostileLogs measures the log bytes a hostile request writes at Info,
// the level the examples run at. One request with a megabyte Origin used
// to write a megabyte line (four connections wrote 1 GB in 10 s); now a
// line holds a 64-byte prefix and the length, and a thousand such
// requests write the rate limit's ten lines. 500 slow consumers used to
// write 1,416 lines; now each writes one warning, and the rate limit
// keeps 500 of them to ten lines and a count.
func TestHostileLogs(t *testing.T) {
	const (
		megabyte  = 1_000_000
		requests  = 1000
		lineBound = 512 // bytes in one logged line
	)
	huge := strings.Repeat("a", megabyte)
	// A rejection whose message quotes the token: the 403 body is the
	// Rejection's, the log line has the message.
	badToken := quotingRejection{"bad token " + huge}
	for _, tc := range []struct {
		name string
		opts Options
		req  func() *http.Request
	}{
		{"Origin of a megabyte", Options{}, func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/engine.io/?EIO=4&transport=polling", nil)
			r.Header.Set("Origin", "https://"+huge)
			return r
		}},
		{"query of a megabyte", Options{}, func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "/engine.io/?EIO=4&transport=polling&pad="+huge, nil)
		}},
		{"Authorize error quoting a megabyte", Options{Authorize: func(r *http.Request) error {
			return badToken // as if built from X-Token
		}}, func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/engine.io/?EIO=4&transport=polling", nil)
			r.Header.Set("X-Token", huge)
			return r
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemServer(t, &tc.opts)
			req := tc.req() // the handler only reads it: parse the megabyte once
			if status, _ := m.serve(req); status < 400 {
				t.Fatalf("status %d, want a refusal", status)
			}
			one := len(m.logged())
			for i := 1; i < requests; i++ {
				m.serve(req)
			}
			rest := m.logged()
			total := one + len(rest)
			t.Logf("%s: the first request logged %d bytes; %d requests logged %d bytes (%.1f per request, %d lines)",
				tc.name, one, requests, total, float64(total)/requests, strings.Count(rest, "\n")+1)
			if one > lineBound {
				t.Errorf("one request logged %d bytes, want at most %d", one, lineBound)
			}
			if total > logBurst*lineBound {
				t.Errorf("%d requests logged %d bytes with the clock stopped, want at most %d lines' worth", requests, total, logBurst)
			}
			m.clock.advance(logEvery)
			m.serve(req)
			if l := m.logged(); !strings.Contains(l, fmt.Sprintf("suppressed=%d", requests-logBurst)) {
				t.Errorf("a line after a second: %q, want suppressed=%d", l, requests-logBurst)
			}
		})
	}

	t.Run("slow consumers", func(t *testing.T) {
		const sessions = 500
		m := newMemServer(t, &Options{MaxQueueBytes: 1024, PingInterval: time.Hour, PingTimeout: time.Hour})
		handshake := func() string {
			status, body := m.serve(httptest.NewRequest(http.MethodGet, "/engine.io/?EIO=4&transport=polling", nil))
			if status != http.StatusOK {
				t.Fatalf("handshake: %d %s", status, body)
			}
			return parseOpen(t, body).SID
		}
		// Fills sid's queue and sends on past it: five sends refused.
		overflow := func(sid string) {
			refused := 0
			for i := 0; refused < 5 && i < 100; i++ {
				if err := m.srv.Send(sid, []byte(strings.Repeat("x", 500))); err != nil {
					refused++
				}
			}
		}
		// One slow consumer: one warning, however many Sends it refuses.
		sid := handshake()
		overflow(sid)
		if !pollUntil(10*time.Second, func() bool { return m.disconnects.Load() == 1 }) {
			t.Fatal("the slow consumer did not end")
		}
		l := m.logged()
		if n := strings.Count(l, "slow consumer"); n != 1 {
			t.Errorf("one slow consumer wrote %d warnings, want 1:\n%s", n, l)
		}
		if strings.Contains(l, sid) {
			t.Errorf("the log names the session id: %s", l)
		}
		oneLines := strings.Count(l, "\n")
		for i := 0; i < sessions; i++ {
			overflow(handshake())
		}
		if !pollUntil(30*time.Second, func() bool { return m.disconnects.Load() == 1+sessions }) {
			t.Fatalf("%d of %d slow consumers ended", m.disconnects.Load()-1, sessions)
		}
		l = m.logged()
		lines := strings.Count(l, "\n")
		t.Logf("one slow consumer logged %d lines; %d more logged %d lines, %d bytes", oneLines, sessions, lines, len(l))
		// The first session used one of each message's burst.
		if n := strings.Count(l, "slow consumer"); n != logBurst-1 {
			t.Errorf("%d slow consumers wrote %d warnings with the clock stopped, want %d", sessions, n, logBurst-1)
		}
		if lines > 2*logBurst {
			t.Errorf("%d slow consumers wrote %d lines, want at most %d", sessions, lines, 2*logBurst)
		}
		m.clock.advance(logEvery)
		overflow(handshake())
		if !pollUntil(10*time.Second, func() bool { return m.disconnects.Load() == 2+sessions }) {
			t.Fatal("the last slow consumer did not end")
		}
		if l := m.logged(); !strings.Contains(l, fmt.Sprintf("suppressed=%d", sessions-logBurst+1)) {
			t.Errorf("the next warning: %q, want suppressed=%d", l, sessions-logBurst+1)
		}
	})
}

// TestSIDsOutOfInfoLogs: a session id is a bearer token, so no Info or
// Warn line may carry one: each names its session by sidTag's hash. Every
// line that concerns a session is provoked here, at Info; the ids used to
// be logged whole ("ping timeout sid=...", refused queries with sid=).
// At Debug, the handshake line carries both, to tie them together.
func TestSIDsOutOfInfoLogs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	slow := Options{PingInterval: time.Hour, PingTimeout: time.Hour}
	for _, tc := range []struct {
		name string
		opts Options
		want string // the line that must be there
		run  func(t *testing.T, e *loadEnv) string
	}{
		{"ping timeout", Options{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond}, "ping timeout",
			func(t *testing.T, e *loadEnv) string {
				p, _, err := pollHandshake(ctx, e.hc, e.base)
				if err != nil {
					t.Fatal(err)
				}
				e.app.waitDisconnect(t, p.sid, 5*time.Second)
				return p.sid
			}},
		{"refused request naming the session", slow, "request refused",
			func(t *testing.T, e *loadEnv) string {
				p, _, err := pollHandshake(ctx, e.hc, e.base)
				if err != nil {
					t.Fatal(err)
				}
				if status, _, _ := doHTTP(ctx, e.hc, http.MethodGet, eioURL(e.base, "transport=flashsocket&sid="+p.sid), nil, nil); status != http.StatusBadRequest {
					t.Fatalf("status %d", status)
				}
				return p.sid
			}},
		{"upgrade abandoned", slow, "upgrade abandoned",
			func(t *testing.T, e *loadEnv) string {
				p, _, err := pollHandshake(ctx, e.hc, e.base)
				if err != nil {
					t.Fatal(err)
				}
				c, err := probe(ctx, e.base, p.sid, nil)
				if err != nil {
					t.Fatal(err)
				}
				c.close()
				if !pollUntil(5*time.Second, func() bool { return e.srv.Stats().UpgradesFailed == 1 }) {
					t.Fatal("the upgrade was not abandoned")
				}
				return p.sid
			}},
		{"POST over MaxPayload", Options{PingInterval: time.Hour, PingTimeout: time.Hour, MaxPayload: 100}, "POST body over MaxPayload",
			func(t *testing.T, e *loadEnv) string {
				p, _, err := pollHandshake(ctx, e.hc, e.base)
				if err != nil {
					t.Fatal(err)
				}
				if status, _ := p.post(ctx, textMsg(strings.Repeat("x", 200))); status != http.StatusRequestEntityTooLarge {
					t.Fatalf("status %d", status)
				}
				e.app.waitDisconnect(t, p.sid, 5*time.Second)
				return p.sid
			}},
		{"slow consumer with undelivered messages", Options{PingInterval: time.Hour, PingTimeout: time.Hour, MaxQueueBytes: 1024}, "slow consumer",
			func(t *testing.T, e *loadEnv) string {
				p, _, err := pollHandshake(ctx, e.hc, e.base)
				if err != nil {
					t.Fatal(err)
				}
				for e.srv.Send(p.sid, []byte(strings.Repeat("x", 500))) == nil {
				}
				e.app.waitDisconnect(t, p.sid, 5*time.Second)
				return p.sid
			}},
		{"POST body timed out", Options{PingInterval: time.Hour, PingTimeout: time.Hour, BodyTimeout: 50 * time.Millisecond}, "BodyTimeout",
			func(t *testing.T, e *loadEnv) string {
				p, _, err := pollHandshake(ctx, e.hc, e.base)
				if err != nil {
					t.Fatal(err)
				}
				c, err := net.Dial("tcp", e.hs.Listener.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				fmt.Fprintf(c, "POST /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n4", p.sid)
				e.app.waitDisconnect(t, p.sid, 5*time.Second)
				return p.sid
			}},
		{"binding cookie missing", Options{PingInterval: time.Hour, PingTimeout: time.Hour, BindCookie: &http.Cookie{}}, "request refused",
			func(t *testing.T, e *loadEnv) string {
				p, _, err := pollHandshake(ctx, e.hc, e.base) // e.hc keeps no cookies
				if err != nil {
					t.Fatal(err)
				}
				if _, status, _ := p.get(ctx); status != http.StatusForbidden {
					t.Fatalf("status %d", status)
				}
				return p.sid
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLoggedEnv(t, &tc.opts, false, slog.LevelInfo, time.Now)
			sid := tc.run(t, e)
			e.close()
			log := e.errs.String()
			if !strings.Contains(log, tc.want) {
				t.Fatalf("no %q line in:\n%s", tc.want, log)
			}
			if strings.Contains(log, sid) {
				t.Errorf("the session id %s is in the Info log:\n%s", sid, log)
			}
			if tag := sidHash(sid); !strings.Contains(log, tag) {
				t.Errorf("the session's hash %s is not in the log:\n%s", tag, log)
			}
			if strings.Contains(log, "level=ERROR") {
				t.Errorf("errors logged:\n%s", log)
			}
		})
	}
	t.Run("debug", func(t *testing.T) {
		e := newLoggedEnv(t, &slow, false, slog.LevelDebug, time.Now)
		p, _, err := pollHandshake(ctx, e.hc, e.base)
		if err != nil {
			t.Fatal(err)
		}
		e.close()
		if want := "sid=" + p.sid + " session=" + sidHash(p.sid); !strings.Contains(e.errs.String(), want) {
			t.Errorf("no %q in the debug log:\n%s", want, e.errs.String())
		}
	})
}

// TestBindCookie: with Options.BindCookie, a session id alone no longer
// opens the session. Over polling, WebSocket and the upgrade, a request
// for the session without its cookie (or with another value) is refused
// with 403 {"code":4}, and the session goes on for the client that holds
// the cookie. With Options.Cookie set too, both cookies come with the
// handshake.
func TestBindCookie(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, withSticky := range []bool{false, true} {
		opts := &Options{BindCookie: &http.Cookie{Secure: true}, PingInterval: time.Hour, PingTimeout: time.Hour}
		if withSticky {
			opts.Cookie = &http.Cookie{Name: "io"}
		}
		name := "BindCookie alone"
		if withSticky {
			name = "BindCookie and Cookie"
		}
		t.Run(name, func(t *testing.T) {
			e := newLoadEnv(t, opts, true)
			jar, _ := cookiejar.New(nil)
			owner := &http.Client{Jar: jar, Transport: e.hc.Transport} // keeps the cookies
			stranger := &hostileEnv{loadEnv: e, ctx: ctx}              // has the sid, not the cookie
			forbidden := func(t *testing.T, status int, hdr http.Header, body []byte) {
				t.Helper()
				checkJSONError(t, status, hdr, body, http.StatusForbidden, CodeForbidden, "")
			}

			// The handshake sets the binding cookie.
			resp, err := owner.Get(eioURL(e.base, "transport=polling"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			sid := parseOpen(t, string(body)).SID
			var bind *http.Cookie
			for _, c := range resp.Cookies() {
				switch c.Name {
				case "io_bind":
					bind = c
				case "io":
					if !withSticky || c.Value != sid {
						t.Errorf("sticky cookie %v", c)
					}
				default:
					t.Errorf("unexpected cookie %v", c)
				}
			}
			if withSticky != (len(resp.Cookies()) == 2) {
				t.Errorf("cookies %v", resp.Cookies())
			}
			if bind == nil || bind.Value == "" || bind.Value == sid || !bind.HttpOnly || !bind.Secure ||
				bind.Path != "/engine.io" || bind.SameSite != http.SameSiteLaxMode {
				t.Fatalf("binding cookie %+v", bind)
			}
			// The jar would not send a Secure cookie over http: hand it over.
			hu, _ := url.Parse(e.base)
			bind.Secure = false
			jar.SetCookies(hu, []*http.Cookie{bind})
			e.app.waitConnect(t, sid)
			p := &pollClient{hc: owner, base: e.base, sid: sid}

			// Polling: the stranger is refused, GET and POST.
			status, hdr, b := stranger.do(t, http.MethodGet, pollURL(e.base, sid), nil, nil)
			forbidden(t, status, hdr, b)
			wrong := http.Header{"Cookie": {"io_bind=" + strings.Repeat("A", len(bind.Value))}}
			status, hdr, b = stranger.do(t, http.MethodPost, pollURL(e.base, sid), wrong, []byte("4stolen"))
			forbidden(t, status, hdr, b)
			// The owner is not: its messages come back.
			if status, err := p.post(ctx, textMsg("mine")); status != http.StatusOK || err != nil {
				t.Fatalf("owner's POST: %d %v", status, err)
			}
			for found := false; !found; {
				pkts, status, err := p.get(ctx)
				if err != nil || status != http.StatusOK {
					t.Fatalf("owner's GET: %d %v", status, err)
				}
				for _, pkt := range pkts {
					found = found || string(pkt.Data) == "mine"
				}
			}

			// Upgrade: the stranger's WebSocket is refused before the
			// handshake; the owner's goes through.
			_, err = wsDial(ctx, e.base, sid, nil)
			var se ws.StatusError
			if !errors.As(err, &se) || int(se) != http.StatusForbidden {
				t.Fatalf("stranger's upgrade: %v, want 403", err)
			}
			status, hdr, b = stranger.do(t, http.MethodGet, eioURL(e.base, "transport=websocket&sid="+sid), wsUpgradeHeader(), nil)
			forbidden(t, status, hdr, b)
			c, err := probe(ctx, e.base, sid, http.Header{"Cookie": {"io_bind=" + bind.Value}})
			if err != nil {
				t.Fatalf("owner's upgrade: %v", err)
			}
			defer c.close()
			_ = c.write("5")
			_ = c.write("4upgraded")
			if data, _, err := c.read(5 * time.Second); err != nil || data != "4upgraded" {
				t.Fatalf("echo over the upgraded WebSocket: %q %v", data, err)
			}
			if s := e.app.get(sid); s.disconnects != 0 {
				t.Fatalf("the session ended: %v %v", s.reason, s.err)
			}

			// WebSocket from the start: the upgrade response sets the
			// cookie, and the sid alone is refused with 403 where an
			// unbound session answers 400 code 3.
			var setCookies []string
			d := ws.Dialer{OnHeader: func(key, value []byte) error {
				if strings.EqualFold(string(key), "Set-Cookie") {
					setCookies = append(setCookies, string(value))
				}
				return nil
			}}
			conn, br, _, err := d.Dial(ctx, wsURL(e.base, ""))
			if err != nil {
				t.Fatal(err)
			}
			if br != nil {
				conn = &bufferedConn{Conn: conn, r: io.MultiReader(br, conn)}
			}
			wc := &wsClient{conn: conn}
			defer wc.close()
			wsSID, err := wc.open()
			if err != nil {
				t.Fatal(err)
			}
			if len(setCookies) != len(resp.Cookies()) || !strings.HasPrefix(setCookies[len(setCookies)-1], "io_bind=") {
				t.Errorf("WebSocket handshake set %q", setCookies)
			}
			status, hdr, b = stranger.do(t, http.MethodGet, pollURL(e.base, wsSID), nil, nil)
			forbidden(t, status, hdr, b)
			_ = c.write("1")
			_ = wc.write("1")
			e.app.waitDisconnect(t, sid, 5*time.Second)
			e.app.waitDisconnect(t, wsSID, 5*time.Second)
			e.close()
			e.app.checkComplete(t)
			e.checkNoErrors(t)
		})
	}
}
