// Command echo is an Engine.IO server that echoes every message to its
// sender with the same type (text or binary). A text message
// "broadcast:<payload>" is instead sent as <payload> to every connected
// session with Server.Broadcast (with -broadcast-by-send, by a Send to
// each, for the benchmark's comparison), and the text message
// "disconnect:" makes the server end the sender's session. Conformance,
// interop and load tests run against it.
//
//	go run ./examples/echo -addr 127.0.0.1:3000 -ping-interval 300ms -ping-timeout 200ms -cors '*'
//
// With -webtransport-dev (a self-signed certificate made at start, whose
// hash it prints) or -tls-cert and -tls-key, it also serves WebTransport
// over HTTP/3 on the UDP port of -addr's number.
package main

import (
	"bytes"
	"context"
	"errors"
	"expvar"
	"flag"
	"log"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/examples/internal/wtflag"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address")
	path := flag.String("path", "/engine.io/", "Engine.IO path")
	pingInterval := flag.Duration("ping-interval", 25*time.Second, "ping interval")
	pingTimeout := flag.Duration("ping-timeout", 20*time.Second, "ping timeout")
	maxPayload := flag.Int64("max-payload", 1_000_000, "maximum payload in bytes")
	upgradeTimeout := flag.Duration("upgrade-timeout", 10*time.Second, "polling-to-WebSocket upgrade timeout")
	eio3 := flag.Bool("eio3", false, "also accept protocol 3 clients (Socket.IO 2 era), as the Node server's allowEIO3")
	cors := flag.String("cors", "", "allowed origins: '*', a comma-separated list, or 'none' to disable CORS (default same-origin)")
	verbose := flag.Bool("v", false, "log debug messages")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file until the server stops")
	idleTimeout := flag.Duration("idle-timeout", 30*time.Second, "how long an idle keep-alive HTTP connection is kept")
	debugAddr := flag.String("debug-addr", "", "serve pprof and expvar (with the server's Stats as \"eio\" and the goroutine count as \"goroutines\") on this address")
	bySend := flag.Bool("broadcast-by-send", false, "send broadcast: payloads with a Send to each session instead of one Broadcast")
	wtFlags := wtflag.Register(flag.CommandLine)
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	opts := &eio.Options{
		Path:           *path,
		PingInterval:   *pingInterval,
		PingTimeout:    *pingTimeout,
		MaxPayload:     *maxPayload,
		UpgradeTimeout: *upgradeTimeout,
		AllowEIO3:      *eio3,
		Logger:         logger,
	}
	applyCORS(opts, *cors)
	srv := eio.NewServer(opts)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	if *debugAddr != "" {
		srv.PublishExpvar("eio")
		expvar.Publish("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
		go func() {
			// http.DefaultServeMux has /debug/pprof/ and /debug/vars.
			log.Println(http.ListenAndServe(*debugAddr, nil))
		}()
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The resolved address goes to stdout so that tests can use port 0.
	log.SetOutput(os.Stderr)
	os.Stdout.WriteString("listening on http://" + ln.Addr().String() + *path + "\n")
	wt, err := wtFlags.Listen(srv, ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	if wt.Addr != nil {
		logger.Info("webtransport", "url", "https://"+wt.Addr.String()+*path, "certificate_hash", wt.Hash)
	}

	// Bounds against hostile clients: headers within 10s and 16 KiB (Go's
	// default is 1 MB), idle keep-alive connections closed after
	// -idle-timeout (by default longer than the ping interval, so that a
	// polling client's connection lives from one pong to the next).
	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       *idleTimeout,
		MaxHeaderBytes:    16 << 10,
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		echo(srv, *bySend, logger)
	}()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// The sessions first (each client is told), then the HTTP server;
		// http.Server.Shutdown would begin the eio.Server's Shutdown too.
		if srv.Shutdown(shutdownCtx) != nil {
			_ = srv.Close()
		}
		_ = httpSrv.Shutdown(shutdownCtx)
	}()
	if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	wg.Wait()
}

var broadcastPrefix = []byte("broadcast:")

var disconnectCommand = []byte("disconnect:")

// echo answers every message until the server shuts down. With -v it
// logs each session's end as the application hears of it, when the server
// has forgotten the session: what tests wait for before they check that
// the session is gone.
func echo(srv *eio.Server, bySend bool, logger *slog.Logger) {
	for ev := range srv.Events() {
		switch ev.Type {
		case eio.EventDisconnect:
			logger.Debug("echo: session ended", "sid", ev.SID, "reason", ev.Reason.String())
		case eio.EventMessage:
			switch {
			case ev.Binary:
				_ = srv.SendBinary(ev.SID, ev.Data)
			case bytes.Equal(ev.Data, disconnectCommand):
				_ = srv.Disconnect(ev.SID)
			case bytes.HasPrefix(ev.Data, broadcastPrefix) && bySend:
				// The server's own registry, not a copy kept here: the
				// example stays as small per session as the server.
				payload := ev.Data[len(broadcastPrefix):]
				srv.Range(func(sid string) bool {
					_ = srv.Send(sid, payload)
					return true
				})
			case bytes.HasPrefix(ev.Data, broadcastPrefix):
				// Encoded once, shared by every session's queue.
				_, _ = srv.Broadcast(ev.Data[len(broadcastPrefix):], nil)
			default:
				_ = srv.Send(ev.SID, ev.Data)
			}
		}
	}
}

func applyCORS(opts *eio.Options, spec string) {
	switch spec {
	case "":
	case "none":
		opts.DisableCORS = true
	default:
		for _, o := range strings.Split(spec, ",") {
			opts.AllowedOrigins = append(opts.AllowedOrigins, strings.TrimSpace(o))
		}
	}
}
