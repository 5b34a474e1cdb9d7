package codec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/chanio/chanio/codec"
)

// The decode fuzz targets check, for any input:
//   - the decoder does not panic;
//   - an error is a *SyntaxError wrapping a sentinel, at an offset inside the
//     input;
//   - on success, encoding the decoded packets and decoding that again gives
//     the same packets. The re-encoded bytes need not equal the input: the
//     decoders accept non-canonical forms (unpadded base64, base64 with
//     non-zero trailing bits), which the encoders never write.
//
// Seeds live in testdata/fuzz/<FuzzName>/ as well as in the f.Add calls.

func versionOf(v4 bool) codec.Version {
	if v4 {
		return codec.V4
	}
	return codec.V3
}

func FuzzDecodeFrame(f *testing.F) {
	for _, c := range canonicalFrames {
		f.Add([]byte(c.wire), c.binary, c.v == codec.V4)
	}
	f.Add([]byte(""), false, true)
	f.Add([]byte("7x"), false, true)
	f.Add([]byte("bAQID"), false, true)
	f.Add([]byte(""), true, false)
	f.Add([]byte("\x09\x01"), true, false)
	for _, c := range base64Frames {
		f.Add([]byte(c.wire), false, false)
	}
	f.Add([]byte("b4AQ"), false, false)
	f.Add([]byte("b"), false, false)
	f.Add([]byte("b9AA"), false, false)
	f.Fuzz(func(t *testing.T, frame []byte, binary, v4 bool) {
		v := versionOf(v4)
		p, err := codec.DecodeFrame(frame, binary, v)
		if err != nil {
			checkDecodeError(t, err, len(frame))
			return
		}
		if !p.Type.Valid() {
			t.Fatalf("decoded invalid type %v", p.Type)
		}
		if !binary && v == codec.V3 && frame[0] == 'b' {
			checkBase64Frame(t, frame, p)
			return
		}
		// Data is frame minus its type byte (none for a V4 binary frame),
		// without a copy.
		start := 1
		if binary && v == codec.V4 {
			start = 0
		}
		if len(p.Data) != len(frame)-start || len(p.Data) > 0 && &p.Data[0] != &frame[start] {
			t.Fatalf("%q decoded to %v, which is not frame[%d:]", frame, p, start)
		}
		if p.Binary != binary || binary && v == codec.V4 && p.Type != codec.Message {
			t.Fatalf("%q (binary %v) decoded to %v", frame, binary, p)
		}
		enc, encBinary := codec.AppendFrame(nil, p, v)
		if encBinary != binary {
			t.Fatalf("%v re-encoded as binary=%v, arrived binary=%v", p, encBinary, binary)
		}
		if codec.FrameIsBinary(p, v) != encBinary {
			t.Fatalf("FrameIsBinary(%v) = %v, AppendFrame said %v", p, !encBinary, encBinary)
		}
		if len(enc) != codec.FrameLen(p, v) {
			t.Fatalf("FrameLen(%v) = %d, AppendFrame wrote %d bytes", p, codec.FrameLen(p, v), len(enc))
		}
		// A frame has exactly one encoding: the input itself.
		if !bytes.Equal(enc, frame) {
			t.Fatalf("%q decoded to %v, which re-encodes to %q", frame, p, enc)
		}
		p2, err := codec.DecodeFrame(enc, encBinary, v)
		if err != nil || !samePacket(p, p2) {
			t.Fatalf("re-decode of %q = %v, %v; want %v", enc, p2, err, p)
		}
	})
}

// checkBase64Frame checks a V3 text frame that decoded as a base64 binary
// packet: its data is a copy, and it re-encodes to a frame that decodes to
// the same packet (not always the same bytes: unpadded base64 is accepted).
func checkBase64Frame(t *testing.T, frame []byte, p codec.Packet) {
	t.Helper()
	if !p.Binary || cap(p.Data) != len(p.Data) {
		t.Fatalf("%q decoded to %v with cap %d", frame, p, cap(p.Data))
	}
	if len(p.Data) > 0 && len(frame) > 2 && &p.Data[0] == &frame[2] {
		t.Fatalf("%q: base64-decoded data aliases the frame", frame)
	}
	enc := codec.AppendBase64Frame(nil, p)
	p2, err := codec.DecodeFrame(enc, false, codec.V3)
	if err != nil || !samePacket(p, p2) {
		t.Fatalf("%q decoded to %v, re-encoded to %q, which decodes to %v, %v", frame, p, enc, p2, err)
	}
}

