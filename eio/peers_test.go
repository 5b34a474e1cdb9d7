package eio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/internal/stall"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// This file holds the peers of the load and fault tests (reliability,
// soak, hostile input): clients that many goroutines run at once, so their
// methods return errors rather than fail a test, and an application loop
// that reads Server.Events and records every session's story.

// loadEnv is a server behind a loopback HTTP server, with an application
// loop reading its events and a log that collects internal errors.
type loadEnv struct {
	srv   *Server
	hs    *httptest.Server
	base  string
	app   *appLog
	hc    *http.Client
	errs  *lockedWriter // Error-level logs: a failed or panicked goroutine
	hooks *hookEvents   // what the server's test hooks report
}

// newLoadEnv starts a server with opts (Logger is set here) and an
// application loop that echoes messages back when echo is set.
func newLoadEnv(t testing.TB, opts *Options, echo bool) *loadEnv {
	t.Helper()
	return newLoggedEnv(t, opts, echo, slog.LevelError, time.Now)
}

// newLoggedEnv is newLoadEnv with the server logging at level to e.errs
// (which then holds more than errors: use its text, not checkNoErrors),
// its log rate limit reading the time from now.
func newLoggedEnv(t testing.TB, opts *Options, echo bool, level slog.Level, now func() time.Time) *loadEnv {
	t.Helper()
	o := Options{}
	if opts != nil {
		o = *opts
	}
	e := &loadEnv{errs: new(lockedWriter)}
	o.Logger = slog.New(slog.NewTextHandler(e.errs, &slog.HandlerOptions{Level: level}))
	e.srv = newServer(&o, now)
	e.hooks = hook(e.srv)
	e.hs = httptest.NewServer(e.srv)
	e.base = e.hs.URL
	e.app = startAppLog(e.srv, echo)
	e.hc = loadClient(64)
	t.Cleanup(e.close)
	return e
}

// close stops everything; it is idempotent, and returns once the
// application loop has read the last event.
func (e *loadEnv) close() {
	e.hs.CloseClientConnections()
	_ = e.srv.Close()
	e.hs.Close()
	<-e.app.done
	e.hc.CloseIdleConnections()
}

// checkNoErrors fails the test if the server logged an internal error (a
// session goroutine that panicked or failed).
func (e *loadEnv) checkNoErrors(t testing.TB) {
	t.Helper()
	if s := e.errs.String(); s != "" {
		t.Errorf("server logged errors:\n%s", s)
	}
}

// loadClient is an HTTP client for many concurrent polling peers.
func loadClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     10 * time.Second,
		DisableCompression:  true,
	}}
}

