package sio_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/sio"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// v3Client speaks as a Socket.IO 2 client does, by hand: Engine.IO
// protocol 3 over a WebSocket, one packet a frame.
type v3Client struct {
	t    *testing.T
	conn net.Conn
	rw   io.ReadWriter
}

func dialV3(t *testing.T, url string) *v3Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/socket.io/?EIO=3&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &v3Client{t: t, conn: conn, rw: conn}
	if br != nil { // the server's first frames came with its handshake answer
		c.rw = struct {
			io.Reader
			io.Writer
		}{io.MultiReader(br, conn), conn}
	}
	if open := c.read(); !strings.HasPrefix(open, `0{"sid":`) {
		t.Fatalf("open packet %q", open)
	}
	return c
}

func (c *v3Client) read() string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(waitFor))
	b, _, err := wsutil.ReadServerData(c.rw)
	if err != nil {
		c.t.Fatalf("reading a frame: %v", err)
	}
	return string(b)
}

// expect reads the next frame: an Engine.IO packet, "4" and a Socket.IO
// packet for a message.
func (c *v3Client) expect(want string) {
	c.t.Helper()
	if got := c.read(); got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
}

func (c *v3Client) write(s string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// TestSocketIO2Client: a Socket.IO 2 client (Engine.IO protocol 3, with
// AllowEIO3) is connected to "/" without asking, as the reference's
// onconnection does, and asks for other namespaces with its auth in the
// namespace's query, which the reference reads as the auth payload
// (client.ts _parseNamespace). Its answers are the reference's protocol 3
// ones: CONNECT without data, CONNECT_ERROR with the error's data or
// message.
func TestSocketIO2Client(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, &sio.Options{Engine: &eio.Options{AllowEIO3: true}})
	admin := srv.Of("/admin")
	srv.Of("/priv").Use(func(ctx context.Context, s *sio.Socket) error {
		return &sio.ConnectError{Message: "not allowed"}
	})
	srv.Of("/data").Use(func(ctx context.Context, s *sio.Socket) error {
		return &sio.ConnectError{Message: "no", Data: map[string]string{"why": "data"}}
	})
	c := dialV3(t, url)
	c.expect("40")
	s := expectEvent(t, srv.Of("/"), sio.EventConnect, "").Socket
	if s.Handshake().Auth != nil {
		t.Fatalf("auth of the automatic CONNECT %s", s.Handshake().Auth)
	}

	c.write(`40/admin?token=abc&x=1&x=2,`)
	c.expect("40/admin,")
	as := expectEvent(t, admin, sio.EventConnect, "").Socket
	if as.Namespace() != admin || string(as.Handshake().Auth) != `{"token":"abc","x":"2"}` {
		t.Fatalf("socket of %s with auth %s", as.Namespace().Name(), as.Handshake().Auth)
	}
	c.write(`40/priv,`)
	c.expect(`44/priv,"not allowed"`)
	c.write(`40/data,`)
	c.expect(`44/data,{"why":"data"}`)

	c.write(`42["hi",1]`)
	expectEvent(t, srv.Of("/"), sio.EventMessage, "hi")
	c.write(`42/admin,["there"]`)
	expectEvent(t, admin, sio.EventMessage, "there")
	if err := as.Emit("back", json.RawMessage(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	c.expect(`42/admin,["back",{"n":1}]`)
}
