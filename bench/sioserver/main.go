// Command sioserver is the Socket.IO server of chanio's sio benchmarks: the
// same application as interop/js/sio-bench-server.js runs on Node's
// socket.io, so that the two are measured doing the same work. On the
// namespace "/", every socket joins the room "room"; "echo" p is
// acknowledged with p; "bcast" p emits "b" p to the room.
//
//	sioserver -addr 127.0.0.1:0 [-debug-addr 127.0.0.1:6060] [-cpuprofile file]
//
// It prints "listening on http://ADDR/socket.io/" once ready, and stops on
// SIGTERM or SIGINT.
package main

import (
	"context"
	"encoding/json"
	"expvar"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof" // the debug address serves pprof
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/chanio/chanio/sio"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	debugAddr := flag.String("debug-addr", "", "address of pprof and expvar, none if empty")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *debugAddr != "" {
		expvar.Publish("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
		go func() { _ = http.ListenAndServe(*debugAddr, nil) }()
	}
	srv := sio.NewServer(nil)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	fmt.Printf("listening on http://%s/socket.io/\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = hs.Close()
		_ = srv.Close()
	}()
	nsp := srv.Of("/")
	for ev := range nsp.Events() {
		switch ev.Type {
		case sio.EventConnect:
			ev.Socket.Join("room")
		case sio.EventMessage:
			switch ev.Name {
			case "echo":
				_ = ev.Ack(json.RawMessage(ev.Args.Raw(0)))
			case "bcast":
				_ = nsp.To("room").Emit("b", json.RawMessage(ev.Args.Raw(0)))
			}
		}
	}
}
