package transport_test

import (
	"bufio"
	"context"
	bin "encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chanio/chanio/internal/stall"
	"github.com/chanio/chanio/transport"
	"github.com/gobwas/ws"
)

// Tests of what a hostile peer can make a connection hold: lengths it
// declares and never sends, a length no frame may have, and the
// server-wide budget of bytes in flight.

// stallBound is the most a stalled declaration may cost per connection
// (the bound): far below the megabyte declared.
const stallBound = 64 << 10

// checkStallCost waits until conns goroutines are blocked reading in fn,
// and fails the test if the heap grew by stallBound or more per
// connection since h0.
func checkStallCost(t *testing.T, fn string, conns int, h0 uint64, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := stall.Wait(ctx, stall.IOWait, fn, conns); err != nil {
		t.Fatal(err)
	}
	growth := int64(stall.HeapInuse()) - int64(h0)
	per := growth / int64(conns)
	t.Logf("%d connections stalled after %s: heap %+d bytes, %d per connection (bound %d)", conns, what, growth, per, stallBound)
	if per >= stallBound {
		t.Errorf("a stall after %s costs %d bytes per connection, want under %d", what, per, stallBound)
	}
}

// stallHeader is a frame header declaring n bytes that never come: masked
// (as a client sends) unless the peer is a server.
func stallHeader(fin bool, rsv byte, op ws.OpCode, n int64, masked bool) []byte {
	h := ws.Header{Fin: fin, Rsv: rsv, OpCode: op, Length: n, Masked: masked}
	if masked {
		h.Mask = [4]byte{1, 2, 3, 4}
	}
	var b strings.Builder
	if err := ws.WriteHeader(&b, h); err != nil {
		panic(err)
	}
	return []byte(b.String())
}

// TestStalledFrameHoldsNothing: connections whose peer sends a frame
// header declaring 999,000 bytes, and nothing more, while ReadMessage
// waits for the payload. Each may cost at most stallBound of heap; it used
// to cost the megabyte declared (make([]byte, h.Length)). On both sides,
// for a first frame, a continuation and a compressed message.
func TestStalledFrameHoldsNothing(t *testing.T) {
	const declared = 999_000
	conns := 100
	if testing.Short() {
		conns = 20
	}
	for _, tc := range []struct {
		name    string
		side    transport.Side
		deflate bool
		before  []frame // sent whole before the stalled header
		fin     bool
		rsv     byte
		op      ws.OpCode
	}{
		{name: "server side", side: transport.ServerSide, fin: true, op: ws.OpText},
		{name: "client side", side: transport.ClientSide, fin: true, op: ws.OpBinary},
		{name: "continuation", side: transport.ServerSide, before: []frame{{op: ws.OpText, payload: []byte("4first")}}, fin: true, op: ws.OpContinuation},
		{name: "compressed", side: transport.ServerSide, deflate: true, fin: true, rsv: 0x04, op: ws.OpText},
		{name: "compressed client side", side: transport.ClientSide, deflate: true, fin: false, rsv: 0x04, op: ws.OpBinary},
	} {
		t.Run(tc.name, func(t *testing.T) {
			masked := tc.side == transport.ServerSide
			type pair struct {
				c    *transport.WebSocket
				peer net.Conn
			}
			pairs := make([]pair, conns)
			for i := range pairs {
				pairs[i].c, pairs[i].peer = rawPeer(t, tc.side, transport.WebSocketOptions{MaxMessage: 1 << 20, Deflate: tc.deflate})
			}
			h0 := stall.HeapInuse()
			var wg sync.WaitGroup
			errs := make(chan error, conns)
			for _, p := range pairs {
				writeFrames(t, p.peer, masked, tc.before...)
				if _, err := p.peer.Write(stallHeader(tc.fin, tc.rsv, tc.op, declared, masked)); err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _, err := p.c.ReadMessage()
					errs <- err
				}()
			}
			checkStallCost(t, "transport.(*WebSocket).ReadMessage", conns, h0, "a frame header declaring 999,000 bytes")
			for _, p := range pairs {
				_ = p.peer.Close()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err == nil {
					t.Error("ReadMessage returned a message from a stalled frame")
				}
			}
		})
	}
}

// TestFrameLengthTopBit: a 64-bit payload length with its most significant
// bit set is a protocol error (RFC 6455 section 5.2): close code 1002,
// not the 1000 of an ordinary end.
func TestFrameLengthTopBit(t *testing.T) {
	for _, side := range []transport.Side{transport.ServerSide, transport.ClientSide} {
		t.Run(fmt.Sprint("side ", side), func(t *testing.T) {
			c, peer := rawPeer(t, side, transport.WebSocketOptions{})
			hdr := []byte{0x82, 127}
			hdr = bin.BigEndian.AppendUint64(hdr, 1<<63|5)
			if side == transport.ServerSide {
				hdr[1] |= 0x80
				hdr = append(hdr, 1, 2, 3, 4)
			}
			if _, err := peer.Write(hdr); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.ReadMessage(); !errors.Is(err, transport.ErrProtocol) {
				t.Fatalf("err %v, want ErrProtocol", err)
			}
			expectClose(t, peer, ws.StatusProtocolError)
		})
	}
}

