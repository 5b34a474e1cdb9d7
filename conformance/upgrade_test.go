package conformance

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// Spec: Protocol > Upgrade. The client opens a WebSocket with the session's
// sid and sends "2probe"; the server answers "3probe" and releases a
// pending GET with a noop; the client sends "5" and the session is on the
// WebSocket.
func TestUpgrade(t *testing.T) {
	s := startServer(t)

	t.Run("sequence", func(t *testing.T) {
		p := s.openPolling(t)
		c, err := s.dialWS(t, "EIO=4&transport=websocket&sid="+url.QueryEscape(p.sid))
		if err != nil {
			t.Fatalf("upgrade handshake: %v, want 101", err)
		}
		c.sendText(t, "2probe")
		// The probe socket gets no open packet: its first frame is the
		// probe's answer.
		if f := c.next(t); !f.isText("3probe") {
			t.Fatalf("answer to the probe: %v, want text \"3probe\"", f)
		}
		if r := p.get(t); r.status != http.StatusOK || string(r.body) != "6" {
			t.Fatalf("GET after the probe: %v, want 200 \"6\" (noop)", r)
		}
		c.sendText(t, "5")
		c.sendText(t, "4hello")
		if m := c.receive(t, 1); !m[0].isText("4hello") {
			t.Fatalf("echo on the upgraded socket: %v, want \"4hello\"", m)
		}
	})

	t.Run("held GET is released with a noop", func(t *testing.T) {
		p := s.openPolling(t)
		held := p.pollAsyncT(t)
		expectHeld(t, held, 100*time.Millisecond)
		c := p.probe(t)
		if r := await(t, held); r.status != http.StatusOK || string(r.body) != "6" {
			t.Fatalf("GET held across the probe: %v, want 200 \"6\"", r)
		}
		// Until the upgrade packet, GETs are answered with a noop at once.
		for i := range 2 {
			if r := p.get(t); r.status != http.StatusOK || string(r.body) != "6" {
				t.Fatalf("GET %d after the probe: %v, want 200 \"6\"", i+1, r)
			}
		}
		c.sendText(t, "5")
		c.sendText(t, "4x")
		if m := c.receive(t, 1); !m[0].isText("4x") {
			t.Fatalf("echo after the upgrade: %v", m)
		}
	})

	t.Run("messages posted during the probe come on the websocket", func(t *testing.T) {
		// POSTs still go through while polling is paused; their echoes
		// wait for the new transport, a binary one as a binary frame.
		p := s.openPolling(t)
		c := p.probe(t)
		p.mustPost(t, "4during\x1ebAQIDBA==")
		c.sendText(t, "5")
		m := c.receive(t, 2)
		if !m[0].isText("4during") || m[1].op != ws.OpBinary || string(m[1].data) != "\x01\x02\x03\x04" {
			t.Fatalf("after the upgrade: %v, want text \"4during\" then binary [1 2 3 4]", m)
		}
	})

	t.Run("after the upgrade", func(t *testing.T) {
		p := s.openPolling(t)
		c := p.upgrade(t)
		// The test suite's "ignores HTTP requests with same sid after upgrade".
		checkError(t, p.get(t), http.StatusBadRequest, 3, "Bad request")
		checkError(t, p.post(t, "4x"), http.StatusBadRequest, 3, "Bad request")
		// "A client MUST NOT open more than one WebSocket connection per
		// session. Should it happen, the server MUST close the WebSocket
		// connection."
		s.expectWSRefused(t, "EIO=4&transport=websocket&sid="+url.QueryEscape(p.sid))

		// The upgraded socket carries on: text, binary, and the heartbeat.
		c.sendText(t, "4still")
		c.send(t, ws.OpBinary, []byte{9, 8, 7})
		m := c.receive(t, 2)
		if !m[0].isText("4still") || m[1].op != ws.OpBinary || string(m[1].data) != "\x09\x08\x07" {
			t.Fatalf("echoes on the upgraded socket: %v", m)
		}
		for pings := 1; pings <= 2; pings++ {
			if f := c.next(t); !f.isText("2") {
				t.Fatalf("frame %v, want ping %d on the upgraded socket", f, pings)
			}
			c.sendText(t, "3")
		}
		c.sendText(t, "4alive")
		if m := c.receive(t, 1); !m[0].isText("4alive") {
			t.Fatalf("echo after two pongs: %v", m)
		}
	})

	t.Run("second websocket while probing", func(t *testing.T) {
		p := s.openPolling(t)
		c := p.probe(t)
		s.expectWSRefused(t, "EIO=4&transport=websocket&sid="+url.QueryEscape(p.sid))
		c.sendText(t, "5")
		c.sendText(t, "4x")
		if m := c.receive(t, 1); !m[0].isText("4x") {
			t.Fatalf("echo on the first websocket: %v", m)
		}
	})

	t.Run("websocket session cannot be upgraded", func(t *testing.T) {
		c, h := s.openWS(t)
		s.expectWSRefused(t, "EIO=4&transport=websocket&sid="+url.QueryEscape(h.SID))
		c.sendText(t, "4x")
		if m := c.receive(t, 1); !m[0].isText("4x") {
			t.Fatalf("echo on the first websocket: %v", m)
		}
	})

	// A probe socket that breaks the sequence is closed; the session goes
	// on polling (the reference: "else { cleanup(); transport.close() }").
	probeErrors := []struct {
		name  string
		first string
	}{
		{
			name:  "upgrade before the probe",
			first: "5",
		},
		{
			name:  "message before the probe",
			first: "4hello",
		},
		{
			name:  "ping without probe",
			first: "2",
		},
		{
			name:  "ping with other data",
			first: "2notprobe",
		},
	}
	for _, tt := range probeErrors {
		t.Run(tt.name, func(t *testing.T) {
			p := s.openPolling(t)
			c, err := s.dialWS(t, "EIO=4&transport=websocket&sid="+url.QueryEscape(p.sid))
			if err != nil {
				t.Fatalf("upgrade handshake: %v", err)
			}
			c.sendText(t, tt.first)
			if res := c.expectClosed(t, false); len(res.frames) > 0 {
				t.Errorf("probe socket received %v, want it closed", res.frames)
			}
			p.mustPost(t, "4still")
			if m := p.receive(t, 1); m[0].data != "still" {
				t.Fatalf("polling echo after the failed probe: %v", m)
			}
		})
	}
}

