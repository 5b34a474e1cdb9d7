package eio_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/chanio/chanio/eio"
)

// An echo server: every message goes back to its sender. The client side
// here is plain HTTP long-polling, to show the wire.
func ExampleServer() {
	srv := eio.NewServer(nil)
	hs := httptest.NewServer(srv)
	defer hs.Close()

	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range srv.Events() {
			fmt.Println(ev.Type)
			if ev.Type == eio.EventMessage {
				_ = srv.Send(ev.SID, ev.Data)
			}
		}
	}()

	// Handshake: the open packet carries the session id.
	body := get(hs.URL + "/engine.io/?EIO=4&transport=polling")
	sid := strings.Split(body, `"`)[3]
	url := hs.URL + "/engine.io/?EIO=4&transport=polling&sid=" + sid

	post(url, "4hello")   // a text message
	fmt.Println(get(url)) // its echo, as a polling payload
	post(url, "1")        // the client closes
	_ = srv.Shutdown(context.Background())
	<-done
	// Output:
	// connect
	// message
	// 4hello
	// disconnect
}

func get(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func post(url, body string) {
	resp, err := http.Post(url, "text/plain;charset=UTF-8", strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
}
