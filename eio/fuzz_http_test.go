package eio

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanio/chanio/transport"
)

// Session ids of the sessions every fuzz input finds open: fuzzSIDs[0] on
// protocol 4, fuzzSIDs[1] on protocol 3, both polling with a text and a
// binary message queued (so that a GET answers at once, on protocol 3 with
// a binary payload unless it is JSONP).
var fuzzSIDs = [2]string{"fuzz0000000000000000", "fuzz0000000000000001"}

// FuzzServeHTTP drives Server.ServeHTTP with arbitrary methods, query
// strings (or request targets, when the input starts with "/"), headers
// (one "Name: value" per line) and bodies, sent with a Content-Length or
// chunked. Each input gets a fresh server holding two polling sessions it
// can address. The handler must not panic or hang, must answer with a
// valid status and header, must answer every 400 and 403 with the
// reference JSON error {"code":N,"message":"..."} (and every other error
// of its own too), no session goroutine may fail, and Close must leave
// no session and no goroutine. The recorder cannot be hijacked, so
// WebSocket handshakes fail cleanly with 500 here; the battery in
// hostile_test.go covers them on real sockets.
func FuzzServeHTTP(f *testing.F) {
	f.Add("GET", "EIO=4&transport=polling", "", []byte(nil), false)
	f.Add("POST", "EIO=4&transport=polling&sid="+fuzzSIDs[0], "Content-Type: text/plain;charset=UTF-8", []byte("4hello\x1ebAQID\x1e1"), false)
	f.Add("GET", "EIO=3&transport=polling&sid="+fuzzSIDs[1]+"&j=0", "", []byte(nil), false)
	f.Add("GET", "EIO=4&transport=polling&j=0", "", []byte(nil), false)
	f.Add("GET", "EIO=4&transport=websocket", "Connection: Upgrade\nUpgrade: websocket\nSec-WebSocket-Version: 13\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", []byte(nil), false)
	f.Fuzz(func(t *testing.T, method, target, header string, body []byte, chunked bool) {
		req := fuzzRequest(method, target, header, body, chunked)
		if req == nil {
			return // nothing a real server would pass to a handler
		}
		fuzzOne(t, req)
	})
}

// fuzzRequest builds the request a net/http server would hand the handler,
// or returns nil when no server would (a method that is not a token, a
// header field that is not valid).
func fuzzRequest(method, target, header string, body []byte, chunked bool) *http.Request {
	if method == "" || len(method) > 32 || len(target) > 16<<10 || len(header) > 16<<10 || len(body) > 64<<10 {
		return nil
	}
	for i := 0; i < len(method); i++ {
		if !isTokenChar(method[i]) {
			return nil
		}
	}
	u := &url.URL{Path: "/engine.io/", RawQuery: target}
	if strings.HasPrefix(target, "/") {
		var err error
		if u, err = url.ParseRequestURI(target); err != nil {
			return nil
		}
	}
	req := &http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header),
		Host:       "example.com",
		RemoteAddr: "192.0.2.1:1234",
		RequestURI: u.RequestURI(),
		Body:       io.NopCloser(bytes.NewReader(body)),
	}
	for i, line := range strings.Split(header, "\n") {
		if i == 32 {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name, value = strings.TrimSpace(name), strings.Trim(value, " \t\r")
		if name == "" || !validFieldName(name) || !validFieldValue(value) {
			return nil
		}
		name = textproto.CanonicalMIMEHeaderKey(name)
		switch name {
		case "Host":
			req.Host = value
		case "Content-Length", "Transfer-Encoding":
			// Framing is the chunked flag's to choose.
		default:
			req.Header.Add(name, value)
		}
	}
	req.ContentLength = int64(len(body))
	if chunked {
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
	}
	return req
}

func isTokenChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, rune(c))
}

