package wire_test

import (
	"fmt"

	"github.com/chanio/chanio/sio/wire"
)

// Encode an event with a binary argument, then decode it as a receiver
// does: the text message first, then the attachment.
func Example() {
	data, atts, err := wire.AppendEvent(nil, nil, "upload", "photo.png", []byte{0x89, 'P', 'N', 'G'})
	if err != nil {
		panic(err)
	}
	text, err := wire.Append(nil, &wire.Packet{Type: wire.Event, Namespace: "/files", ID: 7, HasID: true, Data: data, Attachments: atts})
	if err != nil {
		panic(err)
	}
	fmt.Printf("text:   %s\n", text)
	fmt.Printf("binary: % x\n", atts[0])

	var d wire.Decoder
	if _, ok, err := d.Add(text, false); ok || err != nil {
		panic("the packet waits for its attachment")
	}
	p, ok, err := d.Add(atts[0], true)
	if !ok || err != nil {
		panic(err)
	}
	name, args, _ := wire.EventArgs(&p)
	var file string
	var body []byte
	if err := args.Decode(&file, &body); err != nil {
		panic(err)
	}
	fmt.Println(p.Type, p.Namespace, p.ID, name, file, len(body))
	// Output:
	// text:   51-/files,7["upload","photo.png",{"_placeholder":true,"num":0}]
	// binary: 89 50 4e 47
	// EVENT /files 7 upload photo.png 4
}

// An acknowledgement with the answer of a handler.
func ExampleAppendArgs() {
	data, _, _ := wire.AppendArgs(nil, nil, "ok", map[string]any{"n": 3})
	text, _ := wire.Append(nil, &wire.Packet{Type: wire.Ack, ID: 12, HasID: true, Data: data})
	fmt.Printf("%s\n", text)
	// Output: 312["ok",{"n":3}]
}

// A peer that breaks the protocol gets a typed error naming the rule.
func ExampleDecoder_Add() {
	var d wire.Decoder
	_, _, err := d.Add([]byte(`2["disconnect"]`), false)
	fmt.Println(err)
	_, _, err = d.Add([]byte(`51-["a"]`), false)
	fmt.Println(err)
	// Output:
	// sio/wire: invalid payload at offset 2
	// sio/wire: placeholders do not match the attachments at offset 3
}
