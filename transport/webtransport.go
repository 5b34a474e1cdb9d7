package transport

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"
	"github.com/quic-go/webtransport-go"
)

// WebTransport carries Engine.IO as the reference does (engine.io's
// transports/webtransport and engine.io-client's): an HTTP/3 extended
// CONNECT opens a WebTransport session at the Engine.IO path; the client
// opens one bidirectional stream and writes an open packet on it, empty
// for a new session or {"sid":"..."} to upgrade an existing one; from
// then on both sides write packets on that stream in the framing of
// [codec.AppendStreamFrame]. Either side ends it by closing the session.

// Errors of WebTransport connections.
var (
	// ErrWebTransportHandshake is wrapped by the error of
	// [WebTransportConn.Handshake] when the client's first stream or first
	// packet is missing or is not an open packet the reference accepts.
	ErrWebTransportHandshake = errors.New("transport: invalid webtransport handshake")
	// ErrCertificateNotPinned is returned by a dial whose
	// [WebTransportDialOptions].CertificateHashes do not name the server's
	// certificate, or name one that browsers would refuse to pin.
	ErrCertificateNotPinned = errors.New("transport: server certificate not pinned")
	// ErrWebTransportServerClosed is returned by [WebTransportServer.Serve]
	// and [WebTransportServer.Upgrade] once the server is closed.
	ErrWebTransportServerClosed = errors.New("transport: webtransport server closed")
)

// WebTransportStatusError is returned by [DialWebTransport] when the
// server answered the session's CONNECT request with a status other than
// 200.
type WebTransportStatusError struct {
	StatusCode int
}

// Error gives the status.
func (e *WebTransportStatusError) Error() string {
	return fmt.Sprintf("transport: webtransport session refused: status %d", e.StatusCode)
}

// MaxPinnedValidity is the longest validity period of a certificate that
// [WebTransportDialOptions].CertificateHashes pins, as browsers limit
// serverCertificateHashes: two weeks.
const MaxPinnedValidity = 14 * 24 * time.Hour

// WebTransportOptions configures a [WebTransportConn], on either side.
type WebTransportOptions struct {
	// MaxPayload bounds one incoming packet in bytes: the length its
	// frame declares. A frame that declares more ends the connection with
	// a [*codec.SyntaxError] wrapping [codec.ErrTooLarge] before any of it
	// is held. Zero or less means no bound: set one for any peer you do
	// not trust.
	MaxPayload int64
	// WriteTimeout bounds every write: a write the peer's flow control
	// holds up for longer fails. Zero means none.
	WriteTimeout time.Duration
	// Budget, if not nil, is shared by the connections whose incoming
	// packets it bounds together; see [ReadBudget]. A packet that would
	// pass it ends its connection with [ErrReadBudget].
	Budget *ReadBudget
}

// quicConfig is the QUIC configuration of both sides. WebTransport needs
// datagrams and partial-delivery resets enabled. A connection carries one
// session of one stream: a few streams more than that are allowed (the
// HTTP/3 control and QPACK streams, a CONNECT request, a browser's own),
// so that a peer cannot make the server keep streams it never reads.
func quicConfig() *quic.Config {
	return &quic.Config{
		EnableDatagrams:                  true,
		EnableStreamResetPartialDelivery: true,
		MaxIncomingStreams:               16,
		MaxIncomingUniStreams:            16,
	}
}

// WebTransportServerOptions configures a [WebTransportServer]. Nil
// options are not allowed: TLSConfig is required.
type WebTransportServerOptions struct {
	// TLSConfig holds the server's certificate (required). It is cloned,
	// and HTTP/3's protocol name is set in the clone.
	TLSConfig *tls.Config
	// Handler serves every request that arrives over HTTP/3. A
	// WebTransport session arrives as an extended CONNECT request: the
	// handler checks it (path, query, origin, authorization) and calls
	// [WebTransportServer.Upgrade]. Nil answers every request 404.
	Handler http.Handler
	// CheckOrigin says whether a CONNECT request's Origin header is
	// acceptable to [WebTransportServer.Upgrade]. Nil accepts a request
	// without Origin and one whose Origin's host is the request's Host.
	CheckOrigin func(r *http.Request) bool
	// Conn configures every connection [WebTransportServer.Upgrade] makes.
	Conn WebTransportOptions
}

