package transport_test

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/transport"
)

// discardConn is a net.Conn that accepts every write and counts it, and
// reads from r (EOF when r is nil).
type discardConn struct {
	net.Conn // nil: only Read, Write, Close and the deadlines are used
	n        int64
	r        io.Reader
}

func (c *discardConn) Read(p []byte) (int, error) {
	if c.r == nil {
		return 0, io.EOF
	}
	return c.r.Read(p)
}

func (c *discardConn) Write(p []byte) (int, error)      { c.n += int64(len(p)); return len(p), nil }
func (c *discardConn) Close() error                     { return nil }
func (c *discardConn) SetWriteDeadline(time.Time) error { return nil }

func benchPackets(size int) []codec.Packet {
	data := bytes.Repeat([]byte(`{"user":"alice","n":12345},`), size/27+1)[:size]
	return []codec.Packet{{Type: codec.Message, Data: data}}
}

// BenchmarkWritePackets measures one text message written by a server-side
// WebSocket without compression: the path the echo benchmark exercises.
func BenchmarkWritePackets(b *testing.B) {
	for _, size := range []int{32, 1024, 16 << 10} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			conn := &discardConn{}
			c := transport.NewWebSocket(conn, nil, transport.ServerSide, 1<<20, 0)
			pkts := benchPackets(size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := c.WritePackets(pkts, codec.V4); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(conn.n)/float64(b.N), "wire-B/msg")
		})
	}
}

// BenchmarkWriteBatch is BenchmarkWritePackets through WriteBatch, the
// server session's write: a packet of its own ("plain"), or a message
// prepared for a broadcast.
func BenchmarkWriteBatch(b *testing.B) {
	for _, size := range []int{32, 1024} {
		for _, prepared := range []bool{false, true} {
			name := strconv.Itoa(size) + "B/plain"
			if prepared {
				name = strconv.Itoa(size) + "B/prepared"
			}
			b.Run(name, func(b *testing.B) {
				c := transport.NewWebSocket(&discardConn{}, nil, transport.ServerSide, 1<<20, 0)
				items := []transport.Outgoing{{Packet: benchPackets(size)[0]}}
				if prepared {
					items[0] = transport.Prepare(items[0].Packet, transport.PrepareOptions{})
				}
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					if err := c.WriteBatch(items, codec.V4); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// loopReader replays one frame forever.
type loopReader struct {
	frame []byte
	off   int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.frame[r.off:])
		n += c
		r.off = (r.off + c) % len(r.frame)
	}
	return n, nil
}

// BenchmarkReadMessage measures a server-side WebSocket reading one masked
// text message without compression.
func BenchmarkReadMessage(b *testing.B) {
	for _, size := range []int{32, 1024, 16 << 10} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			var frame bytes.Buffer
			client := transport.NewWebSocket(&writeTo{&frame}, nil, transport.ClientSide, 1<<20, 0)
			if err := client.WritePackets(benchPackets(size), codec.V4); err != nil {
				b.Fatal(err)
			}
			c := transport.NewWebSocket(&discardConn{r: &loopReader{frame: frame.Bytes()}}, nil, transport.ServerSide, 1<<20, 0)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, _, err := c.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// writeTo is a net.Conn writing into a buffer.
type writeTo struct{ w *bytes.Buffer }

func (c *writeTo) Write(p []byte) (int, error)      { return c.w.Write(p) }
func (c *writeTo) Read([]byte) (int, error)         { return 0, io.EOF }
func (c *writeTo) Close() error                     { return nil }
func (c *writeTo) LocalAddr() net.Addr              { return nil }
func (c *writeTo) RemoteAddr() net.Addr             { return nil }
func (c *writeTo) SetDeadline(time.Time) error      { return nil }
func (c *writeTo) SetReadDeadline(time.Time) error  { return nil }
func (c *writeTo) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkWritePacketsDeflate measures the same messages with
// permessage-deflate on at the default 1 KiB threshold: 32 B goes plain.
func BenchmarkWritePacketsDeflate(b *testing.B) {
	for _, size := range []int{32, 1025, 16 << 10} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			conn := &discardConn{}
			c := transport.NewWebSocketWith(conn, nil, transport.WebSocketOptions{
				Side: transport.ServerSide, MaxMessage: 1 << 20, Deflate: true,
			})
			pkts := benchPackets(size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := c.WritePackets(pkts, codec.V4); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(conn.n)/float64(b.N), "wire-B/msg")
		})
	}
}

// BenchmarkReadMessageDeflate measures a server-side WebSocket reading one
// compressed message.
func BenchmarkReadMessageDeflate(b *testing.B) {
	for _, size := range []int{1025, 16 << 10} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			var frame bytes.Buffer
			o := transport.WebSocketOptions{Side: transport.ClientSide, MaxMessage: 1 << 20, Deflate: true}
			client := transport.NewWebSocketWith(&writeTo{&frame}, nil, o)
			if err := client.WritePackets(benchPackets(size), codec.V4); err != nil {
				b.Fatal(err)
			}
			o.Side = transport.ServerSide
			c := transport.NewWebSocketWith(&discardConn{r: &loopReader{frame: frame.Bytes()}}, nil, o)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, _, err := c.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
