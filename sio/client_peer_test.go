package sio

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/sio/wire"
)

// waitLong bounds every wait of these tests: long enough for a loaded
// machine under the race detector; no test asserts a bound tighter than it.
const waitLong = 30 * time.Second

// peer is a scripted Socket.IO server for the client's tests: an
// eio.Server whose sessions' packets the test reads in order, and which
// sends the packets the test gives it. It is not a Socket.IO server: the
// test plays the server's part.
type peer struct {
	srv  *eio.Server
	hs   *httptest.Server
	down atomic.Bool // answer every request 503, as a server that is gone
	// holdPost holds the next POST until release is closed (or the
	// request ends), and says so on held: a transport that stalls.
	holdPost atomic.Bool
	held     chan struct{}
	release  chan struct{}

	in      chan peerPacket // packets from the clients, in order
	ends    chan eio.Event  // Engine.IO sessions ended
	stopped chan struct{}
}

type peerPacket struct {
	sid string // the Engine.IO session
	wire.Packet
}

func newPeer(t testing.TB) *peer {
	t.Helper()
	p := &peer{
		srv:     eio.NewServer(&eio.Options{Path: "/socket.io/"}),
		in:      make(chan peerPacket, 1<<14),
		ends:    make(chan eio.Event, 1024),
		stopped: make(chan struct{}),
		held:    make(chan struct{}, 1),
		release: make(chan struct{}),
	}
	p.hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodPost && p.holdPost.CompareAndSwap(true, false) {
			p.held <- struct{}{}
			select {
			case <-p.release:
			case <-r.Context().Done():
				return
			}
		}
		p.srv.ServeHTTP(w, r)
	}))
	go p.read(t)
	t.Cleanup(func() {
		_ = p.srv.Close()
		p.hs.Close()
		<-p.stopped
	})
	return p
}

// read decodes what the sessions send until the server is closed.
func (p *peer) read(t testing.TB) {
	defer close(p.stopped)
	decoders := map[string]*wire.Decoder{}
	for ev := range p.srv.Events() {
		switch ev.Type {
		case eio.EventConnect:
			decoders[ev.SID] = &wire.Decoder{}
		case eio.EventMessage:
			pkt, ok, err := decoders[ev.SID].Add(ev.Data, ev.Binary)
			if err != nil {
				t.Errorf("peer: the client sent a bad packet %q: %v", ev.Data, err)
				continue
			}
			if ok {
				p.in <- peerPacket{ev.SID, pkt}
			}
		case eio.EventDisconnect:
			delete(decoders, ev.SID)
			p.ends <- ev
		}
	}
}

// url is the server's address for NewManager and Connect.
func (p *peer) url() string { return p.hs.URL }

// next returns the next packet a client sent.
func (p *peer) next(t testing.TB) peerPacket {
	t.Helper()
	select {
	case pp := <-p.in:
		return pp
	case <-time.After(waitLong):
		t.Fatal("peer: no packet from the client")
	}
	return peerPacket{}
}

// expect returns the next packet, which must be of type typ in nsp.
func (p *peer) expect(t testing.TB, typ wire.Type, nsp string) peerPacket {
	t.Helper()
	pp := p.next(t)
	if pp.Type != typ || pp.Namespace != nsp {
		t.Fatalf("peer: got %v in %s (%s), want %v in %s", pp.Type, pp.Namespace, pp.Data, typ, nsp)
	}
	return pp
}

// ended waits for the end of an Engine.IO session.
func (p *peer) ended(t testing.TB) eio.Event {
	t.Helper()
	select {
	case ev := <-p.ends:
		return ev
	case <-time.After(waitLong):
		t.Fatal("peer: no session ended")
	}
	return eio.Event{}
}

// send sends pkt on session sid: its text, then its attachments.
func (p *peer) send(t testing.TB, sid string, pkt wire.Packet) {
	t.Helper()
	text, err := wire.Append(nil, &pkt)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.srv.Send(sid, text); err != nil {
		t.Fatalf("peer: send: %v", err)
	}
	for _, a := range pkt.Attachments {
		if err := p.srv.SendBinary(sid, a); err != nil {
			t.Fatalf("peer: send attachment: %v", err)
		}
	}
}

