package eio

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chanio/chanio/internal/quietlog"
	"github.com/chanio/chanio/transport"
)

// Transport names, as [Options.Transports], [ClientOptions.Transports] and
// [Server.Transport] spell them.
const (
	TransportPolling      = "polling"
	TransportWebSocket    = "websocket"
	TransportWebTransport = "webtransport"
)

// Options configures a [Server]. A nil *Options, and every zero field,
// means the documented default, which is the protocol's.
type Options struct {
	// Path is the URL path the server answers on. Zero means "/engine.io/".
	// The path without its trailing slash is answered too. Mount the server
	// at this path: a request at another one gets a 404 that names it.
	Path string

	// PingInterval is how long the server waits after the open packet, and
	// after each pong, before it sends a ping. Zero means 25s.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for the pong to a ping before
	// it ends the session with [ReasonPingTimeout]. Zero means 20s.
	PingTimeout time.Duration
	// PingGrace is extra time, not advertised to clients, that the server
	// adds to PingTimeout before it gives up on a pong: the grace period of
	// python-engineio's ping_interval=(interval, grace). Zero means none.
	PingGrace time.Duration

	// MaxPayload bounds what a client may send at once: a polling POST body,
	// a WebSocket message or a WebTransport packet, in bytes. It is advertised in the open packet.
	// Zero means 1,000,000.
	//
	// Memory follows the bytes a client sends, not the lengths it declares:
	// a message or body is read into a buffer that grows as its bytes
	// arrive (from a pooled 4 KiB, at most doubling), so a frame header or
	// a Content-Length that promises a megabyte and stalls holds nothing,
	// or 4 KiB for a POST, beyond the connection itself. What one
	// connection can make the server hold while it sends is thus at most
	// about MaxPayload for the message being received (twice that for a
	// compressed one: the compressed bytes, then the inflated message), plus
	// up to MaxPayload of messages received and waiting for the session
	// (its inbound queue), plus the events waiting in [Server.Events]. Set
	// MaxBytesInFlight to bound the first part across all connections.
	MaxPayload int64
	// MaxBytesInFlight bounds the memory held by messages and POST bodies
	// still arriving, summed over every connection of the server. A message
	// that would take the sum past it ends its session: a WebSocket with
	// close code 1013 (try again later), a POST with 503 and
	// {"code":3,"message":"Server busy"}. Zero means no server-wide bound:
	// each connection is bounded by MaxPayload alone.
	MaxBytesInFlight int64
	// BodyTimeout bounds the reading of one polling POST body, from the
	// request's headers to its last byte, through the connection's read
	// deadline (http.ResponseController). A body not read in time is
	// answered 408 with {"code":3,"message":"Request timeout"} and ends the
	// session with [ReasonTransportError]: a client that stalls a POST holds
	// neither a handler nor its buffer past it. Zero means PingTimeout. A
	// ResponseWriter that cannot set read deadlines (a wrapper without
	// Unwrap) leaves the read unbounded, as the http.Server's ReadTimeout
	// does.
	BodyTimeout time.Duration

	// DisableCompression turns off compression of polling responses.
	// Zero (false) gzips or deflates a response body over
	// CompressionThreshold bytes when the request's Accept-Encoding allows
	// it, as the reference servers' httpCompression does by default. Turn
	// it off if responses mix secrets with data an attacker chooses (the
	// BREACH attack on compressed HTTPS bodies).
	DisableCompression bool
	// CompressionThreshold is the size in bytes a polling response body,
	// or with WebSocketCompression a WebSocket message, must pass to be
	// compressed. Zero means 1024.
	CompressionThreshold int
	// WebSocketCompression lets WebSocket clients negotiate
	// permessage-deflate (RFC 7692). The server answers with
	// server_no_context_takeover and client_no_context_takeover, so every
	// message is compressed on its own and a connection keeps no compressor
	// between messages. Messages over CompressionThreshold bytes are sent
	// compressed; incoming ones are bounded by MaxPayload after inflating,
	// and one that inflates past it ends the session. Zero (false) declines
	// the extension, as the Node server's perMessageDeflate default.
	WebSocketCompression bool

	// DisableUpgrades stops polling sessions from upgrading to WebSocket;
	// the open packet then advertises no upgrades. Zero (false) allows
	// upgrades.
	DisableUpgrades bool
	// Transports lists the transports clients may use, by name
	// ([TransportPolling], [TransportWebSocket], [TransportWebTransport]).
	// Nil means all three. WebTransport is offered (in the open packet's
	// upgrades) and accepted only once [Server.ListenWebTransport] runs.
	Transports []string
	// UpgradeTimeout bounds a polling-to-WebSocket (or WebTransport)
	// upgrade from the stream's arrival to the upgrade packet; past it the
	// stream is closed and the session goes on polling. It also bounds the
	// wait for a WebTransport session's first packet, as the reference's
	// does. Zero means 10s.
	UpgradeTimeout time.Duration

	// MaxQueueBytes bounds each session's outbound queue (the bytes of
	// messages accepted by Send and not yet written). A Send that would
	// pass it fails with [ErrSlowConsumer] and ends the session with
	// [ReasonSlowConsumer]. Zero means 1 MiB.
	MaxQueueBytes int
	// WriteTimeout bounds one write to a WebSocket or WebTransport stream: a peer that accepts
	// nothing for between half of it and all of it ends its session. Zero
	// means PingTimeout.
	WriteTimeout time.Duration
	// MaxPollPackets bounds the packets in one long-poll response; what is
	// left goes in the next. Zero means 16: python-engineio's client
	// refuses payloads of more (max_decode_packets), and a server that
	// wants every client to work stays under it. Negative means no bound,
	// as the Node server.
	MaxPollPackets int
	// EventBuffer is the capacity of the [Server.Events] channel. Zero
	// means 1024.
	EventBuffer int

	// AllowedOrigins lists the origins ("https://example.com") that may make
	// cross-origin requests, WebSocket upgrades included. "*" allows every
	// origin. Nil allows only the server's own origin; a request without an
	// Origin header is always allowed (it does not come from a browser
	// page). A refused request gets 400 with the reference JSON error.
	AllowedOrigins []string
	// CheckOrigin, if set, decides per request instead of AllowedOrigins.
	CheckOrigin func(r *http.Request, origin string) bool
	// DisableCORS turns off origin checks and CORS headers entirely, for a
	// server behind a proxy that handles them.
	DisableCORS bool
	// NoCORSCredentials stops the server sending
	// Access-Control-Allow-Credentials: true. Zero (false) sends it.
	NoCORSCredentials bool
	// BehindProxy makes the same-origin check trust the X-Forwarded-Proto
	// and X-Forwarded-Host headers. Set it only when a proxy you run sets
	// them. Zero (false) ignores them.
	BehindProxy bool

	// Authorize, if set, sees every handshake request before a session
	// exists and decides: nil accepts; a [*Rejection] answers with its
	// status and JSON body; any other error answers 401 with
	// {"message": err.Error()}, as python-engineio does. It is also the
	// place for a handshake rate limiter: answer &Rejection{Status: 429}.
	Authorize func(r *http.Request) error
	// AuthorizeSession is Authorize for a hook that also returns what it
	// learned from the handshake (the user behind a token): the session
	// starts with that value as its data, so that [Server.Session] returns
	// it and Event.Session carries it in the session's EventConnect and
	// EventDisconnect. Its error refuses the handshake as Authorize's does.
	// If both are set, Authorize runs first, and AuthorizeSession only for
	// a handshake Authorize accepted.
	//
	// It is a field of its own, not a new signature for Authorize nor a
	// value the hook would put in the request's context, so that existing
	// Authorize hooks compile and behave as before, and the data's way into
	// the session shows in a type rather than in a side effect.
	AuthorizeSession func(r *http.Request) (data any, err error)
	// MaxSessions bounds how many sessions the server holds; a handshake
	// beyond it is answered 503 with {"code":3,"message":"Server full"}.
	// Zero means no bound.
	MaxSessions int
	// GenerateID, if set, makes session ids instead of the default 15
	// random bytes from crypto/rand (URL-safe base64). It must return
	// unguessable, URL-safe, unique strings; a duplicate is retried.
	GenerateID func() string
	// InitialMessage, if set, is a text message every session receives
	// right after the open packet (in the same response on polling), as the
	// Node server's initialPacket.
	InitialMessage []byte
	// Cookie, if set, is sent with the handshake response with the session
	// id as its value (for sticky-session load balancers). Name is
	// required; a zero Path means "/" and a zero SameSite means Lax; the
	// other attributes (Domain, Secure, HttpOnly, MaxAge) are sent as set.
	// Nil sends no cookie. Its value is the session id itself, so it proves
	// nothing; BindCookie does.
	Cookie *http.Cookie
	// BindCookie, if set, binds every session to the client that opened
	// it (beyond the reference servers). A session id is a bearer token:
	// whoever learns it can poll the session's messages, post as it, and
	// take it over by upgrading to WebSocket. With BindCookie, the
	// handshake response also sets a cookie of this name holding a secret
	// of its own (120 random bits, unrelated to the id), and every later
	// request for the session (long-poll GET, POST, WebSocket upgrade) must
	// carry it: one that does not is refused with 403
	// {"code":4,"message":"Forbidden"}, and the session goes on untouched.
	// It works with Cookie set or not; the two cookies are independent.
	//
	// A zero Name means "io_bind"; a zero Path means the server's Path;
	// a zero SameSite means Lax; HttpOnly is always set; Domain, Secure
	// and MaxAge are sent as set (set Secure behind TLS). Clients must keep
	// cookies: browsers do on the same site (across sites, set SameSite to
	// None with Secure, and withCredentials on the JavaScript client); the
	// Go [Client] does with its default HTTP client, or with a Jar in
	// ClientOptions.HTTPClient. Nil binds nothing, as the reference.
	BindCookie *http.Cookie
	// JSON encodes the values of [Server.SendJSON]. Nil means
	// encoding/json.
	JSON JSONCodec
	// DisablePingTimeout keeps sessions whose client stops answering pings
	// (python-engineio's monitor_clients=False); pings are still sent.
	// Zero (false) ends such sessions with [ReasonPingTimeout].
	DisablePingTimeout bool

	// AllowEIO3 lets clients of protocol version 3 (Socket.IO 2 era)
	// connect, as the Node server's allowEIO3. They are answered as the
	// Node engine.io 3.x server answers them: binary polling payloads to
	// clients that can read them, base64 to those that ask for it with
	// b64 (on polling and WebSocket), JSONP to those that poll with j.
	// Zero (false) answers them with error code 5.
	AllowEIO3 bool

	// Logger receives the server's logs: refused requests with their code
	// (Info), upgrades (Debug), ping timeouts (Info), slow consumers
	// (Warn), internal failures (Error). Nil logs only errors, to
	// slog.Default().
	//
	// The server bounds what its peers can make it log. Text a peer chose
	// (an Origin, a query, an error that quotes them) is logged as its
	// first 64 bytes and its length. Each Info and Warn message is logged
	// at most 10 times at once and then once a second; the next line of a
	// message after dropped ones says how many were dropped
	// ("suppressed=N"); [Server.Stats] counts every event. Debug and Error
	// lines are not limited. A session id is a bearer token (see
	// BindCookie), so Info and Warn lines name a session by a short hash,
	// "session=3a1f09c2b4e5" (the first 12 hex digits of the SHA-256 of
	// its id); Debug lines carry the id itself, and the handshake's Debug
	// line both.
	Logger *slog.Logger
}

