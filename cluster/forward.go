package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/loglimit"
	"github.com/chanio/chanio/transport"
	"github.com/nats-io/nats.go"
)

// forwardIdleTimeout is how long an idle tunnel stays in the forwarding
// pool; the owner keeps its end twice as long, so the dialer closes first.
const forwardIdleTimeout = 30 * time.Second

// maxIdleTunnels bounds the idle tunnels kept per owner node.
const maxIdleTunnels = 64

// forwardedHeaders are the X-Forwarded headers of the request as the node
// got it (from the load balancer), passed on to the owner unchanged.
var forwardedHeaders = []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"}

type ownerKey struct{}

func (n *Node) newProxy() {
	n.transport = &http.Transport{
		DialContext:           n.dialTunnel,
		DisableCompression:    true, // the owner compresses; bodies pass through as they are
		ResponseHeaderTimeout: n.opts.ForwardTimeout,
		MaxIdleConnsPerHost:   maxIdleTunnels,
		IdleConnTimeout:       forwardIdleTimeout,
	}
	n.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = pr.In.Context().Value(ownerKey{}).(string)
			for _, h := range forwardedHeaders {
				if v, ok := pr.In.Header[h]; ok {
					pr.Out.Header[h] = v
				}
			}
		},
		Transport:    n.transport,
		ErrorHandler: n.forwardError,
		ErrorLog:     log.New(logWriter{n.log}, "", 0),
	}
}

// ServeHTTP serves Engine.IO as [Node.Handler](nil) does: mount the node
// at the server's path (Options.Path, "/engine.io/" by default) instead of
// its eio.Server.
func (n *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.serve(w, r, n.srv)
}

// Handler returns an http.Handler that forwards every Engine.IO request
// for a session of another node to that node and hands every other request
// to next (nil means the node's eio.Server; the handler of
// [eio.Server.Handler] serves a site around it).
//
// A forwarded polling request is answered with the owner's response, a
// held long-poll included. A WebSocket upgrade for a session of another
// node is accepted here and its frames relayed to and from the owner. A
// request for a session of a node that is gone is answered as the
// reference server answers an unknown session: 400 with
// {"code":1,"message":"Session ID unknown"}. A load balancer in front of
// the cluster thus needs no session affinity.
func (n *Node) Handler(next http.Handler) http.Handler {
	if next == nil {
		next = n.srv
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.serve(w, r, next)
	})
}

func (n *Node) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	owner, foreign := n.foreignOwner(r)
	if !foreign {
		next.ServeHTTP(w, r)
		return
	}
	if !n.handlers.Enter() {
		unavailable(w)
		return
	}
	defer n.handlers.Exit()
	if !n.polls.Enter() {
		unavailable(w)
		return
	}
	rw := &relayWriter{ResponseWriter: w, n: n}
	defer rw.endPoll()
	n.forwarded.Add(1)
	if n.members.state(owner, time.Now()) == dead {
		unknownSession(w)
		return
	}
	ctx := context.WithValue(r.Context(), ownerKey{}, owner)
	n.proxy.ServeHTTP(rw, r.WithContext(ctx))
}

// foreignOwner returns the owner of the session r is for, when r is an
// Engine.IO request for a session of another node.
func (n *Node) foreignOwner(r *http.Request) (string, bool) {
	if p := r.URL.Path; p != n.path && p != n.path[:len(n.path)-1] {
		return "", false
	}
	owner, ok := ownerOf(r.URL.Query().Get("sid"))
	if !ok || owner == n.opts.id {
		return "", false
	}
	return owner, true
}

