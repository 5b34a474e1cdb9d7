package eio_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/clienttest"
	"github.com/chanio/chanio/internal/devcert"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/webtransport-go"
)

// wtModes are the two ways a client reaches WebTransport: directly, or
// polling first and then the upgrade.
var wtModes = []clienttest.Mode{
	{Name: "webtransport", Transports: []string{eio.TransportWebTransport}, Final: eio.TransportWebTransport},
	{Name: "upgrade", Transports: []string{eio.TransportPolling, eio.TransportWebTransport}, Final: eio.TransportWebTransport},
}

// wtEcho is clStartEcho's server also serving WebTransport, on the UDP
// port of the number of its TCP one, as browsers expect it, with a
// development certificate.
type wtEcho struct {
	*clEcho
	cert  *devcert.Certificate
	wtURL string // https://127.0.0.1:port/engine.io/
}

func wtStartEcho(t *testing.T, opts *eio.Options, record bool) *wtEcho {
	t.Helper()
	e := clStartEcho(t, opts, record)
	cert, err := devcert.Generate(0)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(e.url)
	if _, err := e.srv.ListenWebTransport(u.Host, cert.TLSConfig()); err != nil {
		t.Skipf("no UDP port %s for HTTP/3: %v", u.Host, err)
	}
	return &wtEcho{clEcho: e, cert: cert, wtURL: "https://" + u.Host + "/engine.io/"}
}

// clientOpts are options for a client of mode m that pins e's certificate.
func (e *wtEcho) clientOpts(m clienttest.Mode) *eio.ClientOptions {
	return &eio.ClientOptions{Transports: m.Transports, CertificateHashes: [][sha256.Size]byte{e.cert.Hash}}
}

// dial connects a client of mode m to e and waits until it is on the
// mode's final transport.
func (e *wtEcho) dial(t *testing.T, m clienttest.Mode) *eio.Client {
	t.Helper()
	c := clienttest.Dial(t, e.url, e.clientOpts(m))
	clienttest.WaitTransport(t, c, m.Final)
	return c
}

func TestWebTransportRoundTrips(t *testing.T) {
	t.Parallel()
	for _, m := range wtModes {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			e := wtStartEcho(t, nil, false)
			c := e.dial(t, m)
			if err := c.Send([]byte("hello é 😀")); err != nil {
				t.Fatal(err)
			}
			clienttest.ExpectText(t, c, "hello é 😀")
			bin := []byte{0, 1, 2, 0x1e, 255}
			if err := c.SendBinary(bin); err != nil {
				t.Fatal(err)
			}
			ev := clienttest.NextMessage(t, c)
			if !ev.Binary || !bytes.Equal(ev.Data, bin) {
				t.Fatalf("binary echo: %+v", ev)
			}
			if err := c.SendBinary(nil); err != nil {
				t.Fatal(err)
			}
			if ev := clienttest.NextMessage(t, c); !ev.Binary || len(ev.Data) != 0 {
				t.Fatalf("empty binary echo: %+v", ev)
			}
			if got, _ := e.srv.Transport(c.SID()); got != m.Final {
				t.Errorf("server sees transport %s, want %s", got, m.Final)
			}
			if st := e.srv.Stats(); st.WebTransportSessions != 1 || st.PollingSessions != 0 || st.WebSocketSessions != 0 {
				t.Errorf("Stats: %d on webtransport, %d polling, %d websocket; want 1, 0, 0",
					st.WebTransportSessions, st.PollingSessions, st.WebSocketSessions)
			}
			clienttest.SendNumbered(t, c, 1000, false)
			big := strings.Repeat("x", 900_000)
			if err := c.Send([]byte(big)); err != nil {
				t.Fatal(err)
			}
			clienttest.ExpectText(t, c, big)
			if err := c.SendBinary(make([]byte, 900_000)); err != nil {
				t.Fatal(err)
			}
			if ev := clienttest.NextMessage(t, c); !ev.Binary || len(ev.Data) != 900_000 {
				t.Fatalf("900 KB binary echo: binary=%v len %d", ev.Binary, len(ev.Data))
			}

			ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
			defer cancel()
			if err := c.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if end := clienttest.ExpectEnd(t, c); end.Reason != eio.ReasonClientDisconnect || end.Err != nil {
				t.Errorf("client's disconnect %v (%v)", end.Reason, end.Err)
			}
			if sev := e.nextDisconnect(t); sev.Reason != eio.ReasonClientDisconnect {
				t.Errorf("server saw %v (%v), want client disconnect", sev.Reason, sev.Err)
			}
			if st := e.srv.Stats(); st.WebTransportSessions != 0 {
				t.Errorf("Stats after the end: %d on webtransport", st.WebTransportSessions)
			}
		})
	}
}

