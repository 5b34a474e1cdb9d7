package eio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// broadcastPeer is a session of a broadcast test: next returns the next
// packet it receives.
type broadcastPeer struct {
	name string
	sid  string
	next func(t *testing.T) codec.Packet
	// compressed, for a WebSocket, says whether the last frame next read
	// was compressed.
	compressed *bool
}

// broadcastPeers opens one session of each kind a broadcast must reach: a
// WebSocket and a polling session of each protocol, and a WebSocket with
// permessage-deflate.
func broadcastPeers(t *testing.T, srv *Server, base string) []broadcastPeer {
	t.Helper()
	var peers []broadcastPeer
	for _, v := range []codec.Version{codec.V4, codec.V3} {
		eio := "EIO=" + string('0'+byte(v))
		// Polling: each next is a GET, each answer one packet.
		status, body := httpDo(t, http.MethodGet, base+"/engine.io/?"+eio+"&transport=polling", "")
		if status != http.StatusOK {
			t.Fatalf("%s polling handshake: %d %s", eio, status, body)
		}
		if v == codec.V3 {
			_, body, _ = strings.Cut(body, ":")
		}
		sid := parseOpen(t, body).SID
		url := base + "/engine.io/?" + eio + "&transport=polling&sid=" + sid
		var polled []codec.Packet
		peers = append(peers, broadcastPeer{name: "polling " + eio, sid: sid, next: func(t *testing.T) codec.Packet {
			t.Helper()
			for len(polled) == 0 {
				status, body := httpDo(t, http.MethodGet, url, "")
				pkts, err := codec.DecodePayload([]byte(body), v, codec.Limits{}, nil)
				if v == codec.V3 && len(body) > 0 && body[0] <= 1 {
					// A binary payload, as protocol 3 clients without b64
					// get when a packet is binary.
					pkts, err = codec.DecodeBinaryPayload([]byte(body), codec.Limits{}, nil)
				}
				if status != http.StatusOK || err != nil {
					t.Fatalf("%s poll: %d %q %v", eio, status, body, err)
				}
				polled = pkts
			}
			p := polled[0]
			polled = polled[1:]
			return p
		}})
		// WebSocket, plain and, on protocol 4, compressed.
		for _, deflate := range []bool{false, true} {
			if deflate && v == codec.V3 {
				continue
			}
			conn := dialBroadcastWS(t, base+"/engine.io/?"+eio+"&transport=websocket", deflate)
			name := "websocket " + eio
			if deflate {
				name += " permessage-deflate"
			}
			p := broadcastPeer{name: name, compressed: new(bool)}
			p.next = func(t *testing.T) codec.Packet {
				t.Helper()
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				for {
					data, op, compressed, err := readServerMessage(conn)
					*p.compressed = compressed
					if err != nil {
						t.Fatalf("%s read: %v", name, err)
					}
					pkt, err := codec.DecodeFrame(data, op == ws.OpBinary, v)
					if err != nil {
						t.Fatalf("%s frame %q: %v", name, data, err)
					}
					if pkt.Type != codec.Ping { // a protocol 3 session is not pinged; 4 may be
						return pkt
					}
				}
			}
			open := p.next(t)
			p.sid = parseOpen(t, "0"+string(open.Data)).SID
			peers = append(peers, p)
		}
	}
	// One connect event per session, in any order: each session's own
	// goroutine hands it over, and a client may have its open packet
	// before its session's event is out.
	want := make(map[string]bool, len(peers))
	for _, p := range peers {
		want[p.sid] = true
	}
	for range peers {
		ev := expectEvent(t, srv, EventConnect, "")
		if !want[ev.SID] {
			t.Fatalf("connect of %q: not one of the sessions, or twice", ev.SID)
		}
		delete(want, ev.SID)
	}
	return peers
}

// expect reads want from p, checking each packet, and that a WebSocket
// peer got it compressed exactly when it negotiated permessage-deflate and
// the data passes the tests' compression threshold (64 bytes).
func (p broadcastPeer) expect(t *testing.T, want []codec.Packet) {
	t.Helper()
	deflated := strings.HasSuffix(p.name, "permessage-deflate")
	for i, w := range want {
		got := p.next(t)
		if got.Type != w.Type || got.Binary != w.Binary || !bytes.Equal(got.Data, w.Data) {
			t.Fatalf("%s: packet %d is %v, want %v", p.name, i, got, w)
		}
		if p.compressed != nil && *p.compressed != (deflated && len(w.Data) > 64) {
			t.Errorf("%s: packet %d compressed=%v", p.name, i, *p.compressed)
		}
	}
}

