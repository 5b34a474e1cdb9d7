package codec_test

import (
	"fmt"

	"github.com/chanio/chanio/codec"
)

func ExampleAppendPayload() {
	pkts := []codec.Packet{
		{Type: codec.Message, Data: []byte("hello")},
		{Type: codec.Message, Data: []byte{1, 2, 3}, Binary: true},
	}
	fmt.Printf("%q\n", codec.AppendPayload(nil, pkts, codec.V4))
	fmt.Printf("%q\n", codec.AppendPayload(nil, pkts, codec.V3))
	// Output:
	// "4hello\x1ebAQID"
	// "6:4hello6:b4AQID"
}

func ExampleDecodePayload() {
	var pkts []codec.Packet // reuse it across requests to avoid allocating
	pkts, err := codec.DecodePayload([]byte("4hello\x1e2probe\x1ebAQID"), codec.V4, codec.Limits{MaxPackets: 16}, pkts[:0])
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range pkts {
		fmt.Println(p)
	}

	// Bad input reports where it went wrong.
	_, err = codec.DecodePayload([]byte("4hello\x1e9"), codec.V4, codec.Limits{}, nil)
	fmt.Println(err)
	// Output:
	// message "hello"
	// ping "probe"
	// message <3 bytes binary>
	// codec: unknown packet type at offset 7
}

func ExampleAppendFrame() {
	frame, binary := codec.AppendFrame(nil, codec.Packet{Type: codec.Ping, Data: []byte("probe")}, codec.V4)
	fmt.Printf("%q binary=%v\n", frame, binary)

	bin := codec.Packet{Type: codec.Message, Data: []byte{1, 2, 3}, Binary: true}
	frame, binary = codec.AppendFrame(nil, bin, codec.V4)
	fmt.Printf("%q binary=%v\n", frame, binary)
	frame, binary = codec.AppendFrame(nil, bin, codec.V3)
	fmt.Printf("%q binary=%v\n", frame, binary)
	// Output:
	// "2probe" binary=false
	// "\x01\x02\x03" binary=true
	// "\x04\x01\x02\x03" binary=true
}

func ExampleDecodeFrame() {
	p, err := codec.DecodeFrame([]byte("4hello"), false, codec.V4)
	fmt.Println(p, err)

	p, err = codec.DecodeFrame([]byte{4, 0xca, 0xfe}, true, codec.V3)
	fmt.Println(p, err)

	_, err = codec.DecodeFrame([]byte("7"), false, codec.V4)
	fmt.Println(err)
	// Output:
	// message "hello" <nil>
	// message <2 bytes binary> <nil>
	// codec: unknown packet type at offset 0
}

func ExampleAppendHandshake() {
	h := codec.Handshake{SID: "abc", Upgrades: []string{"websocket"}, PingInterval: 25000, PingTimeout: 20000, MaxPayload: 1e6}
	open := codec.AppendHandshake([]byte{'0'}, h) // the open packet's body
	fmt.Println(string(open))
	// Output:
	// 0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}
}