// WebTransportServer is an HTTP/3 server (quic-go) that accepts
// WebTransport sessions and makes [WebTransportConn]s of them. It keeps a
// registry of the connections it made, so that Close ends them all: like
// hijacked WebSocket connections, they outlive the handler that made
// them.
type WebTransportServer struct {
	wt   webtransport.Server
	opts WebTransportOptions

	mu      sync.Mutex
	conns   map[*WebTransportConn]struct{}
	closed  bool
	closing chan struct{}  // closed by Close
	serving sync.WaitGroup // the goroutines of Listen
	closers sync.WaitGroup // the goroutines of closeLater
}

// NewWebTransportServer returns a server configured by o; it serves
// nothing until [WebTransportServer.Serve].
func NewWebTransportServer(o *WebTransportServerOptions) *WebTransportServer {
	handler := o.Handler
	if handler == nil {
		handler = http.NotFoundHandler()
	}
	var tlsConf *tls.Config
	if o.TLSConfig != nil {
		tlsConf = http3.ConfigureTLSConfig(o.TLSConfig.Clone())
	}
	s := &WebTransportServer{opts: o.Conn, conns: make(map[*WebTransportConn]struct{}), closing: make(chan struct{})}
	s.wt = webtransport.Server{
		H3: &http3.Server{
			TLSConfig:  tlsConf,
			QUICConfig: quicConfig(),
			Handler:    handler,
		},
		CheckOrigin: o.CheckOrigin,
	}
	webtransport.ConfigureHTTP3Server(s.wt.H3)
	return s
}

// Serve serves HTTP/3 on pc until the server is closed; then it returns
// [ErrWebTransportServerClosed]. It may be called for several packet
// connections at once. The caller keeps pc and closes it after Serve
// returns.
func (s *WebTransportServer) Serve(pc net.PacketConn) error {
	if s.isClosed() {
		return ErrWebTransportServerClosed
	}
	err := s.wt.Serve(pc)
	if s.isClosed() {
		return ErrWebTransportServerClosed
	}
	return err
}

// Listen opens a UDP socket on addr ("127.0.0.1:0", ":443") and serves
// it, as Serve does, on a goroutine of the server's own until Close, which
// waits for it and closes the socket. It returns the socket's address.
func (s *WebTransportServer) Listen(addr string) (net.Addr, error) {
	udpAddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenUDP("udp", udpAddr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		pc.Close()
		return nil, ErrWebTransportServerClosed
	}
	s.serving.Go(func() {
		_ = s.Serve(pc)
		pc.Close()
	})
	return pc.LocalAddr(), nil
}

func (s *WebTransportServer) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Upgrade accepts the WebTransport session of a CONNECT request, from
// within the server's Handler. The connection has no stream yet: the
// caller calls [WebTransportConn.Handshake] next, in the handler or
// after it has returned, and Close when it is done with it.
func (s *WebTransportServer) Upgrade(w http.ResponseWriter, r *http.Request) (*WebTransportConn, error) {
	if s.isClosed() {
		return nil, ErrWebTransportServerClosed
	}
	sess, err := s.wt.Upgrade(w, r)
	if err != nil {
		return nil, fmt.Errorf("transport: webtransport upgrade: %w", err)
	}
	c := newWebTransportConn(sess, ServerSide, s.opts)
	if hs, ok := w.(http3.HTTPStreamer); ok {
		c.connect = hs.HTTPStream() // the same stream the session took
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = c.Close()
		return nil, ErrWebTransportServerClosed
	}
	c.server = s
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return c, nil
}

