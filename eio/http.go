package eio

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/internal/loglimit"
	"github.com/chanio/chanio/transport"
	"github.com/gobwas/ws"
)

// maxPacketsPerPost bounds the packets of one POST body; a real client
// sends a handful.
const maxPacketsPerPost = 4096

// maxQueryBytes bounds a request's query string. Engine.IO's own
// parameters take under 100 bytes; applications add a token or two.
const maxQueryBytes = 8 << 10

// ServeHTTP answers Engine.IO requests at the server's path: handshakes,
// long-polling GETs and POSTs, and WebSocket upgrades. A request at another
// path is a 404 whose body names Options.Path; the first Engine.IO request
// at another path (a server mounted where Options.Path does not say) is
// also logged as a warning. Protocol errors are answered as the reference
// server does: 400 (403 for code 4) with {"code":N,"message":"..."}.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.atPath(r.URL.Path) {
		s.notAtPath(w, r)
		return
	}
	if hs, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok {
		s.followShutdown(hs)
	}
	if !s.checkCORS(w, r) {
		return
	}
	if len(r.URL.RawQuery) > maxQueryBytes {
		s.fail(w, r, CodeBadRequest)
		return
	}
	q := r.URL.Query()
	name := q.Get("transport")
	if !(name == TransportPolling && s.opts.allowPolling || name == TransportWebSocket && s.opts.allowWebSocket) {
		s.fail(w, r, CodeUnknownTransport)
		return
	}
	upgrade := isWebSocketUpgrade(r)
	if sid := q.Get("sid"); sid != "" {
		sess, ok := s.sessions.Load(sid)
		if !ok {
			s.fail(w, r, CodeUnknownSID)
			return
		}
		if !s.boundTo(r, sess) {
			s.fail(w, r, CodeForbidden) // the session goes on
			return
		}
		switch {
		case name == TransportWebSocket && upgrade:
			s.serveUpgrade(w, r, sess)
		case name == TransportWebSocket, mode(sess.mode.Load()) == modeWebSocket:
			s.fail(w, r, CodeBadRequest)
		case r.Method == http.MethodGet:
			s.servePoll(w, r, sess, jsonpIndex(q))
		case r.Method == http.MethodPost:
			s.servePost(w, r, sess, jsonpIndex(q))
		default:
			s.fail(w, r, CodeBadRequest)
		}
		return
	}
	if r.Method != http.MethodGet {
		s.fail(w, r, CodeBadHandshakeMethod)
		return
	}
	if name == TransportWebSocket && !upgrade {
		s.fail(w, r, CodeBadRequest)
		return
	}
	var v codec.Version
	switch q.Get("EIO") {
	case "4":
		v = codec.V4
	case "3":
		if !s.opts.AllowEIO3 {
			s.fail(w, r, CodeUnsupportedProtocolVersion)
			return
		}
		v = codec.V3
	default:
		s.fail(w, r, CodeUnsupportedProtocolVersion)
		return
	}
	if s.closing.Load() {
		s.unavailable(w)
		return
	}
	if max := s.opts.MaxSessions; max > 0 && s.sessions.Size() >= max {
		s.stats.rejected[CodeBadRequest].Add(1)
		s.log.Warn("eio: handshake refused: MaxSessions reached", "max", max, "remote", loglimit.Text(r.RemoteAddr))
		w.Header().Set("Retry-After", "5")
		writeJSONError(w, http.StatusServiceUnavailable, CodeBadRequest, "Server full")
		return
	}
	data, ok := s.authorize(w, r)
	if !ok {
		return
	}
	if name == TransportWebSocket {
		s.handshakeWebSocket(w, r, v, data)
	} else {
		s.handshakePolling(w, r, v, q, data)
	}
}

// notAtPath answers a request outside Options.Path with a 404 that says
// where the server answers: a server mounted at "/realtime/" with the
// default Options.Path otherwise answers every request with a bare 404.
// The first such request that carries Engine.IO's EIO parameter is logged,
// once per server, so that the log does not grow with every retry.
func (s *Server) notAtPath(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.RawQuery, "EIO=") && s.pathWarned.CompareAndSwap(false, true) {
		s.log.Warn("eio: Engine.IO request at a path other than Options.Path; is the server mounted where Options.Path says?",
			"path", r.URL.Path, "options_path", s.opts.Path, "remote", r.RemoteAddr)
	}
	http.Error(w, "404 page not found: this Engine.IO server answers at "+strconv.Quote(s.opts.Path)+
		" (Options.Path)", http.StatusNotFound)
}

