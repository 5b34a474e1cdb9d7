package eio

import (
	"bytes"
	"context"
	"errors"
	"expvar"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// request sends one request with headers and returns the response (body
// read into the returned string).
func request(t *testing.T, method, url string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestServerOrigins(t *testing.T) {
	handshake := "/engine.io/?EIO=4&transport=polling"
	cases := []struct {
		name    string
		opts    *Options
		origin  string // "" sends none; "self" the server's own origin
		allowed bool
	}{
		{"no origin header", nil, "", true},
		{"same origin by default", nil, "self", true},
		{"other origin refused by default", nil, "https://evil.example", false},
		{"listed origin", &Options{AllowedOrigins: []string{"https://app.example", "https://b.example"}}, "https://b.example", true},
		{"unlisted origin", &Options{AllowedOrigins: []string{"https://app.example"}}, "https://evil.example", false},
		{"star allows any", &Options{AllowedOrigins: []string{"*"}}, "https://any.example", true},
		{"CheckOrigin decides", &Options{CheckOrigin: func(_ *http.Request, o string) bool { return strings.HasSuffix(o, ".trusted") }}, "https://x.trusted", true},
		{"CheckOrigin refuses", &Options{CheckOrigin: func(_ *http.Request, o string) bool { return false }}, "self", false},
		{"CORS disabled", &Options{DisableCORS: true}, "https://evil.example", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, base := testServer(t, tc.opts)
			origin := tc.origin
			if origin == "self" {
				origin = base
			}
			h := http.Header{}
			if origin != "" {
				h.Set("Origin", origin)
			}
			resp, body := request(t, http.MethodGet, base+handshake, h, "")
			if !tc.allowed {
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"code":3`) {
					t.Fatalf("refused origin: %d %s", resp.StatusCode, body)
				}
				if resp.Header.Get("Access-Control-Allow-Origin") != "" {
					t.Fatal("refusal carries Access-Control-Allow-Origin")
				}
				// The WebSocket handshake is refused the same way, before
				// the upgrade.
				wsURL := "ws" + strings.TrimPrefix(base, "http") + "/engine.io/?EIO=4&transport=websocket"
				d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Origin": {origin}})}
				conn, _, _, err := d.Dial(context.Background(), wsURL)
				var se ws.StatusError
				if err == nil {
					conn.Close()
					t.Fatal("WebSocket from a refused origin was accepted")
				} else if !errors.As(err, &se) || int(se) != http.StatusBadRequest {
					t.Fatalf("WebSocket from a refused origin: %v, want HTTP 400", err)
				}
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("allowed origin: %d %s", resp.StatusCode, body)
			}
			if origin != "" && !(tc.opts != nil && tc.opts.DisableCORS) {
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != origin {
					t.Fatalf("Access-Control-Allow-Origin = %q, want %q", got, origin)
				}
				if resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
					t.Fatal("no Access-Control-Allow-Credentials")
				}
				if !strings.Contains(resp.Header.Get("Vary"), "Origin") {
					t.Fatal("no Vary: Origin")
				}
			}
			if tc.opts != nil && tc.opts.DisableCORS && resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Fatal("CORS headers sent with DisableCORS")
			}
		})
	}
}

func TestServerCORSPreflightAndCredentials(t *testing.T) {
	_, base := testServer(t, &Options{AllowedOrigins: []string{"https://app.example"}, NoCORSCredentials: true})
	h := http.Header{
		"Origin":                         {"https://app.example"},
		"Access-Control-Request-Method":  {"POST"},
		"Access-Control-Request-Headers": {"content-type, x-token"},
	}
	resp, _ := request(t, http.MethodOptions, base+"/engine.io/?EIO=4&transport=polling", h, "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("preflight status %d", resp.StatusCode)
	}
	want := map[string]string{
		"Access-Control-Allow-Origin":  "https://app.example",
		"Access-Control-Allow-Methods": "OPTIONS, GET, POST",
		"Access-Control-Allow-Headers": "content-type, x-token",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Error("credentials header sent with NoCORSCredentials")
	}
}

func TestServerBehindProxyOrigin(t *testing.T) {
	for _, trust := range []bool{false, true} {
		_, base := testServer(t, &Options{BehindProxy: trust})
		h := http.Header{
			"Origin":            {"https://public.example"},
			"X-Forwarded-Proto": {"https"},
			"X-Forwarded-Host":  {"public.example"},
		}
		resp, _ := request(t, http.MethodGet, base+"/engine.io/?EIO=4&transport=polling", h, "")
		if ok := resp.StatusCode == http.StatusOK; ok != trust {
			t.Errorf("BehindProxy=%v: status %d", trust, resp.StatusCode)
		}
	}
}

func TestServerCookie(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		_, base := testServer(t, nil)
		resp, _ := request(t, http.MethodGet, eioURL(base, "transport=polling"), nil, "")
		if len(resp.Cookies()) != 0 {
			t.Fatalf("cookies %v", resp.Cookies())
		}
	})
	t.Run("name with defaults", func(t *testing.T) {
		_, base := testServer(t, &Options{Cookie: &http.Cookie{Name: "io"}})
		resp, body := request(t, http.MethodGet, eioURL(base, "transport=polling"), nil, "")
		sid := parseOpen(t, body).SID
		set := resp.Header.Get("Set-Cookie")
		for _, want := range []string{"io=" + sid, "Path=/", "SameSite=Lax"} {
			if !strings.Contains(set, want) {
				t.Errorf("Set-Cookie %q lacks %q", set, want)
			}
		}
		// Only the handshake sets it.
		resp, _ = request(t, http.MethodPost, pollURL(base, sid), nil, "4x")
		if resp.Header.Get("Set-Cookie") != "" {
			t.Error("a POST set the cookie")
		}
	})
	t.Run("attributes, over WebSocket too", func(t *testing.T) {
		c := &http.Cookie{Name: "sticky", Path: "/app", Domain: "example.com", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: 60}
		_, base := testServer(t, &Options{Cookie: c})
		resp, body := request(t, http.MethodGet, eioURL(base, "transport=polling"), nil, "")
		sid := parseOpen(t, body).SID
		set := resp.Header.Get("Set-Cookie")
		for _, want := range []string{"sticky=" + sid, "Path=/app", "Domain=example.com", "Max-Age=60", "HttpOnly", "Secure", "SameSite=Strict"} {
			if !strings.Contains(set, want) {
				t.Errorf("Set-Cookie %q lacks %q", set, want)
			}
		}
		var header http.Header
		d := ws.Dialer{OnHeader: func(key, value []byte) error {
			if header == nil {
				header = http.Header{}
			}
			header.Add(string(key), string(value))
			return nil
		}}
		conn, _, _, err := d.Dial(context.Background(), "ws"+strings.TrimPrefix(base, "http")+"/engine.io/?EIO=4&transport=websocket")
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		if !strings.HasPrefix(header.Get("Set-Cookie"), "sticky=") {
			t.Errorf("WebSocket handshake Set-Cookie %q", header.Get("Set-Cookie"))
		}
	})
}

func TestServerAuthorize(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		wantStatus int
		wantBody   string
	}{
		{"plain error", errors.New("bad token"), 401, `{"message":"bad token"}`},
		{"rejection default", &Rejection{}, 401, `{"message":"Unauthorized"}`},
		{"rejection with data", &Rejection{Body: map[string]any{"reason": "banned", "retry": false}}, 401, `{"reason":"banned","retry":false}`},
		{"node style", &Rejection{Status: 403, Body: map[string]any{"code": 4, "message": "Forbidden"}}, 403, `{"code":4,"message":"Forbidden"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var seen atomic.Value
			srv, base := testServer(t, &Options{Authorize: func(r *http.Request) error {
				seen.Store(r.URL.Query().Get("token"))
				if r.URL.Query().Get("token") == "good" {
					return nil
				}
				return tc.err
			}})
			resp, body := request(t, http.MethodGet, eioURL(base, "transport=polling&token=bad"), nil, "")
			if resp.StatusCode != tc.wantStatus || body != tc.wantBody || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("rejection: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if seen.Load() != "bad" {
				t.Fatal("hook did not see the request")
			}
			if srv.Len() != 0 {
				t.Fatal("a rejected handshake made a session")
			}
			// A WebSocket handshake is refused before the upgrade.
			wsURL := "ws" + strings.TrimPrefix(eioURL(base, "transport=websocket&token=bad"), "http")
			if conn, _, _, err := ws.Dial(context.Background(), wsURL); err == nil {
				conn.Close()
				t.Fatal("rejected WebSocket handshake accepted")
			}
			resp, body = request(t, http.MethodGet, eioURL(base, "transport=polling&token=good"), nil, "")
			if resp.StatusCode != 200 {
				t.Fatalf("accepted handshake: %d %s", resp.StatusCode, body)
			}
			expectEvent(t, srv, EventConnect, parseOpen(t, body).SID)
		})
	}
}

func TestServerGenerateIDAndInitialMessage(t *testing.T) {
	var n atomic.Int32
	ids := []string{"dup", "dup", "second"}
	srv, base := testServer(t, &Options{
		GenerateID:     func() string { return ids[min(int(n.Add(1))-1, len(ids)-1)] },
		InitialMessage: []byte("welcome"),
	})
	_, body := httpDo(t, http.MethodGet, eioURL(base, "transport=polling"), "")
	open, rest, _ := strings.Cut(body, "\x1e")
	if parseOpen(t, open).SID != "dup" || rest != "4welcome" {
		t.Fatalf("handshake payload %q", body)
	}
	expectEvent(t, srv, EventConnect, "dup")
	// The generator repeats itself: the server asks again.
	p := dialWS(t, base, "")
	if o := p.open(); o.SID != "second" {
		t.Fatalf("second sid %q", o.SID)
	}
	p.expect("4welcome")
}

func TestServerSessionData(t *testing.T) {
	srv, base := testServer(t, nil)
	ctx := context.Background()
	sid := pollOpen(t, base)
	expectEvent(t, srv, EventConnect, sid)
	if v, err := srv.Session(ctx, sid); err != nil || v != nil {
		t.Fatalf("fresh session data %v, %v", v, err)
	}
	if err := srv.SaveSession(ctx, sid, map[string]string{"user": "ann"}); err != nil {
		t.Fatal(err)
	}
	// Many concurrent atomic updates: none lost.
	const n = 200
	errs := make(chan error, n)
	if err := srv.SaveSession(ctx, sid, 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		go func() {
			_, err := srv.UpdateSession(ctx, sid, func(v any) any { return v.(int) + 1 })
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := srv.Session(ctx, sid); v != n {
		t.Fatalf("counter %v, want %d", v, n)
	}
	// The data survives messages and comes back in the disconnect event.
	httpDo(t, http.MethodPost, pollURL(base, sid), "4hi")
	expectEvent(t, srv, EventMessage, sid)
	if v, _ := srv.Session(ctx, sid); v != n {
		t.Fatalf("after a message: %v", v)
	}
	httpDo(t, http.MethodPost, pollURL(base, sid), "1")
	if ev := expectEvent(t, srv, EventDisconnect, sid); ev.Session != n {
		t.Fatalf("disconnect event session data %v", ev.Session)
	}
	if _, err := srv.Session(ctx, sid); !errors.Is(err, ErrUnknownSession) {
		t.Fatalf("data after the end: %v", err)
	}
	if err := srv.SaveSession(ctx, "nope", 1); !errors.Is(err, ErrUnknownSession) {
		t.Fatalf("save on unknown sid: %v", err)
	}
}

func TestServerJSONP(t *testing.T) {
	srv, base := testServer(t, nil)
	sid := pollOpen(t, base)
	expectEvent(t, srv, EventConnect, sid)
	// A POST in JSONP form: the d field, newlines escaped by the client.
	form := url.Values{"d": {`4line1\nline2 \\n end`}}.Encode()
	resp, body := request(t, http.MethodPost, pollURL(base, sid)+"&j=0", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, form)
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("JSONP POST: %d %q", resp.StatusCode, body)
	}
	ev := expectEvent(t, srv, EventMessage, sid)
	if want := "line1\nline2 \\n end"; string(ev.Data) != want {
		t.Fatalf("JSONP message %q, want %q", ev.Data, want)
	}
	if err := srv.Send(sid, []byte("a\u2028b\u2029c\"</script>")); err != nil {
		t.Fatal(err)
	}
	resp, body = request(t, http.MethodGet, pollURL(base, sid)+"&j=7x", nil, "")
	want := `___eio[7]("4a\u2028b\u2029c\"\u003c/script\u003e");`
	if body != want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("JSONP GET: %q %q, want %q", resp.Header.Get("Content-Type"), body, want)
	}
}

func TestServerStats(t *testing.T) {
	srv, base := testServer(t, nil)
	p := dialWS(t, base, "")
	wsSID := p.open().SID
	expectEvent(t, srv, EventConnect, wsSID)
	pollSID := pollOpen(t, base)
	expectEvent(t, srv, EventConnect, pollSID)
	p.send("4hello")
	expectEvent(t, srv, EventMessage, wsSID)
	_ = srv.Send(wsSID, []byte("12345"))
	p.expect("412345")
	httpDo(t, http.MethodGet, eioURL(base, "transport=nope"), "")
	httpDo(t, http.MethodGet, pollURL(base, "unknown"), "")

	st := srv.Stats()
	if st.Sessions != 2 || st.PollingSessions != 1 || st.WebSocketSessions != 1 {
		t.Errorf("sessions %d (%d polling, %d websocket)", st.Sessions, st.PollingSessions, st.WebSocketSessions)
	}
	if st.Handshakes != 2 || st.MessagesIn != 1 || st.BytesIn != 5 || st.MessagesOut < 1 || st.BytesOut < 5 || st.QueueHighWater < 5 {
		t.Errorf("counters %+v", st)
	}
	if st.Rejected[CodeUnknownTransport] != 1 || st.Rejected[CodeUnknownSID] != 1 {
		t.Errorf("rejected %v", st.Rejected)
	}
	p.send("1")
	expectEvent(t, srv, EventDisconnect, wsSID)
	if st := srv.Stats(); st.Disconnects["client disconnect"] != 1 || st.WebSocketSessions != 0 {
		t.Errorf("after the disconnect: %+v", st)
	}

	name := "chanio-test-stats-" + time.Now().Format(time.RFC3339Nano) // expvar names are process-wide
	srv.PublishExpvar(name)
	if v := expvar.Get(name); v == nil || !strings.Contains(v.String(), `"Handshakes":2`) {
		t.Errorf("expvar: %v", v)
	}
}

func TestServerDisablePingTimeout(t *testing.T) {
	srv, base := testServer(t, &Options{PingInterval: 20 * time.Millisecond, PingTimeout: 20 * time.Millisecond, DisablePingTimeout: true})
	p := dialWS(t, base, "")
	sid := p.open().SID
	expectEvent(t, srv, EventConnect, sid)
	// Never answer: pings keep coming and the session stays.
	for i := 0; i < 4; i++ {
		p.expect("2")
	}
	if _, err := srv.Transport(sid); err != nil {
		t.Fatalf("session ended: %v", err)
	}
}

func TestServerLogsRefusals(t *testing.T) {
	var out lockedWriter
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	_, base := testServer(t, &Options{Logger: logger})
	httpDo(t, http.MethodGet, pollURL(base, "unknown-sid"), "")
	if out := out.String(); !strings.Contains(out, "request refused") || !strings.Contains(out, "code=1") {
		t.Fatalf("log: %s", out)
	}
}

// lockedWriter serialises writes to a buffer shared with the test.
type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestServerLimits(t *testing.T) {
	t.Run("MaxSessions", func(t *testing.T) {
		srv, base := testServer(t, &Options{MaxSessions: 2})
		for i := 0; i < 2; i++ {
			expectEvent(t, srv, EventConnect, pollOpen(t, base))
		}
		resp, body := request(t, http.MethodGet, eioURL(base, "transport=polling"), nil, "")
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Server full") {
			t.Fatalf("third handshake: %d %s", resp.StatusCode, body)
		}
		if srv.Len() != 2 {
			t.Fatalf("%d sessions", srv.Len())
		}
	})
	t.Run("long query", func(t *testing.T) {
		_, base := testServer(t, nil)
		status, body := httpDo(t, http.MethodGet, eioURL(base, "transport=polling&pad="+strings.Repeat("x", 9000)), "")
		if status != http.StatusBadRequest || !strings.Contains(body, `"code":3`) {
			t.Fatalf("%d %s", status, body)
		}
	})
	t.Run("encoded POST body", func(t *testing.T) {
		srv, base := testServer(t, nil)
		sid := pollOpen(t, base)
		expectEvent(t, srv, EventConnect, sid)
		resp, _ := request(t, http.MethodPost, pollURL(base, sid), http.Header{"Content-Encoding": {"gzip"}}, "4hi")
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if ev := expectEvent(t, srv, EventDisconnect, sid); ev.Reason != ReasonTransportError {
			t.Fatalf("reason %v", ev.Reason)
		}
	})
}

func TestServerRange(t *testing.T) {
	srv, base := testServer(t, nil)
	want := map[string]bool{}
	for i := 0; i < 3; i++ {
		sid := pollOpen(t, base)
		expectEvent(t, srv, EventConnect, sid)
		want[sid] = true
	}
	got := map[string]bool{}
	srv.Range(func(sid string) bool {
		got[sid] = true
		return true
	})
	if !maps.Equal(got, want) {
		t.Fatalf("Range saw %v, want %v", got, want)
	}
	n := 0
	srv.Range(func(string) bool { n++; return false })
	if n != 1 {
		t.Fatalf("Range went on after false: %d calls", n)
	}
}

// TestServerParksIdleWebSockets: a quiet WebSocket session holds no
// goroutine (its reader parks it on the poller), and wakes on its next
// message.
func TestServerParksIdleWebSockets(t *testing.T) {
	srv, base, hooks := hookedServer(t, nil)
	if srv.poller == nil {
		t.Skip("no poller on this platform")
	}
	before := runtime.NumGoroutine()
	const n = 20
	peers := make([]*wsPeer, n)
	sids := make([]string, n)
	for i := range peers {
		peers[i] = dialWS(t, base, "")
		sids[i] = peers[i].open().SID
		expectEvent(t, srv, EventConnect, sids[i])
	}
	for _, sid := range sids {
		hooks.parked.wait(t, "parked", sid, 1)
	}
	// Each reader returns right after it parks its connection.
	if got := waitGoroutines(before+n/2, 30*time.Second); got > before+n/2 {
		t.Fatalf("%d goroutines for %d idle sessions (%d before): readers did not let their goroutines go", got, n, before)
	}
	for i, p := range peers {
		p.send("4wake " + sids[i])
		if ev := expectEvent(t, srv, EventMessage, sids[i]); string(ev.Data) != "wake "+sids[i] {
			t.Fatalf("woken session got %q", ev.Data)
		}
		if err := srv.Send(sids[i], []byte("back")); err != nil {
			t.Fatal(err)
		}
		p.expect("4back")
	}
}

// TestServerTrimsQuietSessions: once a WebSocket session that has worked
// goes quiet and its reader parks, the session lets go of its scratch
// batches (its queues' rings go with them), so that thousands of idle
// sessions do not each keep the memory of their last burst.
func TestServerTrimsQuietSessions(t *testing.T) {
	srv, base, hooks := hookedServer(t, nil)
	if srv.poller == nil {
		t.Skip("no poller on this platform")
	}
	p := dialWS(t, base, "")
	sid := p.open().SID
	expectEvent(t, srv, EventConnect, sid)
	// Work first: a message in (the inbound batch) and one out (the
	// outbound batch).
	p.send("4hello")
	expectEvent(t, srv, EventMessage, sid)
	if err := srv.Send(sid, []byte("back")); err != nil {
		t.Fatal(err)
	}
	p.expect("4back")

	// Once the session says it has trimmed, look from inside the actor
	// (UpdateSession runs there).
	hooks.trimmed.wait(t, "trimmed", sid, 1)
	var trimmed bool
	sess, _ := srv.sessions.Load(sid)
	if _, err := srv.UpdateSession(context.Background(), sid, func(v any) any {
		trimmed = sess.batch == nil && sess.inBatch == nil && sess.ctrl == nil && sess.queue.pending == nil
		return v
	}); err != nil {
		t.Fatalf("UpdateSession: %v", err)
	}
	if !trimmed {
		t.Fatal("session still holds its scratch after its quiet connection parked")
	}
	// A trimmed session works as before.
	p.send("4again")
	if ev := expectEvent(t, srv, EventMessage, sid); string(ev.Data) != "again" {
		t.Fatalf("after the trim the session got %q", ev.Data)
	}
	if err := srv.Send(sid, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	p.expect("4still here")
}
