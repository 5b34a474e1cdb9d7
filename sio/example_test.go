package sio_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/sio"
	"github.com/chanio/chanio/sio/wire"
)

// A chat server: every message goes to the room of its sender.
func Example() {
	srv := sio.NewServer(nil)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()

	go func() {
		for ev := range srv.Events() {
			switch ev.Type {
			case sio.EventConnect:
				ev.Socket.Join("lobby")
			case sio.EventMessage:
				var text string
				if err := ev.Args.Decode(&text); err != nil {
					continue
				}
				_ = srv.To("lobby").Emit("chat", text)
				_ = ev.Ack("delivered")
			}
		}
	}()

	// A client, by hand: Engine.IO from eio, packets from sio/wire.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _ := eio.Dial(ctx, hs.URL+"/socket.io/", nil)
	defer c.Close(ctx)
	recv := func() string {
		for ev := range c.Events() {
			if ev.Type == eio.EventMessage {
				return string(ev.Data)
			}
		}
		return ""
	}
	_ = c.Send([]byte("0"))
	fmt.Println(recv()[:8]) // the CONNECT answer with the socket's id
	data, _, _ := wire.AppendEvent(nil, nil, "chat", "hello")
	text, _ := wire.Append(nil, &wire.Packet{Type: wire.Event, ID: 1, HasID: true, Data: data})
	_ = c.Send(text)
	fmt.Println(recv())
	fmt.Println(recv())
	// Output:
	// 0{"sid":
	// 2["chat","hello"]
	// 31["delivered"]
}
