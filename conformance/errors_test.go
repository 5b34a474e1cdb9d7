package conformance

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// unknownSID has the shape of a sid but was never handed out.
const unknownSID = "AAAAAAAAAAAAAAAAAAAA"

// Spec: a missing mandatory query parameter or an unknown sid is an HTTP
// 400. The reference answers every refusal with 400 and
// {"code":N,"message":"..."}, the codes of its Server.errors.
func TestHandshakeErrors(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name    string
		method  string
		query   string
		code    int
		message string
	}{
		{
			name:    "unknown transport",
			method:  http.MethodGet,
			query:   "EIO=4&transport=abc",
			code:    0,
			message: "Transport unknown",
		},
		{
			name:    "missing transport",
			method:  http.MethodGet,
			query:   "EIO=4",
			code:    0,
			message: "Transport unknown",
		},
		{
			name:    "unknown sid on GET",
			method:  http.MethodGet,
			query:   "EIO=4&transport=polling&sid=" + unknownSID,
			code:    1,
			message: "Session ID unknown",
		},
		{
			name:    "unknown sid on POST",
			method:  http.MethodPost,
			query:   "EIO=4&transport=polling&sid=" + unknownSID,
			code:    1,
			message: "Session ID unknown",
		},
		{
			name:    "POST handshake",
			method:  http.MethodPost,
			query:   "EIO=4&transport=polling",
			code:    2,
			message: "Bad handshake method",
		},
		{
			name:    "PUT handshake",
			method:  http.MethodPut,
			query:   "EIO=4&transport=polling",
			code:    2,
			message: "Bad handshake method",
		},
		{
			name:    "websocket handshake without upgrade headers",
			method:  http.MethodGet,
			query:   "EIO=4&transport=websocket",
			code:    3,
			message: "Bad request",
		},
		{
			name:    "missing EIO",
			method:  http.MethodGet,
			query:   "transport=polling",
			code:    5,
			message: "Unsupported protocol version",
		},
		{
			name:    "EIO=3 (not allowed by default)",
			method:  http.MethodGet,
			query:   "EIO=3&transport=polling",
			code:    5,
			message: "Unsupported protocol version",
		},
		{
			name:    "EIO=9",
			method:  http.MethodGet,
			query:   "EIO=9&transport=polling",
			code:    5,
			message: "Unsupported protocol version",
		},
		{
			name:    "EIO not a number",
			method:  http.MethodGet,
			query:   "EIO=abc&transport=polling",
			code:    5,
			message: "Unsupported protocol version",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.method != http.MethodGet {
				body = []byte("4x")
			}
			r := s.request(t, tt.method, tt.query, body, textPlain)
			checkError(t, r, http.StatusBadRequest, tt.code, tt.message)
		})
	}
}

// Spec: "If a mandatory query parameter is missing, then the server MUST
// close the WebSocket connection." Refusing the handshake with a 400 (as
// the reference does for most of these) or closing right after it both
// qualify; no open packet may come.
func TestWebSocketHandshakeErrors(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name    string
		query   string
		code    int
		message string
	}{
		{
			name:    "missing EIO",
			query:   "transport=websocket",
			code:    5,
			message: "Unsupported protocol version",
		},
		{
			name:    "EIO not a number",
			query:   "EIO=abc&transport=websocket",
			code:    5,
			message: "Unsupported protocol version",
		},
		{
			name:    "EIO=3",
			query:   "EIO=3&transport=websocket",
			code:    5,
			message: "Unsupported protocol version",
		},
		{
			name:    "missing transport",
			query:   "EIO=4",
			code:    0,
			message: "Transport unknown",
		},
		{
			name:    "unknown transport",
			query:   "EIO=4&transport=abc",
			code:    0,
			message: "Transport unknown",
		},
		{
			name:    "unknown sid",
			query:   "EIO=4&transport=websocket&sid=" + unknownSID,
			code:    1,
			message: "Session ID unknown",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			he := s.expectWSRefused(t, tt.query)
			checkRefusalCode(t, he, tt.code, tt.message)
		})
	}
}

