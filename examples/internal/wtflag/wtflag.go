// Package wtflag is what the server examples (examples/echo and
// examples/chat) share to offer WebTransport: its flags, the HTTP/3
// listener they start on an eio.Server, and the script that tells the
// chat page how to reach it.
package wtflag

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"slices"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/devcert"
)

// defaultHosts are those of devcert.Generate's certificate when given none.
var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// Flags are the WebTransport flags of a server example.
type Flags struct {
	cert, key *string
	dev       *bool
}

// Register defines -tls-cert, -tls-key and -webtransport-dev on fs.
func Register(fs *flag.FlagSet) *Flags {
	return &Flags{
		cert: fs.String("tls-cert", "", "PEM certificate for WebTransport (HTTP/3 on the UDP port of -addr's number); with -tls-key"),
		key:  fs.String("tls-key", "", "PEM key of -tls-cert"),
		dev: fs.Bool("webtransport-dev", false, "offer WebTransport with a self-signed certificate made at start (valid 13 days; "+
			"browsers accept it by its hash, which the page is given)"),
	}
}

// Setup is what Listen started.
type Setup struct {
	// Addr is the UDP address HTTP/3 listens on; nil when WebTransport is
	// off.
	Addr net.Addr
	// Hash is the base64 SHA-256 of a -webtransport-dev certificate, for
	// a page's serverCertificateHashes; empty for a -tls-cert one, which
	// browsers check as any other.
	Hash string
}

// Listen starts srv's WebTransport listener on the UDP port of addr (the
// TCP address the example serves HTTP on), as the flags say; with none of
// them it does nothing.
func (f *Flags) Listen(srv *eio.Server, addr string) (Setup, error) {
	var conf *tls.Config
	var s Setup
	switch {
	case *f.dev && (*f.cert != "" || *f.key != ""):
		return s, errors.New("-webtransport-dev makes its own certificate: give it or -tls-cert/-tls-key, not both")
	case *f.dev:
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return s, err
		}
		var hosts []string // none: localhost, 127.0.0.1 and ::1
		if host != "" && host != "0.0.0.0" && host != "::" && !slices.Contains(defaultHosts, host) {
			hosts = append([]string{host}, defaultHosts...)
		}
		c, err := devcert.Generate(0, hosts...)
		if err != nil {
			return s, err
		}
		conf, s.Hash = c.TLSConfig(), c.HashBase64()
	case *f.cert != "" || *f.key != "":
		pair, err := tls.LoadX509KeyPair(*f.cert, *f.key)
		if err != nil {
			return s, fmt.Errorf("-tls-cert/-tls-key: %w", err)
		}
		conf = &tls.Config{Certificates: []tls.Certificate{pair}}
	default:
		return s, nil
	}
	a, err := srv.ListenWebTransport(addr, conf)
	if err != nil {
		return s, fmt.Errorf("webtransport: %w", err)
	}
	s.Addr = a
	return s, nil
}

// PageScript serves the script /webtransport.js that the chat page loads
// before its own: it sets window.chatWebTransport to null when s has no
// listener, or to {hash} (the certificate's hash in base64, or "").
func PageScript(s Setup) http.Handler {
	cfg := "null"
	if s.Addr != nil {
		b, _ := json.Marshal(map[string]string{"hash": s.Hash})
		cfg = string(b)
	}
	body := []byte("window.chatWebTransport = " + cfg + ";\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store") // a new certificate each start
		_, _ = w.Write(body)
	})
}
