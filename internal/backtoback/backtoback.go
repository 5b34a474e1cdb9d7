// Package backtoback fires request sequences at an Engine.IO server the way
// a client on a real network does: each request on its own connection,
// written right after the one before it, without waiting for answers in
// between. Each sequence checks the answers against those of the reference
// server (Node's engine.io), which gives the same ones every time because
// it handles requests in the order their bytes arrived. It is for tests
// only: the conformance, cluster and interop suites run the same sequences
// against chanio, chanio's cluster and the reference itself.
package backtoback

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Target is an Engine.IO endpoint: URL is its base, such as
// "http://127.0.0.1:3000/engine.io/".
type Target struct {
	URL string
}

// A Sequence fires one sequence of requests at t, in a new session, and
// returns nil when every answer is the reference's, or an error saying
// which answer differed.
type Sequence func(ctx context.Context, t Target) error

// Sequences are the sequences of issue 12, by name.
var Sequences = []struct {
	Name string
	Run  Sequence
}{
	{"close-post-racing-get", CloseRacingGet},
	{"upgrade-racing-get", UpgradeRacingGet},
	{"second-websocket-while-probing", SecondWebSocketWhileProbing},
	{"second-websocket-after-upgrade", SecondWebSocketAfterUpgrade},
}

// CloseRacingGet: in a polling session, a GET and, right after it on
// another connection, a POST of a close packet. The reference answers the
// GET 200 with a noop, the POST 200 "ok", and a GET sent once both have
// answered 400 with code 1 (unknown session).
func CloseRacingGet(ctx context.Context, t Target) error {
	sid, err := t.handshake(ctx)
	if err != nil {
		return err
	}
	get, err := t.send(ctx, "GET", sid, "")
	if err != nil {
		return err
	}
	defer get.Close()
	post, err := t.send(ctx, "POST", sid, "1")
	if err != nil {
		return err
	}
	defer post.Close()
	if err := get.expect(200, "6"); err != nil {
		return fmt.Errorf("GET: %w", err)
	}
	if err := post.expect(200, "ok"); err != nil {
		return fmt.Errorf("POST: %w", err)
	}
	after, err := t.send(ctx, "GET", sid, "")
	if err != nil {
		return err
	}
	defer after.Close()
	if err := after.expectError(400, 1); err != nil {
		return fmt.Errorf("GET after the close: %w", err)
	}
	return nil
}

// UpgradeRacingGet: a polling session opens a WebSocket, sends "2probe"
// and "5" on it back to back, then a polling GET. The reference answers
// the GET 400 with code 3 (bad request: the session is on WebSocket now),
// and the WebSocket goes on: "4hello" comes back as "4hello".
func UpgradeRacingGet(ctx context.Context, t Target) error {
	sid, err := t.handshake(ctx)
	if err != nil {
		return err
	}
	c, err := t.dialWebSocket(ctx, sid)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.writeText("2probe"); err != nil {
		return err
	}
	if err := c.writeText("5"); err != nil {
		return err
	}
	get, err := t.send(ctx, "GET", sid, "")
	if err != nil {
		return err
	}
	defer get.Close()
	if err := c.expect("3probe"); err != nil {
		return err
	}
	if err := get.expectError(400, 3); err != nil {
		return fmt.Errorf("GET after the upgrade packet: %w", err)
	}
	return c.echo("4hello")
}

// SecondWebSocketWhileProbing: a polling session probes a WebSocket and,
// before it sends the upgrade packet, opens a second WebSocket with the
// same sid. The reference completes the second handshake (101) and then
// closes that connection with a close frame without a status code, sending
// nothing on it; the first one goes on to upgrade and echoes "4hello".
func SecondWebSocketWhileProbing(ctx context.Context, t Target) error {
	sid, err := t.handshake(ctx)
	if err != nil {
		return err
	}
	first, err := t.dialWebSocket(ctx, sid)
	if err != nil {
		return err
	}
	defer first.Close()
	if err := first.writeText("2probe"); err != nil {
		return err
	}
	if err := first.expect("3probe"); err != nil {
		return err
	}
	if err := t.secondWebSocket(ctx, sid); err != nil {
		return err
	}
	if err := first.writeText("5"); err != nil {
		return err
	}
	return first.echo("4hello")
}

