package eio_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/chanio/chanio/eio"
)

// The user behind a token, found once at the handshake, travels with the
// session: in its connect event, from Session, and in its disconnect.
func ExampleOptions_authorizeSession() {
	type user struct{ Name string }
	tokens := map[string]*user{"t-ada": {"ada"}}
	srv := eio.NewServer(&eio.Options{
		AuthorizeSession: func(r *http.Request) (any, error) {
			u := tokens[r.URL.Query().Get("token")]
			if u == nil {
				return nil, errors.New("bad or missing token") // 401 {"message":"..."}
			}
			return u, nil
		},
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := eio.Dial(ctx, hs.URL+"/engine.io/?token=forged", nil); err != nil {
		fmt.Println(err.(*eio.HTTPError).Message)
	}
	c, err := eio.Dial(ctx, hs.URL+"/engine.io/?token=t-ada", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ev := <-srv.Events()
	fmt.Println(ev.Type, "of", ev.Session.(*user).Name)
	data, _ := srv.Session(ctx, ev.SID)
	fmt.Println("Session:", data.(*user).Name)
	_ = c.Close(ctx)
	for ev := range srv.Events() {
		if ev.Type == eio.EventDisconnect {
			fmt.Println(ev.Type, "of", ev.Session.(*user).Name)
			break
		}
	}
	// Output:
	// bad or missing token
	// connect of ada
	// Session: ada
	// disconnect of ada
}