// isWebSocketUpgrade reports whether r asks for a WebSocket.
func isWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		headerHasToken(r.Header.Get("Connection"), "upgrade")
}

func headerHasToken(v, token string) bool {
	for v != "" {
		var t string
		t, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// fail answers a protocol error the way the reference server does.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, code ErrorCode) {
	s.stats.rejected[code].Add(1)
	status := http.StatusBadRequest
	if code == CodeForbidden {
		status = http.StatusForbidden
	}
	s.log.Info("eio: request refused", "code", int(code), "message", code.Message(),
		"method", loglimit.Text(r.Method), "query", logQuery(r.URL.RawQuery), "remote", loglimit.Text(r.RemoteAddr))
	writeJSONError(w, status, code, code.Message())
}

func writeJSONError(w http.ResponseWriter, status int, code ErrorCode, message string) {
	body := make([]byte, 0, 64)
	body = append(body, `{"code":`...)
	body = strconv.AppendInt(body, int64(code), 10)
	body = append(body, `,"message":`...)
	body = strconv.AppendQuoteToASCII(body, message) // messages are ASCII: JSON-safe
	body = append(body, '}')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	writeJSONError(w, http.StatusServiceUnavailable, CodeBadRequest, "Server shutting down")
}

// handshakePolling opens a polling session whose data starts as data.
func (s *Server) handshakePolling(w http.ResponseWriter, r *http.Request, v codec.Version, q url.Values, data any) {
	sess, err := s.newSession(v, r)
	if err != nil {
		s.unavailable(w)
		return
	}
	sess.data = data // the handshake owns the session until start
	jsonp := jsonpIndex(q)
	sess.textPolls = v == codec.V3 && (wantsBase64(q) || jsonp != "")
	pkts := s.openPackets(sess.sid, true, v)
	s.start(sess)
	s.log.Debug("eio: handshake", "sid", sess.sid, "session", sidTag(sess.sid), "transport", TransportPolling, "remote", loglimit.Text(r.RemoteAddr))
	if s.opts.Cookie != nil {
		http.SetCookie(w, s.cookie(sess.sid))
	}
	if s.opts.BindCookie != nil {
		http.SetCookie(w, s.bindCookie(sess))
	}
	buf := transport.AcquireBuffer()
	*buf = codec.AppendPayload(*buf, pkts, v)
	if jsonp != "" {
		writeJSONP(w, jsonp, *buf)
	} else {
		writePayload(w, r, *buf, s.opts.httpCompressionThreshold)
	}
	transport.ReleaseBuffer(buf)
}

// wantsBase64 reports whether a request asks for binary as base64 text:
// the b64 parameter, set to anything but the empty string (as the
// reference reads it). Protocol 3 clients without binary support send it.
func wantsBase64(q url.Values) bool { return q.Get("b64") != "" }

// handshakeWebSocket opens a WebSocket session whose data starts as data.
func (s *Server) handshakeWebSocket(w http.ResponseWriter, r *http.Request, v codec.Version, data any) {
	sess, err := s.newSession(v, r)
	if err != nil {
		s.unavailable(w)
		return
	}
	sess.data = data // the handshake owns the session until start
	upgrader := s.upgrader
	if s.opts.Cookie != nil || s.opts.BindCookie != nil {
		h := make(http.Header, 1)
		if s.opts.Cookie != nil {
			h.Add("Set-Cookie", s.cookie(sess.sid).String())
		}
		if s.opts.BindCookie != nil {
			h.Add("Set-Cookie", s.bindCookie(sess).String())
		}
		upgrader.Header = h
	}
	c, err := s.upgradeWebSocket(upgrader, w, r, v)
	if err != nil {
		sess.discard()
		s.log.Debug("eio: websocket handshake failed", "err", loglimit.Error{Err: err}, "remote", loglimit.Text(r.RemoteAddr))
		return
	}
	sess.attach(c)
	s.start(sess)
	s.log.Debug("eio: handshake", "sid", sess.sid, "session", sidTag(sess.sid), "transport", TransportWebSocket, "remote", loglimit.Text(r.RemoteAddr))
}

// upgradeWebSocket runs the WebSocket handshake with u, negotiating
// permessage-deflate when WebSocketCompression is on, and wraps the
// connection for a session of protocol v. On failure the connection has
// been closed.
func (s *Server) upgradeWebSocket(u ws.HTTPUpgrader, w http.ResponseWriter, r *http.Request, v codec.Version) (*transport.WebSocket, error) {
	var neg *transport.DeflateNegotiator
	if s.opts.WebSocketCompression {
		neg = new(transport.DeflateNegotiator)
		u.Negotiate = neg.Negotiate
	}
	conn, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		if conn != nil {
			_ = conn.Close()
		}
		return nil, err
	}
	return transport.NewWebSocketWith(conn, rw.Reader, transport.WebSocketOptions{
		Side:             transport.ServerSide,
		MaxMessage:       s.opts.MaxPayload,
		Budget:           s.budget,
		WriteTimeout:     s.opts.WriteTimeout,
		Deflate:          neg != nil && neg.Accepted(),
		DeflateThreshold: s.opts.CompressionThreshold,
		Base64:           v == codec.V3 && wantsBase64(r.URL.Query()),
	}), nil
}