// SecondWebSocketAfterUpgrade: after a whole upgrade, a second WebSocket
// with the same sid. As while probing: accepted, then closed; the first
// WebSocket goes on.
func SecondWebSocketAfterUpgrade(ctx context.Context, t Target) error {
	sid, err := t.handshake(ctx)
	if err != nil {
		return err
	}
	first, err := t.dialWebSocket(ctx, sid)
	if err != nil {
		return err
	}
	defer first.Close()
	for _, p := range []string{"2probe", "5"} {
		if err := first.writeText(p); err != nil {
			return err
		}
	}
	if err := first.expect("3probe"); err != nil {
		return err
	}
	if err := first.echo("4upgraded"); err != nil {
		return err
	}
	if err := t.secondWebSocket(ctx, sid); err != nil {
		return err
	}
	return first.echo("4hello")
}

// secondWebSocket opens a WebSocket for sid that the server must accept
// and then close without sending a packet on it.
func (t Target) secondWebSocket(ctx context.Context, sid string) error {
	second, err := t.dialWebSocket(ctx, sid)
	if err != nil {
		return fmt.Errorf("second websocket: %w", err)
	}
	defer second.Close()
	f, err := second.read()
	var ce closeFrame
	switch {
	case errors.As(err, &ce) && ce.code == ws.StatusNoStatusRcvd:
		return nil
	case errors.As(err, &ce):
		return fmt.Errorf("second websocket closed with status %d, want a close frame without one (as the reference's)", ce.code)
	case err != nil:
		return fmt.Errorf("second websocket: %w", err)
	}
	return fmt.Errorf("second websocket received %q, want it closed with nothing sent", f)
}

// handshake opens a polling session and returns its sid.
func (t Target) handshake(ctx context.Context) (string, error) {
	r, err := t.do(ctx, "GET", "EIO=4&transport=polling", "")
	if err != nil {
		return "", fmt.Errorf("handshake: %w", err)
	}
	if r.status != 200 || !strings.HasPrefix(r.body, "0{") {
		return "", fmt.Errorf("handshake: %d %q", r.status, r.body)
	}
	var open struct{ SID string }
	if err := json.Unmarshal([]byte(strings.SplitN(r.body[1:], "\x1e", 2)[0]), &open); err != nil || open.SID == "" {
		return "", fmt.Errorf("handshake: open packet %q: %v", r.body, err)
	}
	return open.SID, nil
}

// request is a request written on a connection of its own, whose answer
// has not been read yet.
type request struct {
	conn net.Conn
	br   *bufio.Reader
	req  *http.Request
}

func (t Target) query(sid string) string {
	return "EIO=4&transport=polling&sid=" + url.QueryEscape(sid)
}

// send writes a polling request for sid on a new connection and returns
// without reading the answer.
func (t Target) send(ctx context.Context, method, sid, body string) (*request, error) {
	return t.write(ctx, method, t.query(sid), body)
}

