package conformance

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// Spec: Packet encoding > WebSocket. Each packet is its own frame: text
// packets as text frames ("4hello"), binary messages as binary frames that
// carry the bytes as they are, with no type byte.
func TestWebSocketMessages(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name string
		op   ws.OpCode
		data string
	}{
		{
			name: "text",
			op:   ws.OpText,
			data: "4hello",
		},
		{
			name: "utf-8 text",
			op:   ws.OpText,
			data: "4€ héllo 😀 日本語",
		},
		{
			name: "empty text message",
			op:   ws.OpText,
			data: "4",
		},
		{
			name: "binary",
			op:   ws.OpBinary,
			data: "\x01\x02\x03\x04",
		},
		{
			name: "binary starting with a type digit",
			op:   ws.OpBinary,
			data: "4\x00\xff",
		},
		{
			name: "empty binary message",
			op:   ws.OpBinary,
			data: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := s.openWS(t)
			c.send(t, tt.op, []byte(tt.data))
			m := c.receive(t, 1)
			if m[0].op != tt.op || string(m[0].data) != tt.data {
				t.Fatalf("echo %v, want %v", m[0], frame{op: tt.op, data: []byte(tt.data)})
			}
		})
	}
}

// Spec: "Each packet (read or write) is sent its own WebSocket frame", in
// order.
func TestWebSocketOrder(t *testing.T) {
	s := startServer(t)
	c, _ := s.openWS(t)
	var want []string
	for i := range 30 {
		m := fmt.Sprintf("4m%02d", i)
		want = append(want, m)
		op := ws.OpText
		if i%3 == 2 {
			op = ws.OpBinary
		}
		c.send(t, op, []byte(m))
	}
	var got []string
	for _, f := range c.receive(t, len(want)) {
		if i := len(got); (i%3 == 2) != (f.op == ws.OpBinary) {
			t.Errorf("message %d came as %v: frame type changed", i, f)
		}
		got = append(got, string(f.data))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("received %q, want %q", got, want)
	}
}

// maxPayload bounds a WebSocket message as well: a frame of exactly
// maxPayload bytes is accepted.
func TestWebSocketMaxPayload(t *testing.T) {
	s := startServer(t)
	c, _ := s.openWS(t)
	msg := "4" + strings.Repeat("a", maxPayload-1)
	c.sendText(t, msg)
	m := c.receive(t, 1)
	if string(m[0].data) != msg {
		t.Fatalf("echo of a %d-byte frame: %v", len(msg), m[0])
	}
}

// The reference test suite's "closes the session upon invalid packet
// format" and friends: what makes the server end a WebSocket session, and
// with which close status where WebSocket (RFC 6455) defines one.
func TestWebSocketClose(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name string
		send func(t *testing.T, c *wsConn) (wait func())
		code ws.StatusCode // 0: any way of closing will do
	}{
		{
			name: "message over max payload",
			send: func(t *testing.T, c *wsConn) func() {
				return c.sendLarge(maxPayload + 1)
			},
			code: ws.StatusMessageTooBig, // 1009
		},
		{
			name: "invalid utf-8 in a text frame",
			send: func(t *testing.T, c *wsConn) func() {
				c.send(t, ws.OpText, []byte("4\xff\xfe"))
				return nil
			},
			code: ws.StatusInvalidFramePayloadData, // 1007
		},
		{
			name: "unknown packet type",
			send: func(t *testing.T, c *wsConn) func() {
				c.sendText(t, "9x")
				return nil
			},
		},
		{
			name: "not a packet",
			send: func(t *testing.T, c *wsConn) func() {
				c.sendText(t, "abc")
				return nil
			},
		},
		{
			name: "empty text frame",
			send: func(t *testing.T, c *wsConn) func() {
				c.sendText(t, "")
				return nil
			},
		},
		{
			// Closes at once, well before any ping timeout: the client
			// answers pings while it waits.
			name: "close packet",
			send: func(t *testing.T, c *wsConn) func() {
				c.sendText(t, "1")
				return nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, h := s.openWS(t)
			wait := tt.send(t, c)
			// Pong unless a writer is still busy on the connection.
			res := c.expectClosed(t, wait == nil)
			t.Logf("%v", res)
			if wait != nil {
				_ = c.conn.Close()
				wait()
			}
			for _, f := range res.frames {
				if !f.isText("2") && !f.isText("1") {
					t.Errorf("received %v before the close, want nothing but pings", f)
				}
			}
			if tt.code != 0 && (!res.closeFrame || res.code != tt.code) {
				t.Errorf("%v, want close status %d", res, tt.code)
			}
			s.waitWSSessionGone(t, h.SID)
		})
	}
}

// sendLarge writes a text frame of n bytes in the background (the server
// may stop reading it and close midway) and returns a function that waits
// for the writer.
func (c *wsConn) sendLarge(n int) (wait func()) {
	h := ws.Header{Fin: true, OpCode: ws.OpText, Length: int64(n), Masked: true, Mask: ws.NewMask()}
	payload := bytes.Repeat([]byte("a"), n)
	payload[0] = typeMessage
	ws.Cipher(payload, h.Mask, 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.conn.SetWriteDeadline(time.Now().Add(requestTimeout))
		if ws.WriteHeader(c.conn, h) == nil {
			_, _ = c.conn.Write(payload)
		}
	}()
	return func() { <-done }
}