// JSONCodec encodes and decodes structured messages. encoding/json is the
// default; any library with the same two functions fits.
type JSONCodec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

type stdJSON struct{}

func (stdJSON) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (stdJSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// Rejection is the error an [Options.Authorize] hook returns to refuse a
// handshake with a status and body of its choosing.
type Rejection struct {
	// Status is the HTTP status. Zero means 401 Unauthorized.
	Status int
	// Body is encoded as the JSON body. Nil means {"message":"Unauthorized"}.
	// The Node server's answer is Status 403 with
	// Body map[string]any{"code": 4, "message": "Forbidden"}.
	Body any
}

// Error says that the handshake was rejected, with the status.
func (r *Rejection) Error() string {
	return "eio: handshake rejected with status " + strconv.Itoa(r.status())
}

func (r *Rejection) status() int {
	if r.Status == 0 {
		return http.StatusUnauthorized
	}
	return r.Status
}

// serverOptions is Options resolved: every default applied once.
type serverOptions struct {
	Options
	allowPolling                  bool
	allowStreams                  []string // the stream transports allowed, in transport.Kinds order
	allowStreamsNoWT              []string // allowStreams without webtransport: before ListenWebTransport
	anyOrigin                     bool
	origins                       map[string]bool
	pingIntervalMS, pingTimeoutMS int64
	// httpCompressionThreshold is CompressionThreshold, or -1 with
	// DisableCompression: transport.WriteBody's threshold.
	httpCompressionThreshold int
	// shutdownGrace is the package's shutdownGrace; tests may set it on a
	// new server before its first request.
	shutdownGrace time.Duration
}

func (o *Options) withDefaults() serverOptions {
	var r serverOptions
	if o != nil {
		r.Options = *o
	}
	r.shutdownGrace = shutdownGrace
	if r.Path == "" {
		r.Path = "/engine.io/"
	}
	if r.Path[len(r.Path)-1] != '/' {
		r.Path += "/"
	}
	if r.PingInterval <= 0 {
		r.PingInterval = 25 * time.Second
	}
	if r.PingTimeout <= 0 {
		r.PingTimeout = 20 * time.Second
	}
	if r.PingGrace < 0 {
		r.PingGrace = 0
	}
	if r.MaxPayload <= 0 {
		r.MaxPayload = 1_000_000
	}
	if r.UpgradeTimeout <= 0 {
		r.UpgradeTimeout = 10 * time.Second
	}
	if r.MaxQueueBytes <= 0 {
		r.MaxQueueBytes = 1 << 20
	}
	if r.WriteTimeout <= 0 {
		r.WriteTimeout = r.PingTimeout
	}
	if r.MaxPollPackets == 0 {
		r.MaxPollPackets = 16
	}
	if r.EventBuffer <= 0 {
		r.EventBuffer = 1024
	}
	if r.Logger == nil {
		r.Logger = quietlog.New()
	}
	if r.JSON == nil {
		r.JSON = stdJSON{}
	}
	if r.BodyTimeout <= 0 {
		r.BodyTimeout = r.PingTimeout
	}
	if r.MaxBytesInFlight < 0 {
		r.MaxBytesInFlight = 0
	}
	if r.BindCookie != nil {
		c := *r.BindCookie
		if c.Name == "" {
			c.Name = "io_bind"
		}
		if c.Path == "" && r.Path != "/" {
			c.Path = r.Path[:len(r.Path)-1] // matches the path with and without its slash
		}
		if c.SameSite == 0 {
			c.SameSite = http.SameSiteLaxMode
		}
		c.HttpOnly = true
		r.BindCookie = &c
	}
	if r.Cookie != nil {
		c := *r.Cookie
		if c.Path == "" {
			c.Path = "/"
		}
		if c.SameSite == 0 {
			c.SameSite = http.SameSiteLaxMode
		}
		r.Cookie = &c
	}
	for _, k := range transport.Kinds() {
		if r.Transports == nil || slices.Contains(r.Transports, k.Name) {
			r.allowStreams = append(r.allowStreams, k.Name)
			if k.Name != TransportWebTransport {
				r.allowStreamsNoWT = append(r.allowStreamsNoWT, k.Name)
			}
		}
	}
	if r.allowStreams == nil {
		r.allowStreams = []string{}
	}
	if r.allowStreamsNoWT == nil {
		r.allowStreamsNoWT = []string{}
	}
	r.allowPolling = r.Transports == nil || slices.Contains(r.Transports, TransportPolling)
	for _, origin := range r.AllowedOrigins {
		if origin == "*" {
			r.anyOrigin = true
			continue
		}
		if r.origins == nil {
			r.origins = make(map[string]bool)
		}
		r.origins[strings.TrimSuffix(origin, "/")] = true
	}
	r.pingIntervalMS = r.PingInterval.Milliseconds()
	r.pingTimeoutMS = r.PingTimeout.Milliseconds()
	if r.CompressionThreshold <= 0 {
		r.CompressionThreshold = transport.DefaultCompressionThreshold
	}
	r.httpCompressionThreshold = r.CompressionThreshold
	if r.DisableCompression {
		r.httpCompressionThreshold = -1
	}
	return r
}
