package conformance

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/internal/devcert"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/webtransport-go"
)

// startWTServer runs examples/echo with a development certificate, so
// that it also serves WebTransport on the UDP port of its TCP one.
func startWTServer(t *testing.T) *server {
	t.Helper()
	cert, err := devcert.Generate(0)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := cert.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, "-tls-cert", certFile, "-tls-key", keyFile)
}

// wtSession is a raw WebTransport session to the server and its one
// stream, speaking the reference's stream framing.
type wtSession struct {
	sess *webtransport.Session
	str  *webtransport.Stream
	dec  codec.StreamDecoder
	got  []codec.Packet
}

// dialWT opens a WebTransport session at the server's path (no query, as
// engine.io-client opens it) and its stream, and writes open.
func (s *server) dialWT(t *testing.T, open codec.Packet) *wtSession {
	t.Helper()
	d := &webtransport.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		QUICConfig:      &quic.Config{EnableDatagrams: true, EnableStreamResetPartialDelivery: true},
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	rsp, sess, err := d.Dial(ctx, "https://"+s.host+s.path, nil)
	if err != nil {
		t.Fatalf("WebTransport session: %v (%v)", err, rsp)
	}
	t.Cleanup(func() { sess.CloseWithError(0, ""); d.Close() })
	str, err := sess.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &wtSession{sess: sess, str: str}
	c.dec.MaxPayload = 2 * maxPayload
	c.send(t, open)
	return c
}

func (c *wtSession) send(t *testing.T, pkts ...codec.Packet) {
	t.Helper()
	if _, err := c.str.Write(codec.AppendStreamFrames(nil, pkts)); err != nil {
		t.Fatalf("writing %v: %v", pkts, err)
	}
}

// next returns the next packet the server sent, within waitLong.
func (c *wtSession) next(t *testing.T) codec.Packet {
	t.Helper()
	_ = c.str.SetReadDeadline(time.Now().Add(waitLong))
	buf := make([]byte, 64<<10)
	for len(c.got) == 0 {
		n, err := c.str.Read(buf)
		if derr := c.dec.Decode(buf[:n], func(p codec.Packet) error { c.got = append(c.got, p); return nil }); derr != nil {
			t.Fatalf("a frame from the server: %v", derr)
		}
		if err != nil && len(c.got) == 0 {
			t.Fatalf("reading the stream: %v", err)
		}
	}
	p := c.got[0]
	c.got = c.got[1:]
	return p
}

// nextMessage skips pings (answering them) up to the next other packet.
func (c *wtSession) nextMessage(t *testing.T) codec.Packet {
	t.Helper()
	for {
		p := c.next(t)
		if p.Type != codec.Ping {
			return p
		}
		c.send(t, codec.Packet{Type: codec.Pong})
	}
}

func text(s string) codec.Packet { return codec.Packet{Type: codec.Message, Data: []byte(s)} }

// Spec: WebTransport (engine.io 6.5+). The client opens a session at the
// Engine.IO path, opens one bidirectional stream and writes an open
// packet on it; the server answers with its open packet, with no
// upgrades; from then on packets travel in the stream framing, and the
// heartbeat runs as on any transport.
func TestWebTransportSession(t *testing.T) {
	s := startWTServer(t)
	c := s.dialWT(t, codec.Packet{Type: codec.Open})
	open := c.next(t)
	if open.Type != codec.Open {
		t.Fatalf("first packet %v, want open", open)
	}
	h := s.checkOpen(t, string(open.Data), []string{})
	c.send(t, text("hello ✓"), codec.Packet{Type: codec.Message, Binary: true, Data: []byte{1, 2, 3, 250}})
	if p := c.nextMessage(t); p.Type != codec.Message || p.Binary || string(p.Data) != "hello ✓" {
		t.Fatalf("text echo %v", p)
	}
	if p := c.nextMessage(t); p.Type != codec.Message || !p.Binary || string(p.Data) != "\x01\x02\x03\xfa" {
		t.Fatalf("binary echo %v", p)
	}
	for pings := 1; pings <= 2; pings++ {
		if p := c.next(t); p.Type != codec.Ping {
			t.Fatalf("packet %v, want ping %d", p, pings)
		}
		c.send(t, codec.Packet{Type: codec.Pong})
	}
	c.send(t, text("alive"))
	if p := c.nextMessage(t); string(p.Data) != "alive" {
		t.Fatalf("echo after two pongs: %v", p)
	}
	c.send(t, codec.Packet{Type: codec.Close})
	if reason := s.waitEnded(t, h.SID); reason != "client disconnect" {
		t.Errorf("session ended with %q", reason)
	}
}

// Spec: WebTransport upgrade. A polling session's open packet lists
// webtransport; the client opens a WebTransport session whose open packet
// names the sid, probes it as a WebSocket is probed (2probe, 3probe, the
// held GET released with a noop, 5), and the session moves to it.
func TestWebTransportUpgrade(t *testing.T) {
	s := startWTServer(t)
	r := s.get(t, "EIO=4&transport=polling")
	pkts := decodePayload(t, r.body)
	if r.status != http.StatusOK || len(pkts) != 1 || pkts[0].typ != typeOpen {
		t.Fatalf("polling handshake: %v", r)
	}
	h := s.checkOpen(t, pkts[0].data, []string{"websocket", "webtransport"})
	p := &pollSession{s: s, sid: h.SID, open: h, opened: time.Now()}
	sid, _ := json.Marshal(map[string]string{"sid": h.SID})
	c := s.dialWT(t, codec.Packet{Type: codec.Open, Data: sid})
	c.send(t, codec.Packet{Type: codec.Ping, Data: []byte("probe")})
	if got := c.next(t); got.Type != codec.Pong || string(got.Data) != "probe" {
		t.Fatalf("answer to the probe: %v, want pong \"probe\"", got)
	}
	if r := p.get(t); r.status != http.StatusOK || string(r.body) != "6" {
		t.Fatalf("GET after the probe: %v, want 200 \"6\" (noop)", r)
	}
	c.send(t, codec.Packet{Type: codec.Upgrade}, text("over webtransport"))
	if got := c.nextMessage(t); string(got.Data) != "over webtransport" {
		t.Fatalf("echo on the upgraded session: %v", got)
	}
	checkError(t, p.get(t), http.StatusBadRequest, 3, "Bad request")
}
