// Command sio-chat is a chat with rooms on chanio's Socket.IO server: a
// web page, using the official socket.io-client browser bundle, where
// people pick a name, join rooms, and talk in the room they are in. Each
// message is acknowledged to its sender; connection state recovery is on,
// so a page whose connection drops for a moment comes back in its room
// with the messages it missed.
//
//	make run-sio      # installs the bundle, then runs this on http://127.0.0.1:8080/
//	go run ./examples/sio-chat -addr 127.0.0.1:8080 -web examples/sio-chat/web
//
// The page takes ?transport=polling or ?transport=websocket to force one
// transport; by default it starts on polling and upgrades.
package main

import (
	"context"
	"encoding/json"
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
	"strings"
	"syscall"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/sio"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	web := flag.String("web", "examples/sio-chat/web", "directory of the page and its npm packages")
	flag.Parse()

	bundle := filepath.Join(*web, "node_modules", "socket.io-client", "dist", "socket.io.min.js")
	if _, err := os.Stat(bundle); err != nil {
		log.Fatalf("the socket.io-client bundle is missing (%v): run `make run-sio`, or `npm ci` in %s", err, *web)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv := sio.NewServer(&sio.Options{
		Engine:   &eio.Options{Logger: logger},
		Recovery: &sio.Recovery{},
		Logger:   logger,
	})
	site := srv.Handler(eio.StaticFiles{
		"/":                 {Path: filepath.Join(*web, "index.html")},
		"/chat.js":          {Path: filepath.Join(*web, "chat.js")},
		"/socket.io.min.js": {Path: bundle},
	}, nil)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on http://%s/\n", ln.Addr())
	// The timeouts and header limit a server facing the internet wants
	// (the same as the other examples'): a client that sends its headers
	// slowly, or keeps an idle keep-alive connection, is let go.
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
		_ = httpSrv.Shutdown(shutdown)
		if srv.Shutdown(shutdown) != nil {
			_ = srv.Close()
		}
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

// person is what the chat keeps with each socket.
type person struct {
	Name string `json:"name"`
	Room string `json:"room"`
}

// line is one chat message as the pages get it.
type line struct {
	Room string `json:"room"`
	Name string `json:"name"`
	Text string `json:"text"`
	At   int64  `json:"at"`
}

// chat runs the rooms until the server shuts down. Events:
//
//	"say" text (ack: true)   → "said" line, to the speaker's room
//	"join" room (ack: rooms)  → "joined"/"left" name, room, count, to the rooms
//	"rooms" (ack: rooms)      → the rooms with people in them
func chat(srv *sio.Server) {
	nsp := srv.Of("/")
	// A name and its room, from the connection's auth payload.
	nsp.Use(func(ctx context.Context, s *sio.Socket) error {
		var auth struct{ Name string }
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		name := strings.TrimSpace(auth.Name)
		if name == "" || len(name) > 32 {
			return &sio.ConnectError{Message: "pick a name of 1 to 32 characters"}
		}
		s.SetData(person{Name: name})
		return nil
	})
	for ev := range nsp.Events() {
		s := ev.Socket
		me := whoIs(s)
		switch ev.Type {
		case sio.EventConnect:
			if s.Recovered() {
				// Back in its room, with the messages it missed.
				_ = nsp.To(me.Room).Emit("joined", me.Name, me.Room, count(nsp, me.Room))
				continue
			}
			enter(nsp, s, me, "lobby")
		case sio.EventDisconnect:
			_ = nsp.To(me.Room).Emit("left", me.Name, me.Room, count(nsp, me.Room))
		case sio.EventMessage:
			switch ev.Name {
			case "say":
				var text string
				if err := ev.Args.Decode(&text); err != nil || strings.TrimSpace(text) == "" {
					_ = ev.Ack(false)
					continue
				}
				_ = nsp.To(me.Room).Emit("said", line{Room: me.Room, Name: me.Name, Text: text, At: time.Now().UnixMilli()})
				_ = ev.Ack(true)
			case "join":
				var room string
				if err := ev.Args.Decode(&room); err != nil || room == "" || len(room) > 32 || room == me.Room {
					_ = ev.Ack(nsp.Rooms())
					continue
				}
				s.Leave(me.Room)
				_ = nsp.To(me.Room).Emit("left", me.Name, me.Room, count(nsp, me.Room))
				enter(nsp, s, me, room)
				_ = ev.Ack(nsp.Rooms())
			case "rooms":
				_ = ev.Ack(nsp.Rooms())
			}
		}
	}
}

func whoIs(s *sio.Socket) person {
	p, _ := s.Data().(person)
	return p
}

// enter puts s in room and tells the room.
func enter(nsp *sio.Namespace, s *sio.Socket, me person, room string) {
	me.Room = room
	s.SetData(me)
	s.Join(room)
	_ = nsp.To(room).Emit("joined", me.Name, room, count(nsp, room))
}

// count returns how many people are in room on this server.
func count(nsp *sio.Namespace, room string) int {
	n := 0
	for _, s := range nsp.Sockets() {
		if s.In(room) {
			n++
		}
	}
	return n
}
