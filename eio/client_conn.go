package eio

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/transport"
	"github.com/gobwas/ws"
)

// This file holds the client's I/O: HTTP requests of long-polling, the
// WebSocket dial, probe and reader. All of it runs on goroutines of the
// client's io group (or in Dial), never in the actor.

// maxErrorBodyBytes bounds what is kept of an HTTP error answer.
const maxErrorBodyBytes = 4096

// newRequest builds a request with the client's extra headers.
func (c *Client) newRequest(ctx context.Context, method, u string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, err
	}
	for k, vs := range c.opts.Header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	} else {
		// Set by hand, so Go's transport does not decode gzip for us:
		// readPollBody does, and deflate too.
		req.Header.Set("Accept-Encoding", "gzip, deflate")
	}
	return req, nil
}

// get sends a polling GET and returns its decoded payload.
func (c *Client) get(ctx context.Context, u string) ([]codec.Packet, error) {
	body, _, err := c.getBody(ctx, u, c.opts.MaxPayload)
	if err != nil {
		return nil, err
	}
	return codec.DecodePayload(body, codec.V4, codec.Limits{MaxBytes: int(c.opts.MaxPayload), MaxPackets: maxPacketsPerPoll}, nil)
}

// getBody sends a polling GET to u and returns the body of its 200 answer,
// decompressed, and its Content-Type. Any other status is a *HTTPError.
// A body over limit bytes fails with errResponseOverLimit, returned with
// its first limit+1 bytes.
func (c *Client) getBody(ctx context.Context, u string, limit int64) ([]byte, string, error) {
	req, err := c.newRequest(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := c.opts.httpc.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := readPollBody(resp, maxErrorBodyBytes)
		return nil, "", httpErrorFrom(u, resp.StatusCode, body)
	}
	body, err := readPollBody(resp, limit)
	return body, resp.Header.Get("Content-Type"), err
}

// poll is the long-poll GET of an open connection.
func (c *Client) poll(ctx context.Context) ([]codec.Packet, error) {
	pkts, err := c.get(ctx, c.pollURL)
	if err != nil {
		return nil, fmt.Errorf("eio: poll: %w", err)
	}
	return pkts, nil
}

// post sends one payload to u.
func (c *Client) post(ctx context.Context, u string, body []byte) error {
	req, err := c.newRequest(ctx, http.MethodPost, u, body)
	if err != nil {
		return err
	}
	resp, err := c.opts.httpc.Do(req)
	if err != nil {
		return fmt.Errorf("eio: post: %w", err)
	}
	defer resp.Body.Close()
	// Read the small answer ("ok") whole so that the connection is reused.
	b, _ := readPollBody(resp, maxErrorBodyBytes)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("eio: post: %w", httpErrorFrom(u, resp.StatusCode, b))
	}
	return nil
}

// readPollBody reads a response body of at most limit bytes, decoding
// Content-Encoding gzip and deflate. Past limit it returns the first
// limit+1 bytes with errResponseOverLimit.
func readPollBody(resp *http.Response, limit int64) ([]byte, error) {
	var r io.Reader = resp.Body
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("eio: gzip response: %w", err)
		}
		defer zr.Close()
		r = zr
	case "deflate":
		// HTTP's deflate is zlib (RFC 1950); some servers send raw
		// deflate (RFC 1951): tell them apart by the zlib header.
		br := bufio.NewReader(resp.Body)
		if h, err := br.Peek(2); err == nil && h[0]&0x0f == 8 && (uint16(h[0])<<8|uint16(h[1]))%31 == 0 {
			zr, err := zlib.NewReader(br)
			if err != nil {
				return nil, fmt.Errorf("eio: deflate response: %w", err)
			}
			defer zr.Close()
			r = zr
		} else {
			fr := flate.NewReader(br)
			defer fr.Close()
			r = fr
		}
	default:
		return nil, fmt.Errorf("%w: %q", errUnsupportedEncode, enc)
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return b, errResponseOverLimit
	}
	return b, nil
}

// httpErrorFrom builds the error of an HTTP error answer to a request for
// rawURL, with the JSON code and message when the body has them.
func httpErrorFrom(rawURL string, status int, body []byte) *HTTPError {
	u, _, _ := strings.Cut(rawURL, "?")
	e := &HTTPError{Status: status, URL: u, Body: body, Code: -1}
	var j struct {
		Code    *int    `json:"code"`
		Message *string `json:"message"`
	}
	if json.Unmarshal(body, &j) != nil {
		return e
	}
	if j.Message != nil {
		e.Message = *j.Message
	}
	if j.Code != nil {
		e.Code = ErrorCode(*j.Code)
		if j.Message == nil {
			e.Message = e.Code.Message()
		}
	}
	return e
}

