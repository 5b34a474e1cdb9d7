package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/chanio/chanio/codec"
)

// webTransportKind is WebTransport as a stream transport: accepted from
// an HTTP/3 extended CONNECT by the [WebTransportServer] in
// [AcceptOptions].WebTransport, dialed with [DialWebTransport]. Its
// request has no query: the client's open packet names the session
// (SessionOf).
var webTransportKind = Kind{
	Name:      "webtransport",
	Requested: IsWebTransportConnect,
	Accept: func(w http.ResponseWriter, r *http.Request, o AcceptOptions) (Stream, error) {
		return acceptWebTransport(w, r, o)
	},
	Dial: func(ctx context.Context, u string, o DialOptions) (Stream, error) {
		return dialWebTransportKind(ctx, u, o)
	},
	SessionOf: func(s Stream) string {
		if c, ok := s.(*WebTransportConn); ok {
			return c.openSID
		}
		return ""
	},
}

// ErrNoWebTransportServer is returned by the WebTransport [Kind]'s Accept
// when [AcceptOptions].WebTransport is nil.
var ErrNoWebTransportServer = errors.New("transport: no webtransport server to accept the session")

// IsWebTransportConnect reports whether r is the extended CONNECT request
// that opens a WebTransport session (over HTTP/3): its :protocol is
// webtransport-h3, or webtransport as older drafts (and browsers) say.
func IsWebTransportConnect(r *http.Request) bool {
	return r.Method == http.MethodConnect && (r.Proto == "webtransport-h3" || r.Proto == "webtransport")
}

// acceptWebTransport upgrades r with o.WebTransport and reads the client's
// open packet within o.HandshakeTimeout.
func acceptWebTransport(w http.ResponseWriter, r *http.Request, o AcceptOptions) (*WebTransportConn, error) {
	if o.WebTransport == nil {
		return nil, ErrNoWebTransportServer
	}
	c, err := o.WebTransport.Upgrade(w, r)
	if err != nil {
		// Refused before the session was accepted: nothing has been
		// answered yet.
		w.WriteHeader(http.StatusBadRequest)
		return nil, err
	}
	ctx := r.Context()
	if o.HandshakeTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.HandshakeTimeout)
		defer cancel()
	}
	sid, err := c.Handshake(ctx)
	if err != nil {
		return nil, err
	}
	c.openSID = sid
	if len(o.Greeting) > 0 {
		if err := c.Write(outgoing(o.Greeting)); err != nil {
			_ = c.CloseAs(CloseAbort)
			return nil, err
		}
	}
	return c, nil
}

// dialWebTransportKind opens a WebTransport stream to rawURL for a Kind's
// Dial: the sid in its query goes in the open packet instead, as
// engine.io-client sends it, and the scheme is https whatever it was.
func dialWebTransportKind(ctx context.Context, rawURL string, o DialOptions) (*WebTransportConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	u.Scheme = "https"
	q := u.Query()
	sid := q.Get("sid")
	q.Del("sid")
	u.RawQuery = q.Encode()
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	c, err := DialWebTransport(ctx, u.String(), &WebTransportDialOptions{
		TLSConfig:         o.TLS,
		CertificateHashes: o.CertificateHashes,
		Header:            o.Header,
		SID:               sid,
		Conn:              WebTransportOptions{MaxPayload: o.MaxMessage, WriteTimeout: o.WriteTimeout},
	})
	var se *WebTransportStatusError
	if errors.As(err, &se) {
		return nil, &StatusError{Method: http.MethodConnect, Status: se.StatusCode, URL: withoutQuery(rawURL)}
	}
	return c, err
}

// Name returns "webtransport".
func (c *WebTransportConn) Name() string { return webTransportKind.Name }

// Room returns [RoomAny]: a WebTransport stream takes everything at once.
func (c *WebTransportConn) Room() Room { return RoomAny }

// Write writes items in the stream framing, in one write; see
// [WebTransportConn.WriteBatch].
func (c *WebTransportConn) Write(items []Outgoing) error { return c.WriteBatch(items) }

