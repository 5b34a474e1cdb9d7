package eio

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"time"

	"github.com/chanio/chanio/internal/quietlog"
)

// ClientOptions configures a [Client]. A nil *ClientOptions, and every zero
// field, means the documented default.
type ClientOptions struct {
	// Transports lists the transports the client may use, by name
	// ([TransportPolling], [TransportWebSocket]). The first entry is the
	// transport the connection opens on; when it is polling and the list
	// also names websocket, the client upgrades to WebSocket if the server
	// offers it. Nil means polling, then the upgrade:
	// {TransportPolling, TransportWebSocket}. {TransportWebSocket} opens a
	// WebSocket directly; {TransportPolling} never leaves long-polling.
	// {TransportWebTransport} opens a WebTransport session (HTTP/3 over
	// QUIC, to the URL's host and port over UDP, always with TLS), and
	// {TransportPolling, TransportWebTransport} upgrades to one.
	Transports []string

	// Path is the Engine.IO path on the server. Zero means "/engine.io/".
	// It is used only when the URL given to [Dial] has no path (or "/"); a
	// URL with a path names the Engine.IO endpoint itself. A trailing slash
	// is added when missing, as the reference servers expect.
	Path string

	// Header holds extra headers sent on every request: the handshake,
	// each poll and POST, and the WebSocket handshake.
	Header http.Header
	// Query holds extra query parameters sent on every request, after those
	// of the URL given to Dial. EIO, transport and sid are the client's own
	// and are overwritten.
	Query url.Values

	// TLSConfig is used for https and wss. Nil means the HTTPClient's
	// transport's TLS configuration when HTTPClient has an *http.Transport,
	// and the crypto/tls defaults otherwise.
	TLSConfig *tls.Config
	// CertificateHashes pin a WebTransport server's certificate, as
	// browsers' serverCertificateHashes do: the SHA-256 hashes of the DER
	// of certificates the client accepts, each valid for at most two weeks
	// ([transport.MaxPinnedValidity]), in place of TLSConfig's
	// verification of the chain and name (for a self-signed development
	// certificate). Nil verifies WebTransport servers as TLSConfig says.
	CertificateHashes [][sha256.Size]byte
	// HTTPClient sends the long-polling requests. When its Transport is an
	// *http.Transport, its DialContext, TLSClientConfig and Proxy are also
	// used for the WebSocket connection (DialContext and TLSConfig set here
	// come first). A WebSocket goes through an http:// proxy with CONNECT;
	// other proxy schemes (https://, socks5://) fail the WebSocket, which
	// leaves an upgrading client on polling. A Timeout on the client must
	// exceed the server's pingInterval plus pingTimeout, which bound a
	// long-poll. Nil means a client of its own, with
	// http.ProxyFromEnvironment and a cookie jar of its own (the cookies a
	// server sets, such as a session binding cookie, come back on the
	// connection's later requests and its WebSocket upgrade), whose idle
	// connections are closed when the connection ends; a client passed
	// here is never closed. Its Jar, if any, is used the same way.
	HTTPClient *http.Client
	// RequestTimeout bounds each request: the handshake (polling GET or
	// WebSocket handshake and open packet), each POST, the WebSocket probe
	// of an upgrade (dial, 2probe/3probe) and the wait for the in-flight
	// requests before the switch, and the wait for the server's WebSocket
	// close frame after Close. A long-poll GET, which the server may hold
	// until its next ping, gets pingInterval + pingTimeout + RequestTimeout.
	// It also bounds each WebSocket write. Zero means 20s.
	RequestTimeout time.Duration
	// DialContext opens the TCP connections: those of the WebSocket, and
	// those of the default HTTP client (not of a HTTPClient passed here).
	// Nil means a net.Dialer with a 30s timeout (or the HTTPClient's
	// transport's DialContext for WebSocket, see HTTPClient).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// WebSocketCompression offers permessage-deflate (RFC 7692) in the
	// WebSocket handshake, asking for no context takeover in either
	// direction, so that every message is compressed on its own. When the
	// server accepts, messages over 1024 bytes are sent compressed and
	// incoming ones are bounded by MaxPayload after inflating. An answer
	// the client cannot honour fails the WebSocket (the handshake, or the
	// probe of an upgrade, which then leaves the client on polling). Zero
	// (false) offers nothing, as engine.io-client in Node does not.
	WebSocketCompression bool

	// MaxQueueBytes bounds the outbound queue: the bytes of messages
	// accepted by Send and not yet written. A Send past it fails with
	// [ErrSlowConsumer]; the connection stays up. Zero means 1 MiB.
	MaxQueueBytes int
	// MaxPayload bounds what the server may send at once: one polling
	// response body (after decompression) or one WebSocket message, in
	// bytes. Past it the connection ends with [ReasonTransportError]. It is
	// the client's side of the server's maxPayload. Zero means 64 MiB.
	MaxPayload int64
	// EventBuffer is the capacity of the [Client.Events] channel. Zero
	// means 1024.
	EventBuffer int

	// Logger receives the client's logs: upgrades and their failures
	// (Debug), ping timeouts (Info), events dropped at Close (Warn),
	// internal failures (Error). Nil logs only errors, to slog.Default(),
	// as a server's nil [Options.Logger] does.
	Logger *slog.Logger
}