// handshakeSlack is how far past MaxPayload a polling handshake answer is
// read: far enough to hold an open packet, so that the session of an
// answer over the limit can still be named and closed.
const handshakeSlack = 4096

// handshakePolling opens a polling connection on ep: the open packet and
// any packets that came with it. An answer that opens a session the client
// cannot use (over MaxPayload, or malformed after its open packet) has
// that session closed before the error returns.
func (c *Client) handshakePolling(ctx context.Context, ep clientEndpoint) (codec.Handshake, []codec.Packet, error) {
	u := ep.url(TransportPolling, "")
	body, contentType, err := c.getBody(ctx, u, c.opts.MaxPayload+handshakeSlack)
	over := errors.Is(err, errResponseOverLimit) || int64(len(body)) > c.opts.MaxPayload
	if err != nil && !over {
		return codec.Handshake{}, nil, err
	}
	// The open packet is the payload's first record.
	first, _, _ := bytes.Cut(body, []byte{codec.Separator})
	open, err := codec.DecodePayload(first, codec.V4, codec.Limits{}, nil)
	if err != nil || open[0].Type != codec.Open || open[0].Binary {
		return codec.Handshake{}, nil, &notEngineIOError{
			fmt.Sprintf("it answered 200 (%s) with %.60q", contentType, body)}
	}
	hs, err := parseOpenPacket(open[0])
	if err != nil {
		return codec.Handshake{}, nil, err
	}
	if over {
		c.closeOpened(ctx, ep, hs.SID)
		return codec.Handshake{}, nil, fmt.Errorf("eio: the handshake answer is over ClientOptions.MaxPayload (%d bytes): %w",
			c.opts.MaxPayload, codec.ErrTooLarge)
	}
	pkts, err := codec.DecodePayload(body, codec.V4, codec.Limits{MaxPackets: maxPacketsPerPoll}, nil)
	if err != nil {
		c.closeOpened(ctx, ep, hs.SID)
		return codec.Handshake{}, nil, fmt.Errorf("eio: invalid handshake payload: %w: %w", codec.ErrBadHandshake, err)
	}
	return hs, pkts[1:], nil
}

// closeOpened ends the session sid that a failed handshake leaves on the
// server, with a close packet as a client's Close sends it: otherwise it
// would wait out its ping timeout there. It tries once, within
// RequestTimeout, unless ctx has ended.
func (c *Client) closeOpened(ctx context.Context, ep clientEndpoint, sid string) {
	if ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.RequestTimeout)
	defer cancel()
	closePacket := []byte{'0' + byte(codec.Close)}
	if err := c.post(ctx, ep.url(TransportPolling, sid), closePacket); err != nil {
		c.log.Debug("eio: closing the session of a failed handshake", "sid", sid, "err", err)
	}
}

// parseOpenPacket reads the handshake of an open packet.
func parseOpenPacket(p codec.Packet) (codec.Handshake, error) {
	hs, err := codec.ParseHandshake(p.Data)
	if err != nil {
		return codec.Handshake{}, fmt.Errorf("eio: invalid open packet %.200q: %w", p.Data, err)
	}
	return hs, nil
}

// notEngineIOError is what Dial meets at a URL that answers, but not as an
// Engine.IO server; detail says what it answered.
type notEngineIOError struct{ detail string }

func (e *notEngineIOError) Error() string { return "not an Engine.IO server: " + e.detail }

// Unwrap lets errors.Is find ErrNotEngineIO, and codec.ErrBadHandshake,
// which Dial's errors matched for such answers before ErrNotEngineIO.
func (e *notEngineIOError) Unwrap() []error {
	return []error{ErrNotEngineIO, codec.ErrBadHandshake}
}

// handshakeWebSocket opens a WebSocket connection and reads its open
// packet within ctx.
func (c *Client) handshakeWebSocket(ctx context.Context, u string) (codec.Handshake, *transport.WebSocket, error) {
	conn, err := c.dialWebSocket(ctx, u)
	if err != nil {
		return codec.Handshake{}, nil, err
	}
	// ctx's end, deadline or cancel, interrupts the read.
	nc := conn.Conn()
	stop := context.AfterFunc(ctx, func() { _ = nc.SetReadDeadline(time.Unix(1, 0)) })
	data, binary, err := conn.ReadMessage()
	if !stop() {
		_ = conn.Close()
		return codec.Handshake{}, nil, ctx.Err()
	}
	if err != nil {
		_ = conn.Close()
		return codec.Handshake{}, nil, fmt.Errorf("eio: reading the open packet: %w", err)
	}
	_ = nc.SetReadDeadline(time.Time{})
	p, err := codec.DecodeFrame(data, binary, codec.V4)
	if err != nil || p.Type != codec.Open || p.Binary {
		err = &notEngineIOError{fmt.Sprintf("its first WebSocket message is %.60q", data)}
	} else {
		var hs codec.Handshake
		if hs, err = parseOpenPacket(p); err == nil {
			return hs, conn, nil
		}
	}
	_ = conn.CloseWith(ws.StatusProtocolError)
	return codec.Handshake{}, nil, err
}