// TestReadBudget: connections sharing a budget hold no more than it
// together. One connection holds most of it with a message half sent; a
// message on another that needs more fails with ErrReadBudget and close
// code 1013; once the first message is complete, its bytes are given back.
func TestReadBudget(t *testing.T) {
	const limit = 64 << 10
	budget := transport.NewReadBudget(limit)
	o := transport.WebSocketOptions{MaxMessage: 1 << 20, Budget: budget}
	a, peerA := rawPeer(t, transport.ServerSide, o)
	b, peerB := rawPeer(t, transport.ServerSide, o)

	big := strings.Repeat("a", 56<<10)
	frameA := ws.MaskFrameInPlace(ws.NewBinaryFrame([]byte(big)))
	var wire strings.Builder
	_ = ws.WriteFrame(&wire, frameA)
	half := len(wire.String()) - 8<<10
	if _, err := io.WriteString(peerA, wire.String()[:half]); err != nil {
		t.Fatal(err)
	}
	type result struct {
		data []byte
		err  error
	}
	gotA := make(chan result, 1)
	go func() {
		data, _, err := a.ReadMessage()
		gotA <- result{data, err}
	}()
	// The message grows to its exact 56 KiB once half of it is in. The
	// budget has no event to wait on: look at it until it shows.
	deadline := time.Now().Add(10 * time.Second)
	for budget.InUse() != 56<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("budget in use %d, want %d", budget.InUse(), 56<<10)
		}
		time.Sleep(time.Millisecond)
	}
	writeFrames(t, peerB, true, binary(strings.Repeat("b", 16<<10)))
	if _, _, err := b.ReadMessage(); !errors.Is(err, transport.ErrReadBudget) {
		t.Fatalf("second message: %v, want ErrReadBudget", err)
	}
	expectClose(t, peerB, 1013)
	if _, err := io.WriteString(peerA, wire.String()[half:]); err != nil {
		t.Fatal(err)
	}
	r := <-gotA
	if r.err != nil || string(r.data) != big {
		t.Fatalf("first message: %d bytes, %v", len(r.data), r.err)
	}
	if n := budget.InUse(); n != 0 {
		t.Fatalf("budget in use %d after the message was handed over", n)
	}
	// Small messages fit again.
	writeFrames(t, peerB, true, binary("x"))
	writeFrames(t, peerA, true, binary(strings.Repeat("c", 60<<10)))
	if data, _, err := a.ReadMessage(); err != nil || len(data) != 60<<10 {
		t.Fatalf("a message within the budget: %d bytes, %v", len(data), err)
	}
}

// TestStalledBodyHoldsNothing: POSTs that declare a Content-Length of a
// megabyte and send no body, while ReadBody waits. Each may cost at most
// stallBound of heap, the HTTP server's own connection included; ReadBody
// used to allocate the megabyte declared.
func TestStalledBodyHoldsNothing(t *testing.T) {
	const declared = 1_000_000
	conns := 100
	if testing.Short() {
		conns = 20
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := transport.ReadBody(w, r, 2*declared, nil); err == nil {
			t.Error("ReadBody returned a body that never came")
		}
	}))
	defer srv.Close()
	h0 := stall.HeapInuse()
	clients := make([]net.Conn, conns)
	for i := range clients {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", declared)
	}
	checkStallCost(t, "transport.ReadBody", conns, h0, "a Content-Length of 1,000,000 (the HTTP server's connection included)")
	for _, c := range clients {
		_ = c.Close()
	}
}

// TestReadBody: bodies with and without a Content-Length, at and over the
// limit, and a budget that refuses.
func TestReadBody(t *testing.T) {
	body := strings.Repeat("4hello\x1e", 20000) // 140 KB: grows past the pooled sizes
	for _, tc := range []struct {
		name    string
		body    string
		chunked bool
		max     int64
		budget  int64
		want    error
	}{
		{name: "empty", body: "", max: 100},
		{name: "small", body: "4hi", max: 100},
		{name: "large", body: body, max: 1 << 20},
		{name: "large chunked", body: body, chunked: true, max: 1 << 20},
		{name: "at the limit", body: body, max: int64(len(body))},
		{name: "at the limit chunked", body: body, chunked: true, max: int64(len(body))},
		{name: "over the limit", body: body, max: int64(len(body)) - 1, want: transport.ErrBodyTooLarge},
		{name: "over the limit chunked", body: body, chunked: true, max: int64(len(body)) - 1, want: transport.ErrBodyTooLarge},
		{name: "over the budget", body: body, max: 1 << 20, budget: 64 << 10, want: transport.ErrReadBudget},
	} {
		t.Run(tc.name, func(t *testing.T) {
			budget := transport.NewReadBudget(tc.budget)
			done := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(done)
				got, err := transport.ReadBody(w, r, tc.max, budget)
				switch {
				case !errors.Is(err, tc.want):
					t.Errorf("err %v, want %v", err, tc.want)
				case err == nil && (string(got) != tc.body || got == nil):
					t.Errorf("got %d bytes, want %d", len(got), len(tc.body))
				}
				if n := budget.InUse(); n != 0 {
					t.Errorf("budget in use %d after ReadBody", n)
				}
			}))
			defer srv.Close()
			var r io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				r = bufio.NewReader(r) // hides the length: sent chunked
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL, r)
			resp, err := srv.Client().Do(req)
			if err == nil {
				resp.Body.Close()
			}
			<-done
		})
	}
}
