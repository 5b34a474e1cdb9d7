package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/internal/devcert"
	"github.com/chanio/chanio/transport"
)

// wtEcho is an Engine.IO echo server over WebTransport built from the
// transport package's pieces alone (TestBrowserWebTransportEIO runs the
// eio server): it answers a new session's open packet with a
// handshake, echoes every message, answers "close me" by closing the
// session, and records why each session's reader ended.
type wtEcho struct {
	srv  *transport.WebTransportServer
	url  string // https://127.0.0.1:PORT/engine.io/
	cert *devcert.Certificate
	ends chan error

	wg sync.WaitGroup // the closes "close me" starts
}

// startWTEcho starts a wtEcho on the loopback UDP address addr that
// accepts sessions from pages of origin (any origin if empty).
func startWTEcho(t testing.TB, addr, origin string) *wtEcho {
	t.Helper()
	cert, err := devcert.Generate(0)
	if err != nil {
		t.Fatal(err)
	}
	e := &wtEcho{cert: cert, ends: make(chan error, 16)}
	e.srv = transport.NewWebTransportServer(&transport.WebTransportServerOptions{
		TLSConfig:   cert.TLSConfig(),
		Handler:     http.HandlerFunc(e.serveHTTP),
		CheckOrigin: func(r *http.Request) bool { return origin == "" || r.Header.Get("Origin") == origin },
		Conn:        transport.WebTransportOptions{MaxPayload: 1_000_000, WriteTimeout: 10 * time.Second},
	})
	local, err := e.srv.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.srv.Close()
		e.wg.Wait()
	})
	e.url = "https://" + local.String() + "/engine.io/"
	return e
}

func (e *wtEcho) serveHTTP(w http.ResponseWriter, r *http.Request) {
	// engine.io-client's WebTransport URL has no query (no EIO, no
	// transport, no sid): the open packet says it all.
	if r.Method != http.MethodConnect || r.URL.Path != "/engine.io/" {
		http.Error(w, "not an Engine.IO WebTransport session", http.StatusBadRequest)
		return
	}
	c, err := e.srv.Upgrade(w, r)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	sid, err := c.Handshake(ctx)
	if err != nil {
		e.ends <- err
		return
	}
	if sid != "" { // no sessions to upgrade here
		c.Close()
		e.ends <- fmt.Errorf("upgrade of %q refused", sid)
		return
	}
	open := codec.AppendHandshake(nil, codec.Handshake{SID: "wt-" + r.RemoteAddr, Upgrades: []string{}, PingInterval: 25000, PingTimeout: 20000, MaxPayload: 1_000_000})
	if err := c.WritePackets([]codec.Packet{{Type: codec.Open, Data: open}}); err != nil {
		c.Close()
		e.ends <- err
		return
	}
	err = c.Start(func(p codec.Packet) error {
		switch {
		case p.Type == codec.Message && string(p.Data) == "close me":
			e.wg.Go(func() { c.Close() }) // not from the reader, which Close waits for
			return nil
		case p.Type == codec.Message:
			return c.WritePackets([]codec.Packet{p})
		case p.Type == codec.Close:
			e.wg.Go(func() { c.Close() })
		}
		return nil
	}, func(err error) { e.ends <- err })
	if err != nil {
		c.Close()
		e.ends <- err
	}
}

// end returns why the next session's reader ended.
func (e *wtEcho) end(t testing.TB) error {
	t.Helper()
	select {
	case err := <-e.ends:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("no session ended")
		return nil
	}
}

