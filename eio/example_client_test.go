package eio_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/chanio/chanio/eio"
)

// A client talks to an echo server: it connects (polling first, then
// upgrading to WebSocket), sends one message, prints what comes back, and
// closes.
func ExampleDial() {
	srv := eio.NewServer(nil)
	hs := httptest.NewServer(srv)
	echoed := make(chan struct{})
	go func() {
		defer close(echoed)
		for ev := range srv.Events() {
			if ev.Type == eio.EventMessage {
				_ = srv.Send(ev.SID, append([]byte("echo: "), ev.Data...))
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := eio.Dial(ctx, hs.URL, nil) // nil options: all defaults
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	if err := c.Send([]byte("hello")); err != nil {
		fmt.Println("send:", err)
	}
	for ev := range c.Events() {
		switch ev.Type {
		case eio.EventConnect:
			fmt.Println("connected")
		case eio.EventMessage:
			fmt.Println(string(ev.Data))
			// Close flushes, sends the close packet, and waits until the
			// client's goroutines are done; the disconnect event follows.
			if err := c.Close(ctx); err != nil {
				fmt.Println("close:", err)
			}
		case eio.EventDisconnect:
			fmt.Println("disconnected:", ev.Reason)
		}
	}

	_ = srv.Shutdown(ctx)
	hs.Close()
	<-echoed
	// Output:
	// connected
	// echo: hello
	// disconnected: client disconnect
}