// doHTTP sends one request and reads the whole response.
func doHTTP(ctx context.Context, hc *http.Client, method, url string, header http.Header, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// pollClient is a raw long-polling peer.
type pollClient struct {
	hc   *http.Client
	base string
	sid  string
}

// pollHandshake opens a polling session; it returns the packets that came
// after the open packet.
func pollHandshake(ctx context.Context, hc *http.Client, base string) (*pollClient, []codec.Packet, error) {
	status, body, err := doHTTP(ctx, hc, http.MethodGet, eioURL(base, "transport=polling"), nil, nil)
	if err != nil {
		return nil, nil, err
	}
	if status != http.StatusOK {
		return nil, nil, fmt.Errorf("handshake: %d %s", status, body)
	}
	pkts, err := codec.DecodePayload(body, codec.V4, codec.Limits{}, nil)
	if err != nil || len(pkts) == 0 || pkts[0].Type != codec.Open {
		return nil, nil, fmt.Errorf("handshake body %q: %v", body, err)
	}
	h, err := codec.ParseHandshake(pkts[0].Data)
	if err != nil {
		return nil, nil, err
	}
	return &pollClient{hc: hc, base: base, sid: h.SID}, pkts[1:], nil
}

// get is one long-poll. A status other than 200 comes back with no error
// and no packets.
func (c *pollClient) get(ctx context.Context) ([]codec.Packet, int, error) {
	status, body, err := doHTTP(ctx, c.hc, http.MethodGet, pollURL(c.base, c.sid), nil, nil)
	if err != nil || status != http.StatusOK {
		return nil, status, err
	}
	pkts, err := codec.DecodePayload(body, codec.V4, codec.Limits{}, nil)
	return pkts, status, err
}

// post sends pkts in one POST.
func (c *pollClient) post(ctx context.Context, pkts ...codec.Packet) (int, error) {
	body := codec.AppendPayload(nil, pkts, codec.V4)
	status, resp, err := doHTTP(ctx, c.hc, http.MethodPost, pollURL(c.base, c.sid), nil, body)
	if err == nil && status == http.StatusOK && string(resp) != "ok" {
		err = fmt.Errorf("POST answered %q", resp)
	}
	return status, err
}

func textMsg(s string) codec.Packet { return codec.Packet{Type: codec.Message, Data: []byte(s)} }

// wsClient is a raw WebSocket peer whose writes may come from several
// goroutines.
type wsClient struct {
	conn net.Conn
	wmu  sync.Mutex
}

func wsURL(base, sid string) string {
	u := "ws" + strings.TrimPrefix(eioURL(base, "transport=websocket"), "http")
	if sid != "" {
		u += "&sid=" + sid
	}
	return u
}

// wsDial opens a WebSocket to the server: a new session when sid is "", an
// upgrade of the session sid otherwise.
func wsDial(ctx context.Context, base, sid string, header http.Header) (*wsClient, error) {
	d := ws.Dialer{}
	if header != nil {
		d.Header = ws.HandshakeHeaderHTTP(header)
	}
	conn, br, _, err := d.Dial(ctx, wsURL(base, sid))
	if err != nil {
		return nil, err
	}
	if br != nil {
		conn = &bufferedConn{Conn: conn, r: io.MultiReader(br, conn)}
	}
	return &wsClient{conn: conn}, nil
}

func (c *wsClient) write(text string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return wsutil.WriteClientText(c.conn, []byte(text))
}

// read returns the next data frame, waiting at most timeout.
func (c *wsClient) read(timeout time.Duration) (string, ws.OpCode, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	b, op, err := wsutil.ReadServerData(c.conn)
	return string(b), op, err
}

// open reads a WebSocket-only session's open packet and returns its sid.
func (c *wsClient) open() (string, error) {
	data, _, err := c.read(5 * time.Second)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(data, "0") {
		return "", fmt.Errorf("not an open packet: %q", data)
	}
	h, err := codec.ParseHandshake([]byte(data[1:]))
	return h.SID, err
}

func (c *wsClient) close() { _ = c.conn.Close() }

// probe opens a WebSocket to upgrade the polling session sid (with the
// request's extra header, if any) and runs the probe, 2probe and 3probe;
// the upgrade packet is the caller's to send.
func probe(ctx context.Context, base, sid string, header http.Header) (*wsClient, error) {
	c, err := wsDial(ctx, base, sid, header)
	if err != nil {
		return nil, err
	}
	_ = c.write("2probe")
	if data, _, err := c.read(5 * time.Second); err != nil || data != "3probe" {
		c.close()
		return nil, fmt.Errorf("probe answered %q: %v", data, err)
	}
	return c, nil
}

// seqOf returns n for a numbered message "n" or "n:anything".
func seqOf(data []byte) (int, bool) {
	if i := bytes.IndexByte(data, ':'); i >= 0 {
		data = data[:i]
	}
	n, err := strconv.Atoi(string(data))
	return n, err == nil
}

// numbered returns message n, padded with pad bytes.
func numbered(n, pad int) string {
	s := strconv.Itoa(n)
	if pad > 0 {
		s += ":" + strings.Repeat("p", pad)
	}
	return s
}

// sessionLog is what the application saw of one session.
type sessionLog struct {
	connects, disconnects int
	messages              int
	last                  int // last numbered message; they must come 1, 2, 3...
	reason                Reason
	err                   error
	problems              []string
}

// appLog is the application: one goroutine reading Server.Events until it
// closes, recording each session's events and checking their order (one
// connect, then messages numbered 1, 2, 3... with no gap or repeat, then
// one disconnect). With echo it sends every message back.
type appLog struct {
	srv  *Server
	echo bool
	// gate, while set, stops the loop reading events (see stall): a slow
	// application.
	gate atomic.Pointer[chan struct{}]

	mu       sync.Mutex
	sessions map[string]*sessionLog
	changed  chan struct{} // closed and replaced on every event
	echoErrs []error

	done chan struct{}
}

func startAppLog(srv *Server, echo bool) *appLog {
	a := &appLog{srv: srv, echo: echo, sessions: make(map[string]*sessionLog),
		changed: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *appLog) run() {
	defer close(a.done)
	for {
		if g := a.gate.Load(); g != nil {
			<-*g
		}
		ev, ok := <-a.srv.Events()
		if !ok {
			return
		}
		a.record(ev)
		if a.echo && ev.Type == EventMessage {
			var err error
			if ev.Binary {
				err = a.srv.SendBinary(ev.SID, ev.Data)
			} else {
				err = a.srv.Send(ev.SID, ev.Data)
			}
			if err != nil && !errors.Is(err, ErrUnknownSession) && !errors.Is(err, ErrSessionClosed) && !errors.Is(err, ErrServerClosed) {
				a.mu.Lock()
				a.echoErrs = append(a.echoErrs, err)
				a.mu.Unlock()
			}
		}
	}
}

// stall stops the loop reading events (after at most the one it is
// reading) until resume is called.
func (a *appLog) stall() (resume func()) {
	g := make(chan struct{})
	a.gate.Store(&g)
	return func() {
		a.gate.Store(nil)
		close(g)
	}
}

func (a *appLog) record(ev Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[ev.SID]
	if s == nil {
		s = new(sessionLog)
		a.sessions[ev.SID] = s
	}
	bad := func(format string, args ...any) {
		if len(s.problems) < 5 {
			s.problems = append(s.problems, fmt.Sprintf(format, args...))
		}
	}
	switch ev.Type {
	case EventConnect:
		if s.connects > 0 || s.messages > 0 || s.disconnects > 0 {
			bad("connect after %d connects, %d messages, %d disconnects", s.connects, s.messages, s.disconnects)
		}
		s.connects++
	case EventMessage:
		if s.connects == 0 || s.disconnects > 0 {
			bad("message %q outside connect/disconnect", ev.Data)
		}
		s.messages++
		if n, ok := seqOf(ev.Data); ok {
			if n != s.last+1 {
				bad("message %d after %d", n, s.last)
			}
			s.last = n
		}
	case EventDisconnect:
		if s.connects == 0 || s.disconnects > 0 {
			bad("disconnect (%v) after %d connects, %d disconnects", ev.Reason, s.connects, s.disconnects)
		}
		s.disconnects++
		s.reason, s.err = ev.Reason, ev.Err
	}
	close(a.changed)
	a.changed = make(chan struct{})
}

// reset forgets every session seen so far.
func (a *appLog) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sessions = make(map[string]*sessionLog)
	a.echoErrs = nil
}

// count returns the number of sessions the application has seen.
func (a *appLog) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.sessions)
}

