package codec_test

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/chanio/chanio/codec"
)

// FuzzStreamDecode decodes arbitrary bytes as a WebTransport stream, whole
// and in chunks, and checks:
//   - the decoder does not panic, and an error is a *SyntaxError wrapping a
//     sentinel at an offset inside the input;
//   - the chunks do not matter: the same packets and the same error;
//   - every packet is within MaxPayload, its Data its own (cap == len);
//   - a partial frame holds at most max(4 KiB, 2 × the input);
//   - the packets, encoded again, decode to the same packets. The bytes
//     need not be the input's: the decoder accepts long length forms and
//     base64 text, which the encoder never writes.
//
// Seeds live in testdata/fuzz/FuzzStreamDecode/ as well as in the f.Add
// calls.
func FuzzStreamDecode(f *testing.F) {
	f.Add([]byte("\x063probe\x01\x34"), uint8(0), uint16(100))
	f.Add([]byte("\x83\x01\x02\x03"), uint8(1), uint16(100))
	f.Add([]byte("\x7e\x00\x05\x34hell"), uint8(2), uint16(100))
	f.Add([]byte("\xff\x00\x00\x00\x00\x00\x00\x00\x02\x01\x02"), uint8(3), uint16(100))
	f.Add([]byte("\x05bAQID"), uint8(0), uint16(100))
	f.Add([]byte("\x00"), uint8(0), uint16(100))
	f.Add([]byte("\x34\x34"), uint8(0), uint16(10))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8, maxPayload uint16) {
		limit := int64(maxPayload)
		whole, err := decodeStream(t, in, len(in)+1, limit)
		parts, errParts := decodeStream(t, in, int(chunk%16)+1, limit)
		if !samePackets(whole, parts) || !sameDecodeError(err, errParts) {
			t.Fatalf("%q: whole %v, %v; in chunks of %d %v, %v", in, whole, err, chunk%16+1, parts, errParts)
		}
		for _, p := range whole {
			if !p.Type.Valid() || cap(p.Data) != len(p.Data) || limit > 0 && int64(len(p.Data)) > limit {
				t.Fatalf("%q: decoded %v (cap %d), MaxPayload %d", in, p, cap(p.Data), limit)
			}
		}
		if err != nil {
			checkDecodeError(t, err, len(in))
		}
		again, err := decodeStream(t, codec.AppendStreamFrames(nil, whole), 0, 0)
		if err != nil || !samePackets(again, whole) {
			t.Fatalf("%q decoded to %v, which re-encodes and decodes to %v, %v", in, whole, again, err)
		}
	})
}

// decodeStream feeds in to a fresh decoder in chunks of n bytes (all at
// once for n <= 0), checks what the decoder holds, and returns the packets
// and the first error.
func decodeStream(t *testing.T, in []byte, n int, maxPayload int64) ([]codec.Packet, error) {
	t.Helper()
	var pkts []codec.Packet
	var accounted int64
	d := codec.StreamDecoder{MaxPayload: maxPayload, Account: func(delta int64) error { accounted += delta; return nil }}
	emit := func(p codec.Packet) error { pkts = append(pkts, p); return nil }
	if n <= 0 {
		n = len(in) + 1
	}
	var err error
	for rest := in; len(rest) > 0 && err == nil; {
		k := min(n, len(rest))
		err = d.Decode(rest[:k], emit)
		rest = rest[k:]
		if d.Held() > max(4096, 2*len(in)) || accounted != int64(d.Held()) {
			t.Fatalf("%q: holds %d (accounted %d) after %d bytes", in, d.Held(), accounted, len(in)-len(rest))
		}
	}
	return pkts, err
}

func sameDecodeError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	var sa, sb *codec.SyntaxError
	return errors.As(a, &sa) && errors.As(b, &sb) && sa.Offset == sb.Offset && errors.Is(a, sb.Err)
}

// FuzzStreamRoundTrip builds packets from fuzz inputs as FuzzRoundTrip
// does, encodes them as a WebTransport stream and decodes them in chunks:
// the packets come back in their protocol 4 canonical form (Binary on
// messages only), or, if a text packet is not UTF-8, the decoder says so.
func FuzzStreamRoundTrip(f *testing.F) {
	f.Add(byte(codec.Message), []byte("hello"), false, uint8(0), uint8(0))
	f.Add(byte(codec.Message), []byte{1, 2, 3}, true, uint8(0), uint8(1))
	f.Add(byte(codec.Open), []byte(knownHandshakeJSON), false, uint8(0), uint8(5))
	f.Add(byte(codec.Message), []byte{}, true, uint8(3), uint8(0))
	f.Add(byte(codec.Message), []byte("é€😀x"), false, uint8(3), uint8(2))
	f.Add(byte(codec.Message), []byte("\xff\xfe"), false, uint8(1), uint8(0))
	f.Fuzz(func(t *testing.T, typ byte, data []byte, binary bool, count, chunk uint8) {
		pkts := roundTripPackets(typ, data, binary, count)
		want := make([]codec.Packet, len(pkts))
		firstBad := -1
		for i, p := range pkts {
			p.Binary = p.Binary && p.Type == codec.Message
			want[i] = p
			if !p.Binary && !utf8.Valid(p.Data) && firstBad < 0 {
				firstBad = i
			}
		}
		enc := codec.AppendStreamFrames(nil, pkts)
		n := 0
		for _, p := range pkts {
			n += codec.StreamFrameLen(p)
		}
		if n != len(enc) {
			t.Fatalf("StreamFrameLen sums to %d, AppendStreamFrames wrote %d", n, len(enc))
		}
		got, err := decodeStream(t, enc, int(chunk%32)+1, int64(len(data)+1))
		if firstBad >= 0 {
			if !errors.Is(err, codec.ErrInvalidUTF8) || !samePackets(got, want[:firstBad]) {
				t.Fatalf("%v: decoded %v, %v; want %v, then ErrInvalidUTF8", pkts, got, err, want[:firstBad])
			}
			return
		}
		if err != nil || !samePackets(got, want) {
			t.Fatalf("%v encoded to %q, decoded to %v, %v", pkts, enc, got, err)
		}
	})
}
