package transport_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/internal/devcert"
	"github.com/chanio/chanio/transport"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/webtransport-go"
)

// waitLimit bounds every wait of these tests on an event: a guard against
// a hang, never a synchronisation.
const waitLimit = 20 * time.Second

// wtServer is a WebTransportServer on a loopback UDP port whose handler
// upgrades every CONNECT to /engine.io/ and hands the connection, before
// its handshake, to the test.
type wtServer struct {
	srv   *transport.WebTransportServer
	url   string
	cert  *devcert.Certificate
	conns chan *transport.WebTransportConn
}

func startWT(t testing.TB, o transport.WebTransportOptions) *wtServer {
	t.Helper()
	cert, err := devcert.Generate(0)
	if err != nil {
		t.Fatal(err)
	}
	s := &wtServer{cert: cert, conns: make(chan *transport.WebTransportConn, 64)}
	s.srv = transport.NewWebTransportServer(&transport.WebTransportServerOptions{
		TLSConfig: cert.TLSConfig(),
		Conn:      o,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodConnect || r.URL.Path != "/engine.io/" {
				http.NotFound(w, r)
				return
			}
			c, err := s.srv.Upgrade(w, r)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			s.conns <- c
		}),
	})
	addr, err := s.srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.srv.Close(); err != nil {
			t.Errorf("server Close: %v", err)
		}
	})
	s.url = "https://" + addr.String() + "/engine.io/"
	return s
}

// accept returns the next connection the server upgraded.
func (s *wtServer) accept(t testing.TB) *transport.WebTransportConn {
	t.Helper()
	select {
	case c := <-s.conns:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(waitLimit):
		t.Fatal("no WebTransport session arrived")
		return nil
	}
}