// cookie is the handshake cookie carrying sid.
func (s *Server) cookie(sid string) *http.Cookie {
	c := *s.opts.Cookie
	c.Value = sid
	return &c
}

// bindCookie is the handshake cookie carrying the session's binding secret
// (Options.BindCookie).
func (s *Server) bindCookie(sess *session) *http.Cookie {
	c := *s.opts.BindCookie
	c.Value = sess.bind
	return &c
}

// boundTo reports whether r carries sess's binding cookie, or sessions
// are not bound.
func (s *Server) boundTo(r *http.Request, sess *session) bool {
	if s.opts.BindCookie == nil {
		return true
	}
	for _, c := range r.CookiesNamed(s.opts.BindCookie.Name) {
		if subtle.ConstantTimeCompare([]byte(c.Value), []byte(sess.bind)) == 1 {
			return true
		}
	}
	return false
}

// authorize runs Options.Authorize, then Options.AuthorizeSession, and
// returns the session's first data. It answers a refused handshake and
// returns false.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (data any, ok bool) {
	var err error
	if s.opts.Authorize != nil {
		err = s.opts.Authorize(r)
	}
	if err == nil && s.opts.AuthorizeSession != nil {
		data, err = s.opts.AuthorizeSession(r)
	}
	if err == nil {
		return data, true
	}
	status := http.StatusUnauthorized
	answer := any(map[string]string{"message": err.Error()})
	var rej *Rejection
	if errors.As(err, &rej) {
		status, answer = rej.status(), rej.Body
		if answer == nil {
			answer = map[string]string{"message": "Unauthorized"}
		}
	}
	body, merr := s.opts.JSON.Marshal(answer)
	if merr != nil {
		body = []byte(`{"message":"Unauthorized"}`)
	}
	s.log.Info("eio: handshake rejected by Authorize", "status", status, "err", loglimit.Error{Err: err}, "remote", loglimit.Text(r.RemoteAddr))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil, false
}

// serveUpgrade takes a WebSocket for a polling session to its actor, which
// runs the probe. A session that is not on polling any more gets the
// WebSocket accepted and then closed, as the reference does it.
func (s *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, sess *session) {
	if s.opts.DisableUpgrades {
		s.fail(w, r, CodeBadRequest)
		return
	}
	if mode(sess.mode.Load()) != modePolling {
		if c, err := s.upgradeWebSocket(s.upgrader, w, r, sess.version); err == nil {
			_ = c.CloseWith(ws.StatusNoStatusRcvd)
		}
		return
	}
	// Announced before the 101 goes out: a GET the client sends after it
	// must find the session upgrading, whichever reaches the actor first.
	sess.announced.Add(1)
	c, err := s.upgradeWebSocket(s.upgrader, w, r, sess.version)
	if err != nil {
		sess.announced.Add(-1)
		return
	}
	if sess.cmds.Send(r.Context(), command{kind: cmdUpgrade, ws: c}) != nil {
		sess.announced.Add(-1)
		_ = c.CloseWith(ws.StatusGoingAway)
	}
}

