package codec_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/internal/streamfixture"
)

// decodeAll feeds in to a fresh decoder in chunks of n bytes (all at once
// for n <= 0) and returns the packets and the first error.
func decodeAll(in []byte, n int, maxPayload int64) ([]codec.Packet, error) {
	d := codec.StreamDecoder{MaxPayload: maxPayload}
	var pkts []codec.Packet
	emit := func(p codec.Packet) error { pkts = append(pkts, p); return nil }
	if n <= 0 {
		n = len(in) + 1
	}
	for len(in) > 0 {
		k := min(n, len(in))
		if err := d.Decode(in[:k], emit); err != nil {
			return pkts, err
		}
		in = in[k:]
	}
	if d.Partial() {
		return pkts, errors.New("stream ends inside a frame")
	}
	return pkts, nil
}

// TestStreamFrameEngineIOParser: the frames engine.io-parser's
// createPacketEncoderStream wrote (the fixture, checked against
// engine.io-parser itself by the interop test
// TestStreamFramesEngineIOParser) are what AppendStreamFrame writes, and
// decode to their packets whole, byte by byte and in odd chunks.
func TestStreamFrameEngineIOParser(t *testing.T) {
	f, err := streamfixture.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) < 20 {
		t.Fatalf("the fixture has %d cases", len(f.Cases))
	}
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			p, err := c.Packet.Packet()
			if err != nil {
				t.Fatal(err)
			}
			enc := codec.AppendStreamFrame(nil, p)
			if err := c.Check(enc); err != nil {
				t.Fatal(err)
			}
			if len(enc) != codec.StreamFrameLen(p) {
				t.Fatalf("StreamFrameLen = %d, AppendStreamFrame wrote %d", codec.StreamFrameLen(p), len(enc))
			}
			want := p
			if len(want.Data) == 0 {
				want.Data = nil
			}
			for _, chunk := range []int{0, 1, 3, 4096} {
				if chunk == 1 && len(enc) > 1<<17 {
					continue
				}
				got, err := decodeAll(enc, chunk, 1_000_000)
				if err != nil || len(got) != 1 || !samePacket(got[0], want) {
					t.Fatalf("chunks of %d: decoded %v, %v; want %v", chunk, got, err, want)
				}
				if cap(got[0].Data) != len(got[0].Data) {
					t.Fatalf("chunks of %d: Data has cap %d, len %d", chunk, cap(got[0].Data), len(got[0].Data))
				}
			}
		})
	}
}

func TestStreamDecoderErrors(t *testing.T) {
	t.Parallel()
	good := codec.AppendStreamFrame(nil, text(codec.Message, "ok"))
	for _, tc := range []struct {
		name       string
		in         []byte
		maxPayload int64
		sentinel   error
		offset     int
	}{
		{"zero length", []byte{0x00}, 100, codec.ErrEmptyPacket, 0},
		{"zero length binary", []byte{0x80}, 100, codec.ErrEmptyPacket, 0},
		{"zero length 16-bit", []byte{0x7e, 0, 0}, 100, codec.ErrEmptyPacket, 0},
		{"zero length 64-bit", []byte{0xff, 0, 0, 0, 0, 0, 0, 0, 0}, 100, codec.ErrEmptyPacket, 0},
		{"over max", []byte{0x0b}, 10, codec.ErrTooLarge, 0},
		{"over max binary 16-bit", []byte{0xfe, 0x01, 0x00}, 255, codec.ErrTooLarge, 0},
		{"over max 64-bit", []byte{0x7f, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x41}, 1_000_000, codec.ErrTooLarge, 0},
		{"top bit of 64-bit length", []byte{0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1}, 0, codec.ErrTooLarge, 0},
		{"largest 64-bit length, no max", []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0, codec.ErrTooLarge, 0},
		{"unknown type", []byte{0x02, '7', 'x'}, 100, codec.ErrUnknownType, 1},
		{"type not a digit", []byte{0x01, 'x'}, 100, codec.ErrUnknownType, 1},
		{"invalid UTF-8", []byte{0x03, '4', 0xff, 'a'}, 100, codec.ErrInvalidUTF8, 1},
		{"truncated UTF-8", []byte{0x03, '4', 0xe2, 0x82}, 100, codec.ErrInvalidUTF8, 1},
		{"bad base64", []byte{0x03, 'b', '!', '!'}, 100, codec.ErrBadBase64, 2},
		{"after a good frame", append(append([]byte(nil), good...), 0x00), 100, codec.ErrEmptyPacket, len(good)},
		{"16-bit length after a good frame", append(append([]byte(nil), good...), 0x7e, 0xff, 0xff), 100, codec.ErrTooLarge, len(good)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, chunk := range []int{0, 1} {
				_, err := decodeAll(tc.in, chunk, tc.maxPayload)
				wantSyntaxError(t, err, tc.sentinel, tc.offset)
			}
		})
	}
}