// Spec: "When the server receives the upgrade packet, it must assume this
// is the new transport channel and send all existing buffers (if any) to
// it." Messages queued for a session between the probe and the upgrade
// packet come on the WebSocket after the switch, in order, each once.
func TestUpgradeQueuedPackets(t *testing.T) {
	s := startServer(t) // its own: broadcasts reach every session
	b := s.openPolling(t)
	a := s.openPolling(t)
	c := a.probe(t)

	var post, want []string
	for i := 1; i <= 10; i++ {
		post = append(post, fmt.Sprintf("4broadcast:q%02d", i))
		want = append(want, fmt.Sprintf("q%02d", i))
	}
	// b receives the broadcasts too; its "sync" echo comes after the echo
	// server has queued all ten for a.
	b.mustPost(t, strings.Join(append(post, "4sync"), "\x1e"))
	if got := messageData(b.receive(t, 11)); !slices.Equal(got, append(slices.Clone(want), "sync")) {
		t.Fatalf("second session received %q, want %q then sync", got, want)
	}

	c.sendText(t, "5")
	var got []string
	for _, f := range c.receive(t, len(want)) {
		got = append(got, strings.TrimPrefix(string(f.data), "4"))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("upgraded socket received %q, want %q", got, want)
	}
	// Nothing more, in particular no copy: the next message is the echo.
	c.sendText(t, "4end")
	if m := c.receive(t, 1); !m[0].isText("4end") {
		t.Fatalf("after the queued messages: %v, want the echo \"4end\"", m)
	}
}