// servePoll holds a GET until the session has packets for it.
func (s *Server) servePoll(w http.ResponseWriter, r *http.Request, sess *session, jsonp string) {
	p := &pollRequest{reply: make(chan pollReply, 1), text: jsonp != ""}
	if err := sess.cmds.Send(r.Context(), command{kind: cmdPoll, poll: p}); err != nil {
		if !errors.Is(err, r.Context().Err()) {
			s.fail(w, r, CodeUnknownSID)
		}
		return
	}
	var rep pollReply
	select {
	case rep = <-p.reply:
	case <-r.Context().Done():
		// The client left mid-poll: as in the reference, that ends the
		// session (its next GET would otherwise look like an overlap). If
		// an answer raced the departure, its messages are lost: count them.
		sess.requestClose(ReasonTransportError, errPollAborted, false)
		select {
		case rep = <-p.reply:
			if rep.body != nil {
				s.stats.undelivered.Add(uint64(rep.messages))
				transport.ReleaseBuffer(rep.body)
			}
		default:
		}
		return
	}
	if rep.err {
		s.fail(w, r, rep.code)
		return
	}
	switch {
	case jsonp != "":
		writeJSONP(w, jsonp, *rep.body)
	case rep.binary:
		writeBinaryPayload(w, r, *rep.body, s.opts.httpCompressionThreshold)
	default:
		writePayload(w, r, *rep.body, s.opts.httpCompressionThreshold)
	}
	transport.ReleaseBuffer(rep.body)
}

var (
	textPlain = []string{"text/plain; charset=UTF-8"}
	textHTML  = []string{"text/html"}
	noStore   = []string{"no-store"}
)

// writePayload answers a polling GET with body, compressed when it is over
// threshold bytes (negative: never) and r accepts gzip or deflate.
func writePayload(w http.ResponseWriter, r *http.Request, body []byte, threshold int) {
	h := w.Header()
	h["Content-Type"] = textPlain
	h["Cache-Control"] = noStore
	_ = transport.WriteBody(w, r, body, threshold)
}

var octetStream = []string{"application/octet-stream"}

// writeBinaryPayload answers a protocol 3 polling GET with a binary
// payload, as writePayload does a text one. XHR2 clients of protocol 3
// read it as binary only with exactly this Content-Type.
func writeBinaryPayload(w http.ResponseWriter, r *http.Request, body []byte, threshold int) {
	h := w.Header()
	h["Content-Type"] = octetStream
	h["Cache-Control"] = noStore
	_ = transport.WriteBody(w, r, body, threshold)
}

// servePost delivers a POSTed payload to the session, waiting while the
// session's inbound queue is full (the application is behind).
func (s *Server) servePost(w http.ResponseWriter, r *http.Request, sess *session, jsonp string) {
	if !sess.posting.CompareAndSwap(false, true) {
		s.fail(w, r, CodeBadRequest)
		sess.requestClose(ReasonTransportError, errPostOverlap, false)
		return
	}
	defer sess.posting.Store(false)
	if enc := r.Header.Get("Content-Encoding"); enc != "" && enc != "identity" {
		// No Engine.IO client compresses what it posts; refusing it keeps
		// MaxPayload a bound on what the session must hold.
		s.fail(w, r, CodeBadRequest)
		sess.requestClose(ReasonTransportError, errEncodedPost, false)
		return
	}
	binary := r.Header.Get("Content-Type") == "application/octet-stream"
	if binary && sess.version == codec.V4 {
		s.fail(w, r, CodeBadRequest)
		sess.requestClose(ReasonTransportError, errBinaryPost, false)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		// A body refused is answered, with the connection closed (what is
		// left of the body is not read), and ends the session.
		var status int
		var message string
		switch {
		case errors.Is(err, transport.ErrBodyTooLarge):
			s.log.Info("eio: POST body over MaxPayload", "session", sidTag(sess.sid), "limit", s.opts.MaxPayload)
			status, message, err = http.StatusRequestEntityTooLarge, "Payload too large", errBodyTooLarge
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.log.Info("eio: POST body not read within BodyTimeout", "session", sidTag(sess.sid), "timeout", s.opts.BodyTimeout)
			status, message, err = http.StatusRequestTimeout, "Request timeout", errPostTimeout
		case errors.Is(err, transport.ErrReadBudget):
			s.log.Warn("eio: MaxBytesInFlight reached, POST refused", "session", sidTag(sess.sid), "limit", s.opts.MaxBytesInFlight)
			w.Header().Set("Retry-After", "1")
			status, message = http.StatusServiceUnavailable, "Server busy"
		default:
			return // the client went away mid-body
		}
		w.Header().Set("Connection", "close")
		writeJSONError(w, status, CodeBadRequest, message)
		sess.requestClose(ReasonTransportError, err, false)
		return
	}
	if jsonp != "" {
		if body, err = jsonpBody(body); err != nil {
			s.fail(w, r, CodeBadRequest)
			sess.requestClose(ReasonTransportError, err, false)
			return
		}
	}
	lim := codec.Limits{MaxPackets: maxPacketsPerPost}
	var pkts []codec.Packet
	if binary {
		pkts, err = codec.DecodeBinaryPayload(body, lim, nil)
	} else {
		pkts, err = codec.DecodePayload(body, sess.version, lim, nil)
	}
	if err != nil {
		s.fail(w, r, CodeBadRequest)
		sess.requestClose(ReasonTransportError, err, false)
		return
	}
	closing := false
	for _, p := range pkts {
		closing = closing || p.Type == codec.Close
		if err := sess.in.Send(r.Context(), inbound{pkt: p}); err != nil {
			if !errors.Is(err, r.Context().Err()) {
				s.fail(w, r, CodeUnknownSID)
			}
			return
		}
	}
	if closing {
		// Answered once the session is over, so that a request the
		// client sends after this answer finds it gone (see settleTime).
		sess.awaitEnd(r.Context())
	}
	h := w.Header()
	h["Content-Type"] = textHTML
	h["Content-Length"] = []string{"2"}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(okBody)
}