// A decoder's error is for good: later input gets it again and decodes
// nothing, until Reset.
func TestStreamDecoderStickyErrorAndReset(t *testing.T) {
	t.Parallel()
	var n int
	emit := func(codec.Packet) error { n++; return nil }
	d := codec.StreamDecoder{MaxPayload: 100}
	err := d.Decode([]byte{0x00}, emit)
	wantSyntaxError(t, err, codec.ErrEmptyPacket, 0)
	good := codec.AppendStreamFrame(nil, text(codec.Message, "ok"))
	if err2 := d.Decode(good, emit); err2 != err || n != 0 {
		t.Fatalf("after an error: %v and %d packets, want the same error and none", err2, n)
	}
	if d.Partial() {
		t.Fatal("a failed decoder reports a partial frame")
	}
	d.Reset()
	if err := d.Decode(good, emit); err != nil || n != 1 {
		t.Fatalf("after Reset: %v and %d packets", err, n)
	}
}

// emit's error stops the decoder and comes back as it is; the packets
// before it were delivered, the ones after it were not.
func TestStreamDecoderEmitError(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	in := codec.AppendStreamFrames(nil, []codec.Packet{text(codec.Message, "a"), text(codec.Message, "b"), text(codec.Message, "c")})
	var got []string
	d := codec.StreamDecoder{MaxPayload: 100}
	err := d.Decode(in, func(p codec.Packet) error {
		got = append(got, string(p.Data))
		if len(got) == 2 {
			return stop
		}
		return nil
	})
	if err != stop || strings.Join(got, ",") != "a,b" {
		t.Fatalf("Decode = %v after %v, want stop after a,b", err, got)
	}
}

// TestStreamDecoderMemoryFollowsBytes: a frame that declares a large packet
// makes the decoder hold at most 4 KiB until its bytes come, then at most
// about twice what has come; the finished packet is the buffer itself.
func TestStreamDecoderMemoryFollowsBytes(t *testing.T) {
	t.Parallel()
	const size = 1 << 20
	var accounted int64
	d := codec.StreamDecoder{MaxPayload: size, Account: func(delta int64) error { accounted += delta; return nil }}
	var got []codec.Packet
	emit := func(p codec.Packet) error { got = append(got, p); return nil }
	// The header of a binary packet of 1 MiB, and one byte of it.
	if err := d.Decode([]byte{0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 'x'}, emit); err != nil {
		t.Fatal(err)
	}
	if d.Held() > 4096 || !d.Partial() || accounted != int64(d.Held()) {
		t.Fatalf("after 1 byte of a declared 1 MiB: holds %d bytes (partial %v, accounted %d), want at most 4096", d.Held(), d.Partial(), accounted)
	}
	received := 1
	chunk := bytes.Repeat([]byte{'x'}, 1000)
	for received+len(chunk) < size {
		if err := d.Decode(chunk, emit); err != nil {
			t.Fatal(err)
		}
		received += len(chunk)
		if held := d.Held(); held > max(4096, 2*received) || held < received {
			t.Fatalf("after %d bytes: holds %d", received, held)
		}
		if accounted != int64(d.Held()) {
			t.Fatalf("after %d bytes: holds %d, accounted %d", received, d.Held(), accounted)
		}
	}
	if err := d.Decode(bytes.Repeat([]byte{'x'}, size-received), emit); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Data) != size || cap(got[0].Data) != size || !got[0].Binary {
		t.Fatalf("got %d packets, the first of %d bytes (cap %d)", len(got), len(got[0].Data), cap(got[0].Data))
	}
	if d.Held() != 0 || accounted != 0 || d.Partial() {
		t.Fatalf("after the packet: holds %d, accounted %d, partial %v", d.Held(), accounted, d.Partial())
	}
}

