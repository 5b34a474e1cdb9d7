package transport_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/transport"
	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

const testMax = 1 << 16

// tcpPair returns the two ends of a loopback TCP connection. Unlike
// net.Pipe, the kernel buffers writes, so a WebSocket that answers a
// violation with a close frame does not block on a peer that is not
// reading yet.
func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			c = nil
		}
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		a.Close()
		t.Fatal("accept failed")
	}
	deadline := time.Now().Add(10 * time.Second)
	_ = a.SetDeadline(deadline)
	_ = b.SetDeadline(deadline)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// wsPair returns a server-side and a client-side WebSocket over loopback
// TCP, both configured by o (Side aside).
func wsPair(t testing.TB, o transport.WebSocketOptions) (server, client *transport.WebSocket) {
	a, b := tcpPair(t)
	o.Side = transport.ServerSide
	server = transport.NewWebSocketWith(a, nil, o)
	o.Side = transport.ClientSide
	client = transport.NewWebSocketWith(b, nil, o)
	return server, client
}

// rawPeer returns a WebSocket of side configured by o, and the raw
// connection to its peer, on which a test writes and reads frames by hand.
func rawPeer(t testing.TB, side transport.Side, o transport.WebSocketOptions) (*transport.WebSocket, net.Conn) {
	a, b := tcpPair(t)
	o.Side = side
	if o.MaxMessage == 0 {
		o.MaxMessage = testMax
	}
	return transport.NewWebSocketWith(a, nil, o), b
}

// frame is a frame a raw peer sends. A peer of a server-side WebSocket
// masks; rsv is as ws.Header.Rsv holds it (0x04 is RSV1).
type frame struct {
	fin     bool
	rsv     byte
	op      ws.OpCode
	payload []byte
}

