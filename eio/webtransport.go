package eio

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/internal/loglimit"
	"github.com/chanio/chanio/transport"
)

// ErrWebTransportDisabled is returned by [Server.ListenWebTransport] when
// Options.Transports leaves WebTransport out.
var ErrWebTransportDisabled = errors.New("eio: webtransport is not in Options.Transports")

// ListenWebTransport serves the server over HTTP/3 (QUIC) on the UDP
// address addr (":443", "127.0.0.1:0"), with the certificate in tlsConf,
// and from then on accepts WebTransport sessions at Options.Path and
// offers "webtransport" in the open packet's upgrades, as the reference
// server does once its HTTP/3 server hands it WebTransport sessions. It
// returns the UDP socket's address: browsers reach HTTP/3 on the port
// number of the site, so serve the Server's HTTP on the TCP port of that
// number.
//
// A WebTransport session is the transport's own handshake: its URL has no
// query, and the client's first packet, on the session's one stream, is
// an open packet that is empty (a new session) or names a polling session
// to upgrade. A new session sees Authorize and AuthorizeSession (with the
// CONNECT request) once that packet has come, within UpgradeTimeout; a
// refusal closes the WebTransport session. An upgrade is refused when
// BindCookie is set (browsers send no cookies with WebTransport). The
// same-origin check compares the Origin's host with the request's host
// (a page served over http:// may open it) unless AllowedOrigins or
// CheckOrigin say otherwise. Every other rule of Options holds as on
// WebSocket: MaxPayload, MaxBytesInFlight, WriteTimeout, MaxQueueBytes,
// MaxSessions.
//
// Plain HTTP requests over HTTP/3 (polling) are served too. It may be
// called more than once, for several addresses, which the first call's
// tlsConf serves; Shutdown and Close stop every listener and wait for
// their goroutines.
func (s *Server) ListenWebTransport(addr string, tlsConf *tls.Config) (net.Addr, error) {
	if !slices.Contains(s.opts.allowStreams, TransportWebTransport) {
		return nil, ErrWebTransportDisabled
	}
	if tlsConf == nil {
		return nil, errors.New("eio: ListenWebTransport needs a TLS configuration with a certificate")
	}
	s.wtMu.Lock()
	defer s.wtMu.Unlock()
	if s.wtClosed || s.closing.Load() {
		return nil, ErrServerClosed
	}
	wt := s.webTransport.Load()
	fresh := wt == nil
	if fresh {
		wt = transport.NewWebTransportServer(&transport.WebTransportServerOptions{
			TLSConfig:   tlsConf,
			Handler:     s,
			CheckOrigin: func(*http.Request) bool { return true }, // serveOpened checks
			Conn: transport.WebTransportOptions{
				MaxPayload:   s.opts.MaxPayload,
				WriteTimeout: s.opts.WriteTimeout,
				Budget:       s.budget,
			},
		})
	}
	a, err := wt.Listen(addr)
	if err != nil {
		if fresh {
			_ = wt.Close()
		}
		return nil, err
	}
	s.webTransport.Store(wt)
	return a, nil
}

// closeWebTransport closes the HTTP/3 server, if any, and waits for its
// goroutines; ListenWebTransport refuses from then on.
func (s *Server) closeWebTransport() {
	s.wtMu.Lock()
	s.wtClosed = true
	s.wtMu.Unlock()
	if wt := s.webTransport.Load(); wt != nil {
		_ = wt.Close()
	}
}

// sessionOfKind returns the stream transport r opens whose stream, not
// its query, names the session (WebTransport's CONNECT).
func sessionOfKind(r *http.Request) (transport.Kind, bool) {
	if r.Method != http.MethodConnect {
		return transport.Kind{}, false
	}
	for _, k := range transport.Kinds() {
		if k.SessionOf != nil && k.Requested(r) {
			return k, true
		}
	}
	return transport.Kind{}, false
}