// dial opens a client connection to s, pinning its certificate by hash.
func (s *wtServer) dial(t testing.TB, sid string, o transport.WebTransportOptions) *transport.WebTransportConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := transport.DialWebTransport(ctx, s.url, &transport.WebTransportDialOptions{
		CertificateHashes: [][sha256.Size]byte{s.cert.Hash},
		SID:               sid,
		Conn:              o,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// collector is what a test gives Start: the packets in a channel, and the
// end's reason.
type collector struct {
	pkts chan codec.Packet
	end  chan error
	quit chan struct{}
}

// collect starts c's reader into a new collector. Its deliver waits for
// room, unless the test has ended.
func collect(t testing.TB, c *transport.WebTransportConn) *collector {
	t.Helper()
	r := &collector{pkts: make(chan codec.Packet, 4096), end: make(chan error, 1), quit: make(chan struct{})}
	deliver := func(p codec.Packet) error {
		select {
		case r.pkts <- p:
			return nil
		case <-r.quit:
			return errors.New("test over")
		}
	}
	if err := c.Start(deliver, func(err error) { r.end <- err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(r.quit) }) // runs before the Close registered earlier
	return r
}

func (r *collector) next(t testing.TB) codec.Packet {
	t.Helper()
	select {
	case p := <-r.pkts:
		return p
	case err := <-r.end:
		r.end <- err // for ended
		select {
		case p := <-r.pkts: // delivered before the end
			return p
		default:
		}
		t.Fatalf("the reader ended (%v) before the packet came", err)
	case <-time.After(waitLimit):
		t.Fatal("no packet came")
	}
	return codec.Packet{}
}

func (r *collector) ended(t testing.TB) error {
	t.Helper()
	select {
	case err := <-r.end:
		return err
	case <-time.After(waitLimit):
		t.Fatal("the reader did not end")
		return nil
	}
}

func msg(s string) codec.Packet { return codec.Packet{Type: codec.Message, Data: []byte(s)} }

func samePacket(a, b codec.Packet) bool {
	return a.Type == b.Type && a.Binary == b.Binary && bytes.Equal(a.Data, b.Data)
}

// handshake runs the server's side of the handshake of the next
// connection and returns it with the sid the client named.
func (s *wtServer) handshake(t testing.TB) (*transport.WebTransportConn, string) {
	t.Helper()
	c := s.accept(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	sid, err := c.Handshake(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c, sid
}

// TestWebTransportEcho: a client and a server exchange, as Engine.IO
// does, the open packets, text and binary messages both ways, 1,000
// numbered messages in order, and a 900 KB one.
func TestWebTransportEcho(t *testing.T) {
	t.Parallel()
	s := startWT(t, transport.WebTransportOptions{MaxPayload: 1_000_000})
	client := s.dial(t, "", transport.WebTransportOptions{MaxPayload: 1_000_000})
	server, sid := s.handshake(t)
	if sid != "" {
		t.Fatalf("a new session's handshake named sid %q", sid)
	}
	open := codec.Packet{Type: codec.Open, Data: []byte(`{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)}
	if err := server.WritePackets([]codec.Packet{open}); err != nil {
		t.Fatal(err)
	}
	// The server echoes every message.
	srvEnd := make(chan error, 1)
	err := server.Start(func(p codec.Packet) error {
		return server.WritePackets([]codec.Packet{p})
	}, func(err error) { srvEnd <- err })
	if err != nil {
		t.Fatal(err)
	}
	r := collect(t, client)
	if p := r.next(t); !samePacket(p, open) {
		t.Fatalf("the client's first packet is %v, want the open packet", p)
	}

	sent := []codec.Packet{msg("hello ✓"), {Type: codec.Message, Data: []byte{1, 2, 3, 250}, Binary: true}, {Type: codec.Message, Binary: true, Data: []byte{}}}
	if err := client.WritePackets(sent); err != nil {
		t.Fatal(err)
	}
	for _, want := range sent {
		if got := r.next(t); !samePacket(got, want) {
			t.Fatalf("echo %v, want %v", got, want)
		}
	}

	batch := make([]codec.Packet, 0, 100)
	for i := range 1000 {
		batch = append(batch, msg("n:"+strconv.Itoa(i)))
		if len(batch) == cap(batch) {
			if err := client.WritePackets(batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	for i := range 1000 {
		if got := r.next(t); string(got.Data) != "n:"+strconv.Itoa(i) {
			t.Fatalf("message %d: %v", i, got)
		}
	}

	large := codec.Packet{Type: codec.Message, Data: bytes.Repeat([]byte("L"), 900_000)}
	if err := client.WritePackets([]codec.Packet{large}); err != nil {
		t.Fatal(err)
	}
	if got := r.next(t); !samePacket(got, large) {
		t.Fatalf("the 900 KB message came back as %d bytes", len(got.Data))
	}

	// The client closes: the server's reader ends with io.EOF, the
	// client's own with net.ErrClosed.
	client.Close()
	if err := <-srvEnd; !errors.Is(err, io.EOF) {
		t.Errorf("server's reader ended with %v, want io.EOF", err)
	}
	if err := r.ended(t); !errors.Is(err, net.ErrClosed) {
		t.Errorf("client's reader ended with %v, want net.ErrClosed", err)
	}
	if err := client.WritePackets([]codec.Packet{msg("late")}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("a write after Close: %v, want net.ErrClosed", err)
	}
}

// TestWebTransportServerCloses: the server closes; the client's reader
// ends with io.EOF.
func TestWebTransportServerCloses(t *testing.T) {
	t.Parallel()
	s := startWT(t, transport.WebTransportOptions{MaxPayload: 1000})
	client := s.dial(t, "", transport.WebTransportOptions{MaxPayload: 1000})
	server, _ := s.handshake(t)
	r := collect(t, client)
	if err := server.WritePackets([]codec.Packet{msg("bye")}); err != nil {
		t.Fatal(err)
	}
	if p := r.next(t); string(p.Data) != "bye" {
		t.Fatalf("got %v", p)
	}
	server.Close()
	// The cause is the server's close capsule or, when the client's own
	// QUIC connection closes first (webtransport-go closes it as soon as
	// the session ends), that close: both are the peer's end. That the
	// close is clean for Chromium is TestBrowserWebTransport's to show.
	if err := r.ended(t); !errors.Is(err, io.EOF) {
		t.Fatalf("client's reader ended with %v, want io.EOF", err)
	}
}

// TestWebTransportShutdownDelivers: Shutdown ends the stream after what was
// written; the peer reads it all, sees the end, and its close ends the
// wait.
func TestWebTransportShutdownDelivers(t *testing.T) {
	t.Parallel()
	s := startWT(t, transport.WebTransportOptions{MaxPayload: 1 << 20})
	client := s.dial(t, "", transport.WebTransportOptions{MaxPayload: 1 << 20})
	server, _ := s.handshake(t)
	srv := collect(t, server)
	var last codec.Packet
	clientEnd := make(chan error, 1)
	var n int
	err := client.Start(func(p codec.Packet) error { n++; last = p; return nil }, func(err error) {
		clientEnd <- err
	})
	if err != nil {
		t.Fatal(err)
	}
	pkts := make([]codec.Packet, 200)
	for i := range pkts {
		pkts[i] = msg(fmt.Sprintf("%04d%s", i, bytes.Repeat([]byte("x"), 2000)))
	}
	if err := server.WritePackets(pkts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- server.Shutdown(ctx) }()
	if err := <-clientEnd; !errors.Is(err, io.EOF) {
		t.Fatalf("client's reader ended with %v", err)
	}
	if n != len(pkts) || !samePacket(last, pkts[len(pkts)-1]) {
		t.Fatalf("client read %d packets, want %d", n, len(pkts))
	}
	client.Close()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := srv.ended(t); err == nil {
		t.Fatal("server's reader ended without a reason")
	}
}

// TestWebTransportUpgradeHandshake: a client that upgrades names its
// session in the open packet; what it sends right after arrives, in order,
// after the handshake.
func TestWebTransportUpgradeHandshake(t *testing.T) {
	t.Parallel()
	s := startWT(t, transport.WebTransportOptions{MaxPayload: 1000})
	client := s.dial(t, "lv_VI97HAXpY6yYWAAAC", transport.WebTransportOptions{MaxPayload: 1000})
	probe := []codec.Packet{{Type: codec.Ping, Data: []byte("probe")}, {Type: codec.Upgrade}}
	if err := client.WritePackets(probe); err != nil {
		t.Fatal(err)
	}
	server, sid := s.handshake(t)
	if sid != "lv_VI97HAXpY6yYWAAAC" {
		t.Fatalf("sid %q", sid)
	}
	r := collect(t, server)
	for _, want := range probe {
		if got := r.next(t); !samePacket(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// rawSession opens a WebTransport session to s with webtransport-go
// itself, for tests that write what chanio's client would not.
func rawSession(t testing.TB, s *wtServer) *webtransport.Session {
	t.Helper()
	d := &webtransport.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		QUICConfig:      &quic.Config{EnableDatagrams: true, EnableStreamResetPartialDelivery: true},
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, sess, err := d.Dial(ctx, s.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.CloseWithError(0, ""); d.Close() })
	return sess
}

// TestWebTransportHandshakeRules: the server's handshake takes what the
// reference takes and refuses, closing the session, what it refuses.
func TestWebTransportHandshakeRules(t *testing.T) {
	t.Parallel()
	frame := func(p codec.Packet) []byte { return codec.AppendStreamFrame(nil, p) }
	for _, tc := range []struct {
		name    string
		stream  []byte // nil: open no stream
		wantSID string
		wantErr bool
	}{
		{"new session", frame(codec.Packet{Type: codec.Open}), "", false},
		{"upgrade", frame(codec.Packet{Type: codec.Open, Data: []byte(`{"sid":"abc"}`)}), "abc", false},
		{"upgrade with other keys", frame(codec.Packet{Type: codec.Open, Data: []byte(`{"x":1,"sid":"abc"}`)}), "abc", false},
		{"in chunks with more after", append(frame(codec.Packet{Type: codec.Open}), frame(msg("x"))...), "", false},
		{"no stream", nil, "", true},
		{"not an open packet", frame(msg("hello")), "", true},
		{"bad frame (the reference's test)", []byte{1, 2, 3}, "", true},
		{"zero-length frame", []byte{0}, "", true},
		{"sid not JSON", frame(codec.Packet{Type: codec.Open, Data: []byte(`sid`)}), "", true},
		{"sid a number", frame(codec.Packet{Type: codec.Open, Data: []byte(`{"sid":1}`)}), "", true},
		{"sid empty", frame(codec.Packet{Type: codec.Open, Data: []byte(`{"sid":""}`)}), "", true},
		{"SID in capitals", frame(codec.Packet{Type: codec.Open, Data: []byte(`{"SID":"abc"}`)}), "", true},
		{"JSON array", frame(codec.Packet{Type: codec.Open, Data: []byte(`["abc"]`)}), "", true},
		{"stream ends before a packet", []byte{0x05, '0'}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startWT(t, transport.WebTransportOptions{MaxPayload: 1000})
			sess := rawSession(t, s)
			if tc.stream != nil {
				str, err := sess.OpenStream()
				if err != nil {
					t.Fatal(err)
				}
				// Byte by byte: the handshake reads a frame across reads.
				for i := range tc.stream {
					if _, err := str.Write(tc.stream[i : i+1]); err != nil {
						t.Fatal(err)
					}
				}
				if tc.wantErr {
					str.Close() // the stream ends: the handshake cannot wait for more
				}
			}
			c := s.accept(t)
			// A session without a stream waits out its context: a short
			// one, since the time itself is what it tests.
			limit := waitLimit
			if tc.stream == nil {
				limit = 200 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			sid, err := c.Handshake(ctx)
			if tc.wantErr {
				if !errors.Is(err, transport.ErrWebTransportHandshake) {
					t.Fatalf("Handshake = %q, %v; want ErrWebTransportHandshake", sid, err)
				}
				// The session is closed: the client sees it end.
				select {
				case <-sess.Context().Done():
				case <-time.After(waitLimit):
					t.Fatal("the refused session stays open")
				}
				return
			}
			if err != nil || sid != tc.wantSID {
				t.Fatalf("Handshake = %q, %v; want %q", sid, err, tc.wantSID)
			}
		})
	}
}

// TestWebTransportMaxPayload: a frame that declares more than MaxPayload
// ends the connection, before its bytes come, with codec.ErrTooLarge; the
// peer sees its session end.
func TestWebTransportMaxPayload(t *testing.T) {
	t.Parallel()
	s := startWT(t, transport.WebTransportOptions{MaxPayload: 1000})
	client := s.dial(t, "", transport.WebTransportOptions{MaxPayload: 1 << 20})
	server, _ := s.handshake(t)
	srv := collect(t, server)
	cli := collect(t, client)
	if err := client.WritePackets([]codec.Packet{msg("fits"), msg(string(bytes.Repeat([]byte("x"), 1000)))}); err != nil {
		t.Fatal(err)
	}
	if p := srv.next(t); string(p.Data) != "fits" {
		t.Fatalf("got %v", p)
	}
	if err := srv.ended(t); !errors.Is(err, codec.ErrTooLarge) {
		t.Fatalf("server's reader ended with %v, want codec.ErrTooLarge", err)
	}
	if err := cli.ended(t); !errors.Is(err, io.EOF) {
		t.Fatalf("client's reader ended with %v, want io.EOF", err)
	}
}

// TestWebTransportReadBudget: packets still arriving are bounded across
// connections by a shared ReadBudget.
func TestWebTransportReadBudget(t *testing.T) {
	t.Parallel()
	budget := transport.NewReadBudget(64 << 10)
	s := startWT(t, transport.WebTransportOptions{MaxPayload: 1 << 20, Budget: budget})
	client := s.dial(t, "", transport.WebTransportOptions{MaxPayload: 1 << 20})
	server, _ := s.handshake(t)
	srv := collect(t, server)
	// The write may fail: the server ends the connection while it waits
	// for flow control.
	_ = client.WritePackets([]codec.Packet{msg("small"), msg(string(bytes.Repeat([]byte("x"), 200<<10)))})
	if p := srv.next(t); string(p.Data) != "small" {
		t.Fatalf("got %v", p)
	}
	if err := srv.ended(t); !errors.Is(err, transport.ErrReadBudget) {
		t.Fatalf("server's reader ended with %v, want ErrReadBudget", err)
	}
	if n := budget.InUse(); n != 0 {
		t.Fatalf("the budget holds %d bytes after the connection ended", n)
	}
}

// TestWebTransportConcurrentWrites: writes from many goroutines at once
// arrive whole, each writer's in its order.
func TestWebTransportConcurrentWrites(t *testing.T) {
	t.Parallel()
	s := startWT(t, transport.WebTransportOptions{MaxPayload: 1 << 20})
	client := s.dial(t, "", transport.WebTransportOptions{MaxPayload: 1 << 20})
	server, _ := s.handshake(t)
	r := collect(t, server)
	const writers, each = 8, 100
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				p := msg(fmt.Sprintf("%d:%d:%s", w, i, bytes.Repeat([]byte{'a' + byte(w)}, 3000)))
				if err := client.WritePackets([]codec.Packet{p}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	next := make([]int, writers)
	for range writers * each {
		p := r.next(t)
		var w, i int
		if _, err := fmt.Sscanf(string(p.Data), "%d:%d:", &w, &i); err != nil || w < 0 || w >= writers || i != next[w] {
			t.Fatalf("packet %.20q out of order (next of writer %d is %d)", p.Data, w, next[w])
		}
		next[w]++
	}
	wg.Wait()
}

// TestWebTransportWriteTimeout: a peer that does not read holds up writes
// through flow control; WriteTimeout ends them.
func TestWebTransportWriteTimeout(t *testing.T) {
	t.Parallel()
	s := startWT(t, transport.WebTransportOptions{MaxPayload: 1 << 20, WriteTimeout: 300 * time.Millisecond})
	client := s.dial(t, "", transport.WebTransportOptions{MaxPayload: 1 << 20})
	_ = client // it never reads
	server, _ := s.handshake(t)
	chunk := []codec.Packet{msg(string(bytes.Repeat([]byte("x"), 64<<10)))}
	for i := 0; ; i++ {
		err := server.WritePackets(chunk)
		if err == nil {
			if i > 1000 { // 64 MB: flow control should have stopped it long ago
				t.Fatal("writes to a peer that does not read never blocked")
			}
			continue
		}
		var nerr net.Error
		if !errors.As(err, &nerr) || !nerr.Timeout() {
			t.Fatalf("write %d failed with %v, want a timeout", i, err)
		}
		return
	}
}

// TestWebTransportCertificatePinning: a dial pins the certificate by hash
// as browsers do, or verifies it as TLS does without hashes.
func TestWebTransportCertificatePinning(t *testing.T) {
	t.Parallel()
	s := startWT(t, transport.WebTransportOptions{MaxPayload: 1000})
	dial := func(o *transport.WebTransportDialOptions) error {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		c, err := transport.DialWebTransport(ctx, s.url, o)
		if err == nil {
			c.Close()
		}
		return err
	}
	other, err := devcert.Generate(0)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(s.cert.TLS.Leaf)
	for _, tc := range []struct {
		name string
		o    *transport.WebTransportDialOptions
		want error // nil: the dial succeeds
	}{
		{"pinned", &transport.WebTransportDialOptions{CertificateHashes: [][sha256.Size]byte{other.Hash, s.cert.Hash}}, nil},
		{"another hash", &transport.WebTransportDialOptions{CertificateHashes: [][sha256.Size]byte{other.Hash}}, transport.ErrCertificateNotPinned},
		{"trusted root", &transport.WebTransportDialOptions{TLSConfig: &tls.Config{RootCAs: roots}}, nil},
		{"system roots", nil, x509.UnknownAuthorityError{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := dial(tc.o)
			switch want := tc.want.(type) {
			case nil:
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
			case x509.UnknownAuthorityError:
				if !errors.As(err, &want) {
					t.Fatalf("dial: %v, want an unknown authority", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("dial: %v, want %v", err, want)
				}
			}
		})
	}
	// Nothing reached the server's handler but the successful dials.
	for range 2 {
		s.accept(t)
	}
}

// A certificate valid for longer than two weeks cannot be pinned, as in
// browsers, even by its hash.
func TestWebTransportPinRefusesLongValidity(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	long := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv := transport.NewWebTransportServer(&transport.WebTransportServerOptions{TLSConfig: long})
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(pc) }()
	defer func() {
		srv.Close()
		if err := <-served; !errors.Is(err, transport.ErrWebTransportServerClosed) {
			t.Errorf("Serve returned %v, want ErrWebTransportServerClosed", err)
		}
		pc.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, err = transport.DialWebTransport(ctx, "https://"+pc.LocalAddr().String()+"/engine.io/", &transport.WebTransportDialOptions{
		CertificateHashes: [][sha256.Size]byte{sha256.Sum256(der)},
	})
	if !errors.Is(err, transport.ErrCertificateNotPinned) {
		t.Fatalf("dial: %v, want ErrCertificateNotPinned", err)
	}
}

// TestWebTransportServerClose: closing the server ends every connection it
// made, and refuses new ones.
func TestWebTransportServerClose(t *testing.T) {
	t.Parallel()
	s := startWT(t, transport.WebTransportOptions{MaxPayload: 1000})
	var clients, servers []*collector
	for range 3 {
		c := s.dial(t, "", transport.WebTransportOptions{MaxPayload: 1000})
		clients = append(clients, collect(t, c))
		sc, _ := s.handshake(t)
		servers = append(servers, collect(t, sc))
	}
	if err := s.srv.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range servers {
		if err := servers[i].ended(t); !errors.Is(err, net.ErrClosed) {
			t.Errorf("server conn %d ended with %v, want net.ErrClosed", i, err)
		}
		if err := clients[i].ended(t); err == nil {
			t.Errorf("client %d's reader ended without a reason", i)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := transport.DialWebTransport(ctx, s.url, &transport.WebTransportDialOptions{CertificateHashes: [][sha256.Size]byte{s.cert.Hash}}); err == nil {
		t.Fatal("a dial to a closed server succeeded")
	}
	if _, err := s.srv.Listen("127.0.0.1:0"); !errors.Is(err, transport.ErrWebTransportServerClosed) {
		t.Fatalf("Listen after Close: %v", err)
	}
}

// Start, Handshake and Close used out of turn fail cleanly.
func TestWebTransportMisuse(t *testing.T) {
	t.Parallel()
	s := startWT(t, transport.WebTransportOptions{MaxPayload: 1000})
	client := s.dial(t, "", transport.WebTransportOptions{MaxPayload: 1000})
	server := s.accept(t)
	nop := func(codec.Packet) error { return nil }
	if err := server.Start(nop, func(error) {}); err == nil {
		t.Error("Start before Handshake succeeded")
	}
	if _, err := client.Handshake(context.Background()); !errors.Is(err, transport.ErrWebTransportHandshake) {
		t.Errorf("Handshake on a client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := server.Handshake(ctx); err != nil {
		t.Fatal(err)
	}
	end := make(chan error, 1)
	if err := server.Start(nop, func(err error) { end <- err }); err != nil {
		t.Fatal(err)
	}
	if err := server.Start(nop, func(error) {}); err == nil {
		t.Error("a second Start succeeded")
	}
	server.Close()
	server.Close()
	if err := <-end; !errors.Is(err, net.ErrClosed) {
		t.Errorf("reader ended with %v, want net.ErrClosed", err)
	}
	if err := server.Start(nop, func(error) {}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	client.Close()
}

// TestWebTransportGarbage: a bad frame after the handshake ends the
// connection with the decoder's error, after the packets before it were
// delivered, and the peer sees its session end.
func TestWebTransportGarbage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		garbage  []byte
		sentinel error
	}{
		{"zero length", []byte{0x00}, codec.ErrEmptyPacket},
		{"unknown type", []byte{0x02, '9', '9'}, codec.ErrUnknownType},
		{"invalid UTF-8", []byte{0x03, '4', 0xff, 0xfe}, codec.ErrInvalidUTF8},
		{"declared past MaxPayload", []byte{0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, codec.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startWT(t, transport.WebTransportOptions{MaxPayload: 1000})
			sess := rawSession(t, s)
			str, err := sess.OpenStream()
			if err != nil {
				t.Fatal(err)
			}
			in := codec.AppendStreamFrames(nil, []codec.Packet{{Type: codec.Open}, msg("before")})
			if _, err := str.Write(append(in, tc.garbage...)); err != nil {
				t.Fatal(err)
			}
			server, _ := s.handshake(t)
			r := collect(t, server)
			if p := r.next(t); string(p.Data) != "before" {
				t.Fatalf("got %v", p)
			}
			var se *codec.SyntaxError
			if err := r.ended(t); !errors.Is(err, tc.sentinel) || !errors.As(err, &se) {
				t.Fatalf("the reader ended with %v, want a *codec.SyntaxError wrapping %v", err, tc.sentinel)
			}
			select {
			case <-sess.Context().Done():
			case <-time.After(waitLimit):
				t.Fatal("the client's session stays open")
			}
		})
	}
}