// accept answers the CONNECT of namespace nsp with sid (and pid, for
// connection state recovery, when not empty), and returns the CONNECT.
func (p *peer) accept(t testing.TB, nsp, sid, pid string) peerPacket {
	t.Helper()
	pp := p.expect(t, wire.Connect, nsp)
	body := map[string]string{"sid": sid}
	if pid != "" {
		body["pid"] = pid
	}
	data, _ := json.Marshal(body)
	p.send(t, pp.sid, wire.Packet{Type: wire.Connect, Namespace: nsp, Data: data})
	return pp
}

// emit sends an EVENT from the server.
func (p *peer) emit(t testing.TB, sid, nsp string, id *uint64, name string, args ...any) {
	t.Helper()
	data, atts, err := wire.AppendEvent(nil, nil, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	pkt := wire.Packet{Type: wire.Event, Namespace: nsp, Data: data, Attachments: atts}
	if id != nil {
		pkt.ID, pkt.HasID = *id, true
	}
	p.send(t, sid, pkt)
}

// eventOf decodes an EVENT packet's name and arguments as Go values.
func eventOf(t testing.TB, pp peerPacket) (string, []any) {
	t.Helper()
	if pp.Type != wire.Event {
		t.Fatalf("got %v (%s), want an EVENT", pp.Type, pp.Data)
	}
	name, args, err := wire.EventArgs(&pp.Packet)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := args.Values()
	if err != nil {
		t.Fatal(err)
	}
	return name, vs
}

// wsOnly are client options on WebSocket alone: one connection per
// session, the quickest to set up.
func wsOnly() *eio.ClientOptions {
	return &eio.ClientOptions{Transports: []string{eio.TransportWebSocket}}
}

// nextEvent returns the client's next event.
func nextEvent(t testing.TB, c *Client) ClientEvent {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatal("client events closed")
		}
		return ev
	case <-time.After(waitLong):
		t.Fatal("no client event in time")
	}
	return ClientEvent{}
}

// expectEvent returns the client's next event, which must be of type typ.
func expectEvent(t testing.TB, c *Client, typ ClientEventType) ClientEvent {
	t.Helper()
	ev := nextEvent(t, c)
	if ev.Type != typ {
		t.Fatalf("client event %v (reason %v, err %v, name %q), want %v", ev.Type, ev.Reason, ev.Err, ev.Name, typ)
	}
	return ev
}

// expectClosed waits for the client's Events channel to close, after any
// events still in it, and then for Done, after which Err is set.
func expectClosed(t testing.TB, c *Client) []ClientEvent {
	t.Helper()
	var evs []ClientEvent
	timeout := time.After(waitLong)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				// Done closes right after Events; Err is set from then on.
				select {
				case <-c.Done():
				case <-timeout:
					t.Fatal("client Done not closed after its events")
				}
				return evs
			}
			evs = append(evs, ev)
		case <-timeout:
			t.Fatalf("client events not closed; got %v", evs)
		}
	}
}

// closeAtCleanup closes m when the test ends.
func closeAtCleanup(t testing.TB, m *Manager) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("Manager.Close at cleanup: %v", err)
		}
	})
}

// connectTo joins nsp on m while the peer accepts it with sid.
func connectTo(t testing.TB, p *peer, m *Manager, nsp string, auth any, sid string) (*Client, peerPacket) {
	t.Helper()
	type result struct {
		c   *Client
		err error
	}
	res := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		c, err := m.Connect(ctx, nsp, auth)
		res <- result{c, err}
	}()
	pp := p.accept(t, nsp, sid, "")
	r := <-res
	if r.err != nil {
		t.Fatalf("Connect(%s): %v", nsp, r.err)
	}
	if ev := expectEvent(t, r.c, ClientConnect); ev.SID != sid || ev.Recovered {
		t.Fatalf("connect event %+v, want sid %s, not recovered", ev, sid)
	}
	return r.c, pp
}
