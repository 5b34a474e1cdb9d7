//go:build linux

package transport

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chanio/chanio/actor"
	"github.com/chanio/chanio/codec"
	"github.com/gobwas/ws"
)

// recordingReceiver writes down what a [Readers] reader hands it, in
// order, and by which way: TryReceive (the poller's goroutine) or Receive
// (a reading goroutine). refuse makes its first TryReceive calls say the
// endpoint is behind.
type recordingReceiver struct {
	mu      sync.Mutex
	got     []string
	quick   int // packets taken by TryReceive
	slow    int // packets taken by Receive
	refuse  int
	idle    chan struct{} // a reader parked
	ended   chan struct{}
	endErr  error
	endOnce sync.Once
}

func newRecordingReceiver() *recordingReceiver {
	return &recordingReceiver{idle: make(chan struct{}, 16), ended: make(chan struct{})}
}

func packetString(p codec.Packet) string {
	return fmt.Sprintf("%v/%v/%q", p.Type, p.Binary, p.Data)
}

func (r *recordingReceiver) Receive(_ Conn, p codec.Packet) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, packetString(p))
	r.slow++
	return nil
}

func (r *recordingReceiver) TryReceive(_ Conn, p codec.Packet) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse > 0 {
		r.refuse--
		return false, nil
	}
	r.got = append(r.got, packetString(p))
	r.quick++
	return true, nil
}

func (r *recordingReceiver) End(_ Conn, err error) {
	r.endOnce.Do(func() {
		r.endErr = err
		close(r.ended)
	})
}
func (r *recordingReceiver) Ready(Conn, bool) {}
func (r *recordingReceiver) Idle(Conn) {
	select {
	case r.idle <- struct{}{}:
	default:
	}
}

// maskedFrame is a frame as a client sends it.
func maskedFrame(fin bool, op ws.OpCode, payload string) []byte {
	f := ws.NewFrame(op, fin, []byte(payload))
	return ws.MustCompileFrame(ws.MaskFrameInPlace(f))
}

func frames(fs ...[]byte) []byte {
	var b []byte
	for _, f := range fs {
		b = append(b, f...)
	}
	return b
}

// readOutcome is what reading a connection came to: the packets, the end,
// and every byte the server wrote back (pongs, close frames).
type readOutcome struct {
	packets []string
	end     string
	back    []byte
}

// readAlone reads what the client sends with ReadPacket on one goroutine,
// never parked: the reference the parked path must agree with.
func readAlone(t *testing.T, chunks [][]byte, maxMessage int64) readOutcome {
	t.Helper()
	cc, sc := tcpPair(t)
	server := NewWebSocket(sc, nil, ServerSide, maxMessage, 0)
	back := make(chan []byte, 1)
	go func() {
		for _, c := range chunks {
			if _, err := cc.Write(c); err != nil {
				break
			}
		}
		_ = cc.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(cc)
		back <- b
	}()
	var out readOutcome
	for {
		p, err := server.ReadPacket()
		if err != nil {
			out.end = err.Error()
			break
		}
		out.packets = append(out.packets, packetString(p))
	}
	_ = server.Close()
	out.back = <-back
	return out
}

// startParked reads server with [Readers] on p into r, as a server does,
// and returns once the reader has parked the quiet connection (idle).
func startParked(t *testing.T, p *Poller, server *WebSocket, r Receiver, idle <-chan struct{}) *actor.Group {
	t.Helper()
	g := actor.NewGroup(nil)
	rs := Readers{Group: g, Poller: p, Quiet: time.Millisecond}
	if err := rs.Read(server, r); err != nil {
		t.Fatal(err)
	}
	select {
	case <-idle:
	case <-time.After(10 * time.Second):
		t.Fatal("the reader never parked the quiet connection")
	}
	return g
}

// endParked waits for reading to end, then closes server and waits for
// the readers' goroutines.
func endParked(t *testing.T, rec *recordingReceiver, server *WebSocket, g *actor.Group) {
	t.Helper()
	select {
	case <-rec.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("reading never ended")
	}
	_ = server.Close()
	g.Seal()
	g.Wait()
}

