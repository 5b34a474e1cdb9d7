package interop

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/clienttest"
)

// TestUpgradeEventJSClient: the official engine.io-client upgrades a
// session of an eio.Server (here in this process, so that the test reads
// its events), and the server reports it: one EventUpgrade naming
// websocket, after the connect and before the disconnect, among the
// session's messages; sessions that do not upgrade report none. The
// client's 1,000 numbered messages are sent while the upgrade is under
// way.
func TestUpgradeEventJSClient(t *testing.T) {
	requireNode(t)
	// A short heartbeat, as with examples/echo in TestJSClientToChanio:
	// engine.io-client's close over polling may exit before its close
	// packet is posted, and the ping timeout then ends the session. The
	// timeout is 2s as there: at 200ms, with .ci/run and make test side by
	// side, the Node client timed out the session itself ("ping timeout")
	// before it closed, and the runs after it read its events.
	srv := eio.NewServer(&eio.Options{PingInterval: 300 * time.Millisecond, PingTimeout: 2 * time.Second})
	hs := httptest.NewServer(srv)
	events := make(chan eio.Event, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range srv.Events() {
			if ev.Type == eio.EventMessage {
				if ev.Binary {
					_ = srv.SendBinary(ev.SID, ev.Data)
				} else {
					_ = srv.Send(ev.SID, ev.Data)
				}
			}
			ev.Data, ev.Request = nil, nil
			events <- ev
		}
	}()
	t.Cleanup(func() {
		hs.CloseClientConnections()
		_ = srv.Close()
		hs.Close()
		<-done
	})
	for _, mode := range jsModes {
		t.Run(mode.name, func(t *testing.T) {
			runJSClient(t, hs.URL, mode, 1000, 0, "client")
			// The session's events, up to its disconnect.
			var got []eio.Event
			for len(got) == 0 || got[len(got)-1].Type != eio.EventDisconnect {
				select {
				case ev := <-events:
					got = append(got, ev)
				case <-time.After(clienttest.Wait):
					t.Fatalf("no disconnect after %d events", len(got))
				}
			}
			first, last := got[0], got[len(got)-1]
			if first.Type != eio.EventConnect || first.Transport != mode.open || last.SID != first.SID {
				t.Fatalf("events run from %v on %q to %v of another session", first.Type, first.Transport, last.Type)
			}
			upgrades, messages := 0, 0
			for _, ev := range got[1 : len(got)-1] {
				switch ev.Type {
				case eio.EventUpgrade:
					upgrades++
					if ev.Transport != eio.TransportWebSocket || ev.SID != first.SID {
						t.Errorf("upgrade event to %q for %q", ev.Transport, ev.SID)
					}
				case eio.EventMessage:
					messages++
				default:
					t.Errorf("%v event inside the session", ev.Type)
				}
			}
			wantUpgrades := 0
			if mode.upgradedTo != "" {
				wantUpgrades = 1
			}
			if upgrades != wantUpgrades || messages != 1002 {
				t.Errorf("%d upgrade events and %d messages; want %d and 1002", upgrades, messages, wantUpgrades)
			}
		})
	}
}

// TestUpgradeEventGoClientAgainstPeers: chanio's client reports its
// upgrade to Node's engine.io and python-engineio servers with an
// EventUpgrade, after the connect and before what comes over the
// WebSocket.
func TestUpgradeEventGoClientAgainstPeers(t *testing.T) {
	for _, p := range echoPeers {
		t.Run(p.name, func(t *testing.T) {
			_, base := p.start(t)
			c := clienttest.Dial(t, base, nil) // the connect event is checked here
			ev := clienttest.Next(t, c)
			if ev.Type != eio.EventUpgrade || ev.Transport != eio.TransportWebSocket || c.Transport() != eio.TransportWebSocket {
				t.Fatalf("event %v to %q (on %s), want the upgrade to websocket", ev.Type, ev.Transport, c.Transport())
			}
			if err := c.Send([]byte("after")); err != nil {
				t.Fatal(err)
			}
			if ev := clienttest.Next(t, c); ev.Type != eio.EventMessage || string(ev.Data) != "after" {
				t.Fatalf("event %v %q, want the echo", ev.Type, ev.Data)
			}
		})
	}
}
