// Command baseline is the bare gobwas/ws echo server that chanio's
// benchmarks measure against: no Engine.IO, one goroutine per connection,
// zero-copy upgrade, a reused read buffer, and a flush only when no more
// input is buffered. It is the limit an Engine.IO server on gobwas/ws can
// approach.
//
// It echoes every frame's payload back in a frame of the same opcode; a
// text frame "4broadcast:<payload>" is instead sent as "4<payload>" to
// every connection (the same bytes chanio's echo example sends). It prints
// "listening on ws://ADDR/" when ready. With -debug-addr it serves
// /debug/pprof/ and /debug/vars (with "goroutines") there, as chanio's echo
// example does, so that the benchmarks read both servers the same way.
package main

import (
	"bufio"
	"bytes"
	"expvar"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"sync"

	"github.com/chanio/chanio/internal/wsbuf"
	"github.com/gobwas/ws"
)

type conn struct {
	net.Conn
	mu sync.Mutex // guards w
	w  *bufio.Writer
}

var (
	connsMu sync.Mutex
	conns   = map[*conn]struct{}{}
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	debugAddr := flag.String("debug-addr", "", "serve pprof and expvar on this address")
	flag.Parse()
	if *debugAddr != "" {
		expvar.Publish("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
		go func() { log.Println(http.ListenAndServe(*debugAddr, nil)) }()
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "listening on ws://%s/\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c)
	}
}

var broadcastPrefix = []byte("4broadcast:")

func serve(nc net.Conn) {
	defer nc.Close()
	if _, err := ws.Upgrade(nc); err != nil {
		return
	}
	c := &conn{Conn: nc, w: bufio.NewWriterSize(nc, 4096)}
	connsMu.Lock()
	conns[c] = struct{}{}
	connsMu.Unlock()
	defer func() {
		connsMu.Lock()
		delete(conns, c)
		connsMu.Unlock()
	}()
	r := bufio.NewReaderSize(nc, 4096)
	buf := make([]byte, 0, 4096)
	for {
		h, err := ws.ReadHeader(r)
		if err != nil {
			return
		}
		if int64(cap(buf)) < h.Length {
			buf = make([]byte, 0, h.Length)
		}
		p := buf[:h.Length]
		if _, err := io.ReadFull(r, p); err != nil {
			return
		}
		if h.Masked {
			ws.Cipher(p, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpClose:
			return
		case ws.OpPing, ws.OpPong, ws.OpContinuation:
			continue
		}
		if h.OpCode == ws.OpText && bytes.HasPrefix(p, broadcastPrefix) {
			msg := append([]byte{'4'}, p[len(broadcastPrefix):]...)
			broadcast(msg)
			continue
		}
		c.mu.Lock()
		err = writeFrame(c.w, h.OpCode, p)
		if err == nil && !wsbuf.FullFrameBuffered(r) {
			err = c.w.Flush()
		}
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func writeFrame(w *bufio.Writer, op ws.OpCode, p []byte) error {
	if err := ws.WriteHeader(w, ws.Header{Fin: true, OpCode: op, Length: int64(len(p))}); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
}

func broadcast(msg []byte) {
	connsMu.Lock()
	all := make([]*conn, 0, len(conns))
	for c := range conns {
		all = append(all, c)
	}
	connsMu.Unlock()
	for _, c := range all {
		c.mu.Lock()
		if writeFrame(c.w, ws.OpText, msg) == nil {
			_ = c.w.Flush()
		}
		c.mu.Unlock()
	}
}
