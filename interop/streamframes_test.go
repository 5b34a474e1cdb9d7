package interop

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/internal/streamfixture"
)

// TestStreamFramesEngineIOParser checks chanio's WebTransport stream
// framing (codec.AppendStreamFrame, codec.StreamDecoder) against the real
// engine.io-parser's createPacketEncoderStream and
// createPacketDecoderStream, run by js/stream-frames.js:
//   - the frames in codec/testdata/stream/engineio-parser.json, which the
//     codec's own tests use, are what engine.io-parser writes today
//     (CHANIO_UPDATE_FIXTURES=1 rewrites them);
//   - every stream chanio encodes, cut into chunks of several sizes,
//     decodes in engine.io-parser to the same packets;
//   - the streams chanio's decoder refuses, engine.io-parser refuses too.
func TestStreamFramesEngineIOParser(t *testing.T) {
	requireNode(t)
	f, err := streamfixture.Load()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("encoder", func(t *testing.T) {
		specs := make([]streamfixture.Spec, len(f.Cases))
		for i, c := range f.Cases {
			specs[i] = c.Packet
		}
		var out []struct{ Wire string }
		runStreamFrames(t, &out, specs, "encode")
		if len(out) != len(f.Cases) {
			t.Fatalf("stream-frames.js encoded %d packets, want %d", len(out), len(f.Cases))
		}
		update := os.Getenv("CHANIO_UPDATE_FIXTURES") == "1"
		for i := range f.Cases {
			wire, err := hex.DecodeString(out[i].Wire)
			if err != nil {
				t.Fatal(err)
			}
			if update {
				f.Cases[i].Record(wire)
				continue
			}
			if err := f.Cases[i].Check(wire); err != nil {
				t.Errorf("the fixture is not what engine.io-parser writes: %v", err)
			}
		}
		if update {
			if err := streamfixture.Save(f); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", streamfixture.Path())
		}
	})

	// chanio's encoding of every fixture packet and of the one packet
	// engine.io-parser cannot frame as binary (an empty binary message,
	// which chanio sends as the text packet "b"), in one stream.
	var pkts []codec.Packet
	for _, c := range f.Cases {
		p, err := c.Packet.Packet()
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, p)
	}
	pkts = append(pkts, codec.Packet{Type: codec.Message, Binary: true, Data: []byte{}},
		codec.Packet{Type: codec.Message, Data: []byte("after the empty one")})
	// The small packets alone (below 1,000 bytes) are also cut into
	// chunks of 7 bytes and of 1: one write per byte of a megabyte is
	// slow in Node.
	var small []codec.Packet
	for _, p := range pkts {
		if codec.StreamFrameLen(p) < 1000 {
			small = append(small, p)
		}
	}
	for _, tc := range []struct {
		name  string
		pkts  []codec.Packet
		chunk int
	}{
		{"whole", pkts, 1 << 30},
		{"chunks-of-65536", pkts, 1 << 16},
		{"chunks-of-1000", pkts, 1000},
		{"small/chunks-of-7", small, 7},
		{"small/chunks-of-1", small, 1},
	} {
		t.Run("decoder/"+tc.name, func(t *testing.T) {
			want := make([]streamfixture.Spec, len(tc.pkts))
			for i, p := range tc.pkts {
				want[i] = streamfixture.SpecOf(p)
			}
			var got []streamfixture.Spec
			runStreamFrames(t, &got, chunked(codec.AppendStreamFrames(nil, tc.pkts), tc.chunk), "decode", "2000000")
			if !reflect.DeepEqual(got, want) {
				t.Errorf("engine.io-parser decoded %d packets, first difference %s", len(got), firstDifference(got, want))
			}
		})
	}

	// Streams that both decoders refuse, with a good packet before the bad
	// frame: engine.io-parser emits its error packet, chanio an error.
	good := codec.AppendStreamFrame(nil, codec.Packet{Type: codec.Message, Data: []byte("ok")})
	for _, tc := range []struct {
		name       string
		bad        []byte
		maxPayload int64
		sentinel   error
	}{
		{"zero-length-text", []byte{0x00}, 100, codec.ErrEmptyPacket},
		{"zero-length-binary", []byte{0x80}, 100, codec.ErrEmptyPacket},
		{"over-max-short", append([]byte{0x0b}, "4hello world"...), 10, codec.ErrTooLarge},
		{"over-max-16", []byte{0x7e, 0x01, 0x00}, 255, codec.ErrTooLarge},
		{"over-max-64", []byte{0xff, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x41}, 1_000_000, codec.ErrTooLarge},
		{"over-safe-integer", []byte{0x7f, 0x00, 0x20, 0, 0, 0, 0, 0, 0}, 1_000_000, codec.ErrTooLarge},
		{"unknown-type", []byte{0x02, '9', 'x'}, 100, codec.ErrUnknownType},
	} {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			in := append(append([]byte(nil), good...), tc.bad...)
			var got []streamfixture.Spec
			runStreamFrames(t, &got, chunked(in, len(in)), "decode", strconv.Itoa(int(tc.maxPayload)))
			if len(got) != 2 || got[1].Type != "error" {
				t.Errorf("engine.io-parser decoded %+v, want the good packet then its error packet", got)
			}
			d := codec.StreamDecoder{MaxPayload: tc.maxPayload}
			var n int
			err := d.Decode(in, func(codec.Packet) error { n++; return nil })
			if n != 1 || !errors.Is(err, tc.sentinel) {
				t.Errorf("chanio decoded %d packets, then %v; want 1, then %v", n, err, tc.sentinel)
			}
		})
	}
}

// runStreamFrames runs js/stream-frames.js with input in a file and
// decodes its JSON output into out.
func runStreamFrames(t *testing.T, out, input any, args ...string) {
	t.Helper()
	b, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "input.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res := runNode(t, 60*time.Second, "stream-frames.js", append(args, file)...)
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatalf("stream-frames.js printed %.200q: %v", res, err)
	}
}

// chunked cuts b into hex chunks of n bytes, as stream-frames.js decode
// takes them.
func chunked(b []byte, n int) map[string][]string {
	var chunks []string
	for len(b) > 0 {
		k := min(n, len(b))
		chunks = append(chunks, hex.EncodeToString(b[:k]))
		b = b[k:]
	}
	return map[string][]string{"chunks": chunks}
}

func firstDifference(got, want []streamfixture.Spec) string {
	for i := range min(len(got), len(want)) {
		if !reflect.DeepEqual(got[i], want[i]) {
			g, _ := json.Marshal(got[i])
			w, _ := json.Marshal(want[i])
			return "at " + strconv.Itoa(i) + ": " + truncate(string(g)) + ", want " + truncate(string(w))
		}
	}
	return "in length: " + strconv.Itoa(len(got)) + ", want " + strconv.Itoa(len(want))
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
