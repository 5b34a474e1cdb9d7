package eio

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/chanio/chanio/codec"
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
		s.log.Warn("eio: handshake refused: MaxSessions reached", "max", max, "remote", r.RemoteAddr)
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
		s.handshakePolling(w, r, v, data)
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
		"method", r.Method, "query", r.URL.RawQuery, "remote", r.RemoteAddr)
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
func (s *Server) handshakePolling(w http.ResponseWriter, r *http.Request, v codec.Version, data any) {
	sess, err := s.newSession(v, r)
	if err != nil {
		s.unavailable(w)
		return
	}
	sess.data = data // the handshake owns the session until start
	pkts := s.openPackets(sess.sid, true)
	s.start(sess)
	s.log.Debug("eio: handshake", "sid", sess.sid, "transport", TransportPolling, "remote", r.RemoteAddr)
	if s.opts.Cookie != nil {
		http.SetCookie(w, s.cookie(sess.sid))
	}
	buf := transport.AcquireBuffer()
	*buf = codec.AppendPayload(*buf, pkts, v)
	writePayload(w, r, *buf, s.opts.httpCompressionThreshold)
	transport.ReleaseBuffer(buf)
}

// handshakeWebSocket opens a WebSocket session whose data starts as data.
func (s *Server) handshakeWebSocket(w http.ResponseWriter, r *http.Request, v codec.Version, data any) {
	sess, err := s.newSession(v, r)
	if err != nil {
		s.unavailable(w)
		return
	}
	sess.data = data // the handshake owns the session until start
	upgrader := s.upgrader
	if s.opts.Cookie != nil {
		upgrader.Header = http.Header{"Set-Cookie": {s.cookie(sess.sid).String()}}
	}
	c, err := s.upgradeWebSocket(upgrader, w, r)
	if err != nil {
		sess.discard()
		s.log.Debug("eio: websocket handshake failed", "err", err, "remote", r.RemoteAddr)
		return
	}
	sess.attach(c)
	s.start(sess)
	s.log.Debug("eio: handshake", "sid", sess.sid, "transport", TransportWebSocket, "remote", r.RemoteAddr)
}

// upgradeWebSocket runs the WebSocket handshake with u, negotiating
// permessage-deflate when WebSocketCompression is on, and wraps the
// connection. On failure the connection has been closed.
func (s *Server) upgradeWebSocket(u ws.HTTPUpgrader, w http.ResponseWriter, r *http.Request) (*transport.WebSocket, error) {
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
		WriteTimeout:     s.opts.WriteTimeout,
		Deflate:          neg != nil && neg.Accepted(),
		DeflateThreshold: s.opts.CompressionThreshold,
	}), nil
}

// cookie is the handshake cookie carrying sid.
func (s *Server) cookie(sid string) *http.Cookie {
	c := *s.opts.Cookie
	c.Value = sid
	return &c
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
	s.log.Info("eio: handshake rejected by Authorize", "status", status, "err", err, "remote", r.RemoteAddr)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil, false
}

// serveUpgrade takes a WebSocket for a polling session to its actor, which
// runs the probe.
func (s *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, sess *session) {
	if mode(sess.mode.Load()) != modePolling || s.opts.DisableUpgrades {
		s.fail(w, r, CodeBadRequest)
		return
	}
	c, err := s.upgradeWebSocket(s.upgrader, w, r)
	if err != nil {
		return
	}
	if sess.cmds.Send(r.Context(), command{kind: cmdUpgrade, ws: c}) != nil {
		_ = c.CloseWith(ws.StatusGoingAway)
	}
}

// servePoll holds a GET until the session has packets for it.
func (s *Server) servePoll(w http.ResponseWriter, r *http.Request, sess *session, jsonp string) {
	p := &pollRequest{reply: make(chan pollReply, 1)}
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
	if jsonp != "" {
		writeJSONP(w, jsonp, *rep.body)
	} else {
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
	body, err := transport.ReadBody(w, r, s.opts.MaxPayload)
	if errors.Is(err, transport.ErrBodyTooLarge) {
		s.log.Info("eio: POST body over MaxPayload", "sid", sess.sid, "limit", s.opts.MaxPayload)
		w.Header().Set("Connection", "close")
		writeJSONError(w, http.StatusRequestEntityTooLarge, CodeBadRequest, "Payload too large")
		sess.requestClose(ReasonTransportError, errBodyTooLarge, false)
		return
	}
	if err != nil {
		return // the client went away mid-body
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
	for _, p := range pkts {
		if err := sess.in.Send(r.Context(), inbound{pkt: p}); err != nil {
			if !errors.Is(err, r.Context().Err()) {
				s.fail(w, r, CodeUnknownSID)
			}
			return
		}
	}
	h := w.Header()
	h["Content-Type"] = textHTML
	h["Content-Length"] = []string{"2"}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(okBody)
}

var okBody = []byte("ok")

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