// checkPayloadRoundTrip re-encodes pkts, decodes them again and checks the
// limits against the known packet count and size.
func checkPayloadRoundTrip(t *testing.T, in []byte, pkts []codec.Packet,
	encode func([]byte, []codec.Packet) []byte,
	decode func([]byte, codec.Limits, []codec.Packet) ([]codec.Packet, error),
) {
	t.Helper()
	if len(pkts) == 0 {
		t.Fatalf("%q decoded to no packets without an error", in)
	}
	for _, p := range pkts {
		if !p.Type.Valid() || cap(p.Data) != len(p.Data) {
			t.Fatalf("%q: decoded %v with cap %d", in, p, cap(p.Data))
		}
	}
	enc := encode(nil, pkts)
	again, err := decode(enc, codec.Limits{}, nil)
	if err != nil || !samePackets(again, pkts) {
		t.Fatalf("%q decoded to %v, re-encoded to %q, which decodes to %v, %v", in, pkts, enc, again, err)
	}
	// Limits: exactly enough passes, one short fails.
	exact := codec.Limits{MaxPackets: len(pkts), MaxBytes: len(in)}
	if got, err := decode(in, exact, nil); err != nil || len(got) != len(pkts) {
		t.Fatalf("%q with limits %+v: %d packets, %v", in, exact, len(got), err)
	}
	if len(pkts) > 1 {
		_, err := decode(in, codec.Limits{MaxPackets: len(pkts) - 1}, nil)
		if !errors.Is(err, codec.ErrTooManyPackets) {
			t.Fatalf("%q with MaxPackets %d: err = %v", in, len(pkts)-1, err)
		}
	}
	if len(in) > 1 { // MaxBytes 0 means no limit
		if _, err := decode(in, codec.Limits{MaxBytes: len(in) - 1}, nil); !errors.Is(err, codec.ErrTooLarge) {
			t.Fatalf("%q with MaxBytes %d: err = %v", in, len(in)-1, err)
		}
	}
}

func fuzzPayload(f *testing.F, v codec.Version, seeds []payloadCase) {
	for _, c := range seeds {
		f.Add([]byte(c.wire))
	}
	encode := func(dst []byte, pkts []codec.Packet) []byte { return codec.AppendPayload(dst, pkts, v) }
	decode := func(b []byte, l codec.Limits, dst []codec.Packet) ([]codec.Packet, error) {
		return codec.DecodePayload(b, v, l, dst)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		pkts, err := decode(in, codec.Limits{}, nil)
		if err != nil {
			checkDecodeError(t, err, len(in))
			return
		}
		checkPayloadRoundTrip(t, in, pkts, encode, decode)
	})
}

func FuzzDecodePayloadV4(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("4a\x1e"))
	f.Add([]byte("bAQ"))
	f.Add([]byte("bAR=="))
	f.Add([]byte("b!!!!"))
	fuzzPayload(f, codec.V4, canonicalV4Payloads)
}

func FuzzDecodePayloadV3(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("2:4😀"))
	f.Add([]byte("9999999999:4"))
	f.Add([]byte("4:b4AQ"))
	f.Add([]byte("2:4\xff"))
	fuzzPayload(f, codec.V3, canonicalV3Payloads)
}

func FuzzDecodeBinaryPayloadV3(f *testing.F) {
	for _, c := range canonicalBinaryPayloads {
		f.Add(c.wire)
	}
	f.Add([]byte{})
	f.Add([]byte{0, 5, 0xff, '4'})
	f.Add([]byte{1, 1, 0xff, 9})
	f.Add([]byte{0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, '4'})
	f.Fuzz(func(t *testing.T, in []byte) {
		pkts, err := codec.DecodeBinaryPayload(in, codec.Limits{}, nil)
		if err != nil {
			checkDecodeError(t, err, len(in))
			return
		}
		checkPayloadRoundTrip(t, in, pkts, codec.AppendBinaryPayload, codec.DecodeBinaryPayload)
	})
}