// get returns a copy of what the application saw of sid.
func (a *appLog) get(sid string) sessionLog {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.sessions[sid]; s != nil {
		return *s
	}
	return sessionLog{}
}

// waitFor waits until cond, evaluated under the log's lock, holds, and
// reports whether it did within timeout.
func (a *appLog) waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		a.mu.Lock()
		ok, changed := cond(), a.changed
		a.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false
		}
	}
}

// waitConnect waits for sid's connect event.
func (a *appLog) waitConnect(t testing.TB, sid string) {
	t.Helper()
	if !a.waitFor(5*time.Second, func() bool { s := a.sessions[sid]; return s != nil && s.connects > 0 }) {
		t.Fatalf("no connect event for %s within 5s", sid)
	}
}

// waitDisconnect waits for sid's disconnect event and returns its log.
func (a *appLog) waitDisconnect(t testing.TB, sid string, timeout time.Duration) sessionLog {
	t.Helper()
	if !a.waitFor(timeout, func() bool { s := a.sessions[sid]; return s != nil && s.disconnects > 0 }) {
		t.Fatalf("no disconnect event for %s within %v", sid, timeout)
	}
	return a.get(sid)
}

// waitMessages waits until sid has had n messages.
func (a *appLog) waitMessages(t testing.TB, sid string, n int, timeout time.Duration) {
	t.Helper()
	if !a.waitFor(timeout, func() bool { s := a.sessions[sid]; return s != nil && s.messages >= n }) {
		t.Fatalf("session %s: %d messages within %v, want %d", sid, a.get(sid).messages, timeout, n)
	}
}

// checkComplete fails the test unless every session the application saw
// had exactly one connect and one disconnect, and events in order. Call it
// once the Events channel has closed.
func (a *appLog) checkComplete(t testing.TB) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	bad := 0
	sids := make([]string, 0, len(a.sessions))
	for sid := range a.sessions {
		sids = append(sids, sid)
	}
	sort.Strings(sids)
	for _, sid := range sids {
		s := a.sessions[sid]
		if s.connects == 1 && s.disconnects == 1 && len(s.problems) == 0 {
			continue
		}
		if bad++; bad <= 10 {
			t.Errorf("session %s: %d connects, %d disconnects (%v), problems %v", sid, s.connects, s.disconnects, s.reason, s.problems)
		}
	}
	if bad > 10 {
		t.Errorf("... %d sessions in all broke the event contract", bad)
	}
	for _, err := range a.echoErrs {
		t.Errorf("echo: %v", err)
	}
}

// reasons counts ended sessions by reason.
func (a *appLog) reasons() map[Reason]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[Reason]int)
	for _, s := range a.sessions {
		if s.disconnects > 0 {
			m[s.reason]++
		}
	}
	return m
}

// heapInuse returns HeapInuse after two collections (the second empties
// the sync.Pool victim caches).
func heapInuse() uint64 { return stall.HeapInuse() }

// pollUntil checks cond every millisecond until it holds, for state that
// no event announces (a counter, the goroutine count), and reports
// whether it did within timeout.
func pollUntil(timeout time.Duration, cond func() bool) bool {
	if cond() {
		return true
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if cond() {
				return true
			}
		case <-deadline.C:
			return cond()
		}
	}
}

// stackInuse returns the bytes of goroutine stacks in use.
func stackInuse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.StackInuse
}

// waitGoroutines waits up to grace for the goroutine count to fall to at
// most want, and returns the last count.
func waitGoroutines(want int, grace time.Duration) int {
	n := runtime.NumGoroutine()
	pollUntil(grace, func() bool {
		n = runtime.NumGoroutine()
		return n <= want
	})
	return n
}

func mib(n uint64) string  { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
func smib(n int64) string  { return fmt.Sprintf("%+.1f MiB", float64(n)/(1<<20)) }
func kib(n float64) string { return fmt.Sprintf("%.1f KiB", n/1024) }