// closeLater closes sess once its peer has answered a close; see
// whenPeerCloses.
func (s *WebTransportServer) closeLater(sess *webtransport.Session) bool {
	return s.whenPeerCloses(sess, func() { _ = sess.CloseWithError(0, "") })
}

// whenPeerCloses runs fn once sess's peer has closed it (its context is
// done), closeWait has passed or the server is closing, on a goroutine
// that Close waits for. It reports false, doing nothing, once the server
// is closing.
func (s *WebTransportServer) whenPeerCloses(sess *webtransport.Session, fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closers.Go(func() {
		t := time.NewTimer(closeWait)
		defer t.Stop()
		select {
		case <-sess.Context().Done():
		case <-t.C:
		case <-s.closing:
		}
		fn()
	})
	return true
}

// forget drops c from the registry.
func (s *WebTransportServer) forget(c *WebTransportConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Close closes every connection the server made and the QUIC connections
// and listeners under them, and returns once every Serve has returned,
// Listen's sockets are closed and every connection's reader has exited.
// It is safe to call more than once.
func (s *WebTransportServer) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	conns := make([]*WebTransportConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	// The QUIC connections first: their sessions end at once, so that no
	// connection's Close waits for its peer's answer to a close.
	err := s.wt.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	s.closers.Wait()
	s.serving.Wait()
	return err
}

// WebTransportDialOptions configures [DialWebTransport]. Nil means all
// zero.
type WebTransportDialOptions struct {
	// TLSConfig is the client's TLS configuration; nil means the system's
	// roots and the URL's host name. It is cloned, and HTTP/3's protocol
	// name is set in the clone.
	TLSConfig *tls.Config
	// CertificateHashes, if not empty, pin the server's certificate as
	// browsers' serverCertificateHashes do, in place of TLSConfig's
	// verification of its chain and name: the server's leaf certificate
	// must have one of these SHA-256 hashes (of its DER), be valid now,
	// and have a validity period of at most [MaxPinnedValidity].
	// Otherwise the dial fails with [ErrCertificateNotPinned].
	CertificateHashes [][sha256.Size]byte
	// Header is sent with the CONNECT request.
	Header http.Header
	// SID, if not empty, is the session to upgrade: the open packet says
	// {"sid":SID}. Empty opens a new session.
	SID string
	// Conn configures the connection.
	Conn WebTransportOptions
}

// DialWebTransport opens a WebTransport session to rawURL (https://...,
// the server's Engine.IO path and query), opens its one bidirectional
// stream and writes the open packet on it, as engine.io-client does. The
// server's answer is read by the connection's reader: see
// [WebTransportConn.Start]. ctx bounds the dial; it is not kept.
func DialWebTransport(ctx context.Context, rawURL string, o *WebTransportDialOptions) (*WebTransportConn, error) {
	if o == nil {
		o = &WebTransportDialOptions{}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	tlsConf := &tls.Config{}
	if o.TLSConfig != nil {
		tlsConf = o.TLSConfig.Clone()
	}
	tlsConf.NextProtos = []string{http3.NextProtoH3}
	if tlsConf.ServerName == "" {
		tlsConf.ServerName = u.Hostname()
	}
	if len(o.CertificateHashes) > 0 {
		tlsConf.InsecureSkipVerify = true // replaced by the pin below
		tlsConf.VerifyPeerCertificate = pinnedCertificate(o.CertificateHashes)
		tlsConf.VerifyConnection = nil
	}

	udp, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, err
	}
	qt := &quic.Transport{Conn: udp}
	var qconn *quic.Conn
	wt := &webtransport.Transport{
		TLSClientConfig: tlsConf,
		QUICConfig:      quicConfig(),
		DialAddr: func(ctx context.Context, addr string, tlsConf *tls.Config, conf *quic.Config) (*quic.Conn, error) {
			raddr, err := net.ResolveUDPAddr("udp", addr)
			if err != nil {
				return nil, err
			}
			qconn, err = qt.DialEarly(ctx, raddr, tlsConf, conf)
			return qconn, err
		},
	}
	closeAll := func() {
		if qconn != nil {
			_ = qconn.CloseWithError(0, "")
		}
		_ = wt.Close()
		_ = qt.Close()
		_ = udp.Close()
	}
	rsp, sess, err := wt.Dial(ctx, u.String(), o.Header)
	if err != nil {
		closeAll()
		if rsp != nil && rsp.StatusCode != http.StatusOK {
			return nil, &WebTransportStatusError{StatusCode: rsp.StatusCode}
		}
		return nil, fmt.Errorf("transport: webtransport dial: %w", err)
	}
	c := newWebTransportConn(sess, ClientSide, o.Conn)
	c.release = closeAll
	str, err := sess.OpenStreamSync(ctx)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("transport: webtransport stream: %w", err)
	}
	c.str = str
	open := codec.Packet{Type: codec.Open}
	if o.SID != "" {
		open.Data, _ = json.Marshal(struct {
			SID string `json:"sid"`
		}{o.SID})
	}
	if err := c.WritePackets([]codec.Packet{open}); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// pinnedCertificate returns a VerifyPeerCertificate function that accepts a
// leaf certificate with one of hashes, as browsers check
// serverCertificateHashes.
func pinnedCertificate(hashes [][sha256.Size]byte) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return ErrCertificateNotPinned
		}
		sum := sha256.Sum256(raw[0])
		found := false
		for _, h := range hashes {
			found = found || h == sum
		}
		if !found {
			return fmt.Errorf("%w: no hash matches %x", ErrCertificateNotPinned, sum)
		}
		cert, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCertificateNotPinned, err)
		}
		if now := time.Now(); now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
			return fmt.Errorf("%w: not valid now (%v to %v)", ErrCertificateNotPinned, cert.NotBefore, cert.NotAfter)
		}
		if cert.NotAfter.Sub(cert.NotBefore) > MaxPinnedValidity {
			return fmt.Errorf("%w: valid for %v, more than %v", ErrCertificateNotPinned, cert.NotAfter.Sub(cert.NotBefore), MaxPinnedValidity)
		}
		return nil
	}
}