// CloseAs ends the connection. [CloseAbort] closes it now, as Close does.
// Any other way ends the stream after what was written, so that the peer
// reads it all (a close packet included), and closes the session once the
// peer has closed it, or after a round trip's wait (on a server: closeWait,
// or at once when its server closes; on a client: at once, the server
// reads its stream to the end before the session's close reaches it).
func (c *WebTransportConn) CloseAs(how Closing) error {
	c.mu.Lock()
	server, str := c.server, c.str
	c.mu.Unlock()
	if how == CloseAbort || server == nil || str == nil {
		return c.Close()
	}
	c.wmu.Lock()
	_ = str.Close() // FIN after what was written
	c.wmu.Unlock()
	if !server.whenPeerCloses(c.sess, func() { _ = c.Close() }) {
		return c.Close()
	}
	return nil
}

// Linger ends the stream after what was written (the client's close
// packet) and leaves the session open: the server, once it has read the
// close packet, closes the session, which ends the reader. The caller
// bounds the wait, and cuts it with CloseAs.
func (c *WebTransportConn) Linger() error {
	c.mu.Lock()
	str := c.str
	c.mu.Unlock()
	if str == nil {
		return net.ErrClosed
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return str.Close()
}

// ReadPacket returns the next packet, for a reader that pulls (a
// [Readers]); a connection is read either by ReadPacket or by Start, not
// both. It fails as Start's end does: [net.ErrClosed] once Close was
// called; a [*codec.SyntaxError] for a bad frame (over MaxPayload:
// [codec.ErrTooLarge]) or [ErrReadBudget], after which the session is
// closed; else an error that is [io.EOF] to errors.Is (the peer ended the
// stream or the session, or the connection was lost). Packets' Data
// belong to the caller. Only one goroutine calls it.
func (c *WebTransportConn) ReadPacket() (codec.Packet, error) {
	c.mu.Lock()
	started, str := c.started, c.str
	c.mu.Unlock()
	if started || str == nil {
		return codec.Packet{}, errors.New("transport: webtransport connection read by Start, or without a stream")
	}
	keep := func(p codec.Packet) error { c.pending = append(c.pending, p); return nil }
	for len(c.pending) == 0 {
		if c.pendingErr != nil {
			c.endRead()
			return codec.Packet{}, c.pendingErr
		}
		buf := c.small[:]
		if c.big != nil {
			buf = (*c.big)[:cap(*c.big)]
		}
		n, err := str.Read(buf)
		if n > 0 {
			if derr := c.dec.Decode(buf[:n], keep); derr != nil {
				c.pendingErr = derr
			}
		}
		switch {
		case c.big == nil && n == len(buf):
			c.big = getRecvBuffer(recvClass(16 << 10))
		case c.big != nil && n <= len(buf)/2:
			putRecvBuffer(c.big)
			c.big = nil
		}
		if err != nil && c.pendingErr == nil {
			switch {
			case c.isClosed():
				err = net.ErrClosed
			case err != io.EOF:
				err = &sessionEnded{err}
			}
			c.pendingErr = err
		}
	}
	p := c.pending[0]
	c.pending[0] = codec.Packet{}
	c.pending = c.pending[1:]
	if len(c.pending) == 0 {
		c.pending = nil
	}
	return p, nil
}

// endRead releases what the reader holds once ReadPacket has failed, and
// closes the session (a bad frame: the peer learns of it by the close).
func (c *WebTransportConn) endRead() {
	if c.big != nil {
		putRecvBuffer(c.big)
		c.big = nil
	}
	c.dec.Reset()
	if !errors.Is(c.pendingErr, net.ErrClosed) {
		c.closeSession()
	}
}

// Drain waits until every connection ended with [WebTransportConn.CloseAs]
// other than CloseAbort is closed (its peer has closed the session, or a
// round trip's wait has passed), or until ctx is done, when it returns
// ctx.Err(). It is the graceful half of a shutdown: Close after it.
func (s *WebTransportServer) Drain(ctx context.Context) error {
	done := make(chan struct{})
	go func() { // ends at the latest when Close ends the waits
		s.closers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