// A ping that falls due during the upgrade is not sent on polling (the
// client has paused it) but on the WebSocket once the upgrade is done, and
// a prompt pong keeps the session. Its own server, with a 1s interval, so
// that the ping is due well inside the upgrade.
func TestUpgradePingDuringProbe(t *testing.T) {
	s := startServer(t, "-ping-interval", "1s", "-ping-timeout", "1s")
	p := s.openPolling(t)
	c := p.probe(t)
	// The scenario is a ping interval passing during the probe: elapsed
	// time is what makes it, and nothing outside the server shows the
	// ping falling due (a late one only makes this the plain upgrade).
	time.Sleep(time.Until(p.opened.Add(1300 * time.Millisecond)))
	if r := p.get(t); r.status != http.StatusOK || string(r.body) != "6" {
		t.Fatalf("GET during the probe, ping due: %v, want 200 \"6\"", r)
	}
	c.sendText(t, "5")
	if f := c.next(t); !f.isText("2") {
		t.Fatalf("first frame after the upgrade: %v, want the ping that fell due", f)
	}
	c.sendText(t, "3")
	pong := time.Now()
	c.sendText(t, "4alive")
	if m := c.receive(t, 1); !m[0].isText("4alive") {
		t.Fatalf("echo after the pong: %v", m)
	}
	if f := c.next(t); !f.isText("2") {
		t.Fatalf("frame %v, want the next ping", f)
	}
	if gap := time.Since(pong); gap < 500*time.Millisecond {
		t.Errorf("next ping %v after the pong, want at least half the 1s interval", gap)
	}
	c.sendText(t, "1")
}

// Upgrade timeout: a WebSocket that does not complete the upgrade in time
// is closed, and the session goes on polling. Its own server, with a 500ms
// upgrade timeout, and a heartbeat slow enough that no ping falls due
// while the polling transport is paused for the probe.
func TestUpgradeTimeout(t *testing.T) {
	const upgradeTimeout = 500 * time.Millisecond
	s := startServer(t, "-upgrade-timeout", "500ms", "-ping-interval", "2s", "-ping-timeout", "2s")

	t.Run("silent websocket", func(t *testing.T) {
		p := s.openPolling(t)
		c, err := s.dialWS(t, "EIO=4&transport=websocket&sid="+url.QueryEscape(p.sid))
		if err != nil {
			t.Fatalf("upgrade handshake: %v", err)
		}
		start := time.Now()
		if res := c.expectClosed(t, false); len(res.frames) > 0 {
			t.Errorf("probe socket received %v, want it closed", res.frames)
		}
		if d := time.Since(start); d < upgradeTimeout/2 {
			t.Errorf("probe socket closed after %v, before the upgrade timeout (%v)", d, upgradeTimeout)
		}
		p.mustPost(t, "4after")
		if m := p.receive(t, 1); m[0].data != "after" {
			t.Fatalf("polling echo after the upgrade timeout: %v", m)
		}
		p.closeSession(t)
	})

	t.Run("probe without upgrade packet", func(t *testing.T) {
		p := s.openPolling(t)
		c := p.probe(t)
		start := time.Now()
		if r := p.get(t); r.status != http.StatusOK || string(r.body) != "6" {
			t.Fatalf("GET after the probe: %v, want 200 \"6\"", r)
		}
		if res := c.expectClosed(t, false); len(res.frames) > 0 {
			t.Errorf("probe socket received %v after 3probe, want it closed", res.frames)
		}
		if d := time.Since(start); d < upgradeTimeout/2 {
			t.Errorf("probe socket closed after %v, before the upgrade timeout (%v)", d, upgradeTimeout)
		}
		// Polling is back: a GET waits for data again rather than
		// getting noops.
		p.mustPost(t, "4after")
		if m := p.receive(t, 1); m[0].data != "after" {
			t.Fatalf("polling echo after the upgrade timeout: %v", m)
		}
		held := p.pollAsyncT(t)
		expectHeld(t, held, 100*time.Millisecond)
		p.mustPost(t, "4wake")
		if r := await(t, held); r.status != http.StatusOK || string(r.body) != "4wake" {
			t.Fatalf("held GET: %v, want 200 \"4wake\"", r)
		}
		// And a new upgrade succeeds.
		u := p.upgrade(t)
		u.sendText(t, "1")
	})
}