func (t Target) write(ctx context.Context, method, query, body string) (*request, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, err
	}
	u.RawQuery = query
	req, err := http.NewRequestWithContext(ctx, method, u.String(), strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	if method == "POST" {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// One write for the whole request, so that it leaves before the next.
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := conn.Write(buf.Bytes()); err != nil {
		conn.Close()
		return nil, err
	}
	return &request{conn: conn, br: bufio.NewReader(conn), req: req}, nil
}

// Close closes the request's connection.
func (r *request) Close() error { return r.conn.Close() }

type response struct {
	status int
	body   string
}

func (r *request) read() (response, error) {
	res, err := http.ReadResponse(r.br, r.req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return response{res.StatusCode, string(b)}, err
}

func (r *request) expect(status int, body string) error {
	res, err := r.read()
	if err != nil {
		return err
	}
	if res.status != status || res.body != body {
		return fmt.Errorf("answered %d %q, want %d %q", res.status, res.body, status, body)
	}
	return nil
}

// expectError checks an Engine.IO error answer: status and JSON code.
func (r *request) expectError(status, code int) error {
	res, err := r.read()
	if err != nil {
		return err
	}
	var e struct{ Code *int }
	if res.status != status || json.Unmarshal([]byte(res.body), &e) != nil || e.Code == nil || *e.Code != code {
		return fmt.Errorf("answered %d %q, want %d with code %d", res.status, res.body, status, code)
	}
	return nil
}

func (t Target) do(ctx context.Context, method, query, body string) (response, error) {
	r, err := t.write(ctx, method, query, body)
	if err != nil {
		return response{}, err
	}
	defer r.Close()
	return r.read()
}

// wsConn is a client WebSocket connection.
type wsConn struct {
	net.Conn
	r io.Reader
}

// dialWebSocket opens a WebSocket for the session sid.
func (t Target) dialWebSocket(ctx context.Context, sid string) (*wsConn, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, err
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.RawQuery = "EIO=4&transport=websocket&sid=" + url.QueryEscape(sid)
	var status error
	d := ws.Dialer{OnStatusError: func(code int, _ []byte, resp io.Reader) {
		var body []byte
		if res, err := http.ReadResponse(bufio.NewReader(resp), nil); err == nil {
			body, _ = io.ReadAll(io.LimitReader(res.Body, 4096))
			res.Body.Close()
		}
		status = fmt.Errorf("websocket handshake answered %d: %q", code, body)
	}}
	conn, br, _, err := d.Dial(ctx, u.String())
	if err != nil {
		if status != nil {
			return nil, status
		}
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c := &wsConn{Conn: conn, r: conn}
	if br != nil {
		c.r = br
	}
	return c, nil
}

func (c *wsConn) writeText(s string) error {
	return wsutil.WriteClientMessage(c.Conn, ws.OpText, []byte(s))
}

// closeFrame is a close frame from the server.
type closeFrame struct{ code ws.StatusCode }

func (e closeFrame) Error() string { return fmt.Sprintf("close frame %d", e.code) }

// read returns the next text or binary message.
func (c *wsConn) read() (string, error) {
	for {
		h, err := ws.ReadHeader(c.r)
		if err != nil {
			return "", err
		}
		if h.Length > 1<<20 || !h.Fin {
			return "", fmt.Errorf("unexpected frame %+v", h)
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(c.r, payload); err != nil {
			return "", err
		}
		switch h.OpCode {
		case ws.OpClose:
			code := ws.StatusNoStatusRcvd
			if len(payload) >= 2 {
				code = ws.StatusCode(binary.BigEndian.Uint16(payload))
			}
			return "", closeFrame{code}
		case ws.OpText, ws.OpBinary:
			return string(payload), nil
		}
	}
}

// expect reads the next packet, answering the server's pings, and checks
// it is want.
func (c *wsConn) expect(want string) error {
	for {
		got, err := c.read()
		if err != nil {
			return fmt.Errorf("websocket, waiting for %q: %w", want, err)
		}
		if got == "2" && want != "2" {
			if err := c.writeText("3"); err != nil {
				return err
			}
			continue
		}
		if got != want {
			return fmt.Errorf("websocket received %q, want %q", got, want)
		}
		return nil
	}
}

// echo sends msg and expects it back.
func (c *wsConn) echo(msg string) error {
	if err := c.writeText(msg); err != nil {
		return err
	}
	return c.expect(msg)
}

// Repeat runs seq n times against t, each within perRun, and returns how
// many runs gave the reference answers and the first deviations (at most
// five).
func Repeat(ctx context.Context, t Target, seq Sequence, n int, perRun time.Duration) (ok int, failures []error) {
	for i := range n {
		runCtx, cancel := context.WithTimeout(ctx, perRun)
		err := seq(runCtx, t)
		cancel()
		if err == nil {
			ok++
			continue
		}
		if len(failures) < 5 {
			failures = append(failures, fmt.Errorf("run %d: %w", i+1, err))
		}
	}
	return ok, failures
}