// dialWebSocket opens a WebSocket to u (ws:// or wss://) within ctx and
// RequestTimeout. A refusal comes back as a *HTTPError.
func (c *Client) dialWebSocket(ctx context.Context, u string) (*transport.WebSocket, error) {
	h := c.opts.Header.Clone()
	if jar := c.opts.httpc.Jar; jar != nil {
		if hu, err := url.Parse("http" + strings.TrimPrefix(u, "ws")); err == nil {
			for _, ck := range jar.Cookies(hu) {
				if h == nil {
					h = make(http.Header)
				}
				h.Add("Cookie", ck.String())
			}
		}
	}
	var refused *HTTPError
	d := ws.Dialer{
		Timeout:   c.opts.RequestTimeout,
		NetDial:   c.opts.wsDial,
		TLSConfig: c.opts.wsTLS,
		OnStatusError: func(status int, _ []byte, resp io.Reader) {
			refused = readRefusal(u, status, resp)
		},
	}
	if len(h) > 0 {
		d.Header = ws.HandshakeHeaderHTTP(h)
	}
	if c.opts.WebSocketCompression {
		d.Extensions = append(d.Extensions, transport.DeflateOffer())
	}
	if c.opts.wsProxy != nil {
		hu, err := url.Parse("http" + strings.TrimPrefix(u, "ws"))
		if err != nil {
			return nil, err
		}
		proxy, err := c.opts.wsProxy(&http.Request{Method: http.MethodGet, URL: hu, Header: h})
		if err != nil {
			return nil, fmt.Errorf("eio: websocket proxy: %w", err)
		}
		if proxy != nil {
			d.NetDial = func(ctx context.Context, _, addr string) (net.Conn, error) {
				return c.dialProxy(ctx, proxy, addr)
			}
		}
	}
	conn, br, hs, err := d.Dial(ctx, u)
	if err != nil {
		if conn != nil {
			_ = conn.Close()
		}
		if refused != nil && ctx.Err() == nil {
			if refused.Status/100 == 2 {
				// A server that ignores the Upgrade header: no WebSocket,
				// so no Engine.IO WebSocket endpoint, here.
				return nil, &notEngineIOError{fmt.Sprintf("it answered the WebSocket handshake with %d, not 101: %.60q",
					refused.Status, refused.Body)}
			}
			return nil, refused
		}
		return nil, fmt.Errorf("eio: websocket: %w", err)
	}
	deflate, err := transport.DeflateAccepted(hs.Extensions)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("eio: websocket: %w", err)
	}
	c.log.Debug("eio: websocket connected", "permessage_deflate", deflate)
	return transport.NewWebSocketWith(conn, br, transport.WebSocketOptions{
		Side:         transport.ClientSide,
		MaxMessage:   c.opts.MaxPayload,
		WriteTimeout: c.opts.RequestTimeout,
		Deflate:      deflate,
	}), nil
}