// FuzzHandshake parses arbitrary bytes as a handshake and, separately, writes
// them into every string field of one.
func FuzzHandshake(f *testing.F) {
	f.Add([]byte(knownHandshakeJSON))
	f.Add([]byte(`{"sid":"a","pingInterval":1,"pingTimeout":2}`))
	f.Add([]byte(`{"sid":"","pingInterval":1,"pingTimeout":2}`))
	f.Add([]byte(`{"sid":"a","pingInterval":0,"pingTimeout":2}`))
	f.Add([]byte(`{"sid":"a\u00e9\ud83d\ude00","upgrades":["websocket",null],"pingInterval":1,"pingTimeout":2,"maxPayload":3}`))
	f.Add([]byte(`{"sid":"a",`))
	f.Add([]byte("q\"\\\x00\x1f\x7f\xff\xe2\x82é😀"))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := codec.ParseHandshake(in)
		if err != nil {
			wantSyntaxError(t, err, codec.ErrBadHandshake, 0)
		} else {
			if h.SID == "" || h.PingInterval <= 0 || h.PingTimeout <= 0 || h.MaxPayload < 0 {
				t.Fatalf("ParseHandshake(%q) accepted %+v", in, h)
			}
			enc := codec.AppendHandshake(nil, h)
			h2, err := codec.ParseHandshake(enc)
			if err != nil || !sameHandshake(h, h2) {
				t.Fatalf("%q parsed to %+v, re-encoded to %s, which parses to %+v, %v", in, h, enc, h2, err)
			}
		}

		// Any string survives AppendHandshake as encoding/json would have
		// written it (invalid UTF-8 becomes U+FFFD either way).
		s := string(in)
		h = codec.Handshake{SID: s, Upgrades: []string{s, ""}, PingInterval: 1, PingTimeout: int64(len(in)), MaxPayload: -1}
		enc := codec.AppendHandshake(nil, h)
		if !json.Valid(enc) {
			t.Fatalf("AppendHandshake wrote invalid JSON %q", enc)
		}
		var ours, std codec.Handshake
		want, _ := json.Marshal(h)
		if err := json.Unmarshal(want, &std); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(enc, &ours); err != nil {
			t.Fatalf("encoding/json rejects %q: %v", enc, err)
		}
		if !sameHandshake(ours, std) {
			t.Fatalf("AppendHandshake(%q) reads back as %+v, encoding/json as %+v", s, ours, std)
		}
		// The protocol 3 form is the same object without maxPayload.
		enc3 := codec.AppendHandshakeV3(nil, h)
		var v3 map[string]json.RawMessage
		if err := json.Unmarshal(enc3, &v3); err != nil {
			t.Fatalf("encoding/json rejects %q: %v", enc3, err)
		}
		if _, ok := v3["maxPayload"]; ok || len(v3) != 4 {
			t.Fatalf("AppendHandshakeV3 wrote keys %v", v3)
		}
		if !bytes.Equal(enc3[:len(enc3)-1], enc[:len(enc3)-1]) {
			t.Fatalf("AppendHandshakeV3 %q is not a prefix of AppendHandshake %q", enc3, enc)
		}
	})
}

// roundTripPackets builds between 1 and 4 packets from a fuzz input: packet
// i has type (typ+i) mod 7, the i-th of as many even slices of data, and the
// Binary flag binary for even i and !binary for odd i, so that payloads mix
// text and binary packets.
func roundTripPackets(typ byte, data []byte, binary bool, count uint8) []codec.Packet {
	n := int(count%4) + 1
	pkts := make([]codec.Packet, n)
	for i := range pkts {
		pkts[i] = codec.Packet{
			Type:   codec.Type((int(typ) + i) % 7),
			Data:   data[i*len(data)/n : (i+1)*len(data)/n],
			Binary: binary != (i%2 == 1),
		}
	}
	return pkts
}

