package codec_test

import (
	"strings"
	"testing"

	"github.com/chanio/chanio/codec"
)

// benchData returns n bytes of printable ASCII text.
func benchData(n int) []byte {
	return []byte(strings.Repeat("abcdefghijklmnopqrstuvwxyz012345", n/32+1)[:n])
}

// SetBytes counts bytes on the wire (encoded output or decoded input).

// benchPackets are the single-packet cases: text and binary messages of
// 32 B and 1 KiB.
func benchPackets() []struct {
	name string
	p    codec.Packet
} {
	return []struct {
		name string
		p    codec.Packet
	}{
		{"text-32B", codec.Packet{Type: codec.Message, Data: benchData(32)}},
		{"text-1KiB", codec.Packet{Type: codec.Message, Data: benchData(1024)}},
		{"binary-32B", codec.Packet{Type: codec.Message, Data: benchData(32), Binary: true}},
		{"binary-1KiB", codec.Packet{Type: codec.Message, Data: benchData(1024), Binary: true}},
	}
}

// benchPayloads are the payload cases: each single packet, and 10-packet
// payloads of 64-byte text messages, or alternating text and binary.
func benchPayloads() []struct {
	name string
	pkts []codec.Packet
} {
	var cases []struct {
		name string
		pkts []codec.Packet
	}
	for _, c := range benchPackets() {
		cases = append(cases, struct {
			name string
			pkts []codec.Packet
		}{c.name, []codec.Packet{c.p}})
	}
	text10 := make([]codec.Packet, 10)
	mixed10 := make([]codec.Packet, 10)
	for i := range text10 {
		text10[i] = codec.Packet{Type: codec.Message, Data: benchData(64)}
		mixed10[i] = codec.Packet{Type: codec.Message, Data: benchData(64), Binary: i%2 == 1}
	}
	return append(cases,
		struct {
			name string
			pkts []codec.Packet
		}{"10x-text-64B", text10},
		struct {
			name string
			pkts []codec.Packet
		}{"10x-mixed-64B", mixed10},
	)
}

func BenchmarkEncodeFrame(b *testing.B) {
	for _, c := range benchPackets() {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 2048)
			frame, _ := codec.AppendFrame(nil, c.p, codec.V4)
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				buf, _ = codec.AppendFrame(buf[:0], c.p, codec.V4)
			}
		})
	}
}

func BenchmarkDecodeFrame(b *testing.B) {
	for _, c := range benchPackets() {
		frame, binary := codec.AppendFrame(nil, c.p, codec.V4)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, err := codec.DecodeFrame(frame, binary, codec.V4); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodePayload(b *testing.B) {
	for _, v := range []codec.Version{codec.V4, codec.V3} {
		for _, c := range benchPayloads() {
			if v == codec.V3 && len(c.pkts) == 1 {
				continue // V3 only for the 10-packet payloads
			}
			b.Run(versionName(v)+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				buf := make([]byte, 0, 4096)
				b.SetBytes(int64(len(codec.AppendPayload(nil, c.pkts, v))))
				for b.Loop() {
					buf = codec.AppendPayload(buf[:0], c.pkts, v)
				}
			})
		}
	}
}

func BenchmarkDecodePayload(b *testing.B) {
	for _, v := range []codec.Version{codec.V4, codec.V3} {
		for _, c := range benchPayloads() {
			if v == codec.V3 && len(c.pkts) == 1 {
				continue
			}
			payload := codec.AppendPayload(nil, c.pkts, v)
			b.Run(versionName(v)+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(payload)))
				dst := make([]codec.Packet, 0, 16)
				var err error
				for b.Loop() {
					dst, err = codec.DecodePayload(payload, v, codec.Limits{}, dst[:0])
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func versionName(v codec.Version) string {
	if v == codec.V3 {
		return "v3"
	}
	return "v4"
}

func BenchmarkAppendHandshake(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(codec.AppendHandshake(nil, knownHandshake))))
	for b.Loop() {
		buf = codec.AppendHandshake(buf[:0], knownHandshake)
	}
}

func BenchmarkParseHandshake(b *testing.B) {
	b.ReportAllocs()
	data := []byte(knownHandshakeJSON)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := codec.ParseHandshake(data); err != nil {
			b.Fatal(err)
		}
	}
}
