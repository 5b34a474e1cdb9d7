package eio

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/transport"
	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// TestServerPollingCompression: a large polling response is gzipped when
// the client accepts it, and sent as is with DisableCompression.
func TestServerPollingCompression(t *testing.T) {
	for _, disable := range []bool{false, true} {
		srv, base := testServer(t, &Options{DisableCompression: disable})
		sid := pollOpen(t, base)
		expectEvent(t, srv, EventConnect, sid)
		big := strings.Repeat("hello ", 1000)
		if err := srv.Send(sid, []byte(big)); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", pollURL(base, sid), nil)
		req.Header.Set("Accept-Encoding", "gzip")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if enc := res.Header.Get("Content-Encoding"); (enc == "gzip") == disable {
			t.Fatalf("DisableCompression=%v: Content-Encoding %q", disable, enc)
		}
		body := raw
		if !disable {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(zr)
		}
		if string(body) != "4"+big {
			t.Fatalf("body %q...", body[:min(20, len(body))])
		}
	}
}

// TestServerWebSocketDeflate: permessage-deflate both ways, and a
// compressed bomb ends the session with close 1009 instead of inflating.
func TestServerWebSocketDeflate(t *testing.T) {
	srv, base := testServer(t, &Options{WebSocketCompression: true, MaxPayload: 1 << 16})
	d := ws.Dialer{Extensions: []httphead.Option{transport.DeflateOffer()}}
	conn, br, hs, err := d.Dial(context.Background(), "ws"+strings.TrimPrefix(eioURL(base, "transport=websocket"), "http"))
	if err != nil {
		t.Fatal(err)
	}
	on, err := transport.DeflateAccepted(hs.Extensions)
	if !on || err != nil {
		t.Fatalf("accepted %v %v", on, err)
	}
	c := transport.NewWebSocketWith(conn, br, transport.WebSocketOptions{Side: transport.ClientSide, MaxMessage: 1 << 20, Deflate: true})
	defer c.Close()
	if data, _, err := c.ReadMessage(); err != nil || !bytes.HasPrefix(data, []byte("0{")) {
		t.Fatalf("open packet %q, %v", data, err)
	}
	ev := expectEvent(t, srv, EventConnect, "")
	big := strings.Repeat("compress ", 500)
	_ = c.WritePackets([]codec.Packet{{Type: codec.Message, Data: []byte(big)}}, codec.V4)
	if ev2 := nextEvent(t, srv); string(ev2.Data) != big {
		t.Fatalf("server got %d bytes", len(ev2.Data))
	}
	_ = srv.Send(ev.SID, []byte(big))
	data, _, err := c.ReadMessage()
	if err != nil || string(data) != "4"+big {
		t.Fatalf("client got %d bytes, %v", len(data), err)
	}
	// A bomb ends the session with 1009.
	z, _ := wsflate.DefaultHelper.Compress(make([]byte, 10<<20))
	f := ws.NewBinaryFrame(z)
	f.Header.Rsv = ws.Rsv(true, false, false)
	_ = ws.WriteFrame(conn, ws.MaskFrameInPlace(f))
	_, _, err = c.ReadMessage()
	var ce *transport.CloseError
	if !errors.As(err, &ce) || ce.Code != ws.StatusMessageTooBig {
		t.Fatalf("err %v, want close 1009", err)
	}
	if end := expectEvent(t, srv, EventDisconnect, ev.SID); end.Reason != ReasonTransportError {
		t.Fatalf("bomb ended the session with %v", end.Reason)
	}
}