// dialBroadcastWS opens a WebSocket session at url (http://...), offering
// permessage-deflate when deflate is set.
func dialBroadcastWS(t *testing.T, url string, deflate bool) net.Conn {
	t.Helper()
	d := ws.Dialer{}
	if deflate {
		d.Extensions = []httphead.Option{wsflate.DefaultParameters.Option()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, br, _, err := d.Dial(ctx, "ws"+strings.TrimPrefix(url, "http"))
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if br != nil {
		conn = &bufferedConn{Conn: conn, r: io.MultiReader(br, conn)}
	}
	return conn
}

// readServerMessage reads one unfragmented data frame from a server,
// inflating it when RSV1 says it is compressed.
func readServerMessage(conn net.Conn) (data []byte, op ws.OpCode, compressed bool, err error) {
	for {
		h, err := ws.ReadHeader(conn)
		if err != nil {
			return nil, 0, false, err
		}
		if h.Length > 1<<20 {
			return nil, 0, false, errors.New("frame over 1 MiB")
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(conn, payload); err != nil {
			return nil, 0, false, err
		}
		if h.OpCode.IsControl() {
			continue
		}
		if h.Rsv&0x04 != 0 {
			data, err := wsflate.DefaultHelper.Decompress(payload)
			return data, h.OpCode, true, err
		}
		return payload, h.OpCode, false, nil
	}
}

// TestBroadcast: Broadcast and BroadcastBinary reach every session, on
// either transport and protocol, compressed where the session negotiated
// permessage-deflate, once each and in order with the sessions' own
// messages; a filter leaves sessions out; the caller may reuse its buffer
// at once.
func TestBroadcast(t *testing.T) {
	srv, base := testServer(t, &Options{AllowEIO3: true, WebSocketCompression: true, CompressionThreshold: 64})
	peers := broadcastPeers(t, srv, base)
	text := []byte(strings.Repeat("hello é ", 20)) // over the compression threshold
	binary := bytes.Repeat([]byte{0, 1, 0x1e, 255}, 50)
	left := peers[len(peers)-1].sid
	for _, p := range peers {
		if err := srv.Send(p.sid, []byte("before")); err != nil {
			t.Fatal(err)
		}
	}
	n, err := srv.Broadcast(text, func(sid string) bool { return sid != left })
	if err != nil || n != len(peers)-1 {
		t.Fatalf("Broadcast: %d, %v; want %d sessions", n, err, len(peers)-1)
	}
	copy(text, "HELLO") // the caller's buffer is the caller's again
	if n, err := srv.BroadcastBinary(binary, nil); err != nil || n != len(peers) {
		t.Fatalf("BroadcastBinary: %d, %v; want %d sessions", n, err, len(peers))
	}
	for _, p := range peers {
		if err := srv.Send(p.sid, []byte("after")); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range peers {
		want := []codec.Packet{
			{Type: codec.Message, Data: []byte("before")},
			{Type: codec.Message, Data: []byte(strings.Repeat("hello é ", 20))},
			{Type: codec.Message, Data: binary, Binary: true},
			{Type: codec.Message, Data: []byte("after")},
		}
		if p.sid == left {
			want = append(want[:1], want[2:]...)
		}
		p.expect(t, want)
	}
}

// TestBroadcastRefusals: text that is not UTF-8 is refused before anything
// is queued; a session whose queue overflows is closed as a slow consumer
// without failing the broadcast for the others; after Close, Broadcast
// says the server is closed.
func TestBroadcastRefusals(t *testing.T) {
	srv, base := testServer(t, &Options{MaxQueueBytes: 1000})
	stuck := pollOpen(t, base) // never polls: its queue only grows
	expectEvent(t, srv, EventConnect, stuck)
	p := dialWS(t, base, "")
	live := p.open().SID
	expectEvent(t, srv, EventConnect, live)

	if n, err := srv.Broadcast([]byte("bad\xff"), nil); !errors.Is(err, ErrInvalidUTF8) || n != 0 {
		t.Fatalf("Broadcast of invalid UTF-8: %d, %v", n, err)
	}
	big := bytes.Repeat([]byte("x"), 600)
	if n, err := srv.Broadcast(big, nil); err != nil || n != 2 {
		t.Fatalf("first Broadcast: %d, %v; want both sessions", n, err)
	}
	p.expect("4" + string(big)) // nothing came before it
	if n, err := srv.Broadcast(big, nil); err != nil || n != 1 {
		t.Fatalf("second Broadcast: %d, %v; want the live session only", n, err)
	}
	p.expect("4" + string(big))
	if ev := expectEvent(t, srv, EventDisconnect, stuck); ev.Reason != ReasonSlowConsumer {
		t.Fatalf("the stuck session ended with %v, want slow consumer", ev.Reason)
	}
	_ = srv.Close()
	if _, err := srv.Broadcast([]byte("late"), nil); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Broadcast after Close: %v, want ErrServerClosed", err)
	}
}

// TestBroadcastAllocations: a broadcast to many WebSocket sessions,
// delivered to all of them, allocates once in the whole process: the
// shared encoding, and nothing per session. The peers read into a reused
// buffer, so that they allocate nothing either.
func TestBroadcastAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers, which then allocate")
	}
	srv, base, hooks := hookedServer(t, nil)
	const sessions = 100
	msg := []byte("hello")
	frame := len(msg) + 3 // a 2-byte header, the type digit, the text
	var received atomic.Int64
	target := atomic.Int64{}
	all := make(chan struct{}, 1)
	sids := make([]string, sessions)
	for i := range sessions {
		p := dialWS(t, base, "")
		sids[i] = p.open().SID
		expectEvent(t, srv, EventConnect, sids[i])
		go func() {
			buf := make([]byte, frame)
			for {
				if _, err := io.ReadFull(p.conn, buf); err != nil {
					return // the connection closed at cleanup
				}
				if received.Add(1) == target.Load() {
					all <- struct{}{}
				}
			}
		}()
	}
	// One deadline for the whole test: a timer per broadcast would be
	// allocations of the test's own.
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	broadcast := func() {
		target.Add(sessions)
		if n, err := srv.Broadcast(msg, nil); err != nil || n != sessions {
			t.Fatalf("Broadcast: %d, %v", n, err)
		}
		select {
		case <-all:
		case <-deadline.C:
			t.Fatalf("%d of %d deliveries", received.Load(), target.Load())
		}
	}
	// Let every reader park and every session trim once (a trimmed
	// session makes its queue again on its next message), then warm up.
	if srv.poller != nil { // else nothing parks, nothing trims
		for _, sid := range sids {
			hooks.trimmed.wait(t, "trimmed", sid, 1)
		}
	}
	for range 5 {
		broadcast()
	}
	if n := testing.AllocsPerRun(50, broadcast); n > 1 {
		t.Fatalf("%v allocations per broadcast to %d sessions, want at most 1", n, sessions)
	}
}

// TestSendPrepared: a message prepared once reaches each session it is
// sent to, on every transport and protocol, compressed where the session
// negotiated it, in order with the session's other messages; a foreign or
// nil message, an unknown sid and text that is not UTF-8 are refused.
func TestSendPrepared(t *testing.T) {
	srv, base := testServer(t, &Options{AllowEIO3: true, WebSocketCompression: true, CompressionThreshold: 64})
	peers := broadcastPeers(t, srv, base)
	text := []byte(strings.Repeat("hello é ", 20)) // over the compression threshold
	binary := bytes.Repeat([]byte{0, 1, 0x1e, 255}, 50)
	mText, err := srv.Prepare(text)
	if err != nil {
		t.Fatal(err)
	}
	copy(text, "HELLO") // the caller's buffer is the caller's again
	mBinary := srv.PrepareBinary(binary)
	skipped := peers[0].sid
	for _, p := range peers {
		if err := srv.Send(p.sid, []byte("before")); err != nil {
			t.Fatal(err)
		}
		if p.sid != skipped {
			if err := srv.SendPrepared(p.sid, mText); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 { // the same message, twice
			if err := srv.SendPrepared(p.sid, mBinary); err != nil {
				t.Fatal(err)
			}
		}
		if err := srv.Send(p.sid, []byte("after")); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range peers {
		want := []codec.Packet{
			{Type: codec.Message, Data: []byte("before")},
			{Type: codec.Message, Data: []byte(strings.Repeat("hello é ", 20))},
			{Type: codec.Message, Data: binary, Binary: true},
			{Type: codec.Message, Data: binary, Binary: true},
			{Type: codec.Message, Data: []byte("after")},
		}
		if p.sid == skipped {
			want = append(want[:1], want[2:]...)
		}
		p.expect(t, want)
	}

	if _, err := srv.Prepare([]byte("bad\xff")); !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("Prepare of invalid UTF-8: %v", err)
	}
	other := NewServer(nil)
	defer other.Close()
	foreign, err := other.Prepare([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Prepared{foreign, nil} {
		if err := srv.SendPrepared(peers[0].sid, m); !errors.Is(err, ErrForeignPrepared) {
			t.Fatalf("SendPrepared of %v: %v, want ErrForeignPrepared", m, err)
		}
	}
	if err := srv.SendPrepared("nope", mText); !errors.Is(err, ErrUnknownSession) {
		t.Fatalf("SendPrepared to an unknown sid: %v", err)
	}
	_ = srv.Close()
	if err := srv.SendPrepared(peers[0].sid, mText); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("SendPrepared after Close: %v, want ErrServerClosed", err)
	}
}
