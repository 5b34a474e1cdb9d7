package wire_test

import (
	"testing"

	"github.com/chanio/chanio/sio/wire"
)

func BenchmarkDecodeEvent(b *testing.B) {
	msg := []byte(`2/chat,17["message",{"user":"ada","text":"hello, world","at":1712345678901,"tags":["a","b"]}]`)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	var d wire.Decoder
	for b.Loop() {
		p, ok, err := d.Add(msg, false)
		if !ok || err != nil {
			b.Fatal(err)
		}
		if _, _, err := wire.EventArgs(&p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeEvent(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 256)
	data := make([]byte, 0, 256)
	for b.Loop() {
		var err error
		data, _, err = wire.AppendEvent(data[:0], nil, "message", "ada", "hello, world", 1712345678901)
		if err != nil {
			b.Fatal(err)
		}
		buf, err = wire.Append(buf[:0], &wire.Packet{Type: wire.Event, Namespace: "/chat", Data: data})
		if err != nil {
			b.Fatal(err)
		}
	}
}