// wtPage serves the page the browser opens, which loads engine.io-client's
// bundle from interop/js's node_modules.
func wtPage(t testing.TB) *httptest.Server {
	t.Helper()
	bundle := filepath.Join(jsDir(), "node_modules", "engine.io-client", "dist", "engine.io.js")
	mux := http.NewServeMux()
	mux.HandleFunc("/engine.io.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, bundle) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><meta charset="utf-8"><title>chanio WebTransport</title><script src="/engine.io.js"></script>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// wtBrowserSummary is what js/webtransport-browser.js prints.
type wtBrowserSummary struct {
	Transport   string `json:"transport"`
	Open        bool   `json:"open"`
	Text        string `json:"text"`
	Binary      []int  `json:"binary"`
	InOrder     int    `json:"inOrder"`
	LargeOK     bool   `json:"largeOK"`
	CloseReason string `json:"closeReason"`
	Error       string `json:"error"`
}

// TestBrowserWebTransport: the official engine.io-client bundle in
// headless Chromium, with transports: ["webtransport"] and the server's
// self-signed certificate pinned by serverCertificateHashes, opens an
// Engine.IO session over WebTransport to a server made of chanio's
// transport pieces: text both ways, an ArrayBuffer round trip, 1,000
// numbered messages in order, a 900 KB message, and a close from each
// side with the reason the other side reports.
func TestBrowserWebTransport(t *testing.T) {
	requireChromium(t)
	page := wtPage(t)
	// HTTP/3 on the UDP port of the same number as the page's TCP port,
	// as a server that serves both would: engine.io-client opens
	// WebTransport to the host and port of its other transports.
	echo := startWTEcho(t, page.Listener.Addr().String(), page.URL)
	for _, tc := range []struct {
		name       string
		trust      string // how Chromium trusts the certificate
		closer     string
		pageReason string // engine.io-client's close reason
		serverEnd  error  // the server's reader's end
	}{
		// engine.io-client closes a WebTransport session without a close
		// packet: the server sees the session end, "transport close".
		{"hash/closed-by-client", "hash:" + echo.cert.HashBase64(), "client", "forced close", io.EOF},
		{"hash/closed-by-server", "hash:" + echo.cert.HashBase64(), "server", "transport close", net.ErrClosed},
		// The other way to trust a self-signed certificate: by its public
		// key, with QUIC forced on for the endpoint's origin.
		{"spki/closed-by-client", "spki:" + echo.cert.SPKIHashBase64(), "client", "forced close", io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := runNode(t, 90*time.Second, "webtransport-browser.js", page.URL+"/", echo.url, tc.trust, tc.closer)
			checkWTSummary(t, out, tc.pageReason)
			if err := echo.end(t); !errors.Is(err, tc.serverEnd) {
				t.Errorf("the server's reader ended with %v, want %v", err, tc.serverEnd)
			}
		})
	}

	// The pin is what lets the page in: with another certificate's hash
	// the session does not open.
	t.Run("another-hash", func(t *testing.T) {
		other, err := devcert.Generate(0)
		if err != nil {
			t.Fatal(err)
		}
		out := runNode(t, 90*time.Second, "webtransport-browser.js", page.URL+"/", echo.url, "hash:"+other.HashBase64(), "client")
		var got wtBrowserSummary
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("browser output %q: %v", out, err)
		}
		if got.Open || !strings.Contains(got.Error, "handshake failed") && !strings.Contains(got.Error, "no session") {
			t.Fatalf("with another certificate's hash: %s", out)
		}
	})
}

// checkWTSummary checks what js/webtransport-browser.js printed: a session
// on webtransport that carried text, an ArrayBuffer, 1,000 numbered
// messages in order and a 900 KB message, and closed with pageReason.
func checkWTSummary(t *testing.T, out []byte, pageReason string) {
	t.Helper()
	var got wtBrowserSummary
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("browser output %q: %v", out, err)
	}
	if got.Error != "" {
		t.Fatalf("browser: %s (summary %s)", got.Error, out)
	}
	if !got.Open || got.Transport != "webtransport" {
		t.Fatalf("session open %v on %q", got.Open, got.Transport)
	}
	if got.Text != "hello ✓" {
		t.Errorf("text came back as %q", got.Text)
	}
	if want := []int{1, 2, 3, 250}; !equalInts(got.Binary, want) {
		t.Errorf("ArrayBuffer came back as %v, want %v", got.Binary, want)
	}
	if got.InOrder != 1000 {
		t.Errorf("1,000 numbered messages: %d came back in order", got.InOrder)
	}
	if !got.LargeOK {
		t.Error("the 900 KB message did not come back whole")
	}
	if got.CloseReason != pageReason {
		t.Errorf("the page's close reason %q, want %q", got.CloseReason, pageReason)
	}
}
