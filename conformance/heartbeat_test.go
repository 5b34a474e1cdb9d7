package conformance

import (
	"net/http"
	"testing"
	"time"
)

// Spec: Protocol > Heartbeat. "At a given interval (the pingInterval value
// sent in the handshake) the server sends a ping packet and the client has
// a few seconds (the pingTimeout value) to send a pong packet back. If the
// server does not receive a pong packet back, then it SHOULD consider that
// the connection is closed." In v4 only the server pings.
//
// Timing is checked by order and lower bounds only: no ping comes before
// half an interval has passed since the open packet or the last pong, and
// a session without pongs does not end before half of interval+timeout.

const (
	minPingGap = pingInterval / 2
	minTimeout = (pingInterval + pingTimeout) / 2
)

func TestHeartbeatPolling(t *testing.T) {
	s := startServer(t)

	t.Run("pings every interval while the client pongs", func(t *testing.T) {
		p := s.openPolling(t)
		last := p.opened
		for pings := 0; pings < 3; {
			pkts := p.poll(t)
			if len(pkts) != 1 || pkts[0].typ != typePing || pkts[0].data != "" {
				t.Fatalf("GET %d: %v, want the ping packet \"2\"", pings+1, pkts)
			}
			if gap := time.Since(last); gap < minPingGap || gap > waitLong {
				t.Errorf("ping %d came %v after the open packet or the last pong, want between %v and %v", pings+1, gap, minPingGap, waitLong)
			}
			pings++
			p.mustPost(t, "3")
			last = time.Now()
		}
		p.mustPost(t, "4alive")
		if m := p.receive(t, 1); m[0].data != "alive" {
			t.Fatalf("echo after three pongs: %v", m)
		}
	})

	t.Run("no pong ends the session", func(t *testing.T) {
		p := s.openPolling(t)
		if pkts := p.poll(t); len(pkts) != 1 || pkts[0].typ != typePing {
			t.Fatalf("first GET: %v, want a ping", pkts)
		}
		// No pong. The next GET is held until the ping timeout ends the
		// session: it returns the close packet (or the session is gone).
		p.expectEnded(t)
		if d := time.Since(p.opened); d < minTimeout {
			t.Errorf("session ended %v after the open packet, before any ping timeout (>= %v)", d, minTimeout)
		}
	})

	// The test suite's "closes the session upon ping timeout": a GET made
	// after pingInterval+pingTimeout with no pong is refused with 400.
	t.Run("request after the ping timeout is refused", func(t *testing.T) {
		p := s.openPolling(t)
		// No request until the server has ended the session.
		if reason := s.waitEnded(t, p.sid); reason != "ping timeout" {
			t.Errorf("session ended with %q, want \"ping timeout\"", reason)
		}
		if d := time.Since(p.opened); d < minTimeout {
			t.Errorf("session ended %v after the open packet, before any ping timeout (>= %v)", d, minTimeout)
		}
		r := p.get(t)
		checkError(t, r, http.StatusBadRequest, 1, "Session ID unknown")
	})

	t.Run("ping from the client ends the session", func(t *testing.T) {
		// v4 reversed the heartbeat: a client ping is an error (the
		// reference: "invalid heartbeat direction"), never answered.
		p := s.openPolling(t)
		r := p.post(t, "2")
		if r.status != http.StatusOK && r.status != http.StatusBadRequest {
			t.Errorf("POST of a ping: %v, want 200 or 400", r)
		}
		p.expectEnded(t)
	})
}

func TestHeartbeatWebSocket(t *testing.T) {
	s := startServer(t)

	t.Run("pings every interval while the client pongs", func(t *testing.T) {
		c, _ := s.openWS(t)
		last := time.Now()
		for pings := 1; pings <= 3; pings++ {
			f := c.next(t)
			if !f.isText("2") {
				t.Fatalf("frame %v, want the ping \"2\"", f)
			}
			if gap := time.Since(last); gap < minPingGap {
				t.Errorf("ping %d came %v after the open packet or the last pong, want at least %v", pings, gap, minPingGap)
			}
			c.sendText(t, "3")
			last = time.Now()
		}
		c.sendText(t, "4alive")
		if m := c.receive(t, 1); !m[0].isText("4alive") {
			t.Fatalf("echo after three pongs: %v", m)
		}
	})

	t.Run("no pong ends the session", func(t *testing.T) {
		c, h := s.openWS(t)
		opened := time.Now()
		res := c.expectClosed(t, false)
		if d := time.Since(opened); d < minTimeout {
			t.Errorf("connection closed %v after the open packet, before any ping timeout (>= %v)", d, minTimeout)
		}
		if len(res.frames) == 0 || !res.frames[0].isText("2") {
			t.Errorf("%v: want a ping before the end", res)
		}
		for i, f := range res.frames {
			if !f.isText("2") && !(f.isText("1") && i == len(res.frames)-1) {
				t.Errorf("%v: want pings, then at most a close packet", res)
			}
		}
		s.waitWSSessionGone(t, h.SID)
	})

	t.Run("ping from the client ends the session", func(t *testing.T) {
		c, h := s.openWS(t)
		c.sendText(t, "2")
		res := c.expectClosed(t, true) // pongs: the ping timeout is not the cause
		for _, f := range res.frames {
			if f.isText("3") {
				t.Errorf("the server answered a client ping with a pong: %v", res)
			}
		}
		s.waitWSSessionGone(t, h.SID)
	})
}
