// Command chat is a small chat room on chanio: a web page, using the
// official engine.io-client browser bundle, where everyone sees every
// message, who joined and who left, and which transport each page is on.
//
//	make run          # installs the bundle, then runs this on http://127.0.0.1:8080/
//	go run ./examples/chat -addr 127.0.0.1:8080 -web examples/chat/web
//
// The page takes ?transport=polling, ?transport=websocket or
// ?transport=webtransport to force one transport; by default it starts on
// polling and upgrades. A binary message (the page's "send bytes" button)
// comes back to its sender as sent.
//
// With -webtransport-dev (as `make run` gives it) the server also serves
// WebTransport over HTTP/3 on the UDP port of the same number, with a
// self-signed certificate made at start whose hash the page is given
// (serverCertificateHashes), and the page opens on WebTransport; with
// -tls-cert and -tls-key it uses that certificate instead.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/examples/internal/chatroom"
	"github.com/chanio/chanio/examples/internal/wtflag"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	web := flag.String("web", "examples/chat/web", "directory of the page and its npm packages")
	wtFlags := wtflag.Register(flag.CommandLine)
	flag.Parse()

	bundle := filepath.Join(*web, "node_modules", "engine.io-client", "dist", "engine.io.js")
	if _, err := os.Stat(bundle); err != nil {
		log.Fatalf("the engine.io-client bundle is missing (%v): run `make run`, or `npm ci` in %s", err, *web)
	}
	srv := eio.NewServer(&eio.Options{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	wt, err := wtFlags.Listen(srv, ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	site := srv.Handler(eio.StaticFiles{
		"/":             {Path: filepath.Join(*web, "index.html")},
		"/chat.js":      {Path: filepath.Join(*web, "chat.js")},
		"/engine.io.js": {Path: bundle},
	}, pageScript(wt))
	fmt.Printf("listening on http://%s/\n", ln.Addr())
	if wt.Addr != nil {
		fmt.Printf("webtransport on https://%s/engine.io/ (UDP); open http://%s/ in Chromium\n", wt.Addr, ln.Addr())
	}
	// Bounds against hostile clients: headers within 10s and 16 KiB, idle
	// keep-alive connections closed after 30s (longer than pingInterval, so
	// that a polling client's connection lives from one pong to the next).
	httpSrv := &http.Server{
		Handler:           site,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// The sessions first (each client is told), then the HTTP server.
		// The other order works too: http.Server.Shutdown begins the
		// eio.Server's Shutdown, so held long-polls do not keep it waiting.
		if srv.Shutdown(shutdown) != nil {
			_ = srv.Close()
		}
		_ = httpSrv.Shutdown(shutdown)
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		chat(srv)
	}()
	if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-done
}

// pageScript serves /webtransport.js, which tells the page whether and
// how to open WebTransport; every other path is a 404.
func pageScript(wt wtflag.Setup) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/webtransport.js", wtflag.PageScript(wt))
	return mux
}

// chat runs the room until the server shuts down.
func chat(srv *eio.Server) {
	room := &chatroom.Room{
		Send: func(sid string, data []byte, binary bool) error {
			if binary {
				return srv.SendBinary(sid, data)
			}
			return srv.Send(sid, data)
		},
		Disconnect: srv.Disconnect,
	}
	room.Run(srv.Events())
}
