package transport_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/transport"
)

// preparedPackets covers the frame header sizes (7-bit, 16-bit, 64-bit
// lengths), text and binary, empty data, a compressible and an
// incompressible message over the compression threshold, and packets
// other than messages.
func preparedPackets() map[string]codec.Packet {
	random := make([]byte, 3000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	return map[string]codec.Packet{
		"text":           {Type: codec.Message, Data: []byte("hello é 😀")},
		"empty text":     {Type: codec.Message, Data: []byte{}},
		"binary":         {Type: codec.Message, Data: []byte{0, 1, 0x1e, 255}, Binary: true},
		"empty binary":   {Type: codec.Message, Data: []byte{}, Binary: true},
		"text 125":       {Type: codec.Message, Data: bytes.Repeat([]byte("a"), 124)},
		"text 126":       {Type: codec.Message, Data: bytes.Repeat([]byte("a"), 125)},
		"text 64 KiB":    {Type: codec.Message, Data: bytes.Repeat([]byte("ab"), 1<<15)},
		"compressible":   {Type: codec.Message, Data: []byte(strings.Repeat("compress me ", 200))},
		"incompressible": {Type: codec.Message, Data: random, Binary: true},
		"noop":           {Type: codec.Noop},
		"ping probe":     {Type: codec.Ping, Data: []byte("probe")},
	}
}

var prepareOptions = map[string]transport.PrepareOptions{
	"v4":             {},
	"v3 and v4":      {V3: true},
	"deflate":        {Deflate: true},
	"v3 deflate 100": {V3: true, Deflate: true, DeflateThreshold: 100},
	"deflate never":  {Deflate: true, DeflateThreshold: -1},
}

// TestPrepareMatchesPerSessionEncoding: a prepared packet reaches a peer
// as the same bytes as the packet encoded for that connection alone, over
// WebSocket (each protocol, with and without permessage-deflate) and in a
// polling payload (each protocol), and the peer decodes the packet sent.
func TestPrepareMatchesPerSessionEncoding(t *testing.T) {
	for pname, p := range preparedPackets() {
		for oname, o := range prepareOptions {
			t.Run(pname+"/"+oname, func(t *testing.T) {
				item := transport.Prepare(p, o)
				if item.Packet.Type != p.Type || item.Packet.Binary != p.Binary || !bytes.Equal(item.Packet.Data, p.Data) {
					t.Fatalf("Outgoing.Packet %v, want %v", item.Packet, p)
				}
				mixed := []transport.Outgoing{{Packet: codec.Packet{Type: codec.Ping}}, item, {Packet: p}, item}
				plain := []codec.Packet{{Type: codec.Ping}, p, p, p}
				for _, v := range []codec.Version{codec.V4, codec.V3} {
					if got, want := transport.AppendPayload(nil, mixed, v), codec.AppendPayload(nil, plain, v); !bytes.Equal(got, want) {
						t.Errorf("V%d polling payload %q, want %q", v, got, want)
					}
					for _, deflate := range []bool{false, true} {
						wo := transport.WebSocketOptions{MaxMessage: 1 << 20, Deflate: deflate, DeflateThreshold: o.DeflateThreshold}
						got := wireBytes(t, wo, func(c *transport.WebSocket) error { return c.WriteBatch(mixed, v) })
						want := wireBytes(t, wo, func(c *transport.WebSocket) error { return c.WritePackets(plain, v) })
						if !bytes.Equal(got, want) {
							t.Errorf("V%d deflate=%v: WriteBatch wrote %d bytes unlike WritePackets' %d", v, deflate, len(got), len(want))
						}
						// The peer reads the packets back; and a client, whose
						// frames are masked, encodes prepared items itself.
						server, client := wsPair(t, wo)
						if err := server.WriteBatch(mixed, v); err != nil {
							t.Fatal(err)
						}
						if err := client.WriteBatch(mixed, v); err != nil {
							t.Fatal(err)
						}
						for i, want := range append(plain, plain...) {
							reader := client
							if i >= len(plain) {
								reader = server
							}
							data, binary, err := reader.ReadMessage()
							if err != nil {
								t.Fatalf("V%d frame %d: %v", v, i, err)
							}
							got, err := codec.DecodeFrame(data, binary, v)
							if err != nil || got.Type != want.Type || !bytes.Equal(got.Data, want.Data) ||
								want.Type == codec.Message && got.Binary != want.Binary {
								t.Fatalf("V%d frame %d decodes to %v (%v), want %v", v, i, got, err, want)
							}
						}
					}
				}
			})
		}
	}
}

// wireBytes returns what write puts on the wire of a server-side
// WebSocket configured by o.
func wireBytes(t *testing.T, o transport.WebSocketOptions, write func(*transport.WebSocket) error) []byte {
	t.Helper()
	c, peer := rawPeer(t, transport.ServerSide, o)
	if err := write(c); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	b, err := io.ReadAll(peer)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPrepareOwnsItsBytes: the prepared encodings are copies, so the
// caller may reuse its buffer once Prepare returns.
func TestPrepareOwnsItsBytes(t *testing.T) {
	data := []byte("before")
	item := transport.Prepare(codec.Packet{Type: codec.Message, Data: data}, transport.PrepareOptions{V3: true})
	copy(data, "AFTER!")
	if string(item.Packet.Data) != "before" {
		t.Fatalf("Packet.Data %q changed with the caller's buffer", item.Packet.Data)
	}
	if got := transport.AppendPayload(nil, []transport.Outgoing{item}, codec.V3); string(got) != "7:4before" {
		t.Fatalf("V3 payload %q", got)
	}
}

// TestPrepareOneAllocation: whatever forms it makes, Prepare allocates
// once.
func TestPrepareOneAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers under the race detector")
	}
	for pname, p := range preparedPackets() {
		for oname, o := range prepareOptions {
			if len(p.Data) > 32<<10 {
				continue // past the pooled buffers' size: its scratch is not pooled
			}
			transport.Prepare(p, o) // warm the pools
			if n := testing.AllocsPerRun(50, func() { transport.Prepare(p, o) }); n != 1 {
				t.Errorf("%s/%s: %v allocations, want 1", pname, oname, n)
			}
		}
	}
}

