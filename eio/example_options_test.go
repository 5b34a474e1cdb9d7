package eio_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/chanio/chanio/eio"
)

// Every server option, set. Zero values are the protocol's defaults; most
// servers set a few of these and leave the rest.
func ExampleOptions() {
	srv := eio.NewServer(&eio.Options{
		Path:                 "/realtime/",     // default "/engine.io/"
		PingInterval:         10 * time.Second, // default 25s
		PingTimeout:          5 * time.Second,  // default 20s
		PingGrace:            2 * time.Second,  // extra pong wait, not advertised
		MaxPayload:           64 << 10,         // bytes per POST or WebSocket message
		MaxBytesInFlight:     64 << 20,         // all messages and POSTs still arriving, together
		BodyTimeout:          5 * time.Second,  // to read one POST body; default PingTimeout
		MaxQueueBytes:        256 << 10,        // per-session outbound bound: "slow consumer" past it
		WriteTimeout:         5 * time.Second,  // one WebSocket write
		MaxPollPackets:       16,               // per long-poll response (python-engineio's limit)
		EventBuffer:          4096,             // capacity of Events()
		UpgradeTimeout:       5 * time.Second,  // polling-to-WebSocket probe
		DisableUpgrades:      false,            // polling sessions may upgrade
		Transports:           []string{eio.TransportPolling, eio.TransportWebSocket},
		DisableCompression:   false,                           // gzip/deflate polling bodies...
		CompressionThreshold: 2048,                            // ...over 2 KiB
		WebSocketCompression: true,                            // offer permessage-deflate
		AllowedOrigins:       []string{"https://app.example"}, // plus same-origin
		CheckOrigin:          nil,                             // or decide per request
		DisableCORS:          false,
		NoCORSCredentials:    false,
		BehindProxy:          false, // trust X-Forwarded-Proto/Host?
		Authorize: func(r *http.Request) error { // before any session exists
			if r.URL.Query().Get("token") != "let-me-in" {
				return &eio.Rejection{Status: http.StatusUnauthorized, Body: map[string]string{"message": "bad token"}}
			}
			return nil
		},
		AuthorizeSession: nil, // or an Authorize that returns the session's data
		MaxSessions:      10000,
		GenerateID: func() string { // must stay unguessable
			var b [16]byte
			_, _ = rand.Read(b[:])
			return hex.EncodeToString(b[:])
		},
		InitialMessage:     []byte("welcome"),
		Cookie:             &http.Cookie{Name: "io", HttpOnly: true, Secure: true},
		BindCookie:         &http.Cookie{Secure: true},
		JSON:               nil, // encoding/json
		DisablePingTimeout: false,
		AllowEIO3:          true, // Socket.IO 2 era clients
		Logger:             slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()

	resp, _ := http.Get(hs.URL + "/realtime/?EIO=4&transport=polling")
	fmt.Println("without the token:", resp.StatusCode)
	resp.Body.Close()

	resp, _ = http.Get(hs.URL + "/realtime/?EIO=4&transport=polling&token=let-me-in")
	open, initial, _ := strings.Cut(readAll(resp), "\x1e")
	var hs4 struct {
		Upgrades     []string
		PingInterval int
		PingTimeout  int
		MaxPayload   int
	}
	_ = json.Unmarshal([]byte(open[1:]), &hs4)
	fmt.Printf("open: upgrades %v, ping %d/%d ms, maxPayload %d\n", hs4.Upgrades, hs4.PingInterval, hs4.PingTimeout, hs4.MaxPayload)
	fmt.Println("then:", initial)
	fmt.Println("cookie:", resp.Cookies()[0].Name, resp.Cookies()[0].HttpOnly)
	// Output:
	// without the token: 401
	// open: upgrades [websocket], ping 10000/5000 ms, maxPayload 65536
	// then: 4welcome
	// cookie: io true
}

// A session bound to the client that opened it: whoever learns its id
// but lacks the cookie set on the handshake is refused.
func ExampleOptions_bindCookie() {
	srv := eio.NewServer(&eio.Options{
		BindCookie: &http.Cookie{}, // set Secure behind TLS
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	owner := &http.Client{Jar: jar} // browsers, and eio.Dial's client, keep cookies
	resp, _ := owner.Get(hs.URL + "/engine.io/?EIO=4&transport=polling")
	var open struct{ SID string }
	_ = json.Unmarshal([]byte(readAll(resp)[1:]), &open)
	c := resp.Cookies()[0]
	fmt.Println("cookie:", c.Name, c.HttpOnly, c.Path)

	url := hs.URL + "/engine.io/?EIO=4&transport=polling&sid=" + open.SID
	resp, _ = http.Post(url, "text/plain;charset=UTF-8", strings.NewReader("4stolen"))
	fmt.Println("the id alone:", resp.StatusCode, readAll(resp))
	resp, _ = owner.Post(url, "text/plain;charset=UTF-8", strings.NewReader("4mine"))
	fmt.Println("with the cookie:", resp.StatusCode, readAll(resp))
	// Output:
	// cookie: io_bind true /engine.io
	// the id alone: 403 {"code":4,"message":"Forbidden"}
	// with the cookie: 200 ok
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Every client option, set.
func ExampleClientOptions() {
	srv := eio.NewServer(nil)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := eio.Dial(ctx, hs.URL, &eio.ClientOptions{
		Transports:           []string{eio.TransportPolling, eio.TransportWebSocket}, // poll, then upgrade
		Path:                 "/engine.io/",
		Header:               http.Header{"Authorization": {"Bearer token"}},
		Query:                map[string][]string{"room": {"lobby"}},
		TLSConfig:            nil, // for https:// and wss://
		HTTPClient:           http.DefaultClient,
		RequestTimeout:       5 * time.Second,
		DialContext:          nil, // a custom dialer for WebSocket
		WebSocketCompression: false,
		MaxQueueBytes:        1 << 20,
		MaxPayload:           1 << 20,
		EventBuffer:          256,
		Logger:               nil,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ev := <-srv.Events()
	fmt.Println("server saw", ev.Type, "for room", ev.Request.URL.Query().Get("room"))
	_ = c.Close(ctx)
	// Output:
	// server saw connect for room lobby
}