// Requests that do not fit the session's transport are refused with code 3
// (the reference's TRANSPORT_MISMATCH) and leave the session as it was.
func TestTransportMismatch(t *testing.T) {
	s := startServer(t)

	t.Run("websocket without upgrade on a polling session", func(t *testing.T) {
		p := s.openPolling(t)
		r := s.get(t, "EIO=4&transport=websocket&sid="+url.QueryEscape(p.sid))
		checkError(t, r, http.StatusBadRequest, 3, "Bad request")
		p.mustPost(t, "4still")
		if m := p.receive(t, 1); m[0].data != "still" {
			t.Fatalf("echo after the refused request: %v, want \"still\"", m)
		}
	})

	t.Run("polling on a websocket session", func(t *testing.T) {
		c, h := s.openWS(t)
		q := "EIO=4&transport=polling&sid=" + url.QueryEscape(h.SID)
		checkError(t, s.get(t, q), http.StatusBadRequest, 3, "Bad request")
		checkError(t, s.request(t, http.MethodPost, q, []byte("4x"), textPlain), http.StatusBadRequest, 3, "Bad request")
		c.sendText(t, "4still")
		if m := c.receive(t, 1); !m[0].isText("4still") {
			t.Fatalf("echo after the refused requests: %v, want \"4still\"", m)
		}
	})
}

// Spec: the test suite's "closes the session upon invalid packet format".
// A POST whose payload does not decode is refused and ends the session.
func TestInvalidPollingPayload(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name   string
		body   string
		header http.Header
	}{
		{
			name:   "not a packet",
			body:   "abc",
			header: textPlain,
		},
		{
			name:   "empty body",
			body:   "",
			header: textPlain,
		},
		{
			name:   "unknown packet type",
			body:   "9x",
			header: textPlain,
		},
		{
			name:   "empty packet between separators",
			body:   "4a\x1e\x1e4b",
			header: textPlain,
		},
		{
			name:   "trailing separator",
			body:   "4a\x1e",
			header: textPlain,
		},
		{
			// Spec: v4 payloads are text; binary goes base64 with "b".
			name:   "octet-stream body",
			body:   "4hello",
			header: http.Header{"Content-Type": {"application/octet-stream"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := s.openPolling(t)
			r := s.request(t, http.MethodPost, p.query(), []byte(tt.body), tt.header)
			checkError(t, r, http.StatusBadRequest, 3, "Bad request")
			p.expectEnded(t)
		})
	}
}

// maxPayload bounds a POST body: one of exactly maxPayload bytes is
// accepted, a larger one is refused with 413 and ends the session.
func TestPollingMaxPayload(t *testing.T) {
	s := startServer(t)

	t.Run("at the limit", func(t *testing.T) {
		p := s.openPolling(t)
		data := strings.Repeat("a", maxPayload-1)
		p.mustPost(t, "4"+data) // maxPayload bytes with the type digit
		m := p.receive(t, 1)
		if len(m) != 1 || m[0].data != data {
			t.Fatalf("echo of a %d-byte message: %v", len(data), m)
		}
	})

	t.Run("over the limit", func(t *testing.T) {
		p := s.openPolling(t)
		body := "4" + strings.Repeat("a", maxPayload)
		// Expect: 100-continue lets the server refuse on the declared
		// length without the client pushing a megabyte it will not read.
		h := http.Header{"Content-Type": textPlain["Content-Type"], "Expect": {"100-continue"}}
		r := s.request(t, http.MethodPost, p.query(), []byte(body), h)
		if r.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("POST of %d bytes: %v, want 413", len(body), r)
		}
		var e struct {
			Code    *int    `json:"code"`
			Message *string `json:"message"`
		}
		if err := json.Unmarshal(r.body, &e); err != nil || e.Code == nil || e.Message == nil {
			t.Errorf("413 body %q, want the JSON error object {\"code\":N,\"message\":\"...\"}", r.body)
		}
		p.expectEnded(t)
	})
}

// Spec: "a client MUST NOT have more than one active POST request. Should
// it happen, the server MUST return an HTTP 400 error status and close the
// session."
func TestPollingConcurrentPOST(t *testing.T) {
	s := startServer(t)
	p := s.openPolling(t)

	// The first POST sends its headers and half its body, then stalls. It
	// asks for "100 Continue", which net/http sends once the handler
	// reads the body: then the server is in the first POST.
	conn, err := net.DialTimeout("tcp", s.host, requestTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "4first-post"
	_ = conn.SetDeadline(time.Now().Add(requestTimeout))
	_, err = fmt.Fprintf(conn, "POST %s?%s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
		s.path, p.query(), s.host, len(body))
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	if line, err := br.ReadString('\n'); err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("first POST: %q %v, want 100 Continue", line, err)
	}
	if _, err := io.WriteString(conn, body[:4]); err != nil {
		t.Fatal(err)
	}

	r := p.post(t, "4second-post")
	checkError(t, r, http.StatusBadRequest, 3, "Bad request")
	_ = conn.Close()
	p.expectEnded(t)
}
