package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/chanio/chanio/sio/wire"
)

// The fuzz targets check, for any input:
//   - the decoder does not panic;
//   - an error is a *wire.Error wrapping one of the sentinels, at an offset
//     inside the input;
//   - a decoded packet re-encodes with Append, and what Append wrote
//     decodes to the same packet (the bytes need not equal the input: the
//     decoder takes space around the payload, leading zeros in ack ids and
//     namespaces without their comma, which Append never writes).
//
// Seeds live in testdata/fuzz/<FuzzName>/ as well as in the f.Add calls.

var decodeSentinels = []error{
	wire.ErrEmpty, wire.ErrUnknownType, wire.ErrBadAttachmentCount, wire.ErrTooManyAttachments,
	wire.ErrBadNamespace, wire.ErrBadAckID, wire.ErrBadJSON, wire.ErrBadPayload,
	wire.ErrAttachmentMismatch, wire.ErrTooLarge, wire.ErrUnexpectedBinary, wire.ErrUnexpectedText,
}

func checkDecodeError(t *testing.T, err error, inputLen int) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v (%T) is not a *wire.Error", err, err)
	}
	if we.Offset < 0 || we.Offset > inputLen {
		t.Fatalf("error offset %d outside the input of %d bytes: %v", we.Offset, inputLen, err)
	}
	for _, s := range decodeSentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %v wraps no sentinel", err)
}

// FuzzDecoder feeds a text message and then up to 12 copies of a binary
// message to one Decoder.
func FuzzDecoder(f *testing.F) {
	for _, c := range canonical {
		var bin []byte
		if len(c.p.Attachments) > 0 {
			bin = c.p.Attachments[0]
		}
		f.Add([]byte(c.text), uint8(len(c.p.Attachments)), bin, uint16(0))
	}
	f.Add([]byte(`52-["a",{"_placeholder":true,"num":1},{"x":{"_placeholder":true,"num":0}}]`), uint8(3), []byte{1}, uint16(0))
	f.Add([]byte(`2["a",{"_placeholder":true,"num":0}]`), uint8(0), []byte(nil), uint16(0))
	f.Add([]byte(`2 [ "\ud83d\ude00" ] `), uint8(0), []byte(nil), uint16(0))
	f.Add([]byte(`51-["abcdef",{"_placeholder":true,"num":0}]`), uint8(1), []byte("0123456789"), uint16(50))
	f.Fuzz(func(t *testing.T, text []byte, nbin uint8, bin []byte, maxBytes uint16) {
		d := wire.Decoder{Limits: wire.Limits{MaxBytes: int(maxBytes)}}
		p, ok, err := d.Add(text, false)
		if err != nil {
			checkDecodeError(t, err, len(text))
			return
		}
		for i := 0; i < int(nbin%13) && err == nil; i++ {
			var done bool
			var q wire.Packet
			q, done, err = d.Add(bin, true)
			switch {
			case err != nil:
				checkDecodeError(t, err, len(text))
				if ok && !errors.Is(err, wire.ErrUnexpectedBinary) {
					t.Fatalf("binary message after a complete packet: %v", err)
				}
				if !ok && errors.Is(err, wire.ErrUnexpectedBinary) {
					t.Fatalf("binary message refused while %d were awaited", d.Awaiting())
				}
			case ok:
				t.Fatalf("binary message accepted after a complete packet")
			case done:
				p, ok = q, true
			}
		}
		if !ok {
			return
		}
		switch p.Type {
		case wire.Connect, wire.Disconnect, wire.Event, wire.Ack, wire.ConnectError:
		default:
			t.Fatalf("decoded type %v", p.Type)
		}
		if p.Namespace == "" || p.Namespace[0] != '/' {
			t.Fatalf("decoded namespace %q", p.Namespace)
		}
		if p.Data != nil && !json.Valid(p.Data) {
			t.Fatalf("decoded invalid JSON %q", p.Data)
		}
		if p.Type == wire.Event {
			if _, args, err := wire.EventArgs(&p); err != nil {
				t.Fatalf("EventArgs of a decoded event: %v", err)
			} else if _, err := args.Values(); err != nil && !errors.As(err, new(*wire.ArgError)) {
				t.Fatalf("Values: %v", err)
			}
		}
		enc, err := wire.Append(nil, &p)
		if err != nil {
			t.Fatalf("decoded %q as %+v, which Append refuses: %v", text, p, err)
		}
		if len(enc) != wire.Len(&p) {
			t.Fatalf("Len = %d, Append wrote %d", wire.Len(&p), len(enc))
		}
		var d2 wire.Decoder
		d2.Limits.MaxAttachments = -1
		p2, ok2, err := d2.Add(enc, false)
		for _, a := range p.Attachments {
			if err != nil || ok2 {
				break
			}
			p2, ok2, err = d2.Add(a, true)
		}
		if err != nil || !ok2 || !samePacket(p, p2) {
			t.Fatalf("%q decoded to %+v, which re-encodes to %q and decodes to %+v, %v, %v", text, p, enc, p2, ok2, err)
		}
	})
}

