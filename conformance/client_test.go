package conformance

// The raw protocol client the tests drive the server with: HTTP requests,
// polling payloads, WebSocket frames. It checks the wire format as it goes
// and stays out of the way of everything else.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Packet types, as their digit on the wire.
const (
	typeOpen    = '0'
	typeClose   = '1'
	typePing    = '2'
	typePong    = '3'
	typeMessage = '4'
	typeUpgrade = '5'
	typeNoop    = '6'
)

// packet is one decoded Engine.IO packet.
type packet struct {
	typ    byte   // typeOpen ... typeNoop
	data   string // payload; the decoded bytes of a binary message
	binary bool   // a binary message
	raw    string // as it was on the wire
}

func (p packet) String() string {
	if p.binary {
		return fmt.Sprintf("binary%v", []byte(p.data))
	}
	return fmt.Sprintf("%q", shorten(p.raw))
}

// shorten keeps failure messages readable when a payload is large.
func shorten(s string) string {
	if len(s) <= 80 {
		return s
	}
	return fmt.Sprintf("%s...(%d bytes)", s[:60], len(s))
}

// decodePayload decodes a v4 polling payload: packets separated by 0x1E, a
// binary message as "b" and standard base64. A malformed payload fails the
// test: the server must only send well-formed ones.
func decodePayload(t testing.TB, body []byte) []packet {
	t.Helper()
	if len(body) == 0 {
		t.Fatalf("empty polling payload")
	}
	if !utf8.Valid(body) {
		t.Fatalf("polling payload is not UTF-8: %q", shorten(string(body)))
	}
	var pkts []packet
	for _, part := range strings.Split(string(body), "\x1e") {
		pkts = append(pkts, decodePacket(t, part, body))
	}
	return pkts
}

func decodePacket(t testing.TB, part string, body []byte) packet {
	t.Helper()
	switch {
	case part == "":
		t.Fatalf("empty packet in polling payload %q", shorten(string(body)))
	case part[0] == 'b':
		b, err := base64.StdEncoding.DecodeString(part[1:])
		if err != nil {
			t.Fatalf("binary packet %q is not standard base64: %v", shorten(part), err)
		}
		return packet{typ: typeMessage, data: string(b), binary: true, raw: part}
	case part[0] >= typeOpen && part[0] <= typeNoop:
		return packet{typ: part[0], data: part[1:], raw: part}
	}
	t.Fatalf("packet %q of polling payload %q has no valid type", shorten(part), shorten(string(body)))
	return packet{}
}

// messages keeps the message packets of pkts.
func messages(pkts []packet) []packet {
	var out []packet
	for _, p := range pkts {
		if p.typ == typeMessage {
			out = append(out, p)
		}
	}
	return out
}

// messageData returns the data of message packets.
func messageData(pkts []packet) []string {
	out := make([]string, 0, len(pkts))
	for _, p := range pkts {
		out = append(out, p.data)
	}
	return out
}

// openData is the JSON of an open packet.
type openData struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int64    `json:"maxPayload"`
}

