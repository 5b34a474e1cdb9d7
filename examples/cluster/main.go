// Command cluster runs the chat example on three chanio nodes joined over
// NATS, behind a round-robin reverse proxy without session affinity: each
// request may land on any node, and chat lines reach every page of every
// node with Node.Broadcast.
//
//	make deps-chat                # the page's engine.io-client bundle, once
//	go run ./examples/cluster     # open http://127.0.0.1:8080/ in a few tabs
//
// By default it starts everything in one process: an embedded NATS server
// on a random loopback port, three nodes (a, b, c) on random loopback
// ports, and the proxy on -addr. The page takes ?transport=polling or
// ?transport=websocket, as in examples/chat.
//
// With -nats it runs one node joined to an external NATS server, as in
// production, serving on -addr; put your own load balancer in front:
//
//	go run ./examples/cluster -nats nats://127.0.0.1:4222 -node a -addr 127.0.0.1:9001
//
// -app echo makes the nodes echo every message to its sender instead (as
// examples/echo, for tests), with three commands: "broadcast:<text>" sends
// <text> to every session of the cluster, "send:<sid>:<text>" sends <text>
// to the session sid on whichever node owns it (answering "sent" or the
// error), and "disconnect:" ends the sender's session.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chanio/chanio/cluster"
	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/examples/internal/chatroom"
	"github.com/chanio/chanio/examples/internal/wtflag"
	"github.com/chanio/chanio/internal/embeddednats"
	"github.com/nats-io/nats.go"
)

