package eio

import (
	"net/http"
	"testing"
)

// TestServerUpgradeEvent: a session that upgrades reports it with an
// EventUpgrade naming the new transport, in order with its other events:
// after the messages that came over polling, before those that came over
// the WebSocket. The connect event names the transport a session opened
// on. Run many times: the POST and the upgrade race to the session.
func TestServerUpgradeEvent(t *testing.T) {
	srv, base := testServer(t, nil)
	for i := range 20 {
		sid := pollOpen(t, base)
		if ev := expectEvent(t, srv, EventConnect, sid); ev.Transport != TransportPolling {
			t.Fatalf("connect event transport %q, want polling", ev.Transport)
		}
		if status, body := httpDo(t, http.MethodPost, pollURL(base, sid), "4before"); status != 200 || body != "ok" {
			t.Fatalf("POST: %d %q", status, body)
		}
		p := dialWS(t, base, sid)
		p.send("2probe")
		p.expect("3probe")
		p.send("5")
		p.send("4after")
		for _, want := range []struct {
			typ       EventType
			data      string
			transport string
		}{{EventMessage, "before", ""}, {EventUpgrade, "", TransportWebSocket}, {EventMessage, "after", ""}} {
			ev := expectEvent(t, srv, want.typ, sid)
			if string(ev.Data) != want.data || ev.Transport != want.transport {
				t.Fatalf("run %d: %v event data %q transport %q, want %q %q", i, ev.Type, ev.Data, ev.Transport, want.data, want.transport)
			}
		}
		p.send("1")
		expectEvent(t, srv, EventDisconnect, sid)
	}
	// A WebSocket-only session opens on the WebSocket and never upgrades.
	p := dialWS(t, base, "")
	sid := p.open().SID
	if ev := expectEvent(t, srv, EventConnect, sid); ev.Transport != TransportWebSocket {
		t.Fatalf("connect event transport %q, want websocket", ev.Transport)
	}
	p.send("1")
	expectEvent(t, srv, EventDisconnect, sid)
}
