package transport

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/chanio/chanio/codec"
	"github.com/gobwas/ws"
)

// webSocketKind is the WebSocket transport: accepted with an HTTP Upgrade
// on a server, dialed with gobwas/ws on a client.
var webSocketKind = Kind{
	Name:      "websocket",
	Requested: IsWebSocketUpgrade,
	Accept: func(w http.ResponseWriter, r *http.Request, o AcceptOptions) (Stream, error) {
		return AcceptWebSocket(w, r, o)
	},
	Dial: func(ctx context.Context, u string, o DialOptions) (Stream, error) { return DialWebSocket(ctx, u, o) },
}

// IsWebSocketUpgrade reports whether r asks for a WebSocket.
func IsWebSocketUpgrade(r *http.Request) bool {
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

// AcceptWebSocket runs the server side of a WebSocket handshake on r,
// negotiating permessage-deflate when o.Compression is on, and wraps the
// connection. The 101 answer and o.Greeting go out in one write. On
// failure the connection has been closed.
func AcceptWebSocket(w http.ResponseWriter, r *http.Request, o AcceptOptions) (*WebSocket, error) {
	var u ws.HTTPUpgrader
	u.Header = o.Header
	var neg *DeflateNegotiator
	if o.Compression {
		neg = new(DeflateNegotiator)
		u.Negotiate = neg.Negotiate
	}
	buf := getBuffer()
	hold := &answerHolder{ResponseWriter: w}
	hold.answer.b = *buf
	conn, rw, _, err := u.Upgrade(r, hold)
	defer func() {
		*buf = hold.answer.b
		putBuffer(buf)
	}()
	if err != nil {
		if conn != nil {
			// The refusal gobwas/ws wrote (400, 426, ...).
			_, _ = conn.Write(hold.answer.b)
			_ = conn.Close()
		}
		return nil, err
	}
	c := NewWebSocketWith(conn, rw.Reader, WebSocketOptions{
		Side:             ServerSide,
		Version:          o.Version,
		MaxMessage:       o.MaxMessage,
		Budget:           o.Budget,
		WriteTimeout:     o.WriteTimeout,
		Deflate:          neg != nil && neg.Accepted(),
		DeflateThreshold: o.CompressionThreshold,
		Base64:           o.Base64,
	})
	for i := range o.Greeting {
		hold.answer.b = c.appendPacket(hold.answer.b, &o.Greeting[i], c.version)
	}
	if err := c.write(hold.answer.b); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// answerHolder is the ResponseWriter a WebSocket handshake runs on: the
// connection it hijacks writes the answer into answer instead of the
// socket, so that AcceptWebSocket sends it together with the first
// frames, one write instead of two.
type answerHolder struct {
	http.ResponseWriter
	answer appendWriter
}

// Hijack hijacks the connection of the ResponseWriter it wraps, with a
// writer that appends to h.answer.
func (h *answerHolder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return conn, rw, err
	}
	rw.Writer.Reset(&h.answer) // empty: nothing was written before the hijack
	return conn, rw, nil
}

// Unwrap lets http.ResponseController reach the wrapped writer's methods.
func (h *answerHolder) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// maxErrorBody bounds what is kept of an HTTP error answer.
const maxErrorBody = 4096

// DialWebSocket opens a protocol 4 WebSocket to rawURL (http, https, ws or
// wss) within ctx and o.Timeout. A refusal comes back as a
// [*StatusError].
func DialWebSocket(ctx context.Context, rawURL string, o DialOptions) (*WebSocket, error) {
	hu, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	switch hu.Scheme {
	case "ws", "http":
		hu.Scheme = "http"
	case "wss", "https":
		hu.Scheme = "https"
	default:
		return nil, fmt.Errorf("transport: not a WebSocket URL: %q", rawURL)
	}
	u := "ws" + strings.TrimPrefix(hu.String(), "http")
	h := o.Header.Clone()
	if o.Jar != nil {
		for _, ck := range o.Jar.Cookies(hu) {
			if h == nil {
				h = make(http.Header)
			}
			h.Add("Cookie", ck.String())
		}
	}
	netDial := o.NetDial
	if netDial == nil {
		netDial = (&net.Dialer{}).DialContext
	}
	var refused *StatusError
	d := ws.Dialer{
		Timeout:   o.Timeout,
		NetDial:   netDial,
		TLSConfig: o.TLS,
		OnStatusError: func(status int, _ []byte, resp io.Reader) {
			refused = readRefusal(u, status, resp)
		},
	}
	if len(h) > 0 {
		d.Header = ws.HandshakeHeaderHTTP(h)
	}
	if o.Compression {
		d.Extensions = append(d.Extensions, DeflateOffer())
	}
	if o.Proxy != nil {
		proxy, err := o.Proxy(&http.Request{Method: http.MethodGet, URL: hu, Header: h})
		if err != nil {
			return nil, fmt.Errorf("transport: websocket proxy: %w", err)
		}
		if proxy != nil {
			d.NetDial = func(ctx context.Context, _, addr string) (net.Conn, error) {
				return dialProxy(ctx, netDial, proxy, addr)
			}
		}
	}
	conn, br, hs, err := d.Dial(ctx, u)
	if err != nil {
		if conn != nil {
			_ = conn.Close()
		}
		if refused != nil && ctx.Err() == nil {
			return nil, refused
		}
		return nil, fmt.Errorf("transport: websocket: %w", err)
	}
	deflate, err := DeflateAccepted(hs.Extensions)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("transport: websocket: %w", err)
	}
	return NewWebSocketWith(conn, br, WebSocketOptions{
		Side:         ClientSide,
		Version:      codec.V4,
		MaxMessage:   o.MaxMessage,
		WriteTimeout: o.WriteTimeout,
		Deflate:      deflate,
	}), nil
}

// readRefusal reads the HTTP answer that refused a WebSocket handshake to
// u. resp starts with the status line and is bounded by the dial's
// deadline.
func readRefusal(u string, status int, resp io.Reader) *StatusError {
	e := &StatusError{Method: http.MethodGet, Status: status, URL: withoutQuery(u)}
	r, err := http.ReadResponse(bufio.NewReader(resp), nil)
	if err != nil {
		return e
	}
	defer r.Body.Close()
	e.Body, _ = readResponse(r, maxErrorBody)
	return e
}

// withoutQuery is rawURL without its query.
func withoutQuery(rawURL string) string {
	u, _, _ := strings.Cut(rawURL, "?")
	return u
}
