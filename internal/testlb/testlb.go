// Package testlb is a load balancer for tests: a reverse proxy in front
// of several backends, with no session affinity of any kind. Each request
// goes to the next backend in turn, skipping those marked down, or where
// a test's route sends it. WebSocket upgrades pass through it. It is for
// tests only.
package testlb

import (
	"bufio"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
)

// Balancer is a running load balancer; URL is its address.
type Balancer struct {
	*httptest.Server
	backends  []*url.URL
	down      []atomic.Bool
	next      atomic.Uint64
	route     atomic.Pointer[func(r *http.Request) int]
	transport *http.Transport
}

// New starts a balancer in front of backends (base URLs, "http://host:port")
// and stops it at the test's end.
func New(t testing.TB, backends ...string) *Balancer {
	t.Helper()
	b := &Balancer{down: make([]atomic.Bool, len(backends)), transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for _, s := range backends {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		b.backends = append(b.backends, u)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(b.backends[b.pick(pr.In)])
			pr.Out.Host = pr.In.Host // same-origin checks see the balancer's address
			pr.SetXForwarded()
		},
		Transport: b.transport,
		ErrorLog:  log.New(io.Discard, "", 0), // clients leaving mid-poll are no news
	}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxy.ServeHTTP(fullCloseWriter{w}, r)
	}))
	t.Cleanup(b.Close)
	return b
}

// Close stops the balancer and drops its idle connections to the backends.
func (b *Balancer) Close() {
	b.Server.Close()
	b.transport.CloseIdleConnections()
}

// CloseIdleConnections drops the balancer's idle connections to the
// backends.
func (b *Balancer) CloseIdleConnections() { b.transport.CloseIdleConnections() }

// SetDown marks backend i down (skipped by the rotation), or up again.
func (b *Balancer) SetDown(i int, down bool) { b.down[i].Store(down) }

// Route makes f pick the backend of every request, by index; nil goes
// back to the rotation.
func (b *Balancer) Route(f func(r *http.Request) int) {
	if f == nil {
		b.route.Store(nil)
		return
	}
	b.route.Store(&f)
}

// RouteBySID sends Engine.IO handshakes (requests without a sid) to
// backend handshake and every other request to backend rest: a way to
// make every request of a session after its handshake reach another node.
func (b *Balancer) RouteBySID(handshake, rest int) {
	b.Route(func(r *http.Request) int {
		if r.URL.Query().Get("sid") == "" {
			return handshake
		}
		return rest
	})
}

func (b *Balancer) pick(r *http.Request) int {
	if route := b.route.Load(); route != nil {
		return (*route)(r)
	}
	for range len(b.backends) {
		i := int((b.next.Add(1) - 1) % uint64(len(b.backends)))
		if !b.down[i].Load() {
			return i
		}
	}
	return 0
}

// fullCloseWriter hides the CloseWrite of the connections a WebSocket
// upgrade hijacks, so that httputil.ReverseProxy closes the client's
// connection once the backend's has ended, as load balancers do, instead
// of half-closing it and waiting for the client to close its side (a Go
// eio.Client keeps an upgraded connection open after the server has
// closed it).
type fullCloseWriter struct{ http.ResponseWriter }

func (w fullCloseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w fullCloseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	return struct{ net.Conn }{c}, brw, nil
}