// Account's refusal stops the decoder before it grows, and the memory it
// had taken is given back.
func TestStreamDecoderAccountRefuses(t *testing.T) {
	t.Parallel()
	budget := errors.New("over budget")
	var accounted int64
	d := codec.StreamDecoder{MaxPayload: 1 << 20, Account: func(delta int64) error {
		if delta > 0 && accounted+delta > 8192 {
			return budget
		}
		accounted += delta
		return nil
	}}
	emit := func(codec.Packet) error { return nil }
	err := d.Decode(append([]byte{0xfe, 0x40, 0x00}, bytes.Repeat([]byte{1}, 5000)...), emit)
	if err != nil || accounted != 5000 {
		t.Fatalf("5,000 bytes of 16 KiB: %v, accounted %d", err, accounted)
	}
	err = d.Decode(bytes.Repeat([]byte{1}, 5000), emit)
	if err != budget || accounted != 0 || d.Held() != 0 {
		t.Fatalf("past the budget: %v, accounted %d, holds %d", err, accounted, d.Held())
	}
}

// An empty binary message goes as the text packet "b", since
// engine.io-parser refuses a frame of length zero, and comes back binary.
func TestStreamFrameEmptyBinary(t *testing.T) {
	t.Parallel()
	p := codec.Packet{Type: codec.Message, Binary: true}
	enc := codec.AppendStreamFrame(nil, p)
	if string(enc) != "\x01b" || codec.StreamFrameLen(p) != 2 {
		t.Fatalf("empty binary message encoded as %q (StreamFrameLen %d)", enc, codec.StreamFrameLen(p))
	}
	got, err := decodeAll(enc, 0, 10)
	if err != nil || len(got) != 1 || !got[0].Binary || got[0].Type != codec.Message || len(got[0].Data) != 0 {
		t.Fatalf("decoded %v, %v", got, err)
	}
}

// What the decoder accepts beyond what the encoder writes, as
// engine.io-parser does: a length in a longer form than needed, and a
// binary message as "b" and base64 in a text packet.
func TestStreamDecoderLenient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []byte
		want codec.Packet
	}{
		{"16-bit length of 5", []byte{0x7e, 0, 5, '4', 'h', 'e', 'l', 'o'}, text(codec.Message, "helo")},
		{"64-bit length of 3, binary", []byte{0xff, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3}, bin(codec.Message, 1, 2, 3)},
		{"base64 text", []byte{0x05, 'b', 'A', 'Q', 'I', 'D'}, bin(codec.Message, 1, 2, 3)},
		{"unpadded base64", []byte{0x03, 'b', 'A', 'Q'}, bin(codec.Message, 1)},
		{"binary flag on a digit", []byte{0x82, '2', 'x'}, bin(codec.Message, '2', 'x')},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeAll(tc.in, 1, 100)
			if err != nil || len(got) != 1 || !samePacket(got[0], tc.want) {
				t.Fatalf("decoded %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// Binary is meaningful on messages only: other types go as text.
func TestStreamFrameBinaryOnlyOnMessages(t *testing.T) {
	t.Parallel()
	enc := codec.AppendStreamFrame(nil, codec.Packet{Type: codec.Ping, Data: []byte("probe"), Binary: true})
	if string(enc) != "\x062probe" {
		t.Fatalf("binary ping encoded as %q", enc)
	}
}

// Encoding a batch into a buffer that has grown to it allocates nothing.
func TestStreamFrameAllocation(t *testing.T) {
	pkts := []codec.Packet{text(codec.Message, "hello"), bin(codec.Message, 1, 2, 3), text(codec.Message, strings.Repeat("x", 70000)), text(codec.Ping, "")}
	buf := codec.AppendStreamFrames(nil, pkts)
	allocs := testing.AllocsPerRun(100, func() {
		buf = codec.AppendStreamFrames(buf[:0], pkts)
	})
	if allocs != 0 {
		t.Fatalf("AppendStreamFrames into a grown buffer: %v allocations", allocs)
	}
}
