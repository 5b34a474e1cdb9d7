package sio_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/chanio/chanio/sio"
)

// A client joins a namespace with an auth payload, emits an event, waits
// for an ack, and reads the server's events.
func ExampleConnect() {
	// A server to talk to: it greets each client and answers "sum".
	srv := sio.NewServer(nil)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	go func() {
		for ev := range srv.Of("/chat").Events() {
			switch {
			case ev.Type == sio.EventConnect:
				_ = ev.Socket.Emit("hello", "welcome")
			case ev.Type == sio.EventMessage && ev.Name == "sum":
				var a, b int
				_ = ev.Args.Decode(&a, &b)
				_ = ev.Ack(a + b)
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sio.Connect(ctx, hs.URL+"/chat", &sio.ClientOptions{Auth: map[string]string{"token": "abc"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)
	sum, err := c.EmitWithAck(ctx, "sum", 1, 2)
	fmt.Printf("%s %v\n", sum.JSON(), err)
	for ev := range c.Events() {
		switch ev.Type {
		case sio.ClientConnect:
			fmt.Println("connected")
		case sio.ClientMessage:
			var text string
			_ = ev.Args.Decode(&text)
			fmt.Println(ev.Name, text)
		}
		if ev.Type == sio.ClientMessage {
			break
		}
	}
	// Output:
	// [3] <nil>
	// connected
	// hello welcome
}

// A manager shares one connection between namespaces; each client reads
// its own events, and leaving one namespace keeps the others.
func ExampleManager() {
	srv := sio.NewServer(nil)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	for _, name := range []string{"/", "/admin"} {
		n := srv.Of(name)
		go func() {
			for ev := range n.Events() {
				if ev.Type == sio.EventMessage {
					_ = ev.Socket.Emit("echo", "from "+n.Name())
				}
			}
		}()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := sio.NewManager(hs.URL, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close(ctx)
	root, _ := m.Connect(ctx, "/", nil)
	admin, _ := m.Connect(ctx, "/admin", map[string]string{"token": "t"})
	for _, c := range []*sio.Client{admin, root} {
		<-c.Events() // the connect
		_ = c.Emit("ping")
		ev := <-c.Events()
		fmt.Printf("%s %s %s\n", c.Namespace(), ev.Name, ev.Args.JSON())
	}
	_ = admin.Close(ctx) // leaves /admin; / goes on
	_ = root.Emit("ping")
	fmt.Printf("%s\n", (<-root.Events()).Args.JSON())
	// Output:
	// /admin echo ["from /admin"]
	// / echo ["from /"]
	// ["from /"]
}
