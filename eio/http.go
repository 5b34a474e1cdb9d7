package eio

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/internal/loglimit"
	"github.com/chanio/chanio/transport"
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
	if kind, ok := sessionOfKind(r); ok {
		s.serveOpened(w, r, kind)
		return
	}
	if !s.checkCORS(w, r) {
		return
	}
	if len(r.URL.RawQuery) > maxQueryBytes {
		s.fail(w, r, CodeBadRequest)
		return
	}
	q := parseQuery(r.URL.RawQuery)
	name := q.transport
	kind, stream := transport.LookupKind(name)
	stream = stream && slices.Contains(s.opts.allowStreams, name)
	if !(name == TransportPolling && s.opts.allowPolling || stream) {
		s.fail(w, r, CodeUnknownTransport)
		return
	}
	if sid := q.sid; sid != "" {
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
		case stream && kind.Requested(r):
			s.serveUpgrade(w, r, sess, kind)
		case stream, sess.onStream():
			s.fail(w, r, CodeBadRequest)
		case r.Method == http.MethodGet:
			s.servePoll(w, r, sess, q.jsonp())
		case r.Method == http.MethodPost:
			s.servePost(w, r, sess, q.jsonp())
		default:
			s.fail(w, r, CodeBadRequest)
		}
		return
	}
	if r.Method != http.MethodGet {
		s.fail(w, r, CodeBadHandshakeMethod)
		return
	}
	if stream && !kind.Requested(r) {
		s.fail(w, r, CodeBadRequest)
		return
	}
	var v codec.Version
	switch q.eio {
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
		transport.WriteError(w, http.StatusServiceUnavailable, int(CodeBadRequest), "Server full")
		return
	}
	data, ok := s.authorize(w, r)
	if !ok {
		return
	}
	if stream {
		s.handshakeStream(w, r, v, kind, data)
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

// fail answers a protocol error the way the reference server does.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, code ErrorCode) {
	s.stats.rejected[code].Add(1)
	status := http.StatusBadRequest
	if code == CodeForbidden {
		status = http.StatusForbidden
	}
	s.log.Info("eio: request refused", "code", int(code), "message", code.Message(),
		"method", loglimit.Text(r.Method), "query", logQuery(r.URL.RawQuery), "remote", loglimit.Text(r.RemoteAddr))
	transport.WriteError(w, status, int(code), code.Message())
}

func (s *Server) unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	transport.WriteError(w, http.StatusServiceUnavailable, int(CodeBadRequest), "Server shutting down")
}

// handshakePolling opens a polling session whose data starts as data.
func (s *Server) handshakePolling(w http.ResponseWriter, r *http.Request, v codec.Version, q query, data any) {
	jsonp := q.jsonp()
	// Protocol 3 clients that cannot read binary payloads (b64, JSONP)
	// get text.
	p := transport.NewPoll(v, s.opts.MaxPollPackets, v == codec.V3 && (q.wantsBase64() || jsonp != ""))
	sess, err := s.newSession(v, r, p)
	if err != nil {
		s.unavailable(w)
		return
	}
	sess.data = data // the handshake owns the session until start
	pkts := s.openPackets(sess.sid, true, v)
	s.start(sess)
	if s.debugging() {
		s.log.Debug("eio: handshake", "sid", sess.sid, "session", sidTag(sess.sid), "transport", TransportPolling, "remote", loglimit.Text(r.RemoteAddr))
	}
	if s.opts.Cookie != nil {
		http.SetCookie(w, s.cookie(sess.sid))
	}
	if s.opts.BindCookie != nil {
		http.SetCookie(w, s.bindCookie(sess))
	}
	buf := transport.AcquireBuffer()
	*buf = codec.AppendPayload(*buf, pkts, v)
	if jsonp != "" {
		transport.WriteJSONP(w, jsonp, *buf)
	} else {
		transport.WritePayload(w, r, *buf, false, s.opts.httpCompressionThreshold)
	}
	transport.ReleaseBuffer(buf)
}

// handshakeStream opens a session on a stream of kind, whose data starts
// as data.
func (s *Server) handshakeStream(w http.ResponseWriter, r *http.Request, v codec.Version, kind transport.Kind, data any) {
	sess, err := s.newSession(v, r, nil)
	if err != nil {
		s.unavailable(w)
		return
	}
	sess.data = data // the handshake owns the session until start
	var h http.Header
	if s.opts.Cookie != nil || s.opts.BindCookie != nil {
		h = make(http.Header, 1)
		if s.opts.Cookie != nil {
			h.Add("Set-Cookie", s.cookie(sess.sid).String())
		}
		if s.opts.BindCookie != nil {
			h.Add("Set-Cookie", s.bindCookie(sess).String())
		}
	}
	o := s.acceptOptions(r, v, h)
	// The open packet goes out with the answer: a WebSocket's 101 and its
	// first frame in one write.
	o.Greeting = s.openPackets(sess.sid, false, v)
	c, err := kind.Accept(w, r, o)
	if err != nil {
		sess.discard()
		s.log.Debug("eio: websocket handshake failed", "err", loglimit.Error{Err: err}, "remote", loglimit.Text(r.RemoteAddr))
		return
	}
	sess.attach(c)
	if s.debugging() {
		s.log.Debug("eio: handshake", "sid", sess.sid, "session", sidTag(sess.sid), "transport", kind.Name, "remote", loglimit.Text(r.RemoteAddr))
	}
	s.startHere(sess)
}