func TestWebTransportServerDisconnect(t *testing.T) {
	t.Parallel()
	for _, m := range wtModes {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			e := wtStartEcho(t, nil, false)
			c := e.dial(t, m)
			if err := c.Send([]byte("close")); err != nil {
				t.Fatal(err)
			}
			if end := clienttest.ExpectEnd(t, c); end.Reason != eio.ReasonServerDisconnect {
				t.Errorf("client's disconnect %v (%v), want server disconnect", end.Reason, end.Err)
			}
			if sev := e.nextDisconnect(t); sev.Reason != eio.ReasonServerDisconnect {
				t.Errorf("server saw %v (%v), want server disconnect", sev.Reason, sev.Err)
			}
		})
	}
}

// rawWT opens a WebTransport session to e with webtransport-go itself,
// on a UDP socket of the test's, and its one stream, for tests that write
// what chanio's client would not. Closing the socket makes the client
// vanish without a word.
func rawWT(t *testing.T, e *wtEcho) (*webtransport.Session, *webtransport.Stream, *net.UDPConn) {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	qt := &quic.Transport{Conn: udp}
	d := &webtransport.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		QUICConfig:      &quic.Config{EnableDatagrams: true, EnableStreamResetPartialDelivery: true},
		DialAddr: func(ctx context.Context, addr string, tc *tls.Config, qc *quic.Config) (*quic.Conn, error) {
			raddr, err := net.ResolveUDPAddr("udp", addr)
			if err != nil {
				return nil, err
			}
			return qt.DialEarly(ctx, raddr, tc, qc)
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
	defer cancel()
	_, sess, err := d.Dial(ctx, e.wtURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.CloseWithError(0, ""); d.Close(); qt.Close(); udp.Close() })
	str, err := sess.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return sess, str, udp
}

// rawOpen writes an open packet for a new session on str and reads the
// server's open packet.
func rawOpen(t *testing.T, str *webtransport.Stream) codec.Handshake {
	t.Helper()
	if _, err := str.Write(codec.AppendStreamFrame(nil, codec.Packet{Type: codec.Open})); err != nil {
		t.Fatal(err)
	}
	var dec codec.StreamDecoder
	dec.MaxPayload = 1 << 20
	var first *codec.Packet
	buf := make([]byte, 4096)
	for first == nil {
		n, err := str.Read(buf)
		_ = dec.Decode(buf[:n], func(p codec.Packet) error {
			if first == nil {
				first = &p
			}
			return nil
		})
		if err != nil && first == nil {
			t.Fatalf("reading the open packet: %v", err)
		}
	}
	if first.Type != codec.Open {
		t.Fatalf("first packet %v, want open", first)
	}
	hs, err := codec.ParseHandshake(first.Data)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// waitSessionEnd waits until the server has ended the raw session sess.
func waitSessionEnd(t *testing.T, sess *webtransport.Session) {
	t.Helper()
	select {
	case <-sess.Context().Done():
	case <-time.After(clienttest.Wait):
		t.Fatal("the server did not end the WebTransport session")
	}
}

// TestWebTransportHostile: what a client sends that it must not ends its
// session alone, with the reason, and the WebTransport session with it.
func TestWebTransportHostile(t *testing.T) {
	t.Parallel()
	tooLong := []byte{127, 0, 0, 0, 0, 0, 0x10, 0, 0, '4', 'x'} // declares 1 MiB
	cases := []struct {
		name  string
		write []byte
		want  error
	}{
		{"garbage", []byte{2, '9', 'x'}, codec.ErrUnknownType},
		{"oversize", tooLong, codec.ErrTooLarge},
		{"zero length", []byte{0}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := wtStartEcho(t, &eio.Options{MaxPayload: 1000}, false)
			// A well-behaved neighbour that must not notice.
			m := wtModes[0]
			good := clienttest.Dial(t, e.url, e.clientOpts(m))
			sess, str, _ := rawWT(t, e)
			hs := rawOpen(t, str)
			if _, err := str.Write(tc.write); err != nil {
				t.Fatal(err)
			}
			waitSessionEnd(t, sess)
			ev := e.nextDisconnect(t)
			if ev.SID != hs.SID || ev.Reason != eio.ReasonTransportError {
				t.Errorf("server ended %s with %v (%v), want %s with transport error", ev.SID, ev.Reason, ev.Err, hs.SID)
			}
			if tc.want != nil && !errors.Is(ev.Err, tc.want) {
				t.Errorf("disconnect error %v, want %v", ev.Err, tc.want)
			}
			if err := good.Send([]byte("still here")); err != nil {
				t.Fatal(err)
			}
			clienttest.ExpectText(t, good, "still here")
		})
	}
}