func writeFrames(t testing.TB, conn net.Conn, masked bool, frames ...frame) {
	t.Helper()
	var buf bytes.Buffer
	for _, f := range frames {
		fr := ws.Frame{
			Header:  ws.Header{Fin: f.fin, Rsv: f.rsv, OpCode: f.op, Length: int64(len(f.payload))},
			Payload: append([]byte(nil), f.payload...),
		}
		if masked {
			fr = ws.MaskFrameInPlace(fr)
		}
		if err := ws.WriteFrame(&buf, fr); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// readFrame reads one frame from a raw connection and unmasks it.
func readFrame(t testing.TB, conn net.Conn) ws.Frame {
	t.Helper()
	h, err := ws.ReadHeader(conn)
	if err != nil {
		t.Fatalf("read frame header: %v", err)
	}
	if h.Length > 16<<20 {
		t.Fatalf("frame of %d bytes", h.Length)
	}
	f := ws.Frame{Header: h, Payload: make([]byte, h.Length)}
	if _, err := io.ReadFull(conn, f.Payload); err != nil {
		t.Fatalf("read frame payload: %v", err)
	}
	if f.Header.Masked {
		ws.Cipher(f.Payload, f.Header.Mask, 0)
	}
	return f
}

// expectClose reads frames from a raw connection up to a close frame and
// checks its code.
func expectClose(t testing.TB, conn net.Conn, want ws.StatusCode) {
	t.Helper()
	for {
		f := readFrame(t, conn)
		if f.Header.OpCode != ws.OpClose {
			continue
		}
		code, _ := ws.ParseCloseFrameData(f.Payload)
		if code != want {
			t.Fatalf("close code %d, want %d", code, want)
		}
		return
	}
}

func text(s string) frame   { return frame{fin: true, op: ws.OpText, payload: []byte(s)} }
func binary(s string) frame { return frame{fin: true, op: ws.OpBinary, payload: []byte(s)} }

func message(data string) []codec.Packet {
	return []codec.Packet{{Type: codec.Message, Data: []byte(data)}}
}

func TestRoundTrip(t *testing.T) {
	server, client := wsPair(t, transport.WebSocketOptions{MaxMessage: 1 << 20})
	pkts := []codec.Packet{
		{Type: codec.Message, Data: []byte("hello")},
		{Type: codec.Message, Data: []byte{0, 1, 2, 0xff}, Binary: true},
		{Type: codec.Ping},
		{Type: codec.Message, Data: bytes.Repeat([]byte("x"), 70000)}, // 64-bit length
		{Type: codec.Message, Data: []byte{}},
	}
	for _, dir := range []struct {
		name     string
		from, to *transport.WebSocket
	}{{"client to server", client, server}, {"server to client", server, client}} {
		t.Run(dir.name, func(t *testing.T) {
			errc := make(chan error, 1)
			go func() { errc <- dir.from.WritePackets(pkts, codec.V4) }()
			for i, want := range pkts {
				data, bin, err := dir.to.ReadMessage()
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				got, err := codec.DecodeFrame(data, bin, codec.V4)
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if got.Type != want.Type || got.Binary != want.Binary || !bytes.Equal(got.Data, want.Data) {
					t.Fatalf("packet %d: got %v, want %v", i, got, want)
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMasking: a client masks what it sends and requires unmasked frames,
// a server the other way round; a frame masked wrongly is a protocol error.
func TestMasking(t *testing.T) {
	for _, tc := range []struct {
		name string
		side transport.Side
	}{{"server", transport.ServerSide}, {"client", transport.ClientSide}} {
		t.Run(tc.name+" sends", func(t *testing.T) {
			c, peer := rawPeer(t, tc.side, transport.WebSocketOptions{})
			if err := c.WritePackets(message("masked?"), codec.V4); err != nil {
				t.Fatal(err)
			}
			f := readFrame(t, peer)
			if want := tc.side == transport.ClientSide; f.Header.Masked != want {
				t.Errorf("masked %v, want %v", f.Header.Masked, want)
			}
			if string(f.Payload) != "4masked?" {
				t.Errorf("payload %q", f.Payload)
			}
		})
		t.Run(tc.name+" refuses", func(t *testing.T) {
			c, peer := rawPeer(t, tc.side, transport.WebSocketOptions{})
			// The wrong masking for this side: a client's peer must not mask.
			writeFrames(t, peer, tc.side == transport.ClientSide, text("4x"))
			if _, _, err := c.ReadMessage(); !errors.Is(err, transport.ErrProtocol) {
				t.Fatalf("err %v, want ErrProtocol", err)
			}
			expectClose(t, peer, ws.StatusProtocolError)
		})
	}
}

// TestReadMessage covers what a server-side WebSocket accepts: fragments
// reassembled around control frames, pings answered, pongs skipped.
func TestReadMessage(t *testing.T) {
	euro := []byte("4€") // a character split across fragments
	for _, tc := range []struct {
		name   string
		frames []frame
		want   string
		binary bool
		pongs  []string
	}{
		{name: "text", frames: []frame{text("4hi")}, want: "4hi"},
		{name: "binary", frames: []frame{binary("\x01\x02")}, want: "\x01\x02", binary: true},
		{name: "empty", frames: []frame{text("")}, want: ""},
		{
			name: "fragments",
			frames: []frame{
				{op: ws.OpText, payload: []byte("4he")},
				{op: ws.OpContinuation, payload: []byte("ll")},
				{fin: true, op: ws.OpContinuation, payload: []byte("o")},
			},
			want: "4hello",
		},
		{
			name: "utf-8 split across fragments",
			frames: []frame{
				{op: ws.OpText, payload: euro[:2]},
				{fin: true, op: ws.OpContinuation, payload: euro[2:]},
			},
			want: "4€",
		},
		{
			name: "control frames between fragments",
			frames: []frame{
				{op: ws.OpBinary, payload: []byte("ab")},
				{fin: true, op: ws.OpPing, payload: []byte("p1")},
				{fin: true, op: ws.OpPong, payload: []byte("ignored")},
				{fin: true, op: ws.OpContinuation, payload: []byte("cd")},
			},
			want: "abcd", binary: true, pongs: []string{"p1"},
		},
		{
			name:   "ping before message",
			frames: []frame{{fin: true, op: ws.OpPing, payload: []byte("x")}, {fin: true, op: ws.OpPing}, text("4m")},
			want:   "4m", pongs: []string{"x", ""},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := rawPeer(t, transport.ServerSide, transport.WebSocketOptions{})
			writeFrames(t, peer, true, tc.frames...)
			data, bin, err := c.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != tc.want || bin != tc.binary || data == nil {
				t.Fatalf("got %q binary=%v, want %q binary=%v", data, bin, tc.want, tc.binary)
			}
			for _, want := range tc.pongs {
				f := readFrame(t, peer)
				if f.Header.OpCode != ws.OpPong || string(f.Payload) != want {
					t.Fatalf("got %v %q, want pong %q", f.Header.OpCode, f.Payload, want)
				}
			}
		})
	}
}

// TestReadViolations: every violation fails ReadMessage with its error
// and is answered with the matching close code.
func TestReadViolations(t *testing.T) {
	long := strings.Repeat("x", testMax)
	for _, tc := range []struct {
		name    string
		deflate bool
		frames  []frame
		err     error
		code    ws.StatusCode
	}{
		{"rsv1 without deflate", false, []frame{{fin: true, rsv: 0x04, op: ws.OpText, payload: []byte("4x")}}, transport.ErrProtocol, ws.StatusProtocolError},
		{"rsv2", true, []frame{{fin: true, rsv: 0x02, op: ws.OpText, payload: []byte("4x")}}, transport.ErrProtocol, ws.StatusProtocolError},
		{"rsv3", false, []frame{{fin: true, rsv: 0x01, op: ws.OpBinary, payload: []byte("x")}}, transport.ErrProtocol, ws.StatusProtocolError},
		{"reserved data opcode", false, []frame{{fin: true, op: 0x3}}, transport.ErrProtocol, ws.StatusProtocolError},
		{"reserved control opcode", false, []frame{{fin: true, op: 0xB}}, transport.ErrProtocol, ws.StatusProtocolError},
		{"fragmented ping", false, []frame{{op: ws.OpPing}}, transport.ErrProtocol, ws.StatusProtocolError},
		{"ping over 125 bytes", false, []frame{{fin: true, op: ws.OpPing, payload: make([]byte, 126)}}, transport.ErrProtocol, ws.StatusProtocolError},
		{"continuation first", false, []frame{{fin: true, op: ws.OpContinuation, payload: []byte("x")}}, transport.ErrProtocol, ws.StatusProtocolError},
		{"new message mid-fragments", false, []frame{{op: ws.OpText, payload: []byte("4a")}, text("4b")}, transport.ErrProtocol, ws.StatusProtocolError},
		{"close with one byte", false, []frame{{fin: true, op: ws.OpClose, payload: []byte{3}}}, transport.ErrProtocol, ws.StatusProtocolError},
		{"close with reserved code", false, []frame{{fin: true, op: ws.OpClose, payload: ws.NewCloseFrameBody(ws.StatusNoStatusRcvd, "")}}, transport.ErrProtocol, ws.StatusProtocolError},
		{"close with invalid reason", false, []frame{{fin: true, op: ws.OpClose, payload: ws.NewCloseFrameBody(ws.StatusNormalClosure, "\xff")}}, transport.ErrProtocol, ws.StatusProtocolError},
		{"message over the limit", false, []frame{text(long + "x")}, transport.ErrMessageTooBig, ws.StatusMessageTooBig},
		{"fragments over the limit", false, []frame{{op: ws.OpText, payload: []byte(long)}, {fin: true, op: ws.OpContinuation, payload: []byte("x")}}, transport.ErrMessageTooBig, ws.StatusMessageTooBig},
		{"invalid utf-8", false, []frame{text("4\xff")}, transport.ErrInvalidUTF8, ws.StatusInvalidFramePayloadData},
		{"truncated utf-8 at the end", false, []frame{{op: ws.OpText, payload: []byte("4\xe2")}, {fin: true, op: ws.OpContinuation, payload: []byte("\x82")}}, transport.ErrInvalidUTF8, ws.StatusInvalidFramePayloadData},
		// permessage-deflate
		{"rsv1 on a continuation", true, []frame{{op: ws.OpText, payload: []byte("4a")}, {fin: true, rsv: 0x04, op: ws.OpContinuation, payload: []byte("b")}}, transport.ErrProtocol, ws.StatusProtocolError},
		{"rsv1 on a ping", true, []frame{{fin: true, rsv: 0x04, op: ws.OpPing}}, transport.ErrProtocol, ws.StatusProtocolError},
		{"corrupt deflate data", true, []frame{{fin: true, rsv: 0x04, op: ws.OpText, payload: []byte{0xff, 0xff, 0xff, 0xff}}}, transport.ErrInvalidCompression, ws.StatusInvalidFramePayloadData},
		{"compressed invalid utf-8", true, []frame{{fin: true, rsv: 0x04, op: ws.OpText, payload: deflate(t, "4\xff\xfe")}}, transport.ErrInvalidUTF8, ws.StatusInvalidFramePayloadData},
		{"compressed over the limit", true, []frame{{fin: true, rsv: 0x04, op: ws.OpText, payload: deflate(t, long+"x")}}, transport.ErrMessageTooBig, ws.StatusMessageTooBig},
		{"compressed data over the limit on the wire", true, []frame{{fin: true, rsv: 0x04, op: ws.OpBinary, payload: make([]byte, 2*testMax)}}, transport.ErrMessageTooBig, ws.StatusMessageTooBig},
		{"compressed then new message mid-fragments", true, []frame{{rsv: 0x04, op: ws.OpText, payload: deflate(t, "4a")}, text("4b")}, transport.ErrProtocol, ws.StatusProtocolError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := rawPeer(t, transport.ServerSide, transport.WebSocketOptions{Deflate: tc.deflate})
			writeFrames(t, peer, true, tc.frames...)
			if _, _, err := c.ReadMessage(); !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			expectClose(t, peer, tc.code)
		})
	}
}

// TestPeerClose: a close frame from the peer comes back as a *CloseError
// and is answered once.
func TestPeerClose(t *testing.T) {
	for _, tc := range []struct {
		name      string
		payload   []byte
		want      transport.CloseError
		replyCode ws.StatusCode
	}{
		{"with code and reason", ws.NewCloseFrameBody(ws.StatusGoingAway, "bye"), transport.CloseError{Code: ws.StatusGoingAway, Reason: "bye"}, ws.StatusGoingAway},
		{"without a body", nil, transport.CloseError{Code: ws.StatusNoStatusRcvd}, ws.StatusNormalClosure},
		{"application code", ws.NewCloseFrameBody(4000, ""), transport.CloseError{Code: 4000}, 4000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := rawPeer(t, transport.ServerSide, transport.WebSocketOptions{})
			writeFrames(t, peer, true, frame{fin: true, op: ws.OpClose, payload: tc.payload})
			_, _, err := c.ReadMessage()
			var ce *transport.CloseError
			if !errors.As(err, &ce) || *ce != tc.want {
				t.Fatalf("err %v, want %v", err, &tc.want)
			}
			expectClose(t, peer, tc.replyCode)
			// The close went out: nothing more is written.
			if err := c.WritePackets(message("late"), codec.V4); !errors.Is(err, net.ErrClosed) {
				t.Errorf("write after close: %v, want net.ErrClosed", err)
			}
			if err := c.WriteClose(ws.StatusNormalClosure, ""); err != nil {
				t.Errorf("second close: %v", err)
			}
			c.Close()
			if n, err := peer.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("after close: read %d, %v, want EOF", n, err)
			}
		})
	}
}

// TestCloseWith sends the code given, once, and closes the connection.
func TestCloseWith(t *testing.T) {
	c, peer := rawPeer(t, transport.ClientSide, transport.WebSocketOptions{})
	if err := c.CloseWith(ws.StatusPolicyViolation); err != nil {
		t.Fatal(err)
	}
	_ = c.CloseWith(ws.StatusGoingAway)
	f := readFrame(t, peer)
	if !f.Header.Masked {
		t.Error("a client's close frame must be masked")
	}
	if code, _ := ws.ParseCloseFrameData(f.Payload); f.Header.OpCode != ws.OpClose || code != ws.StatusPolicyViolation {
		t.Fatalf("got %v code %d, want close 1008", f.Header.OpCode, code)
	}
	if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read %v, want EOF", err)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// deflate compresses s as a permessage-deflate message with gobwas/ws's own
// wsflate (level 9, tail stripped): an independent implementation.
func deflate(t testing.TB, s string) []byte {
	t.Helper()
	z, err := wsflate.DefaultHelper.Compress([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// TestDeflateRoundTrip: with deflate on at both ends, messages under,
// at and over the threshold, text and binary, compressible or not, go
// through intact in both directions.
func TestDeflateRoundTrip(t *testing.T) {
	const threshold = 64
	server, client := wsPair(t, transport.WebSocketOptions{MaxMessage: 1 << 20, Deflate: true, DeflateThreshold: threshold})
	var pkts []codec.Packet
	for _, n := range []int{0, 10, threshold - 2, threshold - 1, threshold, 200, 5000, 300000} {
		pkts = append(pkts,
			codec.Packet{Type: codec.Message, Data: bytes.Repeat([]byte("abc€"), n/6+1)[:n]},
			codec.Packet{Type: codec.Message, Data: bytes.Repeat([]byte{1, 2, 3}, n/3+1)[:n], Binary: true},
			codec.Packet{Type: codec.Message, Data: randomBytes(n), Binary: true},
		)
	}
	for i := range pkts { // text at a cut inside "€" would not be UTF-8
		if !pkts[i].Binary {
			pkts[i].Data = []byte(strings.ToValidUTF8(string(pkts[i].Data), ""))
		}
	}
	for _, dir := range []struct {
		name     string
		from, to *transport.WebSocket
	}{{"client to server", client, server}, {"server to client", server, client}} {
		t.Run(dir.name, func(t *testing.T) {
			errc := make(chan error, 1)
			go func() {
				// Several batches, so frames of one write mix both kinds.
				var err error
				for i := 0; i < len(pkts) && err == nil; i += 5 {
					err = dir.from.WritePackets(pkts[i:min(i+5, len(pkts))], codec.V4)
				}
				errc <- err
			}()
			for i, want := range pkts {
				data, bin, err := dir.to.ReadMessage()
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				got, err := codec.DecodeFrame(data, bin, codec.V4)
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if got.Binary != want.Binary || !bytes.Equal(got.Data, want.Data) {
					t.Fatalf("packet %d: got %v, want %v", i, got, want)
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDeflateWire checks the frames a deflating WebSocket sends against
// gobwas/ws's wsflate: RSV1 set exactly on messages over the threshold
// that compress, each one inflatable on its own (no context takeover).
func TestDeflateWire(t *testing.T) {
	const threshold = 100
	for _, side := range []transport.Side{transport.ServerSide, transport.ClientSide} {
		name := map[transport.Side]string{transport.ServerSide: "server", transport.ClientSide: "client"}[side]
		t.Run(name, func(t *testing.T) {
			c, peer := rawPeer(t, side, transport.WebSocketOptions{Deflate: true, DeflateThreshold: threshold})
			long := strings.Repeat("compress me ", 50)
			noise := randomBytes(500)
			for _, tc := range []struct {
				name       string
				pkt        codec.Packet
				compressed bool
			}{
				{"under the threshold", codec.Packet{Type: codec.Message, Data: []byte(long[:threshold-2])}, false},
				{"at the threshold", codec.Packet{Type: codec.Message, Data: []byte(long[:threshold-1])}, false},
				{"over the threshold", codec.Packet{Type: codec.Message, Data: []byte(long[:threshold])}, true},
				{"long text", codec.Packet{Type: codec.Message, Data: []byte(long)}, true},
				{"the same again", codec.Packet{Type: codec.Message, Data: []byte(long)}, true},
				{"binary", codec.Packet{Type: codec.Message, Data: []byte(long), Binary: true}, true},
				{"incompressible", codec.Packet{Type: codec.Message, Data: noise, Binary: true}, false},
			} {
				if err := c.WritePackets([]codec.Packet{tc.pkt}, codec.V4); err != nil {
					t.Fatal(err)
				}
				f := readFrame(t, peer)
				if f.Header.Masked != (side == transport.ClientSide) {
					t.Errorf("%s: masked=%v", tc.name, f.Header.Masked)
				}
				if f.Header.Rsv1() != tc.compressed {
					t.Fatalf("%s: RSV1=%v, want %v", tc.name, f.Header.Rsv1(), tc.compressed)
				}
				f.Header.Masked = false
				f, err := wsflate.DecompressFrame(f)
				if err != nil {
					t.Fatalf("%s: wsflate: %v", tc.name, err)
				}
				want, _ := codec.AppendFrame(nil, tc.pkt, codec.V4)
				if !bytes.Equal(f.Payload, want) {
					t.Fatalf("%s: inflated %q, want %q", tc.name, f.Payload, want)
				}
			}
		})
	}
}

// TestDeflateRead: compressed messages from gobwas/ws's wsflate, whole and
// fragmented (RSV1 on the first frame only) with control frames between,
// interleaved with plain ones.
func TestDeflateRead(t *testing.T) {
	c, peer := rawPeer(t, transport.ServerSide, transport.WebSocketOptions{Deflate: true})
	long := strings.Repeat("4hello, engine.io ", 200)
	z := deflate(t, long)
	third := len(z) / 3
	writeFrames(t, peer, true,
		frame{fin: true, rsv: 0x04, op: ws.OpText, payload: z},
		text("4plain"),
		frame{rsv: 0x04, op: ws.OpText, payload: z[:third]},
		frame{fin: true, op: ws.OpPing, payload: []byte("mid")},
		frame{op: ws.OpContinuation, payload: z[third : 2*third]},
		frame{op: ws.OpContinuation},
		frame{fin: true, op: ws.OpContinuation, payload: z[2*third:]},
		frame{fin: true, rsv: 0x04, op: ws.OpBinary, payload: deflate(t, "")},
		frame{fin: true, rsv: 0x04, op: ws.OpBinary, payload: deflate(t, "\x00\x01")},
	)
	for i, want := range []struct {
		data   string
		binary bool
	}{{long, false}, {"4plain", false}, {long, false}, {"", true}, {"\x00\x01", true}} {
		data, bin, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if string(data) != want.data || bin != want.binary || data == nil {
			t.Fatalf("message %d: got %d bytes binary=%v, want %d binary=%v", i, len(data), bin, len(want.data), want.binary)
		}
	}
	if f := readFrame(t, peer); f.Header.OpCode != ws.OpPong || string(f.Payload) != "mid" {
		t.Fatalf("got %v %q, want the pong", f.Header.OpCode, f.Payload)
	}
}

// TestDeflateLimit: a compressed message may inflate to exactly
// MaxMessage, not a byte more.
func TestDeflateLimit(t *testing.T) {
	const max = 4096
	for _, tc := range []struct {
		size int
		err  error
	}{{max - 1, nil}, {max, nil}, {max + 1, transport.ErrMessageTooBig}} {
		c, peer := rawPeer(t, transport.ServerSide, transport.WebSocketOptions{Deflate: true, MaxMessage: max})
		writeFrames(t, peer, true, frame{fin: true, rsv: 0x04, op: ws.OpBinary, payload: deflate(t, strings.Repeat("a", tc.size))})
		data, _, err := c.ReadMessage()
		if !errors.Is(err, tc.err) || err == nil && len(data) != tc.size {
			t.Fatalf("size %d: %d bytes, err %v, want %v", tc.size, len(data), err, tc.err)
		}
		if tc.err != nil {
			expectClose(t, peer, ws.StatusMessageTooBig)
		}
	}
}

// TestDeflateBomb: 10 MB of zeros deflated to about 10 KB, against a 1 MB
// limit, fail with ErrMessageTooBig and close 1009 having allocated about
// the limit, not the bomb.
func TestDeflateBomb(t *testing.T) {
	const max, bombSize = 1 << 20, 10 << 20
	z, err := wsflate.DefaultHelper.Compress(make([]byte, bombSize))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bomb: %d bytes inflating to %d", len(z), bombSize)
	c, peer := rawPeer(t, transport.ServerSide, transport.WebSocketOptions{Deflate: true, MaxMessage: max})
	writeFrames(t, peer, true, frame{fin: true, rsv: 0x04, op: ws.OpBinary, payload: z})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err = c.ReadMessage()
	runtime.ReadMemStats(&after)

	if !errors.Is(err, transport.ErrMessageTooBig) {
		t.Fatalf("err %v, want ErrMessageTooBig", err)
	}
	expectClose(t, peer, ws.StatusMessageTooBig)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d bytes reading the bomb", allocated)
	if allocated > 3*max {
		t.Fatalf("reading the bomb allocated %d bytes, want at most %d", allocated, 3*max)
	}
}

// TestDeflateOff: without Deflate nothing is compressed, whatever the
// threshold says.
func TestDeflateOff(t *testing.T) {
	c, peer := rawPeer(t, transport.ServerSide, transport.WebSocketOptions{DeflateThreshold: 1})
	if err := c.WritePackets(message(strings.Repeat("a", 5000)), codec.V4); err != nil {
		t.Fatal(err)
	}
	if f := readFrame(t, peer); f.Header.Rsv != 0 || len(f.Payload) != 5001 {
		t.Fatalf("rsv %d, %d bytes: want a plain 5001-byte frame", f.Header.Rsv, len(f.Payload))
	}
}

// TestDeflateNegotiate runs the offers of real clients through
// DeflateNegotiator.Negotiate, one per upgrade, as ws.HTTPUpgrader calls it
// for each offer in the header.
func TestDeflateNegotiate(t *testing.T) {
	const answer = "permessage-deflate;server_no_context_takeover;client_no_context_takeover"
	for _, tc := range []struct {
		name   string
		header string
		want   []string // the answer to each option; "" declines
	}{
		{"chrome and node ws", "permessage-deflate; client_max_window_bits", []string{answer}},
		{"bare", "permessage-deflate", []string{answer}},
		{"no context takeover asked", "permessage-deflate; server_no_context_takeover; client_no_context_takeover", []string{answer}},
		{"smaller server window", "permessage-deflate; server_max_window_bits=10", []string{""}},
		{"unknown parameter", "permessage-deflate; foo=1", []string{""}},
		{"invalid window", "permessage-deflate; client_max_window_bits=7", []string{""}},
		{"fallback offer", "permessage-deflate; server_max_window_bits=10, permessage-deflate; client_max_window_bits", []string{"", answer}},
		{"first acceptable wins", "permessage-deflate, permessage-deflate", []string{answer, ""}},
		{"other extension", "x-webkit-deflate-frame, permessage-deflate", []string{"", answer}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, ok := httphead.ParseOptions([]byte(tc.header), nil)
			if !ok || len(opts) != len(tc.want) {
				t.Fatalf("parse %q: %v %d options", tc.header, ok, len(opts))
			}
			var n transport.DeflateNegotiator
			accepted := false
			for i, opt := range opts {
				got, err := n.Negotiate(opt)
				if err != nil {
					t.Fatalf("option %d: %v", i, err)
				}
				var b strings.Builder
				if got.Size() > 0 {
					_, _ = httphead.WriteOptions(&b, []httphead.Option{got})
				}
				s := b.String()
				if s != tc.want[i] {
					t.Errorf("option %d: answer %q, want %q", i, s, tc.want[i])
				}
				accepted = accepted || s != ""
			}
			if n.Accepted() != accepted {
				t.Errorf("Accepted() = %v, want %v", n.Accepted(), accepted)
			}
		})
	}
}

func TestDeflateAccepted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header string
		want   bool
		err    error
	}{
		{"none", "", false, nil},
		{"other extension", "x-foo", false, nil},
		{"our answer", "permessage-deflate; server_no_context_takeover; client_no_context_takeover", true, nil},
		{"with a server window", "permessage-deflate; server_no_context_takeover; server_max_window_bits=12", true, nil},
		{"with a full client window", "permessage-deflate; server_no_context_takeover; client_max_window_bits=15", true, nil},
		{"context takeover kept", "permessage-deflate; client_no_context_takeover", false, transport.ErrDeflateResponse},
		{"smaller client window", "permessage-deflate; server_no_context_takeover; client_max_window_bits=10", false, transport.ErrDeflateResponse},
		{"malformed", "permessage-deflate; server_no_context_takeover; bogus", false, transport.ErrDeflateResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, _ := httphead.ParseOptions([]byte(tc.header), nil)
			got, err := transport.DeflateAccepted(opts)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Fatalf("got %v, %v; want %v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// TestDeflateHandshake wires the negotiation into a real upgrade: a server
// with ws.HTTPUpgrader.Negotiate set to a DeflateNegotiator's, a client
// offering DeflateOffer through ws.Dialer, and an echo through both.
func TestDeflateHandshake(t *testing.T) {
	for _, tc := range []struct {
		name               string
		serverOn, clientOn bool
		wantDeflate        bool
	}{
		{"both on", true, true, true},
		{"server off", false, true, false},
		{"client off", true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var neg transport.DeflateNegotiator
				var u ws.HTTPUpgrader
				if tc.serverOn {
					u.Negotiate = neg.Negotiate
				}
				conn, rw, _, err := u.Upgrade(r, w)
				if err != nil {
					done <- err
					return
				}
				c := transport.NewWebSocketWith(conn, rw.Reader, transport.WebSocketOptions{
					Side: transport.ServerSide, MaxMessage: 1 << 20,
					Deflate: neg.Accepted(), DeflateThreshold: 16,
				})
				defer c.Close()
				if neg.Accepted() != tc.wantDeflate {
					done <- fmt.Errorf("server: accepted %v", neg.Accepted())
					return
				}
				for {
					data, bin, err := c.ReadMessage()
					if err != nil {
						var ce *transport.CloseError
						if errors.As(err, &ce) {
							err = nil
						}
						done <- err
						return
					}
					p, _ := codec.DecodeFrame(data, bin, codec.V4)
					if err := c.WritePackets([]codec.Packet{p}, codec.V4); err != nil {
						done <- err
						return
					}
				}
			}))
			defer srv.Close()

			d := ws.Dialer{Timeout: 5 * time.Second}
			if tc.clientOn {
				d.Extensions = []httphead.Option{transport.DeflateOffer()}
			}
			conn, br, hs, err := d.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"))
			if err != nil {
				t.Fatal(err)
			}
			on, err := transport.DeflateAccepted(hs.Extensions)
			if err != nil || on != tc.wantDeflate {
				t.Fatalf("client: accepted %v, %v", on, err)
			}
			c := transport.NewWebSocketWith(conn, br, transport.WebSocketOptions{
				Side: transport.ClientSide, MaxMessage: 1 << 20, Deflate: on, DeflateThreshold: 16,
			})
			for _, msg := range []string{"short", strings.Repeat("long and repetitive ", 100), "", strings.Repeat("€", 1000)} {
				if err := c.WritePackets(message(msg), codec.V4); err != nil {
					t.Fatal(err)
				}
				data, _, err := c.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				if string(data) != "4"+msg {
					t.Fatalf("echo of %d bytes: got %d", len(msg)+1, len(data))
				}
			}
			_ = c.WriteClose(ws.StatusNormalClosure, "")
			if _, _, err := c.ReadMessage(); err == nil {
				t.Fatal("read after close succeeded")
			}
			c.Close()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBase64Frames: with Base64 on, protocol 3 binary packets leave as
// base64 text frames (compressed over the threshold when deflate is on),
// text packets as before, and protocol 4 is untouched; with it off, V3
// binary packets use binary frames.
func TestBase64Frames(t *testing.T) {
	const threshold = 100
	long := bytes.Repeat([]byte{1, 2, 3}, 200)
	tests := []struct {
		name       string
		o          transport.WebSocketOptions
		v          codec.Version
		pkt        codec.Packet
		op         ws.OpCode
		wire       string
		compressed bool
	}{
		{"v3 binary", transport.WebSocketOptions{Base64: true}, codec.V3,
			codec.Packet{Type: codec.Message, Data: []byte{1, 2, 3}, Binary: true}, ws.OpText, "b4AQID", false},
		{"v3 binary ping", transport.WebSocketOptions{Base64: true}, codec.V3,
			codec.Packet{Type: codec.Ping, Data: []byte{9}, Binary: true}, ws.OpText, "b2CQ==", false},
		{"v3 text", transport.WebSocketOptions{Base64: true}, codec.V3,
			codec.Packet{Type: codec.Message, Data: []byte("hi")}, ws.OpText, "4hi", false},
		{"v3 binary deflated", transport.WebSocketOptions{Base64: true, Deflate: true, DeflateThreshold: threshold}, codec.V3,
			codec.Packet{Type: codec.Message, Data: long, Binary: true}, ws.OpText,
			string(codec.AppendBase64Frame(nil, codec.Packet{Type: codec.Message, Data: long, Binary: true})), true},
		{"v3 binary without Base64", transport.WebSocketOptions{}, codec.V3,
			codec.Packet{Type: codec.Message, Data: []byte{1, 2, 3}, Binary: true}, ws.OpBinary, "\x04\x01\x02\x03", false},
		{"v4 binary with Base64", transport.WebSocketOptions{Base64: true}, codec.V4,
			codec.Packet{Type: codec.Message, Data: []byte{1, 2, 3}, Binary: true}, ws.OpBinary, "\x01\x02\x03", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := rawPeer(t, transport.ServerSide, tc.o)
			// A text packet first, so that frames of one write mix both kinds.
			pkts := []codec.Packet{{Type: codec.Noop}, tc.pkt}
			if err := c.WritePackets(pkts, tc.v); err != nil {
				t.Fatal(err)
			}
			if f := readFrame(t, peer); f.Header.OpCode != ws.OpText || string(f.Payload) != "6" {
				t.Fatalf("first frame %v %q, want text \"6\"", f.Header.OpCode, f.Payload)
			}
			f := readFrame(t, peer)
			if f.Header.OpCode != tc.op || f.Header.Rsv1() != tc.compressed {
				t.Fatalf("frame %v RSV1=%v, want %v RSV1=%v", f.Header.OpCode, f.Header.Rsv1(), tc.op, tc.compressed)
			}
			if tc.compressed {
				var err error
				if f, err = wsflate.DecompressFrame(f); err != nil {
					t.Fatalf("wsflate: %v", err)
				}
			}
			if string(f.Payload) != tc.wire {
				t.Fatalf("frame payload %q, want %q", f.Payload, tc.wire)
			}
		})
	}
}