func validFieldName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// fuzzOne serves req on a fresh server and checks the answer.
func fuzzOne(t *testing.T, req *http.Request) {
	var ids atomic.Int64
	// Error-level logs: a session goroutine that panicked or failed.
	errs := new(lockedWriter)
	srv := NewServer(&Options{
		GenerateID:     func() string { return fmt.Sprintf("fuzz%016d", ids.Add(1)-1) },
		MaxPayload:     4096,
		AllowEIO3:      true,
		AllowedOrigins: []string{"https://ok.example"},
		Logger:         slog.New(slog.NewTextHandler(errs, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for range srv.Events() {
		}
	}()
	defer func() {
		_ = srv.Close()
		<-drained
		if n := srv.Len(); n != 0 {
			t.Errorf("%d sessions left after Close", n)
		}
		if n := srv.group.Len() + srv.core.Len(); n != 0 {
			t.Errorf("%d goroutines or actors left after Close", n)
		}
		if s := errs.String(); s != "" {
			t.Errorf("server logged errors:\n%s", s)
		}
	}()
	for i, v := range []string{"4", "3"} {
		hs := httptest.NewRequest(http.MethodGet, "/engine.io/?transport=polling&EIO="+v, nil)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, hs)
		if rec.Code != http.StatusOK {
			t.Fatalf("handshake EIO=%s: %d %s", v, rec.Code, rec.Body)
		}
		if err := srv.Send(fuzzSIDs[i], []byte("queued")); err != nil {
			t.Fatalf("session %s: %v", fuzzSIDs[i], err)
		}
		if err := srv.SendBinary(fuzzSIDs[i], []byte{0, 0xff}); err != nil {
			t.Fatalf("session %s: %v", fuzzSIDs[i], err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req = req.WithContext(ctx)
	rec := httptest.NewRecorder()
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		srv.ServeHTTP(rec, req)
	}()
	var p any
	select {
	case p = <-done:
	case <-time.After(time.Second):
		// Nothing a handler does here should take this long: a GET with
		// nothing to answer holds until Close answers it.
		_ = srv.Close()
		select {
		case p = <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("handler still running 5s after Close: %s %s", req.Method, req.URL)
		}
	}
	if p != nil {
		t.Fatalf("handler panicked: %v", p)
	}
	if testing.Verbose() {
		t.Logf("%s %s -> %d %q", req.Method, req.URL, rec.Code, rec.Body.String()[:min(80, rec.Body.Len())])
	}
	checkFuzzResponse(t, srv, req, rec)
}

func checkFuzzResponse(t *testing.T, srv *Server, req *http.Request, rec *httptest.ResponseRecorder) {
	res := rec.Result()
	body := rec.Body.Bytes()
	if res.StatusCode < 100 || res.StatusCode > 599 {
		t.Fatalf("status %d", res.StatusCode)
	}
	for name, values := range res.Header {
		if !validFieldName(name) {
			t.Errorf("invalid header name %q", name)
		}
		for _, v := range values {
			if !validFieldValue(v) {
				t.Errorf("invalid value of %s: %q", name, v)
			}
		}
	}
	if cl := res.Header.Get("Content-Length"); cl != "" {
		if n, err := strconv.Atoi(cl); err != nil || n != len(body) {
			t.Errorf("Content-Length %q for a %d-byte body", cl, len(body))
		}
	}
	switch status := res.StatusCode; {
	case status == http.StatusBadRequest, status == http.StatusForbidden,
		status == http.StatusRequestEntityTooLarge, status == http.StatusServiceUnavailable:
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%d with Content-Type %q (%q), want application/json", status, ct, body)
		}
		var e struct {
			Code    *int    `json:"code"`
			Message *string `json:"message"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Code == nil || e.Message == nil {
			t.Fatalf("%d body %q is not {code, message}: %v", status, body, err)
		}
		if c := ErrorCode(*e.Code); c < CodeUnknownTransport || c > CodeUnsupportedProtocolVersion {
			t.Fatalf("%d body %q: code %d is not a reference code", status, body, c)
		}
	case status == http.StatusNotFound:
		if srv.atPath(req.URL.Path) {
			t.Fatalf("404 for the server's own path %q", req.URL.Path)
		}
	case status == http.StatusInternalServerError:
		// Only the WebSocket upgrader answers 500 here: the recorder
		// cannot be hijacked.
		if !transport.IsWebSocketUpgrade(req) {
			t.Fatalf("500 for a request that is not a WebSocket upgrade: %q", body)
		}
	case status >= 400:
		t.Fatalf("unexpected status %d: %q", status, body)
	}
}