// TestWebTransportRefusedHandshakes: a session whose first packet is not
// an open packet, names no session the server has, or never comes is
// closed, and opens nothing.
func TestWebTransportRefusedHandshakes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		write []byte
	}{
		{"message first", codec.AppendStreamFrame(nil, codec.Packet{Type: codec.Message, Data: []byte("hi")})},
		{"unknown sid", codec.AppendStreamFrame(nil, codec.Packet{Type: codec.Open, Data: []byte(`{"sid":"nope"}`)})},
		{"sid not a string", codec.AppendStreamFrame(nil, codec.Packet{Type: codec.Open, Data: []byte(`{"sid":1}`)})},
		{"nothing", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := wtStartEcho(t, &eio.Options{UpgradeTimeout: 200 * time.Millisecond}, false)
			sess, str, _ := rawWT(t, e)
			if tc.write != nil {
				if _, err := str.Write(tc.write); err != nil {
					t.Fatal(err)
				}
			}
			waitSessionEnd(t, sess)
			if n := e.srv.Len(); n != 0 {
				t.Errorf("server holds %d sessions, want 0", n)
			}
		})
	}
}

// TestWebTransportVanishedClient: a client whose socket goes away without
// a word is found out by the heartbeat.
func TestWebTransportVanishedClient(t *testing.T) {
	t.Parallel()
	e := wtStartEcho(t, &eio.Options{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond}, false)
	_, str, udp := rawWT(t, e)
	hs := rawOpen(t, str)
	udp.Close()
	ev := e.nextDisconnect(t)
	if ev.SID != hs.SID || ev.Reason != eio.ReasonPingTimeout {
		t.Errorf("server ended %s with %v (%v), want %s with ping timeout", ev.SID, ev.Reason, ev.Err, hs.SID)
	}
}

// TestWebTransportUpgradesListed: the open packet offers webtransport
// once the server listens for it, and only if Transports allows it.
func TestWebTransportUpgradesListed(t *testing.T) {
	t.Parallel()
	upgrades := func(e *clEcho) []string {
		rsp, err := http.Get(e.url + "/engine.io/?EIO=4&transport=polling")
		if err != nil {
			t.Fatal(err)
		}
		defer rsp.Body.Close()
		body, _ := io.ReadAll(rsp.Body)
		pkts, err := codec.DecodePayload(body, codec.V4, codec.Limits{}, nil)
		if err != nil {
			t.Fatalf("handshake %q: %v", body, err)
		}
		hs, err := codec.ParseHandshake(pkts[0].Data)
		if err != nil {
			t.Fatal(err)
		}
		return hs.Upgrades
	}
	e := clStartEcho(t, nil, false)
	if got := upgrades(e); !slices.Equal(got, []string{"websocket"}) {
		t.Errorf("upgrades before ListenWebTransport %q", got)
	}
	w := wtStartEcho(t, nil, false)
	if got := upgrades(w.clEcho); !slices.Equal(got, []string{"websocket", "webtransport"}) {
		t.Errorf("upgrades with WebTransport %q", got)
	}
	off := eio.NewServer(&eio.Options{Transports: []string{"polling", "websocket"}})
	defer off.Close()
	cert, err := devcert.Generate(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := off.ListenWebTransport("127.0.0.1:0", cert.TLSConfig()); !errors.Is(err, eio.ErrWebTransportDisabled) {
		t.Errorf("ListenWebTransport without it in Transports: %v", err)
	}
}

// TestWebTransportAuthorize: Authorize sees a new WebTransport session's
// CONNECT request, and its refusal opens nothing.
func TestWebTransportAuthorize(t *testing.T) {
	t.Parallel()
	e := wtStartEcho(t, &eio.Options{
		AuthorizeSession: func(r *http.Request) (any, error) {
			if r.Header.Get("X-Token") != "ok" {
				return nil, errors.New("no token")
			}
			return "user-1", nil
		},
	}, false)
	o := e.clientOpts(wtModes[0])
	ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
	defer cancel()
	if c, err := eio.Dial(ctx, e.url, o); err == nil {
		c.Close(ctx)
		t.Fatal("Dial without a token succeeded")
	}
	o.Header = http.Header{"X-Token": {"ok"}}
	c := clienttest.Dial(t, e.url, o)
	if data, err := e.srv.Session(ctx, c.SID()); err != nil || data != "user-1" {
		t.Errorf("session data %v (%v), want user-1", data, err)
	}
}

// TestWebTransportShutdown: Shutdown ends WebTransport sessions as it ends
// the others, with the close packet, and waits for every goroutine (the
// package's goleak check).
func TestWebTransportShutdown(t *testing.T) {
	t.Parallel()
	for _, m := range wtModes {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			e := wtStartEcho(t, nil, false)
			c := e.dial(t, m)
			ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
			defer cancel()
			if err := e.srv.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if end := clienttest.ExpectEnd(t, c); end.Reason != eio.ReasonServerDisconnect {
				t.Errorf("client's disconnect %v (%v), want server disconnect", end.Reason, end.Err)
			}
		})
	}
}

