package sio_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/sio"
	"github.com/chanio/chanio/sio/wire"
)

// This file holds a Socket.IO peer built from eio.Client and sio/wire, so
// that the server's tests do not depend on a Socket.IO client under test.

const waitFor = 10 * time.Second

// newServer starts srv behind an httptest server; both stop at cleanup.
func newServer(t *testing.T, opts *sio.Options) (*sio.Server, string) {
	t.Helper()
	srv, hs := newHTTPServer(t, opts)
	return srv, hs.URL
}

// newHTTPServer is newServer, returning the httptest server.
func newHTTPServer(t *testing.T, opts *sio.Options) (*sio.Server, *httptest.Server) {
	t.Helper()
	srv := sio.NewServer(opts)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		_ = srv.Close()
		hs.Close()
	})
	return srv, hs
}

type rawClient struct {
	t   *testing.T
	c   *eio.Client
	dec wire.Decoder
}

// dial opens an Engine.IO connection to the Socket.IO path.
func dial(t *testing.T, url string, transports ...string) *rawClient {
	t.Helper()
	return dialWith(t, url, &eio.ClientOptions{Transports: transports})
}

func dialWith(t *testing.T, url string, opts *eio.ClientOptions) *rawClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, err := eio.Dial(ctx, url+"/socket.io/", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = c.Close(ctx)
		for range c.Events() {
		}
	})
	if ev := <-c.Events(); ev.Type != eio.EventConnect {
		t.Fatalf("first event %v", ev.Type)
	}
	return &rawClient{t: t, c: c}
}

// send writes one packet: its text, then its attachments.
func (r *rawClient) send(p wire.Packet) {
	r.t.Helper()
	text, err := wire.Append(nil, &p)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.c.Send(text); err != nil {
		r.t.Fatal(err)
	}
	for _, a := range p.Attachments {
		if err := r.c.SendBinary(a); err != nil {
			r.t.Fatal(err)
		}
	}
}

// sendText writes a raw text message.
func (r *rawClient) sendText(s string) {
	r.t.Helper()
	if err := r.c.Send([]byte(s)); err != nil {
		r.t.Fatal(err)
	}
}

// next returns the next complete packet from the server.
func (r *rawClient) next() wire.Packet {
	r.t.Helper()
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-r.c.Events():
			if !ok || ev.Type == eio.EventDisconnect {
				r.t.Fatalf("connection ended (%v) while waiting for a packet", ev.Reason)
			}
			if ev.Type != eio.EventMessage {
				continue // the upgrade to WebSocket
			}
			p, done, err := r.dec.Add(ev.Data, ev.Binary)
			if err != nil {
				r.t.Fatalf("server sent a bad packet %q: %v", ev.Data, err)
			}
			if done {
				return p
			}
		case <-timer.C:
			r.t.Fatal("no packet within the wait")
		}
	}
}

// expect reads the next packet and checks its text encoding.
func (r *rawClient) expect(want string) wire.Packet {
	r.t.Helper()
	p := r.next()
	text, _ := wire.Append(nil, &p)
	if string(text) != want {
		r.t.Fatalf("got packet %s, want %s", text, want)
	}
	return p
}

// expectEnd waits for the connection to end and returns how.
func (r *rawClient) expectEnd() eio.Reason {
	r.t.Helper()
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-r.c.Events():
			if !ok || ev.Type == eio.EventDisconnect {
				return ev.Reason
			}
		case <-timer.C:
			r.t.Fatal("connection still up")
		}
	}
}

// connect joins nsp with auth (a JSON object or "") and returns the sid.
func (r *rawClient) connect(nsp, auth string) string {
	r.t.Helper()
	p := wire.Packet{Type: wire.Connect, Namespace: nsp}
	if auth != "" {
		p.Data = json.RawMessage(auth)
	}
	r.send(p)
	ans := r.next()
	if ans.Type != wire.Connect || ans.Namespace != nsp {
		r.t.Fatalf("CONNECT to %s answered with %v %s %s", nsp, ans.Type, ans.Namespace, ans.Data)
	}
	var body struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(ans.Data, &body); err != nil || body.SID == "" {
		r.t.Fatalf("CONNECT answer %s", ans.Data)
	}
	return body.SID
}

// emit sends an event; id < 0 asks for no acknowledgement.
func (r *rawClient) emit(nsp string, id int, name string, args ...any) {
	r.t.Helper()
	data, atts, err := wire.AppendEvent(nil, nil, name, args...)
	if err != nil {
		r.t.Fatal(err)
	}
	p := wire.Packet{Type: wire.Event, Namespace: nsp, Data: data, Attachments: atts}
	if id >= 0 {
		p.ID, p.HasID = uint64(id), true
	}
	r.send(p)
}

// nextEvent returns the next event of a namespace's channel.
func nextEvent(t *testing.T, n *sio.Namespace) sio.Event {
	t.Helper()
	select {
	case ev, ok := <-n.Events():
		if !ok {
			t.Fatal("events channel closed")
		}
		return ev
	case <-time.After(waitFor):
		t.Fatal("no event within the wait")
	}
	return sio.Event{}
}

// expectEvent reads the next event and checks its type (and name, for a
// message, when name is not "").
func expectEvent(t *testing.T, n *sio.Namespace, typ sio.EventType, name string) sio.Event {
	t.Helper()
	ev := nextEvent(t, n)
	if ev.Type != typ || name != "" && ev.Name != name {
		t.Fatalf("event %v %q (reason %v, err %v), want %v %q", ev.Type, ev.Name, ev.Reason, ev.Err, typ, name)
	}
	return ev
}

// joined connects a raw client to nsp and returns it with its socket.
func joined(t *testing.T, srv *sio.Server, url, nsp string, transports ...string) (*rawClient, *sio.Socket) {
	t.Helper()
	c := dial(t, url, transports...)
	sid := c.connect(nsp, "")
	ev := expectEvent(t, srv.Of(nsp), sio.EventConnect, "")
	if ev.Socket.ID() != sid {
		t.Fatalf("connect event for %s, client got %s", ev.Socket.ID(), sid)
	}
	return c, ev.Socket
}

func argsJSON(a sio.Args) string { return strings.TrimSpace(string(a.JSON())) }