var okBody = []byte("ok")

// readBody reads a POST's body within BodyTimeout, through the
// connection's read deadline. The deadline bounds the read only: it is
// cleared once the body is in (net/http clears it too when the body ends
// and its background read starts), so that the delivery of the packets,
// which waits while the application is slow, is not cut.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rc := http.NewResponseController(w)
	timed := r.ContentLength != 0 && rc.SetReadDeadline(time.Now().Add(s.opts.BodyTimeout)) == nil
	body, err := transport.ReadBody(w, r, s.opts.MaxPayload, s.budget)
	if timed {
		_ = rc.SetReadDeadline(time.Time{})
	}
	return body, err
}

// JSONP polling, for old browsers without CORS: the Node and Python servers
// still answer it when a request has a "j" query parameter. A GET's
// payload comes back as a JavaScript call, `___eio[j]("payload");`; a POST
// sends its payload form-encoded in the field "d".

// jsonpIndex returns the bracketed digits of the j parameter ("[3]"; "[]"
// when j has none, as the reference keeps only digits), or "" when the
// request has no j and is not JSONP.
func jsonpIndex(q url.Values) string {
	j, ok := q["j"]
	if !ok {
		return ""
	}
	digits := make([]byte, 0, 8)
	for _, c := range []byte(j[0]) {
		if c >= '0' && c <= '9' {
			digits = append(digits, c)
		}
	}
	return "[" + string(digits) + "]"
}

var textJavaScript = []string{"text/javascript; charset=UTF-8"}

func writeJSONP(w http.ResponseWriter, index string, payload []byte) {
	// encoding/json escapes U+2028 and U+2029, which JSON allows in strings
	// and JavaScript does not, and <, >, & for script contexts.
	js, _ := json.Marshal(string(payload))
	body := make([]byte, 0, len(js)+len(index)+8)
	body = append(body, "___eio"...)
	body = append(body, index...)
	body = append(body, '(')
	body = append(body, js...)
	body = append(body, ");"...)
	h := w.Header()
	h["Content-Type"] = textJavaScript
	h["Cache-Control"] = noStore
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

var errJSONPBody = errors.New("eio: JSONP POST without a d field")

// jsonpBody extracts the payload of a JSONP POST: the form field d, with
// the client's escaping of newlines undone ("\\n" is a literal
// backslash-n, "\n" a newline), as the reference does.
func jsonpBody(body []byte) ([]byte, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil || !form.Has("d") {
		return nil, errJSONPBody
	}
	d := form.Get("d")
	var out strings.Builder
	out.Grow(len(d))
	for i := 0; i < len(d); i++ {
		switch {
		case strings.HasPrefix(d[i:], `\\n`):
			out.WriteString(`\n`)
			i += 2
		case strings.HasPrefix(d[i:], `\n`):
			out.WriteByte('\n')
			i++
		default:
			out.WriteByte(d[i])
		}
	}
	return []byte(out.String()), nil
}