// TestWebTransportStalledClient: a client that stops reading its stream
// holds its session up only until the bounded queue fills (or a write
// times out): then the session ends, and the others go on.
func TestWebTransportStalledClient(t *testing.T) {
	t.Parallel()
	e := wtStartEcho(t, &eio.Options{MaxQueueBytes: 64 << 10, WriteTimeout: 500 * time.Millisecond}, false)
	good := clienttest.Dial(t, e.url, e.clientOpts(wtModes[0]))
	_, str, _ := rawWT(t, e)
	hs := rawOpen(t, str) // and never reads again
	msg := make([]byte, 4096)
	var err error
	for i := 0; err == nil; i++ {
		if i > 1_000_000 {
			t.Fatal("a million sends to a client that reads nothing all succeeded")
		}
		err = e.srv.SendBinary(hs.SID, msg)
	}
	if !errors.Is(err, eio.ErrSlowConsumer) && !errors.Is(err, eio.ErrSessionClosed) && !errors.Is(err, eio.ErrUnknownSession) {
		t.Fatalf("Send to a stalled client: %v", err)
	}
	ev := e.nextDisconnect(t)
	if ev.SID != hs.SID || ev.Reason != eio.ReasonSlowConsumer && ev.Reason != eio.ReasonTransportError {
		t.Errorf("server ended %s with %v (%v), want %s as a slow consumer or a write timeout", ev.SID, ev.Reason, ev.Err, hs.SID)
	}
	if err := good.Send([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	clienttest.ExpectText(t, good, "still here")
}

// TestWebTransportClose: Close cuts WebTransport sessions, direct and
// upgraded, and returns once every goroutine has exited (the package's
// goleak check); the clients see their sessions end.
func TestWebTransportClose(t *testing.T) {
	t.Parallel()
	e := wtStartEcho(t, nil, false)
	var clients []*eio.Client
	for _, m := range wtModes {
		clients = append(clients, e.dial(t, m))
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if end := clienttest.ExpectEnd(t, c); end.Reason != eio.ReasonTransportClose && end.Reason != eio.ReasonServerDisconnect {
			t.Errorf("client's disconnect %v (%v)", end.Reason, end.Err)
		}
	}
	if _, err := e.srv.ListenWebTransport("127.0.0.1:0", e.cert.TLSConfig()); !errors.Is(err, eio.ErrServerClosed) {
		t.Errorf("ListenWebTransport after Close: %v, want ErrServerClosed", err)
	}
}

// TestWebTransportOrigin: a page of another host may not open a session;
// one of the same host may, whatever its scheme (a page served over
// http:// opens WebTransport over https://).
func TestWebTransportOrigin(t *testing.T) {
	t.Parallel()
	e := wtStartEcho(t, nil, false)
	u, _ := url.Parse(e.url)
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{"http://evil.example", http.StatusBadRequest},
		{"http://" + u.Host, http.StatusOK},
	} {
		d := &webtransport.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
			QUICConfig:      &quic.Config{EnableDatagrams: true, EnableStreamResetPartialDelivery: true},
		}
		ctx, cancel := context.WithTimeout(context.Background(), clienttest.Wait)
		rsp, sess, err := d.Dial(ctx, e.wtURL, http.Header{"Origin": {tc.origin}})
		cancel()
		if rsp == nil || rsp.StatusCode != tc.want {
			t.Errorf("Origin %s: answer %v (%v), want %d", tc.origin, rsp, err, tc.want)
		}
		if sess != nil {
			sess.CloseWithError(0, "")
		}
		d.Close()
	}
}