// dialProxy opens a tunnel to addr through an http:// proxy with CONNECT,
// within ctx.
func (c *Client) dialProxy(ctx context.Context, proxy *url.URL, addr string) (net.Conn, error) {
	if proxy.Scheme != "http" {
		return nil, fmt.Errorf("eio: websocket through a %q proxy is not supported (only http://)", proxy.Scheme)
	}
	paddr := proxy.Host
	if _, _, err := net.SplitHostPort(paddr); err != nil {
		paddr = net.JoinHostPort(paddr, "80")
	}
	conn, err := c.opts.wsDial(ctx, "tcp", paddr)
	if err != nil {
		return nil, fmt.Errorf("eio: dialing proxy %s: %w", paddr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: addr},
		Host:   addr,
		Header: make(http.Header),
	}
	if u := proxy.User; u != nil {
		pass, _ := u.Password()
		req.Header.Set("Proxy-Authorization",
			"Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pass)))
	}
	err = req.Write(conn)
	var resp *http.Response
	br := bufio.NewReader(conn)
	if err == nil {
		resp, err = http.ReadResponse(br, req)
	}
	if !stop() && err == nil {
		err = ctx.Err()
	}
	switch {
	case err != nil:
	case resp.StatusCode != http.StatusOK:
		err = fmt.Errorf("eio: proxy %s refused CONNECT %s: %s", paddr, addr, resp.Status)
	case br.Buffered() > 0:
		err = fmt.Errorf("eio: proxy %s sent data after its CONNECT answer", paddr)
	}
	if resp != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

// readRefusal reads the HTTP answer that refused a WebSocket handshake to u.
// resp starts with the status line and is bounded by the dial's deadline.
func readRefusal(u string, status int, resp io.Reader) *HTTPError {
	r, err := http.ReadResponse(bufio.NewReader(resp), nil)
	if err != nil {
		return httpErrorFrom(u, status, nil)
	}
	defer r.Body.Close()
	body, _ := readPollBody(r, maxErrorBodyBytes)
	return httpErrorFrom(u, status, body)
}

// probeWebSocket runs the upgrade probe (2probe, 3probe) on a new
// WebSocket for the session, reports the result to the actor, and then
// reads the WebSocket for as long as it lives.
func (c *Client) probeWebSocket(ctx context.Context) {
	dctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	conn, err := c.dialWebSocket(dctx, c.probeURL)
	cancel()
	if err != nil {
		_ = c.in.Send(ctx, clientInbound{kind: inProbe, err: err})
		return
	}
	// Closed when ctx ends, and in any case when this reader is done: a
	// connection the server closed first must not linger half-open.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer func() { stop(); _ = conn.Close() }()
	nc := conn.Conn()
	_ = nc.SetDeadline(time.Now().Add(c.opts.RequestTimeout))
	ping := [1]codec.Packet{{Type: codec.Ping, Data: []byte("probe")}}
	err = conn.WritePackets(ping[:], codec.V4)
	if err == nil {
		var data []byte
		var binary bool
		if data, binary, err = conn.ReadMessage(); err == nil {
			p, derr := codec.DecodeFrame(data, binary, codec.V4)
			if derr != nil || p.Type != codec.Pong || string(p.Data) != "probe" {
				err = errProbeAnswer
			}
		}
	}
	if err != nil {
		_ = conn.CloseWith(ws.StatusNormalClosure)
		_ = c.in.Send(ctx, clientInbound{kind: inProbe, err: err})
		return
	}
	_ = nc.SetDeadline(time.Time{})
	if c.in.Send(ctx, clientInbound{kind: inProbe, conn: conn}) != nil {
		_ = conn.Close()
		return
	}
	c.readLoop(ctx, conn)
}

// readFrames reads the WebSocket conn for as long as it lives; the
// connection is closed when ctx ends.
func (c *Client) readFrames(ctx context.Context, conn *transport.WebSocket) {
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer func() { stop(); _ = conn.Close() }()
	c.readLoop(ctx, conn)
}

// readLoop pushes every packet of conn, then its end, into the actor's
// mailbox. Once the actor has stopped taking them it reads on and discards
// until the connection ends: the actor has closed it or, after a client
// close, set a deadline for the server's close frame.
func (c *Client) readLoop(ctx context.Context, conn *transport.WebSocket) {
	for {
		data, binary, err := conn.ReadMessage()
		if err != nil {
			_ = c.in.Send(ctx, clientInbound{kind: inFrame, conn: conn, err: err})
			return
		}
		p, err := codec.DecodeFrame(data, binary, codec.V4)
		if err != nil {
			_ = conn.CloseWith(ws.StatusUnsupportedData)
			_ = c.in.Send(ctx, clientInbound{kind: inFrame, conn: conn,
				err: fmt.Errorf("eio: bad websocket frame from the server: %w", err)})
			return
		}
		if c.in.Send(ctx, clientInbound{kind: inFrame, conn: conn, pkt: p}) != nil {
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					return
				}
			}
		}
	}
}

// clientReasonFor classifies how a client's transport failed.
func clientReasonFor(err error) Reason {
	var he *HTTPError
	var se *codec.SyntaxError
	var ce *transport.CloseError
	switch {
	case errors.As(err, &ce):
		if ce.Code == ws.StatusNormalClosure || ce.Code == ws.StatusNoStatusRcvd {
			// A deliberate close by the server: Node's engine.io ends a
			// WebSocket session this way, without a close packet.
			return ReasonServerDisconnect
		}
		return ReasonTransportClose
	case errors.As(err, &he), errors.As(err, &se),
		errors.Is(err, codec.ErrTooLarge), errors.Is(err, errUnsupportedEncode),
		errors.Is(err, transport.ErrMessageTooBig), errors.Is(err, transport.ErrProtocol),
		errors.Is(err, transport.ErrInvalidUTF8), errors.Is(err, context.DeadlineExceeded):
		return ReasonTransportError
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ReasonTransportError
	}
	return ReasonTransportClose
}
