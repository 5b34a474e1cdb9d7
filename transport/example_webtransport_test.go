package transport_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/internal/devcert"
	"github.com/chanio/chanio/transport"
)

// A WebTransport server that answers the client's open packet and echoes
// its messages, and a client that pins the server's self-signed
// certificate by hash, as a browser's serverCertificateHashes do.
func ExampleDialWebTransport() {
	cert, err := devcert.Generate(0) // ECDSA P-256, valid 13 days
	if err != nil {
		panic(err)
	}
	var srv *transport.WebTransportServer
	srv = transport.NewWebTransportServer(&transport.WebTransportServerOptions{
		TLSConfig: cert.TLSConfig(),
		Conn:      transport.WebTransportOptions{MaxPayload: 1_000_000},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := srv.Upgrade(w, r)
			if err != nil {
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
			defer cancel()
			if _, err := c.Handshake(ctx); err != nil { // the client's open packet
				return
			}
			_ = c.WritePackets([]codec.Packet{{Type: codec.Open, Data: []byte(`{"sid":"x"}`)}})
			_ = c.Start(func(p codec.Packet) error { return c.WritePackets([]codec.Packet{p}) }, func(error) {})
		}),
	})
	defer srv.Close() // closes the server's connections too
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		panic(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := transport.DialWebTransport(ctx, "https://"+addr.String()+"/engine.io/", &transport.WebTransportDialOptions{
		CertificateHashes: [][sha256.Size]byte{cert.Hash},
		Conn:              transport.WebTransportOptions{MaxPayload: 1_000_000},
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	got := make(chan codec.Packet, 2)
	if err := c.Start(func(p codec.Packet) error { got <- p; return nil }, func(error) {}); err != nil {
		panic(err)
	}
	if err := c.WritePackets([]codec.Packet{{Type: codec.Message, Data: []byte("hello")}}); err != nil {
		panic(err)
	}
	fmt.Println(<-got)
	fmt.Println(<-got)
	// Output:
	// open "{\"sid\":\"x\"}"
	// message "hello"
}
