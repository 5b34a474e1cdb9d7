package interop

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/devcert"
)

// eioWTEcho is chanio's eio.Server echoing every message ("close me"
// disconnects the session), serving the test page and Engine.IO over
// TCP, and WebTransport over HTTP/3 on the UDP port of the same number.
type eioWTEcho struct {
	srv  *eio.Server
	page *httptest.Server
	cert *devcert.Certificate
	ends chan eio.Event // every disconnect
}

func startEIOWTEcho(t *testing.T) *eioWTEcho {
	t.Helper()
	cert, err := devcert.Generate(0)
	if err != nil {
		t.Fatal(err)
	}
	e := &eioWTEcho{srv: eio.NewServer(nil), cert: cert, ends: make(chan eio.Event, 16)}
	bundle := filepath.Join(jsDir(), "node_modules", "engine.io-client", "dist", "engine.io.js")
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", e.srv)
	mux.HandleFunc("/engine.io.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, bundle) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><meta charset="utf-8"><title>chanio WebTransport</title><script src="/engine.io.js"></script>`)
	})
	e.page = httptest.NewServer(mux)
	if _, err := e.srv.ListenWebTransport(e.page.Listener.Addr().String(), cert.TLSConfig()); err != nil {
		e.page.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range e.srv.Events() {
			switch {
			case ev.Type == eio.EventMessage && string(ev.Data) == "close me":
				_ = e.srv.Disconnect(ev.SID)
			case ev.Type == eio.EventMessage && ev.Binary:
				_ = e.srv.SendBinary(ev.SID, ev.Data)
			case ev.Type == eio.EventMessage:
				_ = e.srv.Send(ev.SID, ev.Data)
			case ev.Type == eio.EventDisconnect:
				e.ends <- ev
			}
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
			e.srv.Close()
		}
		<-done
		e.page.Close()
	})
	return e
}

// TestBrowserWebTransportEIO: the official engine.io-client bundle in
// headless Chromium against chanio's eio.Server, with transports:
// ["webtransport"] and with polling upgraded to webtransport: text both
// ways, an ArrayBuffer round trip, 1,000 numbered messages in order, a
// 900 KB message, and a close from each side with the reason each side
// reports.
func TestBrowserWebTransportEIO(t *testing.T) {
	requireChromium(t)
	e := startEIOWTEcho(t)
	hash := "hash:" + e.cert.HashBase64()
	for _, tc := range []struct {
		name       string
		transports string
		closer     string
		pageReason string
		serverEnd  eio.Reason
	}{
		// engine.io-client closes a WebTransport session without a close
		// packet: the server sees the session end.
		{"direct/closed-by-client", "webtransport", "client", "forced close", eio.ReasonTransportClose},
		{"direct/closed-by-server", "webtransport", "server", "transport close", eio.ReasonServerDisconnect},
		{"upgrade/closed-by-client", "polling,webtransport", "client", "forced close", eio.ReasonTransportClose},
		{"upgrade/closed-by-server", "polling,webtransport", "server", "transport close", eio.ReasonServerDisconnect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := runNode(t, 90*time.Second, "webtransport-browser.js", e.page.URL+"/", e.page.URL, hash, tc.closer, tc.transports)
			checkWTSummary(t, out, tc.pageReason)
			select {
			case ev := <-e.ends:
				if ev.Reason != tc.serverEnd {
					t.Errorf("the server ended the session with %v (%v), want %v", ev.Reason, ev.Err, tc.serverEnd)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the server saw no disconnect")
			}
		})
	}
}