// FuzzArgs encodes arguments with AppendEvent and checks that they decode
// back to the same values.
func FuzzArgs(f *testing.F) {
	f.Add("chat", "hello", []byte{1, 2, 3}, 1.5, true)
	f.Add("\u2028<>&", "\x00\"\\\xff", []byte{}, math.Copysign(0, -1), false)
	f.Add("1", "", []byte(nil), 1e300, false)
	f.Add("connect", "x", []byte("x"), 0.0, true)
	f.Fuzz(func(t *testing.T, name, s string, b []byte, n float64, nest bool) {
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return
		}
		var args []any
		if nest {
			args = []any{s, map[string]any{s: b, "n": n}, []any{b, s}}
		} else {
			args = []any{s, b, n}
		}
		data, atts, err := wire.AppendEvent(nil, nil, name, args...)
		if wire.IsReserved(name) {
			if !errors.Is(err, wire.ErrReservedName) {
				t.Fatalf("reserved name %q: %v", name, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(data) {
			t.Fatalf("invalid JSON %q", data)
		}
		p := wire.Packet{Type: wire.Event, Namespace: "/", Data: data, Attachments: atts}
		text, err := wire.Append(nil, &p)
		if err != nil {
			t.Fatal(err)
		}
		var d wire.Decoder
		got, ok, err := d.Add(text, false)
		for _, a := range atts {
			if err != nil || ok {
				break
			}
			got, ok, err = d.Add(a, true)
		}
		if err != nil || !ok {
			t.Fatalf("%q: ok=%v err=%v", text, ok, err)
		}
		gotName, a, err := wire.EventArgs(&got)
		wantName, _ := json.Marshal(name)
		var want string
		_ = json.Unmarshal(wantName, &want) // the name as JSON carries it (invalid UTF-8 replaced)
		if err != nil || gotName != want {
			t.Fatalf("name %q came back as %q, %v", want, gotName, err)
		}
		sj, _ := json.Marshal(s)
		var wantS string
		_ = json.Unmarshal(sj, &wantS)
		if nest {
			var s1 string
			var m map[string]any
			var l []any
			if err := a.Decode(&s1, &m, &l); err != nil {
				t.Fatal(err)
			}
			// The map has s: b and "n": n; when s is "n", the number
			// is the one value left.
			mb, isBytes := m[wantS].([]byte)
			mapOK := m["n"] == n && (wantS == "n" || isBytes && bytes.Equal(mb, b))
			lb, isBytes := l[0].([]byte)
			if s1 != wantS || !mapOK || !isBytes || !bytes.Equal(lb, b) || l[1] != wantS {
				t.Fatalf("nested args came back as %q %#v %#v", s1, m, l)
			}
			return
		}
		var s1 string
		var b1 []byte
		var n1 float64
		if err := a.Decode(&s1, &b1, &n1); err != nil {
			t.Fatal(err)
		}
		if s1 != wantS || !bytes.Equal(b1, b) || n1 != n {
			t.Fatalf("args %q %v %v came back as %q %v %v", s, b, n, s1, b1, n1)
		}
	})
}
