package transport

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/internal/stall"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestIdleReaderHoldsNoBuffer: a WebSocket waiting for data holds no read
// buffer, and bytes buffered by the handshake's reader come first.
func TestIdleReaderHoldsNoBuffer(t *testing.T) {
	clientConn, serverConn := tcpPair(t)
	client := NewWebSocket(clientConn, nil, ClientSide, 1<<20, 0)

	// A frame the "handshake" already read, in the handshake's reader.
	var early bytes.Buffer
	pre := NewWebSocket(&bufConn{Conn: clientConn, w: &early}, nil, ClientSide, 1<<20, 0)
	if err := pre.WritePackets([]codec.Packet{{Type: codec.Message, Data: []byte("early")}}, codec.V4); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(bytes.NewReader(early.Bytes()))
	if _, err := br.Peek(early.Len()); err != nil {
		t.Fatal(err)
	}
	server := NewWebSocket(serverConn, br, ServerSide, 1<<20, 0)
	if data, _, err := server.ReadMessage(); err != nil || string(data) != "4early" {
		t.Fatalf("early frame: %q, %v", data, err)
	}
	if server.in.buf != nil {
		t.Fatal("buffer kept after the early bytes were read")
	}

	got := make(chan string, 1)
	go func() {
		data, _, err := server.ReadMessage()
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(data)
	}()
	waitBlocked(t, "transport.TestIdleReaderHoldsNoBuffer.func1") // the reader is parked, waiting
	if server.in.raw == nil {
		t.Fatal("a TCP connection should expose its descriptor")
	}
	if err := client.WritePackets([]codec.Packet{{Type: codec.Message, Data: []byte("later")}}, codec.V4); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "4later" {
		t.Fatalf("got %q", s)
	}
	if server.in.buf != nil {
		t.Fatal("buffer kept after the message was read")
	}
}

// waitBlocked waits until the goroutine running fn (a test's closure, as
// the goroutine dump names it) is blocked on the network.
func waitBlocked(t *testing.T, fn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := stall.Wait(ctx, stall.IOWait, fn, 1); err != nil {
		t.Fatal(err)
	}
}

// bufConn writes into a buffer instead of its connection.
type bufConn struct {
	net.Conn
	w *bytes.Buffer
}

func (c *bufConn) Write(p []byte) (int, error) { return c.w.Write(p) }

// captureConn writes into a slice instead of its connection.
type captureConn struct {
	net.Conn
	out *[]byte
}

func (c *captureConn) Write(p []byte) (int, error) {
	*c.out = append(*c.out, p...)
	return len(p), nil
}

// deadlineCounter is a connection without a descriptor (like a TLS one)
// that counts the read deadlines set on it.
type deadlineCounter struct {
	net.Conn
	mu  sync.Mutex
	set int
}

func (c *deadlineCounter) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.set++
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *deadlineCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.set
}

// TestStopIdleWait: after StopIdleWait a reader blocks in its read without
// being woken every idle period (before it, each period moves the
// deadline), and still gets the next message.
func TestStopIdleWait(t *testing.T) {
	clientConn, serverConn := tcpPair(t)
	client := NewWebSocket(clientConn, nil, ClientSide, 1<<20, 0)
	counted := &deadlineCounter{Conn: serverConn}
	server := NewWebSocket(counted, nil, ServerSide, 1<<20, 0)
	const idle = 10 * time.Millisecond
	if err := server.WaitReadable(idle); err != ErrIdle {
		t.Fatalf("WaitReadable on a quiet connection = %v, want ErrIdle", err)
	}
	server.StopIdleWait()
	before := counted.count()

	got := make(chan string, 1)
	go func() {
		data, _, err := server.ReadMessage()
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(data)
	}()
	waitBlocked(t, "transport.TestStopIdleWait.func1")
	// A blocked read, twenty idle periods long: that no deadline is set
	// for that long is what is tested, which takes the time.
	time.Sleep(20 * idle)
	if n := counted.count() - before; n != 0 {
		t.Fatalf("%d read deadlines set while blocked after StopIdleWait, want 0", n)
	}
	if err := client.WritePackets([]codec.Packet{{Type: codec.Message, Data: []byte("late")}}, codec.V4); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "4late" {
			t.Fatalf("read after StopIdleWait = %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the message never arrived")
	}
}