// WebTransportConn is one Engine.IO connection over WebTransport: a session
// and its one bidirectional stream, on either side. One goroutine of its
// own reads it ([WebTransportConn.Start]); writes may come from any
// goroutine and are serialised; Close stops it and waits for its reader.
type WebTransportConn struct {
	sess    *webtransport.Session
	str     *webtransport.Stream // nil on a server until Handshake
	side    Side
	opts    WebTransportOptions
	server  *WebTransportServer // the registry a server's connection is in
	connect *http3.Stream       // a server's CONNECT stream, for a clean close
	release func()              // a client's: closes its QUIC connection and socket

	// Read side, owned by Handshake and then by the reader.
	dec        codec.StreamDecoder
	pending    []codec.Packet // decoded with the open packet, for the reader
	pendingErr error          // the decoder's error after them, for the reader
	small      [512]byte      // what an idle reader reads into
	big        *[]byte        // ReadPacket's pooled buffer while reads are large
	openSID    string         // what the client's open packet named (Accept)

	wmu sync.Mutex // serialises writes

	mu        sync.Mutex
	started   bool
	closed    bool
	done      chan struct{} // closed once the reader has exited, or by Close if none started
	closeOnce sync.Once
	sessOnce  sync.Once // closeSession's
}

func newWebTransportConn(sess *webtransport.Session, side Side, o WebTransportOptions) *WebTransportConn {
	c := &WebTransportConn{sess: sess, side: side, opts: o, done: make(chan struct{})}
	c.dec.MaxPayload = o.MaxPayload
	if o.Budget != nil {
		budget := o.Budget
		c.dec.Account = func(delta int64) error {
			if delta > 0 {
				if !budget.take(delta) {
					return ErrReadBudget
				}
				return nil
			}
			budget.give(-delta)
			return nil
		}
	}
	return c
}