// clientOptions is ClientOptions resolved: every default applied once.
type clientOptions struct {
	ClientOptions
	open     string   // the transport to open on
	upgrades []string // opening on polling, the transports to upgrade to when offered
	// httpc sends polling requests; own is set when the client made it.
	httpc *http.Client
	own   *http.Transport
	// wsDial, wsTLS and wsProxy are what the WebSocket dialer uses.
	wsDial  func(ctx context.Context, network, addr string) (net.Conn, error)
	wsTLS   *tls.Config
	wsProxy func(*http.Request) (*url.URL, error)
}

const (
	defaultRequestTimeout = 20 * time.Second
	defaultClientPayload  = 64 << 20
)

func (o *ClientOptions) withDefaults() clientOptions {
	var r clientOptions
	if o != nil {
		r.ClientOptions = *o
	}
	if r.Path == "" {
		r.Path = "/engine.io/"
	}
	if r.RequestTimeout <= 0 {
		r.RequestTimeout = defaultRequestTimeout
	}
	if r.MaxQueueBytes <= 0 {
		r.MaxQueueBytes = 1 << 20
	}
	if r.MaxPayload <= 0 {
		r.MaxPayload = defaultClientPayload
	}
	if r.EventBuffer <= 0 {
		r.EventBuffer = 1024
	}
	if r.Logger == nil {
		r.Logger = quietlog.New()
	}
	if r.Transports == nil {
		r.Transports = []string{TransportPolling, TransportWebSocket}
	}
	if len(r.Transports) > 0 {
		r.open = r.Transports[0]
		for _, t := range r.Transports[1:] {
			if r.open == TransportPolling && t != TransportPolling {
				r.upgrades = append(r.upgrades, t)
			}
		}
	}

	r.wsDial, r.wsTLS = r.DialContext, r.TLSConfig
	if r.HTTPClient != nil {
		r.httpc = r.HTTPClient
		if t, ok := r.HTTPClient.Transport.(*http.Transport); ok {
			if r.wsDial == nil {
				r.wsDial = t.DialContext
			}
			if r.wsTLS == nil {
				r.wsTLS = t.TLSClientConfig
			}
			r.wsProxy = t.Proxy
		}
	} else {
		dial := r.DialContext
		if dial == nil {
			dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		}
		r.own = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         dial,
			TLSClientConfig:     r.TLSConfig,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 2, // one held GET and one POST
			IdleConnTimeout:     90 * time.Second,
		}
		jar, _ := cookiejar.New(nil) // never fails without options
		r.httpc = &http.Client{Transport: r.own, Jar: jar}
		r.wsProxy = r.own.Proxy
	}
	if r.wsDial == nil {
		r.wsDial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return r
}