// TestZeroOutgoing: an Outgoing without a prepared form is encoded from
// its Packet, as WritePackets would.
func TestZeroOutgoing(t *testing.T) {
	var zero transport.Prepared
	if !zero.IsZero() || transport.Prepare(codec.Packet{Type: codec.Noop}, transport.PrepareOptions{}).Prepared.IsZero() {
		t.Fatal("IsZero: want true for the zero Prepared only")
	}
	p := codec.Packet{Type: codec.Message, Data: []byte("x")}
	if got := transport.AppendPayload(nil, []transport.Outgoing{{Packet: p}, {Packet: p}}, codec.V4); string(got) != "4x\x1e4x" {
		t.Fatalf("payload %q", got)
	}
}

// FuzzPrepare: for any packet and options, a prepared packet is written
// (over WebSocket, each protocol, with and without permessage-deflate) and
// put in a polling payload (each protocol) as the same bytes as the packet
// encoded on its own.
func FuzzPrepare(f *testing.F) {
	f.Add([]byte("hello"), byte(codec.Message), false, true, false, int16(0))
	f.Add([]byte{0, 0x1e, 255}, byte(codec.Message), true, true, true, int16(1))
	f.Add([]byte(strings.Repeat("z", 2000)), byte(codec.Message), false, false, true, int16(0))
	f.Add([]byte("probe"), byte(codec.Ping), true, true, true, int16(-1))
	f.Fuzz(func(t *testing.T, data []byte, typ byte, binary, v3, deflate bool, threshold int16) {
		p := codec.Packet{Type: codec.Type(typ % 7), Data: data, Binary: binary}
		o := transport.PrepareOptions{V3: v3, Deflate: deflate, DeflateThreshold: int(threshold)}
		item := transport.Prepare(p, o)
		for _, v := range []codec.Version{codec.V4, codec.V3} {
			batch := []transport.Outgoing{item, {Packet: p}}
			pkts := []codec.Packet{p, p}
			if got, want := transport.AppendPayload(nil, batch, v), codec.AppendPayload(nil, pkts, v); !bytes.Equal(got, want) {
				t.Fatalf("V%d payload %q, want %q", v, got, want)
			}
			for _, connDeflate := range []bool{false, true} {
				wo := transport.WebSocketOptions{Side: transport.ServerSide, Deflate: connDeflate, DeflateThreshold: int(threshold)}
				var got, want captureConn
				if err := transport.NewWebSocketWith(&got, nil, wo).WriteBatch(batch, v); err != nil {
					t.Fatal(err)
				}
				if err := transport.NewWebSocketWith(&want, nil, wo).WritePackets(pkts, v); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.b, want.b) {
					t.Fatalf("V%d deflate=%v: frames differ", v, connDeflate)
				}
			}
		}
	})
}

// captureConn keeps what is written to it.
type captureConn struct {
	discardConn
	b []byte
}

func (c *captureConn) Write(p []byte) (int, error) { c.b = append(c.b, p...); return len(p), nil }