// Handshake takes the client's first bidirectional stream and reads its
// first packet, which must be an open packet, as the reference server
// does, within ctx (the reference bounds it by its upgradeTimeout). It
// returns the session the open packet names ({"sid":"..."}) for an
// upgrade, or "" for a new session. Packets the client sent after the open
// packet are kept for the reader.
//
// Any other first packet, a sid that is not a non-empty string, a stream
// that does not come or ends, or ctx done closes the connection and
// returns an error wrapping [ErrWebTransportHandshake]. It is for a
// server's connection, once.
func (c *WebTransportConn) Handshake(ctx context.Context) (sid string, err error) {
	if c.side != ServerSide || c.str != nil {
		return "", fmt.Errorf("%w: not a new server connection", ErrWebTransportHandshake)
	}
	sid, err = c.handshake(ctx)
	if err != nil {
		_ = c.Close()
		return "", fmt.Errorf("%w: %w", ErrWebTransportHandshake, err)
	}
	return sid, nil
}

func (c *WebTransportConn) handshake(ctx context.Context) (string, error) {
	str, err := c.sess.AcceptStream(ctx)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.str = str
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return "", net.ErrClosed
	}
	// The stream's reads end when ctx does.
	stop := context.AfterFunc(ctx, func() { _ = str.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	keep := func(p codec.Packet) error { c.pending = append(c.pending, p); return nil }
	for len(c.pending) == 0 {
		n, err := str.Read(c.small[:])
		if n > 0 {
			if err := c.dec.Decode(c.small[:n], keep); err != nil {
				if len(c.pending) == 0 {
					return "", err
				}
				// A bad frame after the open packet: the session opens,
				// and its reader ends with the error after the packets
				// before it, as the reference's would.
				c.pendingErr = err
			}
		}
		if err != nil && len(c.pending) == 0 {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return "", err
		}
	}
	if !stop() {
		return "", ctx.Err() // the deadline may be set: give up
	}
	open := c.pending[0]
	c.pending = c.pending[1:]
	if open.Type != codec.Open {
		return "", fmt.Errorf("first packet is %s, not open", open.Type)
	}
	if len(open.Data) == 0 {
		return "", nil
	}
	// As the reference: JSON.parse(data).sid must be a string, and not
	// empty; the key is matched exactly (encoding/json would match
	// "SID").
	var fields map[string]json.RawMessage
	var s string
	if json.Unmarshal(open.Data, &fields) != nil || json.Unmarshal(fields["sid"], &s) != nil || s == "" {
		return "", fmt.Errorf("open packet %q names no session", open.Data)
	}
	return s, nil
}

// Start starts the connection's reader: one goroutine that reads the
// stream and calls deliver with every packet, in order, as it arrives
// (first those that came with the open packet, on a server). When the
// stream ends or fails, when a frame is bad, or when deliver returns an
// error, the reader closes the session and calls end once with the
// reason, then exits:
//   - [net.ErrClosed]: Close was called;
//   - a [*codec.SyntaxError] for a bad frame (over MaxPayload:
//     [codec.ErrTooLarge]), [ErrReadBudget], or deliver's error, as it
//     is;
//   - else an error that is [io.EOF] to errors.Is: the peer ended the
//     stream (io.EOF itself), or the session or its QUIC connection
//     ended otherwise than by Close: the peer closed it, or it was lost
//     (an idle timeout); the cause, from quic-go or webtransport-go, is
//     wrapped.
//
// Packets' Data belong to deliver's callee. deliver and end run on the
// reader goroutine and may block, but must return once Close has been
// called, and must not call Close themselves: Close waits for the
// reader. Start fails on a server connection before Handshake, after
// Close, and when called twice.
func (c *WebTransportConn) Start(deliver func(codec.Packet) error, end func(error)) error {
	if c.str == nil {
		return errors.New("transport: webtransport connection has no stream (Handshake first)")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return net.ErrClosed
	case c.started:
		return errors.New("transport: webtransport reader already started")
	}
	c.started = true
	go c.readLoop(deliver, end)
	return nil
}

func (c *WebTransportConn) readLoop(deliver func(codec.Packet) error, end func(error)) {
	defer close(c.done)
	err := c.read(deliver)
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	var own *readError
	switch {
	case closed:
		err = net.ErrClosed
	case errors.As(err, &own):
		err = own.err
	case err != io.EOF:
		err = &sessionEnded{err}
	}
	c.dec.Reset()
	c.closeSession()
	end(err)
}

// readError marks an error of the reader's own making (a bad frame, the
// budget, deliver's error), as opposed to one of the session's.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }

// sessionEnded is the reader's end when the session or the QUIC connection
// under it ended otherwise than by Close: the peer closed it (the QUIC
// connection's close can arrive before the session's), or the connection
// was lost. It is io.EOF to errors.Is, and unwraps to its cause.
type sessionEnded struct{ cause error }

func (e *sessionEnded) Error() string {
	return "transport: webtransport session ended: " + e.cause.Error()
}

func (e *sessionEnded) Is(target error) bool { return target == io.EOF }

func (e *sessionEnded) Unwrap() error { return e.cause }

// read delivers the pending packets, then what the stream brings. An idle
// reader waits in a read into the connection's 512 bytes; a read that
// fills them moves it to a pooled 16 KiB buffer, which it keeps while
// reads fill more than half of it.
func (c *WebTransportConn) read(deliver func(codec.Packet) error) error {
	for _, p := range c.pending {
		if err := deliver(p); err != nil {
			return &readError{err}
		}
	}
	c.pending = nil
	if c.pendingErr != nil {
		return &readError{c.pendingErr}
	}
	var big *[]byte
	defer func() {
		if big != nil {
			putRecvBuffer(big)
		}
	}()
	for {
		buf := c.small[:]
		if big != nil {
			buf = (*big)[:cap(*big)]
		}
		n, err := c.str.Read(buf)
		if n > 0 {
			if err := c.dec.Decode(buf[:n], deliver); err != nil {
				return &readError{err}
			}
		}
		if err != nil {
			return err
		}
		switch {
		case big == nil && n == len(buf):
			big = getRecvBuffer(recvClass(16 << 10))
		case big != nil && n <= len(buf)/2:
			putRecvBuffer(big)
			big = nil
		}
	}
}

// WritePackets writes pkts in the stream framing, all in one write.
func (c *WebTransportConn) WritePackets(pkts []codec.Packet) error {
	buf := getBuffer()
	defer putBuffer(buf)
	*buf = codec.AppendStreamFrames((*buf)[:0], pkts)
	return c.write(*buf)
}

// WriteBatch is [WebTransportConn.WritePackets] for a batch as a server
// session queues it: each item's Packet is encoded (a [Prepared] form is
// for WebSocket and polling, and is not used).
func (c *WebTransportConn) WriteBatch(items []Outgoing) error {
	buf := getBuffer()
	defer putBuffer(buf)
	b := (*buf)[:0]
	for i := range items {
		b = codec.AppendStreamFrame(b, items[i].Packet)
	}
	*buf = b
	return c.write(b)
}

func (c *WebTransportConn) write(b []byte) error {
	if c.str == nil {
		return errors.New("transport: webtransport connection has no stream (Handshake first)")
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.isClosed() {
		return net.ErrClosed
	}
	if c.opts.WriteTimeout > 0 {
		_ = c.str.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	}
	if _, err := c.str.Write(b); err != nil {
		return fmt.Errorf("transport: webtransport write: %w", err)
	}
	return nil
}

func (c *WebTransportConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// RemoteAddr returns the peer's address.
func (c *WebTransportConn) RemoteAddr() net.Addr { return c.sess.RemoteAddr() }

// Close closes the session now and returns once the reader, if started,
// has exited; what was written but not yet delivered may be lost (see
// [WebTransportConn.Shutdown]). It does not wait for the peer. On a client
// it also closes the QUIC connection and its socket. It is safe to call
// from any goroutine but the reader's, more than once.
func (c *WebTransportConn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		started, str := c.started, c.str
		c.mu.Unlock()
		c.closeSession()
		if !started {
			close(c.done)
		}
		if str != nil {
			// Wake the reader without a word to the peer: it sees
			// closed, and ends with net.ErrClosed.
			_ = str.SetReadDeadline(time.Unix(1, 0))
		}
	})
	<-c.done
	c.releaseRest()
	return nil
}

// closeWait bounds how long a server's clean close waits for the peer to
// answer before the session is closed regardless: a round trip on a
// working connection.
const closeWait = 2 * time.Second

// closeSession closes the session, cleanly when it can, without waiting,
// once.
//
// webtransport-go's close also stops the peer's sending on the CONNECT
// stream (STOP_SENDING), in the packet that carries the close capsule, and
// Chromium, which handles the STOP_SENDING first, then reports the session
// lost instead of closed (engine.io-client: "transport error" instead of
// "transport close"). So a server writes the capsule (WT_CLOSE_SESSION,
// code 0) and ends the CONNECT stream itself, and leaves the rest of
// webtransport-go's close to a goroutine of its server, which runs it once
// the peer has ended its side of the CONNECT stream (closeWait at most, or
// until the server closes). A client closes through webtransport-go.
func (c *WebTransportConn) closeSession() { c.sessOnce.Do(c.closeSessionOnce) }

func (c *WebTransportConn) closeSessionOnce() {
	c.mu.Lock()
	server := c.server
	c.mu.Unlock()
	if c.connect == nil || server == nil || c.sess.Context().Err() != nil {
		_ = c.sess.CloseWithError(0, "")
		return
	}
	capsule := quicvarint.Append(nil, closeSessionCapsule)
	capsule = quicvarint.Append(capsule, 4) // the error code, no message
	capsule = append(capsule, 0, 0, 0, 0)
	if c.connect.TryWriteAll(capsule) != nil || c.connect.Close() != nil {
		_ = c.sess.CloseWithError(0, "")
		return
	}
	if !server.closeLater(c.sess) {
		_ = c.sess.CloseWithError(0, "")
	}
}

// closeSessionCapsule is the type of the WT_CLOSE_SESSION capsule.
const closeSessionCapsule = 0x2843

// releaseRest releases what the connection holds besides its session, once
// its reader has exited.
func (c *WebTransportConn) releaseRest() {
	c.mu.Lock()
	release, server := c.release, c.server
	c.release, c.server = nil, nil
	c.mu.Unlock()
	if release != nil {
		release()
	}
	if server != nil {
		server.forget(c)
	}
}

// Shutdown ends the connection gracefully: it closes the stream's sending
// side after what has been written, so that the peer reads it all, then
// waits until the peer closes the session or ends its side of the
// stream, or until ctx is done, and closes as Close does. It returns
// ctx.Err() if ctx ended the wait. engine.io-client does not close a
// session whose stream has ended, so with it Shutdown waits for ctx.
func (c *WebTransportConn) Shutdown(ctx context.Context) error {
	if c.str != nil {
		c.wmu.Lock()
		_ = c.str.Close()
		c.wmu.Unlock()
	}
	var err error
	c.mu.Lock()
	started := c.started
	c.mu.Unlock()
	if started {
		select {
		case <-c.done:
		case <-c.sess.Context().Done():
		case <-ctx.Done():
			err = ctx.Err()
		}
	} else {
		select {
		case <-c.sess.Context().Done():
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	_ = c.Close()
	return err
}
