package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/chanio/chanio/sio/wire"
)

// The examples of the protocol's Readme, each as packet and encoding.
var canonical = []struct {
	name string
	p    wire.Packet
	text string
}{
	{"connect main", wire.Packet{Type: wire.Connect, Namespace: "/"}, "0"},
	{"connect custom with sid", wire.Packet{Type: wire.Connect, Namespace: "/admin", Data: raw(`{"sid":"oSO0OpakMV_3jnilAAAA"}`)}, `0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`},
	{"connect auth", wire.Packet{Type: wire.Connect, Namespace: "/admin", Data: raw(`{"token":"123"}`)}, `0/admin,{"token":"123"}`},
	{"connect error", wire.Packet{Type: wire.ConnectError, Namespace: "/", Data: raw(`{"message":"Not authorized"}`)}, `4{"message":"Not authorized"}`},
	{"connect error string", wire.Packet{Type: wire.ConnectError, Namespace: "/", Data: raw(`"Unauthorized"`)}, `4"Unauthorized"`},
	{"event main", wire.Packet{Type: wire.Event, Namespace: "/", Data: raw(`["foo"]`)}, `2["foo"]`},
	{"event custom", wire.Packet{Type: wire.Event, Namespace: "/admin", Data: raw(`["bar"]`)}, `2/admin,["bar"]`},
	{"event numeric name", wire.Packet{Type: wire.Event, Namespace: "/", Data: raw(`[1,"a",{}]`)}, `2[1,"a",{}]`},
	{"binary event", wire.Packet{Type: wire.Event, Namespace: "/", Data: raw(`["baz",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{1, 2, 3, 4}}}, `51-["baz",{"_placeholder":true,"num":0}]`},
	{"binary event two", wire.Packet{Type: wire.Event, Namespace: "/admin", Data: raw(`["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), Attachments: [][]byte{{1, 2}, {3, 4}}}, `52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`},
	{"event with ack", wire.Packet{Type: wire.Event, Namespace: "/", ID: 12, HasID: true, Data: raw(`["foo"]`)}, `212["foo"]`},
	{"event id zero", wire.Packet{Type: wire.Event, Namespace: "/test", ID: 0, HasID: true, Data: raw(`["a",1,{}]`)}, `2/test,0["a",1,{}]`},
	{"ack custom", wire.Packet{Type: wire.Ack, Namespace: "/admin", ID: 13, HasID: true, Data: raw(`["bar"]`)}, `3/admin,13["bar"]`},
	{"ack empty", wire.Packet{Type: wire.Ack, Namespace: "/", ID: 7, HasID: true, Data: raw(`[]`)}, `37[]`},
	{"binary ack", wire.Packet{Type: wire.Ack, Namespace: "/", ID: 15, HasID: true, Data: raw(`["bar",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{1, 2, 3, 4}}}, `61-15["bar",{"_placeholder":true,"num":0}]`},
	{"binary ack custom", wire.Packet{Type: wire.Ack, Namespace: "/admin", ID: 1, HasID: true, Data: raw(`[{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{}}}, `61-/admin,1[{"_placeholder":true,"num":0}]`},
	{"disconnect main", wire.Packet{Type: wire.Disconnect, Namespace: "/"}, "1"},
	{"disconnect custom", wire.Packet{Type: wire.Disconnect, Namespace: "/admin"}, "1/admin,"},
	{"max ack id", wire.Packet{Type: wire.Ack, Namespace: "/", ID: wire.MaxAckID, HasID: true, Data: raw(`[]`)}, "39007199254740991[]"},
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// decodeAll feeds the text and then the attachments to a fresh Decoder.
func decodeAll(t *testing.T, text string, atts [][]byte) wire.Packet {
	t.Helper()
	var d wire.Decoder
	p, ok, err := d.Add([]byte(text), false)
	if err != nil {
		t.Fatalf("Add(%q): %v", text, err)
	}
	for i, a := range atts {
		if ok {
			t.Fatalf("packet complete after the text, %d attachments early", len(atts)-i)
		}
		if got := d.Awaiting(); got != len(atts)-i {
			t.Fatalf("Awaiting() = %d, want %d", got, len(atts)-i)
		}
		p, ok, err = d.Add(a, true)
		if err != nil {
			t.Fatalf("attachment %d: %v", i, err)
		}
	}
	if !ok {
		t.Fatalf("packet %q not complete after %d attachments", text, len(atts))
	}
	if d.Awaiting() != 0 {
		t.Fatalf("Awaiting() = %d after a complete packet", d.Awaiting())
	}
	return p
}

func samePacket(a, b wire.Packet) bool {
	if a.Type != b.Type || a.Namespace != b.Namespace || a.HasID != b.HasID || a.ID != b.ID ||
		!bytes.Equal(a.Data, b.Data) || len(a.Attachments) != len(b.Attachments) {
		return false
	}
	for i := range a.Attachments {
		if !bytes.Equal(a.Attachments[i], b.Attachments[i]) {
			return false
		}
	}
	return true
}

func TestCanonical(t *testing.T) {
	for _, c := range canonical {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			text, err := wire.Append(nil, &c.p)
			if err != nil {
				t.Fatal(err)
			}
			if string(text) != c.text {
				t.Fatalf("Append = %q, want %q", text, c.text)
			}
			if n := wire.Len(&c.p); n != len(text) {
				t.Fatalf("Len = %d, Append wrote %d", n, len(text))
			}
			got := decodeAll(t, c.text, c.p.Attachments)
			if !samePacket(got, c.p) {
				t.Fatalf("decoded %q as %+v, want %+v", c.text, got, c.p)
			}
		})
	}
}

// Inputs the decoder accepts that are not what Append writes, and what they
// mean (as the reference parser reads them).
func TestNonCanonical(t *testing.T) {
	cases := []struct {
		name, text string
		want       wire.Packet
	}{
		{"namespace without comma", "1/admin", wire.Packet{Type: wire.Disconnect, Namespace: "/admin"}},
		{"explicit main namespace", `2/,["a"]`, wire.Packet{Type: wire.Event, Namespace: "/", Data: raw(`["a"]`)}},
		{"leading zeros in id", `2007["a"]`, wire.Packet{Type: wire.Event, Namespace: "/", ID: 7, HasID: true, Data: raw(`["a"]`)}},
		{"space around payload", "2 [\"a\" , 1 ]\n", wire.Packet{Type: wire.Event, Namespace: "/", Data: raw(`["a" , 1 ]`)}},
		{"binary packet without attachments", `50-["a"]`, wire.Packet{Type: wire.Event, Namespace: "/", Data: raw(`["a"]`)}},
		{"binary ack without attachments", `60-3[]`, wire.Packet{Type: wire.Ack, Namespace: "/", ID: 3, HasID: true, Data: raw(`[]`)}},
		{"connect with id", `0/a,5{}`, wire.Packet{Type: wire.Connect, Namespace: "/a", ID: 5, HasID: true, Data: raw(`{}`)}},
		{"escaped event name", `2["\u0063hat"]`, wire.Packet{Type: wire.Event, Namespace: "/", Data: raw(`["\u0063hat"]`)}},
		{"placeholder-shaped object in a text event", `2["a",{"_placeholder":true,"num":0}]`, wire.Packet{Type: wire.Event, Namespace: "/", Data: raw(`["a",{"_placeholder":true,"num":0}]`)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := decodeAll(t, c.text, nil)
			if !samePacket(got, c.want) {
				t.Fatalf("decoded %q as %+v, want %+v", c.text, got, c.want)
			}
			// What Append writes for it decodes to the same packet.
			text, err := wire.Append(nil, &got)
			if err != nil {
				t.Fatal(err)
			}
			if again := decodeAll(t, string(text), nil); !samePacket(again, got) {
				t.Fatalf("re-encoded %q decodes as %+v, want %+v", text, again, got)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name, text string
		lim        wire.Limits
		want       error
		off        int
	}{
		{"empty", "", wire.Limits{}, wire.ErrEmpty, 0},
		{"unknown type", "999", wire.Limits{}, wire.ErrUnknownType, 0},
		{"not a digit", "x", wire.Limits{}, wire.ErrUnknownType, 0},
		// The reference parser's invalid payloads.
		{"unterminated array", `442["some","data"`, wire.Limits{}, wire.ErrBadJSON, 17},
		{"connect with string", `0/admin,"invalid"`, wire.Limits{}, wire.ErrBadPayload, 8},
		{"connect with array", "0[]", wire.Limits{}, wire.ErrBadPayload, 1},
		{"disconnect with payload", "1/admin,{}", wire.Limits{}, wire.ErrBadPayload, 8},
		{"unterminated string", `2/admin,"invalid`, wire.Limits{}, wire.ErrBadJSON, 16},
		{"event with object", "2/admin,{}", wire.Limits{}, wire.ErrBadPayload, 8},
		{"event name object", `2[{"toString":"foo"}]`, wire.Limits{}, wire.ErrBadPayload, 2},
		{"event name bool", `2[true,"foo"]`, wire.Limits{}, wire.ErrBadPayload, 2},
		{"event name null", `2[null,"bar"]`, wire.Limits{}, wire.ErrBadPayload, 2},
		{"event reserved connect", `2["connect"]`, wire.Limits{}, wire.ErrBadPayload, 2},
		{"event reserved disconnect", `2["disconnect","123"]`, wire.Limits{}, wire.ErrBadPayload, 2},
		{"event reserved escaped", `2["disconn\u0065ct"]`, wire.Limits{}, wire.ErrBadPayload, 2},
		{"binary without count", "5", wire.Limits{}, wire.ErrBadAttachmentCount, 1},
		{"binary count without dash", "51", wire.Limits{}, wire.ErrBadAttachmentCount, 2},
		{"binary count not a number", "5a-", wire.Limits{}, wire.ErrBadAttachmentCount, 1},
		{"binary count fraction", "51.23-", wire.Limits{}, wire.ErrBadAttachmentCount, 2},
		{"binary empty count", `5-["a"]`, wire.Limits{}, wire.ErrBadAttachmentCount, 1},
		{"too many attachments", `53-["hello",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]`, wire.Limits{MaxAttachments: 2}, wire.ErrTooManyAttachments, 1},
		{"default attachment bound", `511-["a"]`, wire.Limits{}, wire.ErrTooManyAttachments, 1},
		{"huge attachment count", "5999999999999999999999-[]", wire.Limits{MaxAttachments: -1}, wire.ErrTooManyAttachments, 10},
		{"event without payload", "2", wire.Limits{}, wire.ErrBadPayload, 1},
		{"event with id only", "212", wire.Limits{}, wire.ErrBadPayload, 3},
		{"empty event", "2[]", wire.Limits{}, wire.ErrBadPayload, 2},
		{"ack without payload", "31", wire.Limits{}, wire.ErrBadPayload, 2},
		{"ack with object", "31{}", wire.Limits{}, wire.ErrBadPayload, 2},
		{"connect error without payload", "4", wire.Limits{}, wire.ErrBadPayload, 1},
		{"connect error number", "41", wire.Limits{}, wire.ErrBadPayload, 2},
		{"ack id too large", "39007199254740992[]", wire.Limits{}, wire.ErrBadAckID, 1},
		{"namespace not utf-8", "1/\xff,", wire.Limits{}, wire.ErrBadNamespace, 1},
		{"trailing garbage", `2["a"]x`, wire.Limits{}, wire.ErrBadJSON, 6},
		{"two values", `2["a"] ["b"]`, wire.Limits{}, wire.ErrBadJSON, 7},
		{"bad escape", `2["\x"]`, wire.Limits{}, wire.ErrBadJSON, 3},
		{"control char in string", "2[\"a\x01\"]", wire.Limits{}, wire.ErrBadJSON, 4},
		{"leading zero number", `2["a",01]`, wire.Limits{}, wire.ErrBadJSON, 7},
		{"too deep", "2[\"a\"," + strings.Repeat("[", wire.MaxDepth) + strings.Repeat("]", wire.MaxDepth) + "]", wire.Limits{}, wire.ErrBadJSON, 6 + wire.MaxDepth - 1},
		{"too large", `2["abcdef"]`, wire.Limits{MaxBytes: 10}, wire.ErrTooLarge, 10},
		// Placeholders against the announced count.
		{"placeholder missing", `52-["a",{"_placeholder":true,"num":0}]`, wire.Limits{}, wire.ErrAttachmentMismatch, 3},
		{"placeholder extra", `51-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, wire.Limits{}, wire.ErrAttachmentMismatch, 3},
		{"placeholder out of range", `51-["a",{"_placeholder":true,"num":1}]`, wire.Limits{}, wire.ErrAttachmentMismatch, 8},
		{"placeholder twice", `52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]`, wire.Limits{}, wire.ErrAttachmentMismatch, 38},
		{"placeholder num string", `51-["a",{"_placeholder":true,"num":"0"}]`, wire.Limits{}, wire.ErrAttachmentMismatch, 8},
		{"placeholder num fraction", `51-["a",{"_placeholder":true,"num":0.0}]`, wire.Limits{}, wire.ErrAttachmentMismatch, 8},
		{"placeholder num negative", `51-["a",{"_placeholder":true,"num":-1}]`, wire.Limits{}, wire.ErrAttachmentMismatch, 8},
		{"placeholder without num", `51-["a",{"_placeholder":true}]`, wire.Limits{}, wire.ErrAttachmentMismatch, 8},
		{"placeholders without attachments", `50-["a",{"_placeholder":true,"num":0}]`, wire.Limits{}, wire.ErrAttachmentMismatch, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := wire.Decoder{Limits: c.lim}
			p, ok, err := d.Add([]byte(c.text), false)
			if !errors.Is(err, c.want) {
				t.Fatalf("Add(%q) = %+v, %v, %v; want %v", c.text, p, ok, err, c.want)
			}
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatalf("error %v is not a *wire.Error", err)
			}
			if we.Offset != c.off {
				t.Fatalf("offset %d, want %d (%v)", we.Offset, c.off, err)
			}
			if ok || d.Awaiting() != 0 {
				t.Fatalf("ok=%v Awaiting=%d after an error", ok, d.Awaiting())
			}
			// The decoder goes on with the next packet.
			if p, ok, err := d.Add([]byte(`2["next"]`), false); err != nil || !ok || string(p.Data) != `["next"]` {
				t.Fatalf("after the error: %+v, %v, %v", p, ok, err)
			}
		})
	}
}

func TestDecoderStream(t *testing.T) {
	t.Run("text while attachments awaited", func(t *testing.T) {
		var d wire.Decoder
		if _, ok, err := d.Add([]byte(`51-["a",{"_placeholder":true,"num":0}]`), false); ok || err != nil {
			t.Fatalf("binary header: ok=%v err=%v", ok, err)
		}
		_, _, err := d.Add([]byte(`2["b"]`), false)
		if !errors.Is(err, wire.ErrUnexpectedText) {
			t.Fatalf("got %v, want ErrUnexpectedText", err)
		}
		if d.Awaiting() != 0 {
			t.Fatalf("partial packet kept after the error")
		}
	})
	t.Run("binary without header", func(t *testing.T) {
		var d wire.Decoder
		if _, _, err := d.Add([]byte{1, 2}, true); !errors.Is(err, wire.ErrUnexpectedBinary) {
			t.Fatalf("got %v, want ErrUnexpectedBinary", err)
		}
		// A binary message after a complete packet is just as unexpected.
		if _, ok, err := d.Add([]byte(`51-["a",{"_placeholder":true,"num":0}]`), false); ok || err != nil {
			t.Fatal(ok, err)
		}
		if _, ok, err := d.Add([]byte{1}, true); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if _, _, err := d.Add([]byte{2}, true); !errors.Is(err, wire.ErrUnexpectedBinary) {
			t.Fatalf("got %v, want ErrUnexpectedBinary", err)
		}
	})
	t.Run("attachments over MaxBytes", func(t *testing.T) {
		d := wire.Decoder{Limits: wire.Limits{MaxBytes: 64}}
		text := []byte(`52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
		d.Limits.MaxBytes = len(text) + 10
		if _, ok, err := d.Add(text, false); ok || err != nil {
			t.Fatal(ok, err)
		}
		if _, ok, err := d.Add(make([]byte, 6), true); ok || err != nil {
			t.Fatal(ok, err)
		}
		if _, _, err := d.Add(make([]byte, 5), true); !errors.Is(err, wire.ErrTooLarge) {
			t.Fatalf("got %v, want ErrTooLarge", err)
		}
		if d.Awaiting() != 0 {
			t.Fatalf("partial packet kept after the error")
		}
	})
	t.Run("several packets in a row", func(t *testing.T) {
		var d wire.Decoder
		msgs := []struct {
			data   string
			binary bool
			done   bool
		}{
			{`2["a"]`, false, true},
			{`51-/x,3["b",{"_placeholder":true,"num":0}]`, false, false},
			{"\x00\xff", true, true},
			{`3/x,4[]`, false, true},
			{`62-5[{"_placeholder":true,"num":1},{"k":{"_placeholder":true,"num":0}}]`, false, false},
			{"A", true, false},
			{"B", true, true},
		}
		var got []wire.Packet
		for _, m := range msgs {
			p, ok, err := d.Add([]byte(m.data), m.binary)
			if err != nil || ok != m.done {
				t.Fatalf("Add(%q): ok=%v err=%v, want ok=%v", m.data, ok, err, m.done)
			}
			if ok {
				got = append(got, p)
			}
		}
		if len(got) != 4 {
			t.Fatalf("got %d packets", len(got))
		}
		if p := got[1]; p.Type != wire.Event || p.Namespace != "/x" || p.ID != 3 || len(p.Attachments) != 1 || string(p.Attachments[0]) != "\x00\xff" {
			t.Fatalf("binary event: %+v", p)
		}
		if p := got[3]; p.Type != wire.Ack || p.ID != 5 || string(p.Attachments[0]) != "A" || string(p.Attachments[1]) != "B" {
			t.Fatalf("binary ack: %+v", p)
		}
	})
}

func TestDecode(t *testing.T) {
	p, err := wire.Decode([]byte(`2/chat,["msg","hi"]`))
	if err != nil || p.Namespace != "/chat" || string(p.Data) != `["msg","hi"]` {
		t.Fatalf("Decode = %+v, %v", p, err)
	}
	if _, err := wire.Decode([]byte(`51-["a",{"_placeholder":true,"num":0}]`)); !errors.Is(err, wire.ErrAttachmentMismatch) {
		t.Fatalf("Decode of a binary packet = %v, want ErrAttachmentMismatch", err)
	}
}

func TestAppendInvalid(t *testing.T) {
	cases := []struct {
		name string
		p    wire.Packet
	}{
		{"unknown type", wire.Packet{Type: 7}},
		{"namespace without slash", wire.Packet{Type: wire.Connect, Namespace: "admin"}},
		{"namespace with comma", wire.Packet{Type: wire.Connect, Namespace: "/a,b"}},
		{"namespace not utf-8", wire.Packet{Type: wire.Connect, Namespace: "/\xff"}},
		{"ack id too large", wire.Packet{Type: wire.Ack, HasID: true, ID: wire.MaxAckID + 1, Data: raw(`[]`)}},
		{"attachments on connect", wire.Packet{Type: wire.Connect, Attachments: [][]byte{{1}}}},
		{"event without data", wire.Packet{Type: wire.Event}},
		{"ack with object", wire.Packet{Type: wire.Ack, Data: raw(`{}`)}},
		{"disconnect with data", wire.Packet{Type: wire.Disconnect, Data: raw(`{}`)}},
		{"connect with array", wire.Packet{Type: wire.Connect, Data: raw(`[]`)}},
		{"connect error number", wire.Packet{Type: wire.ConnectError, Data: raw(`1`)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dst := []byte("keep")
			out, err := wire.Append(dst, &c.p)
			if !errors.Is(err, wire.ErrInvalidPacket) {
				t.Fatalf("Append(%+v) = %q, %v; want ErrInvalidPacket", c.p, out, err)
			}
			if string(out) != "keep" {
				t.Fatalf("Append changed dst to %q on error", out)
			}
		})
	}
}

func TestTypeString(t *testing.T) {
	want := []string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK", "Type(7)"}
	for i, w := range want {
		if got := wire.Type(i).String(); got != w {
			t.Errorf("Type(%d).String() = %q, want %q", i, got, w)
		}
		if wire.Type(i).Valid() != (i < 7) {
			t.Errorf("Type(%d).Valid() = %v", i, !(i < 7))
		}
	}
}

func TestArgs(t *testing.T) {
	type file struct {
		Name string `json:"name"`
		Body []byte `json:"body"`
	}
	data, atts, err := wire.AppendEvent(nil, nil, "upload",
		"hello <&> \"quoted\"\n\u2028\xff", 42, 1.5, true, nil,
		[]byte{0, 1, 2},
		map[string]any{"body": []byte("inner"), "name": "f.bin"},
		[]any{[]byte{9}, "x"},
		json.RawMessage(`{"raw":[1,2]}`),
		file{Name: "typed", Body: []byte("base64 in a struct")},
	)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(data) {
		t.Fatalf("AppendEvent wrote invalid JSON: %s", data)
	}
	if len(atts) != 3 {
		t.Fatalf("%d attachments, want 3: %s", len(atts), data)
	}
	p := wire.Packet{Type: wire.Event, Namespace: "/", Data: data, Attachments: atts}
	text, err := wire.Append(nil, &p)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeAll(t, string(text), atts)
	name, args, err := wire.EventArgs(&got)
	if err != nil || name != "upload" {
		t.Fatalf("EventArgs = %q, %v", name, err)
	}
	if args.Len() != 10 {
		t.Fatalf("Len = %d, want 10", args.Len())
	}
	var (
		s      string
		n      int
		f      float64
		b      bool
		null   *int
		bin    []byte
		f2     file
		list   []any
		rawArg json.RawMessage
		typed  file
	)
	if err := args.Decode(&s, &n, &f, &b, &null, &bin, &f2, &list, &rawArg, &typed); err != nil {
		t.Fatal(err)
	}
	if s != "hello <&> \"quoted\"\n\u2028\ufffd" || n != 42 || f != 1.5 || !b || null != nil {
		t.Fatalf("scalars: %q %d %v %v %v", s, n, f, b, null)
	}
	if !bytes.Equal(bin, []byte{0, 1, 2}) || &bin[0] != &atts[0][0] {
		t.Fatalf("binary argument %v is not the attachment itself", bin)
	}
	if f2.Name != "f.bin" || string(f2.Body) != "inner" {
		t.Fatalf("nested placeholder in a struct: %+v", f2)
	}
	if len(list) != 2 || !bytes.Equal(list[0].([]byte), []byte{9}) || list[1] != "x" {
		t.Fatalf("list: %#v", list)
	}
	if string(rawArg) != `{"raw":[1,2]}` {
		t.Fatalf("raw: %s", rawArg)
	}
	if typed.Name != "typed" || string(typed.Body) != "base64 in a struct" {
		t.Fatalf("struct: %+v", typed)
	}
	if b, ok := args.Binary(5); !ok || !bytes.Equal(b, []byte{0, 1, 2}) {
		t.Fatalf("Binary(5) = %v, %v", b, ok)
	}
	if _, ok := args.Binary(0); ok {
		t.Fatalf("Binary(0) of a string argument says ok")
	}
	vals, err := args.Values()
	if err != nil {
		t.Fatal(err)
	}
	m := vals[6].(map[string]any)
	if !bytes.Equal(m["body"].([]byte), []byte("inner")) {
		t.Fatalf("Values: %#v", vals[6])
	}
	if string(args.Raw(1)) != "42" || args.Raw(10) != nil {
		t.Fatalf("Raw(1) = %s, Raw(10) = %s", args.Raw(1), args.Raw(10))
	}
	var first string
	var missing int
	err = args.Decode(&first, nil, nil, nil, nil, nil, nil, nil, nil, nil, &missing)
	var ae *wire.ArgError
	if !errors.Is(err, wire.ErrMissingArg) || !errors.As(err, &ae) || ae.Index != 10 {
		t.Fatalf("decoding 11 of 10 arguments: %v", err)
	}
	if err := args.Decode(&n); !errors.As(err, &ae) || ae.Index != 0 {
		t.Fatalf("string into int: %v", err)
	}
	if js := args.JSON(); !json.Valid(js) || !bytes.HasPrefix(js, []byte(`["hello`)) {
		t.Fatalf("JSON() = %s", js)
	}
}

func TestArgsErrors(t *testing.T) {
	if _, _, err := wire.AppendEvent(nil, nil, "disconnect"); !errors.Is(err, wire.ErrReservedName) {
		t.Fatalf("reserved name: %v", err)
	}
	dst := []byte("x")
	out, atts, err := wire.AppendArgs(dst, nil, []byte{1}, make(chan int))
	var ae *wire.ArgError
	if !errors.As(err, &ae) || ae.Index != 1 || string(out) != "x" || len(atts) != 0 {
		t.Fatalf("unencodable argument: %q %v %v", out, atts, err)
	}
	if _, _, err := wire.AppendArgs(nil, nil, json.RawMessage(`{`)); !errors.Is(err, wire.ErrBadJSON) {
		t.Fatalf("invalid RawMessage: %v", err)
	}
	deep := any("x")
	for range wire.MaxDepth + 2 {
		deep = []any{deep}
	}
	if _, _, err := wire.AppendArgs(nil, nil, deep); err == nil {
		t.Fatalf("value nested past MaxDepth was encoded")
	}
}

func TestAckArgs(t *testing.T) {
	data, atts, err := wire.AppendArgs(nil, nil, "ok", []byte("bin"))
	if err != nil {
		t.Fatal(err)
	}
	p := wire.Packet{Type: wire.Ack, ID: 9, HasID: true, Data: data, Attachments: atts}
	text, _ := wire.Append(nil, &p)
	if string(text) != `61-9["ok",{"_placeholder":true,"num":0}]` {
		t.Fatalf("ack = %q", text)
	}
	got := decodeAll(t, string(text), atts)
	var s string
	var b []byte
	if err := wire.AckArgs(&got).Decode(&s, &b); err != nil || s != "ok" || string(b) != "bin" {
		t.Fatalf("ack args: %q %q %v", s, b, err)
	}
	if !reflect.DeepEqual(wire.AckArgs(&got).JSON(), got.Data) {
		t.Fatalf("ack JSON is not the data")
	}
}
