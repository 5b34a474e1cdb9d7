package eio_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/chanio/chanio/eio"
)

// A message for a group of sessions the application picks itself (a
// room's members): encoded once by Prepare, queued to each by
// SendPrepared, every queue holding the same bytes.
func ExampleServer_SendPrepared() {
	srv := eio.NewServer(nil)
	hs := httptest.NewServer(srv)
	defer hs.Close()

	var room []string
	for range 3 {
		body := get(hs.URL + "/engine.io/?EIO=4&transport=polling")
		room = append(room, strings.Split(body, `"`)[3])
	}
	m, err := srv.Prepare([]byte("news for the room"))
	if err != nil {
		panic(err) // not valid UTF-8
	}
	for _, sid := range room {
		if err := srv.SendPrepared(sid, m); err != nil {
			fmt.Println(sid, err) // the session has ended, say
		}
	}
	for _, sid := range room {
		fmt.Println(get(hs.URL + "/engine.io/?EIO=4&transport=polling&sid=" + sid))
	}
	go func() {
		for range srv.Events() {
		}
	}()
	_ = srv.Shutdown(context.Background())
	// Output:
	// 4news for the room
	// 4news for the room
	// 4news for the room
}