// readWhileParked sends chunks, back to back, to a connection whose
// reader has parked it, and reads it with [Readers] as a server does.
func readWhileParked(t *testing.T, p *Poller, chunks [][]byte, maxMessage int64, refuse int) (readOutcome, *recordingReceiver) {
	t.Helper()
	cc, sc := tcpPair(t)
	server := NewWebSocket(sc, nil, ServerSide, maxMessage, 0)
	rec := newRecordingReceiver()
	rec.refuse = refuse
	g := startParked(t, p, server, rec, rec.idle)
	for _, c := range chunks {
		if _, err := cc.Write(c); err != nil {
			break
		}
	}
	_ = cc.(*net.TCPConn).CloseWrite()
	endParked(t, rec, server, g)
	back, _ := io.ReadAll(cc)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := readOutcome{packets: rec.got, back: back}
	if rec.endErr != nil {
		out.end = rec.endErr.Error()
	}
	return out, rec
}

// TestParkedReadAgreesWithReader: what a parked connection receives is
// read on the poller's goroutine when it is whole short messages, and by a
// reading goroutine otherwise; either way the packets, their order, the
// end of reading and what the server writes back (pongs, close frames with
// their status) are exactly those of a plain ReadPacket loop on the same
// bytes. quick says how many packets at least must have come the quick way,
// so that the test also shows the poller's path is taken.
func TestParkedReadAgreesWithReader(t *testing.T) {
	p := runPoller(t)
	text := func(s string) []byte { return maskedFrame(true, ws.OpText, s) }
	cases := []struct {
		name       string
		chunks     [][]byte
		maxMessage int64
		refuse     int
		quick      int
	}{
		{name: "one message", chunks: [][]byte{text("4hello")}, quick: 1},
		{name: "two in one write", chunks: [][]byte{frames(text("4one"), text("4two"))}, quick: 2},
		{name: "binary", chunks: [][]byte{maskedFrame(true, ws.OpBinary, "\x00\x01\x02")}, quick: 1},
		{name: "empty text", chunks: [][]byte{text("")}},
		{name: "ping packet", chunks: [][]byte{text("2probe"), text("3")}, quick: 2},
		{name: "medium length", chunks: [][]byte{text("4" + string(make([]byte, 300)))}, quick: 1},
		{name: "split frame", chunks: [][]byte{text("4split")[:4], text("4split")[4:]}},
		{name: "websocket ping then message", chunks: [][]byte{frames(maskedFrame(true, ws.OpPing, "p"), text("4after"))}},
		{name: "fragmented", chunks: [][]byte{frames(maskedFrame(false, ws.OpText, "4fr"), maskedFrame(true, ws.OpContinuation, "ag"))}},
		{name: "message then fragment", chunks: [][]byte{frames(text("4a"), maskedFrame(false, ws.OpText, "4b"), maskedFrame(true, ws.OpContinuation, "c"))}, quick: 1},
		{name: "invalid utf-8", chunks: [][]byte{frames(text("4ok"), text("4\xff\xfe"))}, quick: 1},
		{name: "unmasked", chunks: [][]byte{ws.MustCompileFrame(ws.NewTextFrame([]byte("4bare")))}},
		{name: "too big", chunks: [][]byte{frames(text("4small"), text("4"+string(make([]byte, 100))))}, maxMessage: 64, quick: 1},
		{name: "not a packet", chunks: [][]byte{frames(text("4fine"), text("9what"))}, quick: 1},
		{name: "reserved bits", chunks: [][]byte{func() []byte {
			f := ws.NewFrame(ws.OpText, true, []byte("4rsv"))
			f.Header.Rsv = 0x2
			return ws.MustCompileFrame(ws.MaskFrameInPlace(f))
		}()}},
		{name: "close frame", chunks: [][]byte{frames(text("4bye"), maskedFrame(true, ws.OpClose, "\x03\xe8"))}, quick: 1},
		{name: "endpoint behind", chunks: [][]byte{frames(text("4held"), text("4next"))}, refuse: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			maxMessage := tc.maxMessage
			if maxMessage == 0 {
				maxMessage = 1 << 20
			}
			want := readAlone(t, tc.chunks, maxMessage)
			got, rec := readWhileParked(t, p, tc.chunks, maxMessage, tc.refuse)
			if fmt.Sprint(got.packets) != fmt.Sprint(want.packets) {
				t.Errorf("packets %v, read alone %v", got.packets, want.packets)
			}
			if got.end != want.end {
				t.Errorf("end %q, read alone %q", got.end, want.end)
			}
			if string(got.back) != string(want.back) {
				t.Errorf("server wrote back %x, read alone %x", got.back, want.back)
			}
			if rec.quick < tc.quick {
				t.Errorf("%d packets read on the poller's goroutine, want at least %d (%d by a reader)", rec.quick, tc.quick, rec.slow)
			}
			if tc.refuse > 0 && rec.slow == 0 {
				t.Errorf("the packet the endpoint had no room for never went to Receive")
			}
		})
	}
}