// sidPattern: 15 random bytes in URL-safe base64, as the reference's
// base64id and chanio both make them.
var sidPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{20}$`)

// checkOpen checks the JSON of an open packet against the server's
// settings: exactly the five keys of the spec, with the right types and
// values.
func (s *server) checkOpen(t testing.TB, data string, wantUpgrades []string) openData {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(data), &raw); err != nil {
		t.Fatalf("open packet data %q is not a JSON object: %v", data, err)
	}
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	wantKeys := []string{"maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("open packet keys %v, want exactly %v", keys, wantKeys)
	}
	var h openData
	dec := json.NewDecoder(strings.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		t.Fatalf("open packet %q: wrong field types: %v", data, err)
	}
	if !sidPattern.MatchString(h.SID) {
		t.Errorf("sid %q: want 20 characters of URL-safe base64", h.SID)
	}
	if u := bytes.TrimSpace(raw["upgrades"]); len(u) == 0 || u[0] != '[' {
		t.Errorf("upgrades is %s, want a JSON array", u)
	}
	if !slices.Equal(h.Upgrades, wantUpgrades) {
		t.Errorf("upgrades %q, want %q", h.Upgrades, wantUpgrades)
	}
	if want := s.pingInterval.Milliseconds(); h.PingInterval != want {
		t.Errorf("pingInterval %d, want %d", h.PingInterval, want)
	}
	if want := s.pingTimeout.Milliseconds(); h.PingTimeout != want {
		t.Errorf("pingTimeout %d, want %d", h.PingTimeout, want)
	}
	if h.MaxPayload != maxPayload {
		t.Errorf("maxPayload %d, want %d", h.MaxPayload, maxPayload)
	}
	return h
}

// ---- HTTP ----

// response is an HTTP answer, read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string {
	return fmt.Sprintf("%d %q", r.status, shorten(string(r.body)))
}

// textPlain is what engine.io-client sends its POSTs with.
var textPlain = http.Header{"Content-Type": {"text/plain;charset=UTF-8"}}

func (s *server) requestCtx(ctx context.Context, method, query string, body []byte, header http.Header) (response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.httpURL+"?"+query, rd)
	if err != nil {
		return response{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// request makes one request and fails the test if it gets no answer
// within requestTimeout.
func (s *server) request(t testing.TB, method, query string, body []byte, header http.Header) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	r, err := s.requestCtx(ctx, method, query, body, header)
	if err != nil {
		t.Fatalf("%s ?%s: %v", method, query, err)
	}
	return r
}

func (s *server) get(t testing.TB, query string) response {
	t.Helper()
	return s.request(t, http.MethodGet, query, nil, nil)
}

// checkError checks a protocol error answer: the status and the
// reference's JSON body {"code":N,"message":"..."}.
func checkError(t testing.TB, r response, status, code int, message string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d (body %q)", r.status, status, shorten(string(r.body)))
	}
	if mt, _, err := mime.ParseMediaType(r.header.Get("Content-Type")); err != nil || mt != "application/json" {
		t.Errorf("Content-Type %q, want application/json", r.header.Get("Content-Type"))
	}
	var e map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Errorf("error body %q is not a JSON object: %v", shorten(string(r.body)), err)
		return
	}
	var gotCode int
	var gotMessage string
	if err := json.Unmarshal(e["code"], &gotCode); err != nil || gotCode != code {
		t.Errorf("error code %s, want %d (body %s)", e["code"], code, r.body)
	}
	if err := json.Unmarshal(e["message"], &gotMessage); err != nil || gotMessage != message {
		t.Errorf("error message %s, want %q (body %s)", e["message"], message, r.body)
	}
	if len(e) != 2 {
		t.Errorf("error body %s: want exactly the keys code and message", r.body)
	}
}

// ---- polling sessions ----

// pollSession is a session opened with a polling handshake.
type pollSession struct {
	s      *server
	sid    string
	open   openData
	opened time.Time // when the open packet arrived
}

// openPolling makes a polling handshake and checks its answer.
func (s *server) openPolling(t testing.TB) *pollSession {
	t.Helper()
	r := s.get(t, "EIO=4&transport=polling")
	if r.status != http.StatusOK {
		t.Fatalf("polling handshake: %v", r)
	}
	pkts := decodePayload(t, r.body)
	if len(pkts) != 1 || pkts[0].typ != typeOpen {
		t.Fatalf("polling handshake payload %v, want one open packet", pkts)
	}
	h := s.checkOpen(t, pkts[0].data, []string{"websocket"})
	return &pollSession{s: s, sid: h.SID, open: h, opened: time.Now()}
}

func (p *pollSession) query() string {
	return "EIO=4&transport=polling&sid=" + url.QueryEscape(p.sid)
}

func (p *pollSession) get(t testing.TB) response {
	t.Helper()
	return p.s.get(t, p.query())
}

func (p *pollSession) getCtx(ctx context.Context) (response, error) {
	return p.s.requestCtx(ctx, http.MethodGet, p.query(), nil, nil)
}

func (p *pollSession) post(t testing.TB, body string) response {
	t.Helper()
	return p.s.request(t, http.MethodPost, p.query(), []byte(body), textPlain)
}

// mustPost posts body and requires the spec's answer: 200 "ok".
func (p *pollSession) mustPost(t testing.TB, body string) {
	t.Helper()
	r := p.post(t, body)
	if r.status != http.StatusOK || string(r.body) != "ok" {
		t.Fatalf("POST %q: %v, want 200 \"ok\"", shorten(body), r)
	}
}

// poll makes one GET, which must succeed, and decodes its payload.
func (p *pollSession) poll(t testing.TB) []packet {
	t.Helper()
	r := p.get(t)
	if r.status != http.StatusOK {
		t.Fatalf("GET: %v, want 200", r)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("GET answer Content-Type %q, want %q", ct, "text/plain; charset=UTF-8")
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("GET answer Cache-Control %q, want no-store", cc)
	}
	return decodePayload(t, r.body)
}

// receive polls until n messages have arrived and returns them, answering
// pings with pongs and skipping noops. Anything else fails the test.
func (p *pollSession) receive(t testing.TB, n int) []packet {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	var msgs []packet
	for len(msgs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d messages in %v: %v", len(msgs), n, waitLong, msgs)
		}
		pinged := false
		for _, pk := range p.poll(t) {
			switch pk.typ {
			case typeMessage:
				msgs = append(msgs, pk)
			case typePing:
				pinged = true
			case typeNoop:
			default:
				t.Fatalf("packet %v while waiting for messages (after %v)", pk, msgs)
			}
		}
		if pinged {
			p.mustPost(t, "3")
		}
	}
	return msgs
}

// expectEnded asserts that the session is over: a GET is refused with code
// 1, or answered with a payload that ends with the close packet (pings
// that were owed may come before it, nothing else) after which GETs are
// refused.
func (p *pollSession) expectEnded(t testing.TB) {
	t.Helper()
	r := p.get(t)
	if r.status == http.StatusOK {
		pkts := decodePayload(t, r.body)
		for i, pk := range pkts {
			last := i == len(pkts)-1
			if last && pk.typ != typeClose || !last && pk.typ != typePing && pk.typ != typeNoop {
				t.Fatalf("GET on an ended session: %v, want 400 or a payload ending with the close packet", pkts)
			}
		}
		r = p.get(t)
	}
	checkError(t, r, http.StatusBadRequest, 1, "Session ID unknown")
}

// closeSession ends the session from the client side, so that a server
// with a long ping timeout does not keep it at shutdown.
func (p *pollSession) closeSession(t testing.TB) {
	t.Helper()
	p.mustPost(t, "1")
}

// pollResult is the outcome of a GET run in the background.
type pollResult struct {
	r   response
	err error
}

// pollAsync starts a GET in the background. Cancel ctx to abort it.
func (p *pollSession) pollAsync(ctx context.Context) <-chan pollResult {
	ch := make(chan pollResult, 1)
	go func() {
		r, err := p.getCtx(ctx)
		ch <- pollResult{r, err}
	}()
	return ch
}

// pollAsyncT is pollAsync bounded by requestTimeout and by the end of t.
func (p *pollSession) pollAsyncT(t testing.TB) <-chan pollResult {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	t.Cleanup(cancel)
	return p.pollAsync(ctx)
}

// expectHeld asserts that the GET behind ch is still unanswered after d.
func expectHeld(t testing.TB, ch <-chan pollResult, d time.Duration) {
	t.Helper()
	select {
	case res := <-ch:
		t.Fatalf("GET answered at once (%v, %v), want it held", res.r, res.err)
	case <-time.After(d):
	}
}

// await waits for the GET behind ch, which must get an answer.
func await(t testing.TB, ch <-chan pollResult) response {
	t.Helper()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("GET: %v", res.err)
		}
		return res.r
	case <-time.After(requestTimeout + time.Second):
		t.Fatalf("GET not answered in %v", requestTimeout)
	}
	return response{}
}

// ---- WebSocket ----

// wsConn is a raw client WebSocket connection.
type wsConn struct {
	conn net.Conn
	r    io.Reader
	sid  string
}

// frame is one data message received (fragments reassembled).
type frame struct {
	op   ws.OpCode
	data []byte
}

func (f frame) String() string {
	if f.op == ws.OpBinary {
		if len(f.data) > 32 {
			return fmt.Sprintf("binary(%d bytes)", len(f.data))
		}
		return fmt.Sprintf("binary%v", f.data)
	}
	return fmt.Sprintf("text%q", shorten(string(f.data)))
}

func (f frame) isText(s string) bool { return f.op == ws.OpText && string(f.data) == s }

// closedError is a close frame from the server.
type closedError struct {
	code   ws.StatusCode // ws.StatusNoStatusRcvd if the frame had none
	reason string
}

func (e *closedError) Error() string {
	return fmt.Sprintf("close frame %d %q", e.code, e.reason)
}

// handshakeError is a WebSocket handshake the server refused.
type handshakeError struct {
	status int
	header http.Header
	body   []byte
}

func (e *handshakeError) Error() string {
	return fmt.Sprintf("handshake refused: %d %q", e.status, e.body)
}

// dialWS opens a WebSocket; a refused handshake is a *handshakeError. The
// connection is closed when t ends.
func (s *server) dialWS(t testing.TB, query string) (*wsConn, error) {
	t.Helper()
	var herr *handshakeError
	d := ws.Dialer{
		OnStatusError: func(status int, _ []byte, resp io.Reader) {
			herr = &handshakeError{status: status}
			res, err := http.ReadResponse(bufio.NewReader(resp), nil)
			if err != nil {
				return
			}
			defer res.Body.Close()
			herr.header = res.Header
			herr.body, _ = io.ReadAll(io.LimitReader(res.Body, 64<<10))
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	conn, br, _, err := d.Dial(ctx, s.wsURL+"?"+query)
	if err != nil {
		if herr != nil {
			return nil, herr
		}
		return nil, err
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &wsConn{conn: conn, r: conn}
	if br != nil {
		c.r = br // it holds what came after the handshake, then reads conn
	}
	return c, nil
}

// openWS makes a WebSocket handshake and checks the open packet.
func (s *server) openWS(t testing.TB) (*wsConn, openData) {
	t.Helper()
	c, err := s.dialWS(t, "EIO=4&transport=websocket")
	if err != nil {
		t.Fatalf("websocket handshake: %v", err)
	}
	f, err := c.readMessage(waitLong)
	if err != nil {
		t.Fatalf("reading the open packet: %v", err)
	}
	if f.op != ws.OpText || len(f.data) == 0 || f.data[0] != typeOpen {
		t.Fatalf("first frame %v, want a text open packet", f)
	}
	h := s.checkOpen(t, string(f.data[1:]), []string{})
	c.sid = h.SID
	return c, h
}

// readMessage returns the next data message within timeout, answering
// WebSocket-level pings. A close frame is returned as *closedError.
func (c *wsConn) readMessage(timeout time.Duration) (frame, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	var msg frame
	started := false
	for {
		h, err := ws.ReadHeader(c.r)
		if err != nil {
			return frame{}, err
		}
		if h.Masked {
			return frame{}, errors.New("server sent a masked frame")
		}
		if h.Length > 16<<20 {
			return frame{}, fmt.Errorf("frame of %d bytes", h.Length)
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(c.r, payload); err != nil {
			return frame{}, err
		}
		switch h.OpCode {
		case ws.OpClose:
			e := &closedError{code: ws.StatusNoStatusRcvd}
			if len(payload) >= 2 {
				e.code = ws.StatusCode(binary.BigEndian.Uint16(payload))
				e.reason = string(payload[2:])
			}
			return frame{}, e
		case ws.OpPing:
			_ = c.write(ws.OpPong, payload)
			continue
		case ws.OpPong:
			continue
		case ws.OpContinuation:
			if !started {
				return frame{}, errors.New("continuation frame without a message")
			}
			msg.data = append(msg.data, payload...)
		case ws.OpText, ws.OpBinary:
			if started {
				return frame{}, errors.New("new message inside a fragmented one")
			}
			msg, started = frame{op: h.OpCode, data: payload}, true
		default:
			return frame{}, fmt.Errorf("frame with opcode %d", h.OpCode)
		}
		if h.Fin {
			if msg.op == ws.OpText && !utf8.Valid(msg.data) {
				return frame{}, fmt.Errorf("text message %q is not UTF-8", msg.data)
			}
			return msg, nil
		}
	}
}

// write sends one message frame, masked as a client must.
func (c *wsConn) write(op ws.OpCode, data []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(requestTimeout))
	return wsutil.WriteClientMessage(c.conn, op, data)
}

func (c *wsConn) send(t testing.TB, op ws.OpCode, data []byte) {
	t.Helper()
	if err := c.write(op, data); err != nil {
		t.Fatalf("websocket write: %v", err)
	}
}

func (c *wsConn) sendText(t testing.TB, s string) {
	t.Helper()
	c.send(t, ws.OpText, []byte(s))
}

// next returns the next data message, which must come within waitLong.
func (c *wsConn) next(t testing.TB) frame {
	t.Helper()
	f, err := c.readMessage(waitLong)
	if err != nil {
		t.Fatalf("websocket read: %v", err)
	}
	return f
}

// receive reads until n messages (binary frames, or text frames of message
// packets) have arrived and returns them, answering pings with pongs.
// Anything else fails the test.
func (c *wsConn) receive(t testing.TB, n int) []frame {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	var msgs []frame
	for len(msgs) < n {
		f, err := c.readMessage(time.Until(deadline))
		if err != nil {
			t.Fatalf("after %d of %d messages %v: %v", len(msgs), n, msgs, err)
		}
		switch {
		case f.op == ws.OpBinary, len(f.data) > 0 && f.data[0] == typeMessage:
			msgs = append(msgs, f)
		case f.isText("2"):
			c.sendText(t, "3")
		default:
			t.Fatalf("frame %v while waiting for messages (after %v)", f, msgs)
		}
	}
	return msgs
}

// closeResult is how a WebSocket connection ended.
type closeResult struct {
	closeFrame bool          // a close frame came (else the TCP connection just ended)
	code       ws.StatusCode // its status code
	frames     []frame       // data messages received before the end
}

func (r closeResult) String() string {
	if r.closeFrame {
		return fmt.Sprintf("close frame %d after %v", r.code, r.frames)
	}
	return fmt.Sprintf("connection ended without a close frame after %v", r.frames)
}

// expectClosed reads until the server ends the connection, with a close
// frame or by closing it, which must happen within waitLong. With pong set
// it answers the server's pings, so that a ping timeout cannot be what ends
// the connection.
func (c *wsConn) expectClosed(t testing.TB, pong bool) closeResult {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	var res closeResult
	for {
		f, err := c.readMessage(time.Until(deadline))
		if err == nil {
			res.frames = append(res.frames, f)
			if pong && f.isText("2") {
				_ = c.write(ws.OpText, []byte("3"))
			}
			continue
		}
		var ce *closedError
		switch {
		case errors.As(err, &ce):
			res.closeFrame, res.code = true, ce.code
			return res
		case isTimeout(err):
			t.Fatalf("connection still open after %v (received %v)", waitLong, res.frames)
		}
		return res // EOF or reset: the server closed the connection
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// expectWSRefused asserts that the server does not accept a WebSocket: the
// handshake is refused with a 4xx, or the connection is closed before any
// packet. It returns the refused handshake, if that is what happened.
func (s *server) expectWSRefused(t testing.TB, query string) *handshakeError {
	t.Helper()
	c, err := s.dialWS(t, query)
	if err != nil {
		var he *handshakeError
		if errors.As(err, &he) {
			t.Logf("websocket refused: %v", he)
			if he.status < 400 || he.status > 499 {
				t.Errorf("handshake answered %d, want a 4xx refusal", he.status)
			}
			return he
		}
		if isTimeout(err) {
			t.Fatalf("dial: %v", err)
		}
		t.Logf("websocket refused: connection cut during the handshake: %v", err)
		return nil
	}
	res := c.expectClosed(t, false)
	t.Logf("websocket accepted, then %v", res)
	if len(res.frames) > 0 {
		t.Errorf("refused websocket received %v before it closed", res.frames)
	}
	return nil
}

// checkRefusalCode checks the JSON error of a refused handshake, if the
// server sent one.
func checkRefusalCode(t testing.TB, he *handshakeError, code int, message string) {
	t.Helper()
	if he == nil {
		return
	}
	if mt, _, _ := mime.ParseMediaType(he.header.Get("Content-Type")); mt != "application/json" {
		return // the reference writes a plain-text refusal here
	}
	checkError(t, response{status: he.status, header: he.header, body: he.body}, he.status, code, message)
}

// waitWSSessionGone waits until the server has forgotten the WebSocket
// session sid, and checks that it has: a polling GET for it is refused
// with code 1 (while the session lives it is refused with code 3, as a
// transport mismatch).
func (s *server) waitWSSessionGone(t testing.TB, sid string) {
	t.Helper()
	s.waitEnded(t, sid)
	r := s.get(t, "EIO=4&transport=polling&sid="+url.QueryEscape(sid))
	checkError(t, r, http.StatusBadRequest, 1, "Session ID unknown")
}

// probe opens a WebSocket for the polling session and runs the probe:
// 2probe out, 3probe back as the first frame.
func (p *pollSession) probe(t testing.TB) *wsConn {
	t.Helper()
	c, err := p.s.dialWS(t, "EIO=4&transport=websocket&sid="+url.QueryEscape(p.sid))
	if err != nil {
		t.Fatalf("upgrade websocket: %v", err)
	}
	c.sid = p.sid
	c.sendText(t, "2probe")
	if f := c.next(t); !f.isText("3probe") {
		t.Fatalf("answer to the probe: %v, want text \"3probe\"", f)
	}
	return c
}

// upgrade runs a whole upgrade and returns once the server has switched
// the session to the WebSocket (a message sent after the upgrade packet
// has come back on it).
func (p *pollSession) upgrade(t testing.TB) *wsConn {
	t.Helper()
	c := p.probe(t)
	if r := p.get(t); r.status != http.StatusOK || string(r.body) != "6" {
		t.Fatalf("GET after the probe: %v, want 200 \"6\"", r)
	}
	c.sendText(t, "5")
	c.sendText(t, "4upgraded")
	if m := c.receive(t, 1); !m[0].isText("4upgraded") {
		t.Fatalf("echo after the upgrade: %v, want \"4upgraded\"", m)
	}
	return c
}
