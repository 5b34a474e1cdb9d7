package eio_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/devcert"
)

// A server offers WebTransport next to polling and WebSocket: HTTP on a
// TCP port, HTTP/3 on the UDP port of the same number, with a short-lived
// self-signed certificate that the client pins by hash. The client opens
// on polling and upgrades to WebTransport.
func ExampleServer_ListenWebTransport() {
	srv := eio.NewServer(nil)
	hs := httptest.NewServer(srv)
	cert, err := devcert.Generate(0) // ECDSA, 13 days: what browsers pin
	if err != nil {
		fmt.Println(err)
		return
	}
	u, _ := url.Parse(hs.URL)
	if _, err := srv.ListenWebTransport(u.Host, cert.TLSConfig()); err != nil {
		fmt.Println("listen:", err)
		return
	}
	echoed := make(chan struct{})
	go func() {
		defer close(echoed)
		for ev := range srv.Events() {
			if ev.Type == eio.EventMessage {
				tr, _ := srv.Transport(ev.SID)
				_ = srv.Send(ev.SID, fmt.Appendf(nil, "echo over %s: %s", tr, ev.Data))
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := eio.Dial(ctx, hs.URL, &eio.ClientOptions{
		Transports:        []string{eio.TransportPolling, eio.TransportWebTransport},
		CertificateHashes: [][sha256.Size]byte{cert.Hash},
	})
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	for ev := range c.Events() {
		switch ev.Type {
		case eio.EventUpgrade:
			fmt.Println("client: upgraded to", ev.Transport)
			_ = c.Send([]byte("hello"))
		case eio.EventMessage:
			fmt.Println(string(ev.Data))
			_ = c.Close(ctx)
		case eio.EventDisconnect:
			fmt.Println("disconnected:", ev.Reason)
		}
	}

	_ = srv.Shutdown(ctx)
	hs.Close()
	<-echoed
	// Output:
	// client: upgraded to webtransport
	// echo over webtransport: hello
	// disconnected: client disconnect
}