// FuzzRoundTrip builds packets from fuzz inputs, encodes them with every
// encoder of both versions, and checks that decoding gives back the
// canonical form of the same packets.
//
// What is representable, and so canonical:
//   - Type is one of the seven types (the generator reduces it mod 7).
//   - V4: Binary has a wire form only on a Message. On other types the
//     encoders drop it, so the canonical packet has Binary false.
//   - V4 payload: a text packet's data must not contain the separator 0x1E;
//     such packet lists are not checked as V4 payloads (frames carry any
//     bytes). Binary data is base64 and may hold any byte.
//   - V3 (frames, payloads, binary payloads): any type may be binary, and any
//     data is representable. The payload length counts UTF-16 code units;
//     the codec counts an invalid UTF-8 byte as one unit (the U+FFFD it
//     decodes to) on both sides, and a packet ends where the next length
//     prefix (ASCII) starts, so even invalid UTF-8 round-trips. Lengths are
//     only meaningful to a JavaScript peer for valid UTF-8.
//   - A nil and an empty Data are the same.
func FuzzRoundTrip(f *testing.F) {
	f.Add(byte(codec.Message), []byte("hello"), false, uint8(0))
	f.Add(byte(codec.Message), []byte{1, 2, 3}, true, uint8(0))
	f.Add(byte(codec.Open), []byte(knownHandshakeJSON), false, uint8(0))
	f.Add(byte(codec.Ping), []byte("probe"), false, uint8(1))
	f.Add(byte(codec.Message), []byte("é€😀x"), false, uint8(3))
	f.Add(byte(codec.Message), []byte("a\x1eb"), false, uint8(0))
	f.Add(byte(codec.Message), []byte("1:2:3:"), true, uint8(2))
	f.Add(byte(codec.Noop), []byte{}, true, uint8(3))
	f.Add(byte(codec.Message), []byte("\xf0\x9f\x98\xff\xe2\x82"), false, uint8(1))
	f.Fuzz(func(t *testing.T, typ byte, data []byte, binary bool, count uint8) {
		pkts := roundTripPackets(typ, data, binary, count)

		// V4 canonical form: Binary only on messages.
		v4 := make([]codec.Packet, len(pkts))
		v4Payload := true
		for i, p := range pkts {
			p.Binary = p.Binary && p.Type == codec.Message
			v4[i] = p
			if !p.Binary && bytes.IndexByte(p.Data, codec.Separator) >= 0 {
				v4Payload = false
			}
		}

		for _, tc := range []struct {
			v    codec.Version
			want []codec.Packet
		}{{codec.V4, v4}, {codec.V3, pkts}} {
			for i, p := range pkts {
				frame, isBinary := codec.AppendFrame(nil, p, tc.v)
				if len(frame) != codec.FrameLen(p, tc.v) {
					t.Fatalf("V%d: FrameLen(%v) = %d, AppendFrame wrote %d", tc.v, p, codec.FrameLen(p, tc.v), len(frame))
				}
				if codec.FrameIsBinary(p, tc.v) != isBinary {
					t.Fatalf("V%d: FrameIsBinary(%v) = %v, AppendFrame said %v", tc.v, p, !isBinary, isBinary)
				}
				got, err := codec.DecodeFrame(frame, isBinary, tc.v)
				if err != nil || !samePacket(got, tc.want[i]) {
					t.Fatalf("V%d frame: %v encoded to %q (binary %v), decoded to %v, %v", tc.v, p, frame, isBinary, got, err)
				}
				if tc.v == codec.V3 {
					frame = codec.AppendBase64Frame(nil, p)
					got, err := codec.DecodeFrame(frame, false, codec.V3)
					if err != nil || !samePacket(got, p) {
						t.Fatalf("V3 base64 frame: %v encoded to %q, decoded to %v, %v", p, frame, got, err)
					}
				}
			}
			if tc.v == codec.V4 && !v4Payload {
				continue
			}
			payload := codec.AppendPayload(nil, pkts, tc.v)
			got, err := codec.DecodePayload(payload, tc.v, codec.Limits{}, nil)
			if err != nil || !samePackets(got, tc.want) {
				t.Fatalf("V%d payload: %v encoded to %q, decoded to %v, %v", tc.v, pkts, payload, got, err)
			}
		}

		bp := codec.AppendBinaryPayload(nil, pkts)
		got, err := codec.DecodeBinaryPayload(bp, codec.Limits{}, nil)
		if err != nil || !samePackets(got, pkts) {
			t.Fatalf("V3 binary payload: %v encoded to %v, decoded to %v, %v", pkts, bp, got, err)
		}
	})
}
