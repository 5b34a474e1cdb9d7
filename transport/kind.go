package transport

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/chanio/chanio/codec"
)

// Kind is a transport that carries a session on a [Stream] of its own:
// how a server accepts it from an HTTP request and how a client opens one.
// Long-polling, which eio serves request by request ([Poll], [PollClient]),
// is not a Kind.
type Kind struct {
	// Name is the transport's name in the protocol ("websocket"): the
	// transport query parameter, and an entry of the open packet's
	// upgrades.
	Name string
	// Requested reports whether r asks for this transport the way it must
	// be asked for (a WebSocket, with the Upgrade header). A request that
	// names the transport without it is refused.
	Requested func(r *http.Request) bool
	// Accept answers r, on a server, and returns the stream. On error
	// nothing is left open.
	Accept func(w http.ResponseWriter, r *http.Request, o AcceptOptions) (Stream, error)
	// Dial opens a stream to rawURL, the endpoint's URL with its query, on
	// a client, within ctx: ws:// or wss:// for a WebSocket (which takes
	// http:// and https:// too). A refusal is a [*StatusError].
	Dial func(ctx context.Context, rawURL string, o DialOptions) (Stream, error)
	// SessionOf is set for a transport whose request does not say which
	// session it is for (WebTransport: its URL has no query, and the
	// client's first packet names the session): it returns the session an
	// accepted stream names, "" for a new one. A server routes such a
	// request by its method and path (Requested), not by its query. Nil
	// for a transport routed by the query (transport=, sid=).
	SessionOf func(s Stream) string
}

// kinds are the stream transports. Which a client tries, and in what
// order, is its ClientOptions.Transports'. A new transport is a file of
// its own that defines its Kind, and one entry here.
var kinds = [...]Kind{webSocketKind, webTransportKind}

// Kinds returns the stream transports.
func Kinds() []Kind {
	out := kinds
	return out[:]
}

// LookupKind returns the stream transport called name.
func LookupKind(name string) (Kind, bool) {
	for i := range kinds { // by index: a range over the array would copy it
		if kinds[i].Name == name {
			return kinds[i], true
		}
	}
	return Kind{}, false
}

// AcceptOptions configures a stream a server accepts.
type AcceptOptions struct {
	// Version is the session's protocol version.
	Version codec.Version
	// MaxMessage bounds an incoming message, in bytes.
	MaxMessage int64
	// Budget, if not nil, bounds incoming messages together with every
	// other connection sharing it.
	Budget *ReadBudget
	// WriteTimeout bounds each write; zero means none.
	WriteTimeout time.Duration
	// Compression accepts a client's offer of compression
	// (permessage-deflate); CompressionThreshold is the size an outgoing
	// message must pass to be compressed (see [WebSocketOptions]).
	Compression          bool
	CompressionThreshold int
	// Base64 sends protocol 3 binary packets as base64 text, for a client
	// that asked for it (b64).
	Base64 bool
	// Header holds headers for the answer to the request (Set-Cookie).
	Header http.Header
	// Greeting holds the packets the server sends first on the stream (the
	// open packet), in the protocol of Version. A WebSocket sends them in
	// the same write as its 101 answer; a transport whose client speaks
	// first (WebTransport) sends them once it has. If they cannot be
	// written, Accept fails. Nil sends nothing.
	Greeting []codec.Packet
	// WebTransport is the server that accepts WebTransport sessions (its
	// MaxPayload, Budget and WriteTimeout are its own, in its Conn
	// options); the WebTransport Kind's Accept fails without it.
	WebTransport *WebTransportServer
	// HandshakeTimeout bounds the wait for the first packet of a
	// transport whose client speaks first (WebTransport's open packet).
	// Zero means the request's context alone.
	HandshakeTimeout time.Duration
}

// DialOptions configures a stream a client opens.
type DialOptions struct {
	// Header holds extra request headers.
	Header http.Header
	// Jar, if not nil, adds its cookies for the URL to the request.
	Jar http.CookieJar
	// NetDial opens TCP connections. Nil means a net.Dialer's.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLS configures wss://; nil means the crypto/tls defaults.
	TLS *tls.Config
	// Proxy picks a proxy for the request, as http.Transport.Proxy does;
	// an http:// proxy is used with CONNECT, any other scheme fails.
	Proxy func(*http.Request) (*url.URL, error)
	// Timeout bounds the dial and the handshake, within ctx.
	Timeout time.Duration
	// MaxMessage bounds an incoming message, in bytes.
	MaxMessage int64
	// WriteTimeout bounds each write; zero means none.
	WriteTimeout time.Duration
	// Compression offers compression (permessage-deflate) to the server.
	Compression bool
	// CertificateHashes pin a WebTransport server's certificate by the
	// SHA-256 of its DER, as browsers' serverCertificateHashes (see
	// [WebTransportDialOptions]); TLS's verification is then not used.
	CertificateHashes [][sha256.Size]byte
}

// StatusError is an HTTP answer other than the one a request wants: a
// polling request answered with a status other than 200, a WebSocket
// handshake answered with something other than 101.
type StatusError struct {
	Method string // the request's method
	Status int    // the HTTP status
	URL    string // the request's URL, without its query (it may carry a token)
	Body   []byte // the start of the body, decompressed
}

// Error gives the method, the URL and the status.
func (e *StatusError) Error() string {
	return fmt.Sprintf("transport: %s %s answered %d", e.Method, e.URL, e.Status)
}

// outgoing returns pkts as items to write.
func outgoing(pkts []codec.Packet) []Outgoing {
	items := make([]Outgoing, len(pkts))
	for i, p := range pkts {
		items[i] = Outgoing{Packet: p}
	}
	return items
}