// dialTunnel opens a tunnel to the node named by addr's host, for the
// forwarding transport.
func (n *Node) dialTunnel(ctx context.Context, _, addr string) (net.Conn, error) {
	owner, _, err := net.SplitHostPort(addr)
	if err != nil || !validNodeID(owner) {
		return nil, fmt.Errorf("cluster: bad tunnel address %q", addr)
	}
	if n.closing.Load() {
		return nil, ErrClosed
	}
	if n.members.state(owner, time.Now()) == dead {
		return nil, errOwnerGone
	}
	t := newTunnel(n, tunnelKey{dialer: n.opts.id, id: n.nextTunnel.Add(1)}, owner, true)
	if !n.tunnels.add(t) {
		return nil, errors.New("cluster: tunnel id in use") // 2^63 dials later
	}
	ctx, cancel := context.WithTimeout(ctx, n.opts.NodeTimeout)
	defer cancel()
	stop := context.AfterFunc(n.group.Context(), cancel)
	defer stop()
	reply, err := n.nc.RequestWithContext(ctx, n.opts.nodeSubject(owner, "rpc"),
		appendRPC(nil, rpc{op: opOpen, dialer: n.opts.id, tunnel: t.key.id}))
	if err == nil && len(reply.Data) != 1 {
		err = errMalformed
	}
	if err != nil {
		t.close(nil, true) // in case the owner opened its end after all
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: %s: %v", errOwnerGone, owner, err)
		}
		return nil, fmt.Errorf("cluster: open tunnel to %s: %w", owner, err)
	}
	switch c := replyCode(reply.Data[0]); c {
	case codeOK:
		return t, nil
	case codeServerClosed:
		t.close(nil, false)
		return nil, fmt.Errorf("%w: %s is closing", errOwnerGone, owner)
	default:
		t.close(nil, false)
		return nil, fmt.Errorf("cluster: open tunnel to %s: %w", owner, codeError(c))
	}
}

// forwardError answers a request that could not be forwarded.
func (n *Node) forwardError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client left; nobody to answer
	}
	owner, _ := r.Context().Value(ownerKey{}).(string)
	switch {
	case n.closing.Load():
		unavailable(w)
	case errors.Is(err, errOwnerGone) || n.members.state(owner, time.Now()) == dead:
		n.log.Debug("cluster: request for a session of a node that is gone", "owner", owner, "err", loglimit.Error{Err: err})
		unknownSession(w)
	default:
		n.log.Warn("cluster: forwarding failed", "owner", owner, "err", loglimit.Error{Err: err})
		transport.WriteError(w, http.StatusBadGateway, int(eio.CodeBadRequest), "Forwarding to the session's node failed")
	}
}

func unknownSession(w http.ResponseWriter) {
	transport.WriteError(w, http.StatusBadRequest, int(eio.CodeUnknownSID), eio.CodeUnknownSID.Message())
}

func unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	transport.WriteError(w, http.StatusServiceUnavailable, int(eio.CodeBadRequest), "Server shutting down")
}

// relayWriter is the ResponseWriter a forwarded request is proxied with.
// It registers the client connection a WebSocket upgrade hijacks, so that
// the node can cut the relay when it closes (http.Server.Shutdown does not
// see hijacked connections), and hides the connection's CloseWrite, so
// that the relay ends as soon as either side ends.
type relayWriter struct {
	http.ResponseWriter
	n        *Node
	pollDone bool // the request no longer counts in n.polls
}

// endPoll counts the request out of the node's polls, once: when it is
// answered or when it becomes a relay.
func (w *relayWriter) endPoll() {
	if !w.pollDone {
		w.pollDone = true
		w.n.polls.Exit()
	}
}

// Unwrap lets http.ResponseController reach the writer's other methods.
func (w *relayWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack takes over the client connection for a relayed WebSocket.
func (w *relayWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	rc := &relayConn{Conn: c, n: w.n}
	if !w.n.relays.add(rc) {
		_ = c.Close()
		return nil, nil, ErrClosed
	}
	w.endPoll()
	return rc, brw, nil
}

// relayConn is a client connection carrying a relayed WebSocket. It
// exposes only net.Conn's methods.
type relayConn struct {
	net.Conn
	n *Node
}

func (c *relayConn) Close() error {
	c.n.relays.remove(c)
	return c.Conn.Close()
}

// relays is a node's registry of relayed client connections.
type relays struct {
	mu     sync.Mutex
	m      map[*relayConn]struct{}
	closed bool
}

func (r *relays) add(c *relayConn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	if r.m == nil {
		r.m = make(map[*relayConn]struct{})
	}
	r.m[c] = struct{}{}
	return true
}

func (r *relays) remove(c *relayConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, c)
}

// closeAll cuts every relay and refuses new ones.
func (r *relays) closeAll() {
	r.mu.Lock()
	r.closed = true
	conns := make([]*relayConn, 0, len(r.m))
	for c := range r.m {
		conns = append(conns, c)
	}
	r.m = nil
	r.mu.Unlock()
	for _, c := range conns {
		_ = c.Conn.Close()
	}
}

// len returns the number of relays running.
func (r *relays) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}