type config struct {
	addr         string
	web          string
	nodes        int
	natsURL      string
	nodeID       string
	app          string
	cors         string
	pingInterval time.Duration
	pingTimeout  time.Duration
	nodeTimeout  time.Duration
	logger       *slog.Logger
}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address: the proxy's, or with -nats the node's")
	flag.StringVar(&c.web, "web", "examples/chat/web", "directory of the chat page and its npm packages")
	flag.IntVar(&c.nodes, "nodes", 3, "how many nodes to start (without -nats)")
	flag.StringVar(&c.natsURL, "nats", "", "external NATS URL: run one node joined to it instead of the whole cluster")
	flag.StringVar(&c.nodeID, "node", "", "the node's id with -nats (default random)")
	flag.StringVar(&c.app, "app", "chat", "what the nodes run: chat, or echo (for tests)")
	flag.StringVar(&c.cors, "cors", "", "allowed origins: '*' or a comma-separated list (default same-origin)")
	flag.DurationVar(&c.pingInterval, "ping-interval", 25*time.Second, "Engine.IO ping interval")
	flag.DurationVar(&c.pingTimeout, "ping-timeout", 20*time.Second, "Engine.IO ping timeout")
	flag.DurationVar(&c.nodeTimeout, "node-timeout", 3*time.Second, "how long a silent node lives on in the others' eyes")
	verbose := flag.Bool("v", false, "log debug messages")
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	c.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	log.SetOutput(os.Stderr)
	if c.app != "chat" && c.app != "echo" {
		log.Fatalf("-app must be chat or echo, not %q", c.app)
	}
	if c.app == "chat" {
		bundle := filepath.Join(c.web, "node_modules", "engine.io-client", "dist", "engine.io.js")
		if _, err := os.Stat(bundle); err != nil {
			log.Fatalf("the engine.io-client bundle is missing (%v): run `make deps-chat`, or `npm ci` in %s", err, c.web)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if c.natsURL != "" {
		err = runNode(ctx, c)
	} else {
		err = runCluster(ctx, c)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// runNode runs one node joined to the external NATS server until ctx ends.
func runNode(ctx context.Context, c config) error {
	nc, err := nats.Connect(c.natsURL, nats.Name("chanio node "+c.nodeID), nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	n, err := startNode(ctx, c, nc, c.nodeID, c.addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening on http://%s/\n", n.addr)
	<-ctx.Done()
	n.stop()
	return nil
}

// runCluster runs an embedded NATS server, the nodes and the proxy until
// ctx ends.
func runCluster(ctx context.Context, c config) error {
	ns, err := embeddednats.Start()
	if err != nil {
		return err
	}
	defer embeddednats.Stop(ns)
	var nodes []*node
	var conns []*nats.Conn
	defer func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.stop()
			}()
		}
		wg.Wait()
		for _, nc := range conns {
			nc.Close()
		}
	}()
	var backends []*url.URL
	for i := range c.nodes {
		nc, err := nats.Connect(ns.ClientURL(), nats.Name(fmt.Sprintf("chanio node %c", 'a'+i)))
		if err != nil {
			return err
		}
		conns = append(conns, nc)
		n, err := startNode(ctx, c, nc, string(rune('a'+i)), "127.0.0.1:0")
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
		backends = append(backends, &url.URL{Scheme: "http", Host: n.addr})
		c.logger.Info("node started", "node", n.node.ID(), "addr", n.addr)
	}

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	proxy := newProxy(backends)
	defer proxy.Transport.(*http.Transport).CloseIdleConnections()
	front := httpServer(proxy)
	fmt.Printf("listening on http://%s/\n", ln.Addr())
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = front.Shutdown(shutdown)
	}()
	if err := front.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newProxy returns a reverse proxy that sends each request to the next
// backend in turn, with no affinity of any kind. WebSocket upgrades pass
// through it (httputil.ReverseProxy relays them).
func newProxy(backends []*url.URL) *httputil.ReverseProxy {
	var next atomic.Uint64
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(backends[(next.Add(1)-1)%uint64(len(backends))])
			pr.Out.Host = pr.In.Host // same-origin checks see the address the page used
			pr.SetXForwarded()
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
	}
}

// node is a running cluster node: its HTTP server and its application.
type node struct {
	node    *cluster.Node
	addr    string
	httpSrv *http.Server
	done    chan struct{} // closed when the HTTP server and the app have returned
}

func startNode(ctx context.Context, c config, nc *nats.Conn, id, addr string) (*node, error) {
	so := &eio.Options{
		PingInterval: c.pingInterval,
		PingTimeout:  c.pingTimeout,
		Logger:       c.logger.With("node", id),
	}
	switch c.cors {
	case "":
	case "*":
		so.AllowedOrigins = []string{"*"}
	default:
		for _, o := range strings.Split(c.cors, ",") {
			so.AllowedOrigins = append(so.AllowedOrigins, strings.TrimSpace(o))
		}
	}
	joinCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cn, err := cluster.Join(joinCtx, nc, so, &cluster.Options{NodeID: id, NodeTimeout: c.nodeTimeout, Logger: c.logger})
	if err != nil {
		return nil, err
	}
	var site http.Handler = cn.Server()
	if c.app == "chat" {
		site = cn.Server().Handler(eio.StaticFiles{
			"/":             {Path: filepath.Join(c.web, "index.html")},
			"/chat.js":      {Path: filepath.Join(c.web, "chat.js")},
			"/engine.io.js": {Path: filepath.Join(c.web, "node_modules", "engine.io-client", "dist", "engine.io.js")},
		}, wtflag.PageScript(wtflag.Setup{})) // the page's /webtransport.js: no WebTransport here
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = cn.Close()
		return nil, err
	}
	n := &node{
		node:    cn,
		addr:    ln.Addr().String(),
		httpSrv: httpServer(cn.Handler(site)),
		done:    make(chan struct{}),
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := n.httpSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			c.logger.Error("node stopped serving", "node", id, "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if c.app == "chat" {
			room := &chatroom.Room{
				Node: id,
				Send: func(sid string, data []byte, binary bool) error {
					if binary {
						return cn.SendBinary(context.Background(), sid, data)
					}
					return cn.Send(context.Background(), sid, data)
				},
				Broadcast: cn.Broadcast,
				Disconnect: func(sid string) error {
					return cn.Disconnect(context.Background(), sid)
				},
			}
			room.Run(cn.Server().Events())
		} else {
			echo(cn)
		}
	}()
	go func() {
		wg.Wait()
		close(n.done)
	}()
	return n, nil
}

// stop shuts the node down gracefully (5s at most), then its HTTP server.
func (n *node) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n.node.Shutdown(ctx) != nil {
		_ = n.node.Close()
	}
	_ = n.httpSrv.Shutdown(ctx)
	_ = n.httpSrv.Close()
	<-n.done
}

var (
	broadcastPrefix   = []byte("broadcast:")
	sendPrefix        = []byte("send:")
	disconnectCommand = []byte("disconnect:")
)

// echo answers every message until the node's server shuts down.
func echo(n *cluster.Node) {
	ctx := context.Background()
	for ev := range n.Server().Events() {
		if ev.Type != eio.EventMessage {
			continue
		}
		switch {
		case ev.Binary:
			_ = n.SendBinary(ctx, ev.SID, ev.Data)
		case bytes.Equal(ev.Data, disconnectCommand):
			_ = n.Disconnect(ctx, ev.SID)
		case bytes.HasPrefix(ev.Data, broadcastPrefix):
			_ = n.Broadcast(ev.Data[len(broadcastPrefix):])
		case bytes.HasPrefix(ev.Data, sendPrefix):
			sid, text, _ := bytes.Cut(ev.Data[len(sendPrefix):], []byte(":"))
			answer := "sent"
			if err := n.Send(ctx, string(sid), text); err != nil {
				answer = "send failed: " + err.Error()
			}
			_ = n.Send(ctx, ev.SID, []byte(answer))
		default:
			_ = n.Send(ctx, ev.SID, ev.Data)
		}
	}
}

// httpServer serves h with bounds against hostile clients: headers within
// 10s and 16 KiB (Go's default is 1 MB), idle keep-alive connections
// closed after 30s (longer than pingInterval, so that a polling client's
// connection lives from one pong to the next).
func httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}