// TestParkedReadStaysParked: a connection that receives a short message
// now and then is read on the poller's goroutine and parked again every
// time, without a reading goroutine: the reader's group starts no
// goroutine after the first park.
func TestParkedReadStaysParked(t *testing.T) {
	p := runPoller(t)
	cc, sc := tcpPair(t)
	server := NewWebSocket(sc, nil, ServerSide, 1<<20, 0)
	rec := newRecordingReceiver()
	got := make(chan struct{}, 1)
	g := startParked(t, p, server, &notifyingReceiver{recordingReceiver: rec, got: got}, rec.idle)
	before := g.Len()
	const n = 50
	for i := range n {
		if _, err := cc.Write(maskedFrame(true, ws.OpText, fmt.Sprintf("4m%d", i))); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d never arrived", i)
		}
		if l := g.Len(); l > before {
			t.Fatalf("message %d: %d goroutines in the readers' group, %d before", i, l, before)
		}
	}
	rec.mu.Lock()
	quick, slow := rec.quick, rec.slow
	rec.mu.Unlock()
	if quick != n || slow != 0 {
		t.Errorf("%d packets on the poller's goroutine, %d by a reader; want %d and 0", quick, slow, n)
	}
	_ = cc.Close()
	endParked(t, rec, server, g)
}

// notifyingReceiver signals every packet taken.
type notifyingReceiver struct {
	*recordingReceiver
	got chan struct{}
}

func (r *notifyingReceiver) TryReceive(c Conn, p codec.Packet) (bool, error) {
	ok, err := r.recordingReceiver.TryReceive(c, p)
	if ok {
		r.got <- struct{}{}
	}
	return ok, err
}

func (r *notifyingReceiver) Receive(c Conn, p codec.Packet) error {
	err := r.recordingReceiver.Receive(c, p)
	r.got <- struct{}{}
	return err
}

// TestParkedReadReportsReset: a parked connection that the peer resets is
// reported ended by the reset, as a reader waiting in its read reports it,
// although the read that met it ran on the poller's goroutine (a second
// read of a reset socket says EOF).
func TestParkedReadReportsReset(t *testing.T) {
	p := runPoller(t)
	cc, sc := tcpPair(t)
	server := NewWebSocket(sc, nil, ServerSide, 1<<20, 0)
	rec := newRecordingReceiver()
	g := startParked(t, p, server, rec, rec.idle)
	// Unread data and a zero linger make the close a reset.
	if _, err := server.Conn().Write([]byte{0x81, 0}); err != nil {
		t.Fatal(err)
	}
	_ = cc.(*net.TCPConn).SetLinger(0)
	_ = cc.Close()
	endParked(t, rec, server, g)
	if rec.endErr == nil || !strings.Contains(rec.endErr.Error(), "connection reset") {
		t.Fatalf("ended with %v, want the reset", rec.endErr)
	}
}
