package transport_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/chanio/chanio/transport"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// FuzzNegotiateEncoding: any header yields one of the three answers, and
// a header naming neither coding nor "*" yields none.
func FuzzNegotiateEncoding(f *testing.F) {
	for _, s := range []string{"gzip, deflate, br", "deflate;q=0.5, gzip;q=0.4", "*;q=0", "gzip;q=0,*", "identity", "x-gzip;q=1.000", ";;,,q=", "gzip;q=0.", "gzip;q=.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got := transport.NegotiateEncoding(header)
		switch got {
		case "", transport.EncodingGzip, transport.EncodingDeflate:
		default:
			t.Fatalf("NegotiateEncoding(%q) = %q", header, got)
		}
		lower := strings.ToLower(header)
		if got != "" && !strings.Contains(lower, "gzip") && !strings.Contains(lower, "deflate") && !strings.Contains(lower, "*") {
			t.Fatalf("NegotiateEncoding(%q) = %q from nothing", header, got)
		}
	})
}

// FuzzReadMessage feeds arbitrary bytes to a server-side WebSocket with
// permessage-deflate on: it must never panic nor return a message over
// MaxMessage, however the bytes inflate.
func FuzzReadMessage(f *testing.F) {
	const maxMessage = 4096
	seed := func(frames ...ws.Frame) []byte {
		var b bytes.Buffer
		for _, fr := range frames {
			_ = ws.WriteFrame(&b, ws.MaskFrameInPlace(fr))
		}
		return b.Bytes()
	}
	z, _ := wsflate.DefaultHelper.Compress([]byte(strings.Repeat("4hello", 100)))
	bomb, _ := wsflate.DefaultHelper.Compress(make([]byte, 1<<20))
	compressed := func(p []byte) ws.Frame {
		fr := ws.NewBinaryFrame(p)
		fr.Header.Rsv = ws.Rsv(true, false, false)
		return fr
	}
	f.Add(seed(ws.NewTextFrame([]byte("4hi"))))
	f.Add(seed(compressed(z)))
	f.Add(seed(compressed(bomb)))
	f.Add(seed(ws.NewFrame(ws.OpText, false, []byte("4a")), ws.NewPingFrame([]byte("p")), ws.NewFrame(ws.OpContinuation, true, []byte("b"))))
	f.Add(seed(compressed(z[:len(z)/2])))
	// Lengths declared and not sent: a megabyte, and one with its top bit set.
	f.Add([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x40, 1, 2, 3, 4, 'x'})
	f.Add([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := transport.NewWebSocketWith(&discardConn{r: bytes.NewReader(in)}, nil, transport.WebSocketOptions{
			Side: transport.ServerSide, MaxMessage: maxMessage, Deflate: true,
		})
		for {
			data, _, err := c.ReadMessage()
			if err != nil {
				return
			}
			if len(data) > maxMessage {
				t.Fatalf("message of %d bytes over the %d limit", len(data), maxMessage)
			}
		}
	})
}