// serveOpened serves a request of a transport whose first packet names
// its session (WebTransport): it accepts the stream, then opens a session
// on it or hands it to the polling session it upgrades, as the
// reference's onWebTransportSession does.
func (s *Server) serveOpened(w http.ResponseWriter, r *http.Request, kind transport.Kind) {
	wt := s.webTransport.Load()
	if wt == nil || !slices.Contains(s.opts.allowStreams, kind.Name) {
		s.fail(w, r, CodeUnknownTransport)
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" && !s.opts.DisableCORS && !s.originAllowed(r, origin) && !sameHost(origin, r.Host) {
		s.log.Info("eio: origin refused", "origin", loglimit.Text(origin), "remote", loglimit.Text(r.RemoteAddr))
		s.stats.rejected[CodeBadRequest].Add(1)
		transport.WriteError(w, http.StatusBadRequest, int(CodeBadRequest), "Not an accepted origin")
		return
	}
	if s.closing.Load() {
		s.unavailable(w)
		return
	}
	o := s.acceptOptions(r, codec.V4, nil)
	o.WebTransport = wt
	o.HandshakeTimeout = s.opts.UpgradeTimeout
	c, err := kind.Accept(w, r, o)
	if err != nil {
		s.log.Debug("eio: "+kind.Name+" handshake failed", "err", loglimit.Error{Err: err}, "remote", loglimit.Text(r.RemoteAddr))
		return
	}
	if sid := kind.SessionOf(c); sid != "" {
		s.upgradeOpened(r, c, sid)
		return
	}
	if max := s.opts.MaxSessions; max > 0 && s.sessions.Size() >= max {
		s.stats.rejected[CodeBadRequest].Add(1)
		s.log.Warn("eio: handshake refused: MaxSessions reached", "max", max, "remote", loglimit.Text(r.RemoteAddr))
		_ = c.CloseAs(transport.CloseAbort)
		return
	}
	data, err := s.runAuthorize(r)
	if err != nil {
		s.log.Info("eio: handshake rejected by Authorize", "err", loglimit.Error{Err: err}, "remote", loglimit.Text(r.RemoteAddr))
		_ = c.CloseAs(transport.CloseAbort)
		return
	}
	sess, err := s.newSession(codec.V4, r, nil)
	if err != nil {
		_ = c.CloseAs(transport.CloseAbort)
		return
	}
	sess.data = data
	// The open packet, written here as handshakeStream's Accept writes it:
	// the session's first pass finds it sent.
	if err := c.Write(outgoing(s.openPackets(sess.sid, false, codec.V4))); err != nil {
		sess.discard()
		_ = c.CloseAs(transport.CloseAbort)
		return
	}
	sess.attach(c)
	s.start(sess)
	s.log.Debug("eio: handshake", "sid", sess.sid, "session", sidTag(sess.sid), "transport", kind.Name, "remote", loglimit.Text(r.RemoteAddr))
}

// upgradeOpened hands c to the polling session sid as the probe of an
// upgrade, or closes it when there is no such session or it takes none.
func (s *Server) upgradeOpened(r *http.Request, c transport.Stream, sid string) {
	sess, ok := s.sessions.Load(sid)
	if !ok || s.opts.DisableUpgrades || s.opts.BindCookie != nil || !sess.polling() {
		s.log.Info("eio: upgrade refused", "ok", ok, "remote", loglimit.Text(r.RemoteAddr))
		_ = c.CloseAs(transport.CloseAbort)
		return
	}
	sess.poll.announced.Add(1)
	if sess.cmds.Send(r.Context(), command{kind: cmdUpgrade, stream: c}) != nil {
		sess.poll.announced.Add(-1)
		_ = c.CloseAs(transport.CloseAbort)
	}
}

// sameHost reports whether origin's host is host.
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

// outgoing returns pkts as items to write.
func outgoing(pkts []codec.Packet) []transport.Outgoing {
	items := make([]transport.Outgoing, len(pkts))
	for i, p := range pkts {
		items[i] = transport.Outgoing{Packet: p}
	}
	return items
}