// acceptOptions are the options of a stream for a session of protocol v,
// with header in the answer.
func (s *Server) acceptOptions(r *http.Request, v codec.Version, header http.Header) transport.AcceptOptions {
	return transport.AcceptOptions{
		Version:              v,
		MaxMessage:           s.opts.MaxPayload,
		Budget:               s.budget,
		WriteTimeout:         s.opts.WriteTimeout,
		Compression:          s.opts.WebSocketCompression,
		CompressionThreshold: s.opts.CompressionThreshold,
		Base64:               v == codec.V3 && parseQuery(r.URL.RawQuery).wantsBase64(),
		Header:               header,
	}
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
	data, err := s.runAuthorize(r)
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

// runAuthorize runs Options.Authorize, then Options.AuthorizeSession, and
// returns the session's first data or the refusal.
func (s *Server) runAuthorize(r *http.Request) (data any, err error) {
	if s.opts.Authorize != nil {
		err = s.opts.Authorize(r)
	}
	if err == nil && s.opts.AuthorizeSession != nil {
		data, err = s.opts.AuthorizeSession(r)
	}
	return data, err
}

// serveUpgrade takes a stream for a polling session to its actor, which
// runs the probe. A session that is not on polling any more gets the
// stream accepted and then closed, as the reference does it.
func (s *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, sess *session, kind transport.Kind) {
	if s.opts.DisableUpgrades {
		s.fail(w, r, CodeBadRequest)
		return
	}
	if !sess.polling() {
		if c, err := kind.Accept(w, r, s.acceptOptions(r, sess.version, nil)); err == nil {
			_ = c.CloseAs(transport.CloseRefused)
		}
		return
	}
	// Announced before the 101 goes out: a GET the client sends after it
	// must find the session upgrading, whichever reaches the actor first.
	sess.poll.announced.Add(1)
	c, err := kind.Accept(w, r, s.acceptOptions(r, sess.version, nil))
	if err != nil {
		sess.poll.announced.Add(-1)
		return
	}
	if sess.cmds.Send(r.Context(), command{kind: cmdUpgrade, stream: c}) != nil {
		sess.poll.announced.Add(-1)
		_ = c.CloseAs(transport.CloseGoingAway)
	}
}

// servePoll holds a GET until the session has packets for it.
func (s *Server) servePoll(w http.ResponseWriter, r *http.Request, sess *session, jsonp string) {
	p := transport.NewPollRequest(jsonp != "")
	if err := sess.cmds.Send(r.Context(), command{kind: cmdPoll, poll: p}); err != nil {
		if !errors.Is(err, r.Context().Err()) {
			s.fail(w, r, CodeUnknownSID)
		}
		return
	}
	var rep transport.PollAnswer
	select {
	case rep = <-p.Answer():
	case <-r.Context().Done():
		// The client left mid-poll: as in the reference, that ends the
		// session (its next GET would otherwise look like an overlap). If
		// an answer raced the departure, its messages are lost: count them.
		sess.requestClose(ReasonTransportError, errPollAborted, false)
		select {
		case rep = <-p.Answer():
			if rep.Body != nil {
				s.stats.undelivered.Add(uint64(rep.Messages))
				transport.ReleaseBuffer(rep.Body)
			}
		default:
		}
		return
	}
	if rep.Refused {
		s.fail(w, r, ErrorCode(rep.Code))
		return
	}
	transport.WriteAnswer(w, r, rep, jsonp, s.opts.httpCompressionThreshold)
	transport.ReleaseBuffer(rep.Body)
}

// servePost delivers a POSTed payload to the session, waiting while the
// session's inbound queue is full (the application is behind).
func (s *Server) servePost(w http.ResponseWriter, r *http.Request, sess *session, jsonp string) {
	// A session that opened on a stream gets here only once it is closing
	// (see onStream). As before the protocol core, the POST is read and
	// answered as one to a closing session: 200 "ok", or code 1 (unknown
	// session) once it has ended; what it carries is not heard.
	if sess.poll != nil {
		if !sess.poll.posting.CompareAndSwap(false, true) {
			s.fail(w, r, CodeBadRequest)
			sess.requestClose(ReasonTransportError, errPostOverlap, false)
			return
		}
		defer sess.poll.posting.Store(false)
	}
	var from transport.Conn // the polling transport; none on a stream session
	if sess.poll != nil {
		from = sess.poll
	}
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
		transport.WriteError(w, status, int(CodeBadRequest), message)
		sess.requestClose(ReasonTransportError, err, false)
		return
	}
	if jsonp != "" {
		if body, err = transport.JSONPBody(body); err != nil {
			s.fail(w, r, CodeBadRequest)
			sess.requestClose(ReasonTransportError, err, false)
			return
		}
	}
	lim := codec.Limits{MaxPackets: maxPacketsPerPost}
	// A POST carries a handful of packets: decoded into an array on the
	// stack, they cost no allocation (more than that spill to the heap).
	var onStack [16]codec.Packet
	var pkts []codec.Packet
	if binary {
		pkts, err = codec.DecodeBinaryPayload(body, lim, onStack[:0])
	} else {
		pkts, err = codec.DecodePayload(body, sess.version, lim, onStack[:0])
	}
	if err != nil {
		s.fail(w, r, CodeBadRequest)
		sess.requestClose(ReasonTransportError, err, false)
		return
	}
	closing := false
	for _, p := range pkts {
		closing = closing || p.Type == codec.Close
		if err := sess.in.Send(r.Context(), inbound{from: from, pkt: p}); err != nil {
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
	h["Content-Length"] = okLength
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(okBody)
}

// The answer to a POST, its header values shared by every answer (net/http
// copies a handler's header before it writes it, and never changes it).
var (
	textHTML = []string{"text/html"}
	okLength = []string{"2"}
	okBody   = []byte("ok")
)

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
