package codec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/chanio/chanio/codec"
)

// ---- helpers shared by the tests, fuzz targets and benchmarks ----

// samePacket reports whether a and b are the same packet. A nil and an empty
// Data are the same body.
func samePacket(a, b codec.Packet) bool {
	return a.Type == b.Type && a.Binary == b.Binary && bytes.Equal(a.Data, b.Data)
}

func samePackets(a, b []codec.Packet) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !samePacket(a[i], b[i]) {
			return false
		}
	}
	return true
}

func text(t codec.Type, data string) codec.Packet {
	return codec.Packet{Type: t, Data: []byte(data)}
}

func bin(t codec.Type, data ...byte) codec.Packet {
	if data == nil {
		data = []byte{}
	}
	return codec.Packet{Type: t, Data: data, Binary: true}
}

func msg(data string) codec.Packet { return text(codec.Message, data) }

func binMsg(data ...byte) codec.Packet { return bin(codec.Message, data...) }

// wantSyntaxError checks that err wraps sentinel and is a *SyntaxError at
// offset (offset < 0 skips the offset check).
func wantSyntaxError(t *testing.T, err, sentinel error, offset int) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v", sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("err = %v, want errors.Is %v", err, sentinel)
	}
	var se *codec.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("err = %T %v, want *codec.SyntaxError", err, err)
	}
	if offset >= 0 && se.Offset != offset {
		t.Fatalf("err = %v: Offset = %d, want %d", err, se.Offset, offset)
	}
}

// sentinels lists every error a decoder may wrap.
var sentinels = []error{
	codec.ErrEmptyPacket, codec.ErrEmptyPayload, codec.ErrUnknownType,
	codec.ErrBadBase64, codec.ErrBadLength, codec.ErrTruncated,
	codec.ErrTooManyPackets, codec.ErrTooLarge, codec.ErrBadHandshake,
	codec.ErrBadVersion, codec.ErrInvalidUTF8,
}

// checkDecodeError checks the contract for any decoder error: a
// *SyntaxError wrapping one of the sentinels at an offset inside the input.
func checkDecodeError(t *testing.T, err error, inputLen int) {
	t.Helper()
	var se *codec.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("err = %T %v, want *codec.SyntaxError", err, err)
	}
	if se.Offset < 0 || se.Offset > inputLen {
		t.Fatalf("err = %v: Offset %d outside input of %d bytes", err, se.Offset, inputLen)
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("err = %v wraps no sentinel", err)
}

// ---- Type, Packet, SyntaxError ----

func TestTypeString(t *testing.T) {
	names := []string{"open", "close", "ping", "pong", "message", "upgrade", "noop"}
	for i, name := range names {
		typ := codec.Type(i)
		if got := typ.String(); got != name {
			t.Errorf("Type(%d).String() = %q, want %q", i, got, name)
		}
		if !typ.Valid() {
			t.Errorf("Type(%d).Valid() = false", i)
		}
	}
	for _, typ := range []codec.Type{7, 8, 0x34, 255} {
		if typ.Valid() {
			t.Errorf("Type(%d).Valid() = true", typ)
		}
		if got, want := typ.String(), "Type("+strconv.Itoa(int(typ))+")"; got != want {
			t.Errorf("Type(%d).String() = %q, want %q", typ, got, want)
		}
	}
}

func TestPacketString(t *testing.T) {
	tests := []struct {
		name string
		p    codec.Packet
		want string
	}{
		{"text", msg("hi"), `message "hi"`},
		{"empty-ping", text(codec.Ping, ""), `ping ""`},
		{"binary", binMsg(1, 2, 3), "message <3 bytes binary>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSyntaxError(t *testing.T) {
	_, err := codec.DecodePayload([]byte("4a\x1ex"), codec.V4, codec.Limits{}, nil)
	wantSyntaxError(t, err, codec.ErrUnknownType, 3)
	if got, want := err.Error(), "codec: unknown packet type at offset 3"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if errors.Is(err, codec.ErrBadBase64) {
		t.Errorf("errors.Is(err, ErrBadBase64) = true")
	}
}

// ---- WebSocket frames ----

type frameCase struct {
	name   string
	v      codec.Version
	pkt    codec.Packet
	wire   string
	binary bool
}

// canonicalFrames encode to wire and decode back to pkt.
var canonicalFrames = []frameCase{
	{"v4/open", codec.V4, text(codec.Open, `{"sid":"abc"}`), `0{"sid":"abc"}`, false},
	{"v4/close", codec.V4, text(codec.Close, ""), "1", false},
	{"v4/ping", codec.V4, text(codec.Ping, ""), "2", false},
	{"v4/ping-probe", codec.V4, text(codec.Ping, "probe"), "2probe", false},
	{"v4/pong-probe", codec.V4, text(codec.Pong, "probe"), "3probe", false},
	{"v4/message", codec.V4, msg("hello"), "4hello", false},
	{"v4/message-empty", codec.V4, msg(""), "4", false},
	{"v4/message-utf8", codec.V4, msg("héllo €😀"), "4héllo €😀", false},
	{"v4/message-with-separator", codec.V4, msg("a\x1eb"), "4a\x1eb", false},
	{"v4/upgrade", codec.V4, text(codec.Upgrade, ""), "5", false},
	{"v4/noop", codec.V4, text(codec.Noop, ""), "6", false},
	{"v4/binary-message", codec.V4, binMsg(1, 2, 3), "\x01\x02\x03", true},
	{"v4/binary-message-empty", codec.V4, binMsg(), "", true},
	{"v4/binary-message-looks-like-text", codec.V4, binMsg('4', 'x'), "4x", true},

	{"v3/open", codec.V3, text(codec.Open, `{"sid":"abc"}`), `0{"sid":"abc"}`, false},
	{"v3/close", codec.V3, text(codec.Close, ""), "1", false},
	{"v3/ping-probe", codec.V3, text(codec.Ping, "probe"), "2probe", false},
	{"v3/pong-probe", codec.V3, text(codec.Pong, "probe"), "3probe", false},
	{"v3/message", codec.V3, msg("hello"), "4hello", false},
	{"v3/message-utf8", codec.V3, msg("héllo €😀"), "4héllo €😀", false},
	{"v3/upgrade", codec.V3, text(codec.Upgrade, ""), "5", false},
	{"v3/noop", codec.V3, text(codec.Noop, ""), "6", false},
	{"v3/binary-message", codec.V3, binMsg(1, 2, 3), "\x04\x01\x02\x03", true},
	{"v3/binary-message-empty", codec.V3, binMsg(), "\x04", true},
	{"v3/binary-ping", codec.V3, bin(codec.Ping, 9), "\x02\x09", true},
}

func TestAppendFrame(t *testing.T) {
	for _, tt := range canonicalFrames {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("xx")
			got, binary := codec.AppendFrame(prefix, tt.pkt, tt.v)
			if !bytes.HasPrefix(got, prefix) {
				t.Fatalf("AppendFrame dropped the prefix: %q", got)
			}
			if string(got[2:]) != tt.wire || binary != tt.binary {
				t.Errorf("AppendFrame = %q, %v; want %q, %v", got[2:], binary, tt.wire, tt.binary)
			}
			if n := codec.FrameLen(tt.pkt, tt.v); n != len(tt.wire) {
				t.Errorf("FrameLen = %d, want %d", n, len(tt.wire))
			}
			if b := codec.FrameIsBinary(tt.pkt, tt.v); b != tt.binary {
				t.Errorf("FrameIsBinary = %v, want %v", b, tt.binary)
			}
		})
	}
}

func TestDecodeFrame(t *testing.T) {
	for _, tt := range canonicalFrames {
		t.Run(tt.name, func(t *testing.T) {
			got, err := codec.DecodeFrame([]byte(tt.wire), tt.binary, tt.v)
			if err != nil {
				t.Fatalf("DecodeFrame(%q) error: %v", tt.wire, err)
			}
			if !samePacket(got, tt.pkt) {
				t.Errorf("DecodeFrame(%q) = %v, want %v", tt.wire, got, tt.pkt)
			}
		})
	}
}

// TestAppendFrameNonCanonical covers packets whose Binary flag has no wire
// form: in V4 only a message can be binary, so Binary is dropped elsewhere.
func TestAppendFrameNonCanonical(t *testing.T) {
	tests := []struct {
		name   string
		pkt    codec.Packet
		wire   string
		decode codec.Packet
	}{
		{"v4/binary-ping", bin(codec.Ping, 'x'), "2x", text(codec.Ping, "x")},
		{"v4/binary-close", bin(codec.Close), "1", text(codec.Close, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, binary := codec.AppendFrame(nil, tt.pkt, codec.V4)
			if string(got) != tt.wire || binary {
				t.Fatalf("AppendFrame = %q, %v; want %q, false", got, binary, tt.wire)
			}
			if n := codec.FrameLen(tt.pkt, codec.V4); n != len(tt.wire) {
				t.Errorf("FrameLen = %d, want %d", n, len(tt.wire))
			}
			if codec.FrameIsBinary(tt.pkt, codec.V4) {
				t.Errorf("FrameIsBinary = true, want false")
			}
			p, err := codec.DecodeFrame(got, binary, codec.V4)
			if err != nil || !samePacket(p, tt.decode) {
				t.Errorf("DecodeFrame = %v, %v; want %v", p, err, tt.decode)
			}
		})
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	tests := []struct {
		name     string
		v        codec.Version
		frame    string
		binary   bool
		sentinel error
	}{
		{"v4/text-empty", codec.V4, "", false, codec.ErrEmptyPacket},
		{"v3/text-empty", codec.V3, "", false, codec.ErrEmptyPacket},
		{"v4/text-type-7", codec.V4, "7abc", false, codec.ErrUnknownType},
		{"v4/text-letter", codec.V4, "xyz", false, codec.ErrUnknownType},
		{"v4/text-below-zero", codec.V4, "/", false, codec.ErrUnknownType},
		{"v4/text-raw-type-byte", codec.V4, "\x04hi", false, codec.ErrUnknownType},
		// Base64 binary ("b...") exists in polling payloads only.
		{"v4/text-base64", codec.V4, "bAQID", false, codec.ErrUnknownType},
		{"v3/text-type-9", codec.V3, "9", false, codec.ErrUnknownType},
		{"v3/binary-empty", codec.V3, "", true, codec.ErrEmptyPacket},
		{"v3/binary-type-7", codec.V3, "\x07", true, codec.ErrUnknownType},
		{"v3/binary-ascii-digit-type", codec.V3, "4hello", true, codec.ErrUnknownType},
		{"v3/binary-type-255", codec.V3, "\xff\x01", true, codec.ErrUnknownType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := codec.DecodeFrame([]byte(tt.frame), tt.binary, tt.v)
			wantSyntaxError(t, err, tt.sentinel, 0)
			if !samePacket(p, codec.Packet{}) {
				t.Errorf("DecodeFrame returned %v with its error", p)
			}
		})
	}
}

// base64Frames are V3 text frames as a client that asked for base64 (b64=1,
// forceBase64) sends and receives them: binary packets as 'b', type digit,
// base64; other packets as usual.
var base64Frames = []struct {
	name string
	pkt  codec.Packet
	wire string
}{
	{"binary-message", binMsg(1, 2, 3), "b4AQID"},
	{"binary-message-padded", binMsg(1, 2), "b4AQI="},
	{"binary-message-empty", binMsg(), "b4"},
	{"binary-ping", bin(codec.Ping, 9), "b2CQ=="},
	{"text-message", msg("héllo"), "4héllo"},
	{"text-message-starting-with-b", msg("bAQID"), "4bAQID"},
	{"pong", text(codec.Pong, ""), "3"},
}

func TestAppendBase64Frame(t *testing.T) {
	for _, tt := range base64Frames {
		t.Run(tt.name, func(t *testing.T) {
			got := codec.AppendBase64Frame([]byte("xx"), tt.pkt)
			if string(got) != "xx"+tt.wire {
				t.Errorf("AppendBase64Frame = %q, want %q", got[2:], tt.wire)
			}
			p, err := codec.DecodeFrame([]byte(tt.wire), false, codec.V3)
			if err != nil || !samePacket(p, tt.pkt) {
				t.Errorf("DecodeFrame(%q, text, V3) = %v, %v; want %v", tt.wire, p, err, tt.pkt)
			}
		})
	}
	// Clients that strip base64 padding are understood too.
	if p, err := codec.DecodeFrame([]byte("b4AQI"), false, codec.V3); err != nil || !samePacket(p, binMsg(1, 2)) {
		t.Errorf("unpadded: %v, %v", p, err)
	}
}

func TestDecodeBase64FrameErrors(t *testing.T) {
	tests := []struct {
		name     string
		frame    string
		sentinel error
		off      int
	}{
		{"no-type", "b", codec.ErrEmptyPacket, 0},
		{"letter-type", "bx", codec.ErrUnknownType, 1},
		{"type-7", "b7AA==", codec.ErrUnknownType, 1},
		{"bad-base64", "b4!!!!", codec.ErrBadBase64, 2},
		{"bad-length", "b4AQIDB", codec.ErrBadBase64, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := codec.DecodeFrame([]byte(tt.frame), false, codec.V3)
			wantSyntaxError(t, err, tt.sentinel, tt.off)
			if !samePacket(p, codec.Packet{}) {
				t.Errorf("DecodeFrame returned %v with its error", p)
			}
		})
	}
}

// ---- V4 polling payloads ----

type payloadCase struct {
	name string
	wire string
	pkts []codec.Packet
}

var canonicalV4Payloads = []payloadCase{
	{"single-text", "4hello", []codec.Packet{msg("hello")}},
	{"text-and-binary", "4hello\x1ebAQID", []codec.Packet{msg("hello"), binMsg(1, 2, 3)}},
	{"binary-first", "b//4=\x1e4x", []codec.Packet{binMsg(0xff, 0xfe), msg("x")}},
	{"all-types", "0{\"sid\":\"x\"}\x1e1\x1e2probe\x1e3probe\x1e4hi\x1e5\x1e6", []codec.Packet{
		text(codec.Open, `{"sid":"x"}`), text(codec.Close, ""), text(codec.Ping, "probe"),
		text(codec.Pong, "probe"), msg("hi"), text(codec.Upgrade, ""), text(codec.Noop, ""),
	}},
	{"empty-message", "4", []codec.Packet{msg("")}},
	{"two-empty-messages", "4\x1e4", []codec.Packet{msg(""), msg("")}},
	{"empty-binary", "b", []codec.Packet{binMsg()}},
	{"binary-one-byte", "bAQ==", []codec.Packet{binMsg(1)}},
	{"binary-two-bytes", "bAQI=", []codec.Packet{binMsg(1, 2)}},
	{"binaries", "bAQID\x1ebBAUG", []codec.Packet{binMsg(1, 2, 3), binMsg(4, 5, 6)}},
	{"utf8-and-colons", "4é:€:😀", []codec.Packet{msg("é:€:😀")}},
}

func TestAppendPayloadV4(t *testing.T) {
	for _, tt := range canonicalV4Payloads {
		t.Run(tt.name, func(t *testing.T) {
			got := codec.AppendPayload([]byte("xx"), tt.pkts, codec.V4)
			if string(got) != "xx"+tt.wire {
				t.Errorf("AppendPayload = %q, want %q", got[2:], tt.wire)
			}
		})
	}
	t.Run("binary-flag-dropped-on-non-message", func(t *testing.T) {
		got := codec.AppendPayload(nil, []codec.Packet{bin(codec.Ping, 'x'), binMsg(1)}, codec.V4)
		if want := "2x\x1ebAQ=="; string(got) != want {
			t.Errorf("AppendPayload = %q, want %q", got, want)
		}
	})
	t.Run("no-packets", func(t *testing.T) {
		if got := codec.AppendPayload(nil, nil, codec.V4); len(got) != 0 {
			t.Errorf("AppendPayload(no packets) = %q, want empty", got)
		}
	})
}

func TestDecodePayloadV4(t *testing.T) {
	tests := append([]payloadCase(nil), canonicalV4Payloads...)
	tests = append(tests,
		// Non-canonical inputs: peers that strip base64 padding.
		payloadCase{"unpadded-base64-one-byte", "bAQ", []codec.Packet{binMsg(1)}},
		payloadCase{"unpadded-base64-two-bytes", "bAQI", []codec.Packet{binMsg(1, 2)}},
		payloadCase{"unpadded-base64-then-text", "bAQ\x1e4a", []codec.Packet{binMsg(1), msg("a")}},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := codec.DecodePayload([]byte(tt.wire), codec.V4, codec.Limits{}, nil)
			if err != nil {
				t.Fatalf("DecodePayload(%q) error: %v", tt.wire, err)
			}
			if !samePackets(got, tt.pkts) {
				t.Errorf("DecodePayload(%q) = %v, want %v", tt.wire, got, tt.pkts)
			}
		})
	}
}

type payloadErrorCase struct {
	name     string
	wire     string
	sentinel error
	offset   int
	decoded  int // packets returned before the error
}

func TestDecodePayloadV4Errors(t *testing.T) {
	tests := []payloadErrorCase{
		{"empty", "", codec.ErrEmptyPayload, 0, 0},
		{"lone-separator", "\x1e", codec.ErrEmptyPacket, 0, 0},
		{"trailing-separator", "4a\x1e", codec.ErrEmptyPacket, 3, 1},
		{"double-separator", "4a\x1e\x1e4b", codec.ErrEmptyPacket, 3, 1},
		{"unknown-type", "9", codec.ErrUnknownType, 0, 0},
		{"unknown-type-second", "4a\x1ex", codec.ErrUnknownType, 3, 1},
		{"unknown-type-third", "4a\x1e4b\x1e9", codec.ErrUnknownType, 6, 2},
		{"bad-base64", "b!!!!", codec.ErrBadBase64, 1, 0},
		{"bad-base64-second", "4a\x1eb*", codec.ErrBadBase64, 4, 1},
		{"base64-one-char", "bA", codec.ErrBadBase64, 1, 0},
		{"base64-short-padding", "bAQ=", codec.ErrBadBase64, 1, 0},
		{"base64-url-alphabet", "b-_-_", codec.ErrBadBase64, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := codec.DecodePayload([]byte(tt.wire), codec.V4, codec.Limits{}, nil)
			wantSyntaxError(t, err, tt.sentinel, tt.offset)
			if len(got) != tt.decoded {
				t.Errorf("got %d packets with the error (%v), want %d", len(got), got, tt.decoded)
			}
		})
	}
}

// ---- V3 polling payloads ----

var canonicalV3Payloads = []payloadCase{
	{"ascii", "6:4hello", []codec.Packet{msg("hello")}},
	// Lengths count UTF-16 code units of the packet, type digit included.
	{"e-acute", "2:4é", []codec.Packet{msg("é")}},          // 2 bytes, 1 unit
	{"euro", "2:4€", []codec.Packet{msg("€")}},             // 3 bytes, 1 unit
	{"emoji", "3:4😀", []codec.Packet{msg("😀")}},            // 4 bytes, 2 units
	{"mixed-utf8", "6:4é€😀x", []codec.Packet{msg("é€😀x")}}, // 1+1+1+2+1
	{"emoji-then-ascii", "3:4😀2:4a", []codec.Packet{msg("😀"), msg("a")}},
	{"binary", "6:b4AQID", []codec.Packet{binMsg(1, 2, 3)}},
	{"binary-empty", "2:b4", []codec.Packet{binMsg()}},
	{"binary-ping", "6:b2AQ==", []codec.Packet{bin(codec.Ping, 1)}},
	{"text-and-binary", "6:4hello6:b4AQID", []codec.Packet{msg("hello"), binMsg(1, 2, 3)}},
	{"all-types", `12:0{"sid":"x"}1:16:2probe6:3probe3:4hi1:51:6`, []codec.Packet{
		text(codec.Open, `{"sid":"x"}`), text(codec.Close, ""), text(codec.Ping, "probe"),
		text(codec.Pong, "probe"), msg("hi"), text(codec.Upgrade, ""), text(codec.Noop, ""),
	}},
	{"data-looks-like-prefix", "5:41:2:", []codec.Packet{msg("1:2:")}},
	{"separator-in-data", "4:4a\x1eb", []codec.Packet{msg("a\x1eb")}},
	{"three-digit-length", "100:4" + strings.Repeat("a", 99), []codec.Packet{msg(strings.Repeat("a", 99))}},
}

func TestAppendPayloadV3(t *testing.T) {
	for _, tt := range canonicalV3Payloads {
		t.Run(tt.name, func(t *testing.T) {
			got := codec.AppendPayload([]byte("xx"), tt.pkts, codec.V3)
			if string(got) != "xx"+tt.wire {
				t.Errorf("AppendPayload = %q, want %q", got[2:], tt.wire)
			}
		})
	}
	t.Run("no-packets", func(t *testing.T) {
		if got := codec.AppendPayload(nil, nil, codec.V3); len(got) != 0 {
			t.Errorf("AppendPayload(no packets) = %q, want empty", got)
		}
	})
}

func TestDecodePayloadV3(t *testing.T) {
	tests := append([]payloadCase(nil), canonicalV3Payloads...)
	tests = append(tests,
		payloadCase{"unpadded-base64", "4:b4AQ", []codec.Packet{binMsg(1)}},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := codec.DecodePayload([]byte(tt.wire), codec.V3, codec.Limits{}, nil)
			if err != nil {
				t.Fatalf("DecodePayload(%q) error: %v", tt.wire, err)
			}
			if !samePackets(got, tt.pkts) {
				t.Errorf("DecodePayload(%q) = %v, want %v", tt.wire, got, tt.pkts)
			}
		})
	}
}

// TestV3LengthIsUTF16 checks the length prefix against unicode/utf16 for
// valid text, and that an invalid byte counts as one unit (its U+FFFD).
func TestV3LengthIsUTF16(t *testing.T) {
	for _, s := range []string{
		"", "a", "é", "€", "😀", "😀😀", "a😀b€c", "日本語", "\U0010FFFF", "\uFFFD",
		"\xff", "\xe2\x82", "\xf0\x9f\x98", "a\xc3", "\xed\xa0\x80", // invalid UTF-8
	} {
		t.Run(strconv.Quote(s), func(t *testing.T) {
			want := 1 + len(utf16.Encode([]rune(s)))
			got := codec.AppendPayload(nil, []codec.Packet{msg(s)}, codec.V3)
			if prefix := strconv.Itoa(want) + ":4"; !bytes.HasPrefix(got, []byte(prefix)) {
				t.Fatalf("AppendPayload = %q, want prefix %q", got, prefix)
			}
			back, err := codec.DecodePayload(got, codec.V3, codec.Limits{}, nil)
			if err != nil || !samePackets(back, []codec.Packet{msg(s)}) {
				t.Fatalf("DecodePayload(%q) = %v, %v", got, back, err)
			}
		})
	}
}

func TestDecodePayloadV3Errors(t *testing.T) {
	tests := []payloadErrorCase{
		{"empty", "", codec.ErrEmptyPayload, 0, 0},
		{"no-digits", ":4a", codec.ErrBadLength, 0, 0},
		{"letter-in-length", "x:4", codec.ErrBadLength, 0, 0},
		{"letter-after-digit", "1x:4", codec.ErrBadLength, 1, 0},
		{"eleven-digits", "12345678901:4", codec.ErrBadLength, 10, 0},
		{"no-colon", "5", codec.ErrBadLength, 0, 0},
		{"no-colon-two-digits", "55", codec.ErrBadLength, 0, 0},
		{"v4-framing", "4hello", codec.ErrBadLength, 1, 0},
		{"length-past-end", "9:4hello", codec.ErrTruncated, 2, 0},
		// 4294967297 is 2^32+1: it must not wrap to 1 where int is 32 bits.
		{"length-over-32-bits", "4294967297:4", codec.ErrTruncated, 11, 0},
		{"huge-length", "9999999999:4", codec.ErrTruncated, 11, 0},
		// 3000000000 wraps negative in a 32-bit int.
		{"length-over-31-bits", "3000000000:4", codec.ErrTruncated, 11, 0},
		{"zero-length", "0:", codec.ErrEmptyPacket, 2, 0},
		{"unknown-type", "1:9", codec.ErrUnknownType, 2, 0},
		{"length-splits-surrogate-pair", "2:4😀", codec.ErrTruncated, 2, 0},
		{"length-counts-bytes-not-units", "5:4€", codec.ErrTruncated, 2, 0},
		{"binary-without-type", "1:b", codec.ErrEmptyPacket, 2, 0},
		{"binary-bad-type", "2:bx", codec.ErrUnknownType, 3, 0},
		{"binary-bad-base64", "4:b4!!", codec.ErrBadBase64, 4, 0},
		{"second-truncated", "2:4a3:4b", codec.ErrTruncated, 6, 1},
		{"second-no-digits", "2:4a:", codec.ErrBadLength, 4, 1},
		{"trailing-digits", "2:4a5", codec.ErrBadLength, 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := codec.DecodePayload([]byte(tt.wire), codec.V3, codec.Limits{}, nil)
			wantSyntaxError(t, err, tt.sentinel, tt.offset)
			if len(got) != tt.decoded {
				t.Errorf("got %d packets with the error (%v), want %d", len(got), got, tt.decoded)
			}
		})
	}
}

// ---- V3 binary payloads ----

type binaryPayloadCase struct {
	name string
	wire []byte
	pkts []codec.Packet
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var canonicalBinaryPayloads = []binaryPayloadCase{
	{"text", cat([]byte{0, 6, 0xff}, []byte("4hello")), []codec.Packet{msg("hello")}},
	{"binary", []byte{1, 4, 0xff, 4, 1, 2, 3}, []codec.Packet{binMsg(1, 2, 3)}},
	{"binary-empty", []byte{1, 1, 0xff, 4}, []codec.Packet{binMsg()}},
	{"binary-ping", []byte{1, 2, 0xff, 2, 9}, []codec.Packet{bin(codec.Ping, 9)}},
	{"text-utf8-counts-bytes", []byte{0, 3, 0xff, '4', 0xc3, 0xa9}, []codec.Packet{msg("é")}},
	{"two-digit-length", cat([]byte{0, 1, 0, 0xff}, []byte("4123456789")), []codec.Packet{msg("123456789")}},
	{"mixed", cat(
		[]byte{0, 6, 0xff}, []byte("4hello"),
		[]byte{1, 4, 0xff, 4, 1, 2, 3},
		[]byte{0, 1, 0xff}, []byte("2"),
	), []codec.Packet{msg("hello"), binMsg(1, 2, 3), text(codec.Ping, "")}},
	{"text-with-length-end-byte", []byte{0, 3, 0xff, '4', 0xff, 0xff}, []codec.Packet{msg("\xff\xff")}},
}

func TestAppendBinaryPayload(t *testing.T) {
	for _, tt := range canonicalBinaryPayloads {
		t.Run(tt.name, func(t *testing.T) {
			got := codec.AppendBinaryPayload([]byte("xx"), tt.pkts)
			if !bytes.Equal(got, cat([]byte("xx"), tt.wire)) {
				t.Errorf("AppendBinaryPayload = %v, want %v", got[2:], tt.wire)
			}
		})
	}
}

func TestDecodeBinaryPayload(t *testing.T) {
	for _, tt := range canonicalBinaryPayloads {
		t.Run(tt.name, func(t *testing.T) {
			got, err := codec.DecodeBinaryPayload(tt.wire, codec.Limits{}, nil)
			if err != nil {
				t.Fatalf("DecodeBinaryPayload(%v) error: %v", tt.wire, err)
			}
			if !samePackets(got, tt.pkts) {
				t.Errorf("DecodeBinaryPayload(%v) = %v, want %v", tt.wire, got, tt.pkts)
			}
		})
	}
}

func TestDecodeBinaryPayloadErrors(t *testing.T) {
	tests := []struct {
		name     string
		wire     []byte
		sentinel error
		offset   int
		decoded  int
	}{
		{"empty", nil, codec.ErrEmptyPayload, 0, 0},
		{"bad-kind", []byte{2, 1, 0xff, '4'}, codec.ErrBadLength, 0, 0},
		{"kind-only", []byte{0}, codec.ErrBadLength, 0, 0},
		{"no-length-end", []byte{0, 1}, codec.ErrBadLength, 0, 0},
		{"no-digits", []byte{0, 0xff, '4'}, codec.ErrBadLength, 0, 0},
		{"digit-not-decimal", []byte{0, 10, 0xff}, codec.ErrBadLength, 1, 0},
		{"ascii-digit", []byte{0, '1', 0xff, '4'}, codec.ErrBadLength, 1, 0},
		{"eleven-digits", []byte{0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0xff}, codec.ErrBadLength, 11, 0},
		{"truncated", []byte{0, 5, 0xff, '4'}, codec.ErrTruncated, 3, 0},
		// 4294967297 is 2^32+1: it must not wrap where int is 32 bits.
		{"length-over-32-bits", []byte{0, 4, 2, 9, 4, 9, 6, 7, 2, 9, 7, 0xff, '4'}, codec.ErrTruncated, 12, 0},
		{"huge-length", []byte{0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0xff, '4'}, codec.ErrTruncated, 12, 0},
		// 3000000000 wraps negative in a 32-bit int (and used to panic there).
		{"length-over-31-bits", []byte{0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, '4'}, codec.ErrTruncated, 12, 0},
		{"zero-length-text", []byte{0, 0, 0xff}, codec.ErrEmptyPacket, 3, 0},
		{"zero-length-binary", []byte{1, 0, 0xff}, codec.ErrEmptyPacket, 3, 0},
		{"unknown-text-type", []byte{0, 1, 0xff, '9'}, codec.ErrUnknownType, 3, 0},
		{"unknown-binary-type", []byte{1, 1, 0xff, 9}, codec.ErrUnknownType, 3, 0},
		{"binary-with-ascii-type", []byte{1, 1, 0xff, '4'}, codec.ErrUnknownType, 3, 0},
		{"second-bad-kind", []byte{0, 1, 0xff, '2', 7}, codec.ErrBadLength, 4, 1},
		{"second-truncated", []byte{0, 1, 0xff, '2', 1, 3, 0xff, 4}, codec.ErrTruncated, 7, 1},
		{"second-bad-type", []byte{0, 1, 0xff, '2', 1, 1, 0xff, 7}, codec.ErrUnknownType, 7, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := codec.DecodeBinaryPayload(tt.wire, codec.Limits{}, nil)
			wantSyntaxError(t, err, tt.sentinel, tt.offset)
			if len(got) != tt.decoded {
				t.Errorf("got %d packets with the error (%v), want %d", len(got), got, tt.decoded)
			}
		})
	}
}

// ---- Limits ----

func TestLimits(t *testing.T) {
	v4 := []byte("4a\x1e4b\x1e4c")                                                 // third packet at 6
	v3 := []byte("2:4a2:4b2:4c")                                                   // third body at 10
	bp := []byte{0, 2, 0xff, '4', 'a', 0, 2, 0xff, '4', 'b', 0, 2, 0xff, '4', 'c'} // third at 10
	decoders := []struct {
		name    string
		input   []byte
		decode  func([]byte, codec.Limits) ([]codec.Packet, error)
		thirdAt int
	}{
		{"v4", v4, func(b []byte, l codec.Limits) ([]codec.Packet, error) {
			return codec.DecodePayload(b, codec.V4, l, nil)
		}, 6},
		{"v3", v3, func(b []byte, l codec.Limits) ([]codec.Packet, error) {
			return codec.DecodePayload(b, codec.V3, l, nil)
		}, 10},
		{"v3-binary", bp, func(b []byte, l codec.Limits) ([]codec.Packet, error) {
			return codec.DecodeBinaryPayload(b, l, nil)
		}, 10},
	}
	for _, d := range decoders {
		n := len(d.input)
		t.Run(d.name+"/no-limits", func(t *testing.T) {
			got, err := d.decode(d.input, codec.Limits{})
			if err != nil || len(got) != 3 {
				t.Fatalf("got %v, %v; want 3 packets", got, err)
			}
		})
		t.Run(d.name+"/max-packets-equal", func(t *testing.T) {
			got, err := d.decode(d.input, codec.Limits{MaxPackets: 3})
			if err != nil || len(got) != 3 {
				t.Fatalf("got %v, %v; want 3 packets", got, err)
			}
		})
		t.Run(d.name+"/max-packets-exceeded", func(t *testing.T) {
			got, err := d.decode(d.input, codec.Limits{MaxPackets: 2})
			wantSyntaxError(t, err, codec.ErrTooManyPackets, d.thirdAt)
			if len(got) != 2 {
				t.Errorf("got %d packets with the error, want 2", len(got))
			}
		})
		t.Run(d.name+"/max-packets-one", func(t *testing.T) {
			got, err := d.decode(d.input, codec.Limits{MaxPackets: 1})
			wantSyntaxError(t, err, codec.ErrTooManyPackets, -1)
			if len(got) != 1 {
				t.Errorf("got %d packets with the error, want 1", len(got))
			}
		})
		t.Run(d.name+"/max-bytes-equal", func(t *testing.T) {
			got, err := d.decode(d.input, codec.Limits{MaxBytes: n})
			if err != nil || len(got) != 3 {
				t.Fatalf("got %v, %v; want 3 packets", got, err)
			}
		})
		t.Run(d.name+"/max-bytes-exceeded", func(t *testing.T) {
			got, err := d.decode(d.input, codec.Limits{MaxBytes: n - 1})
			wantSyntaxError(t, err, codec.ErrTooLarge, n-1)
			if len(got) != 0 {
				t.Errorf("got %d packets with the error, want 0", len(got))
			}
		})
		t.Run(d.name+"/both-limits-hold", func(t *testing.T) {
			got, err := d.decode(d.input, codec.Limits{MaxPackets: 3, MaxBytes: n})
			if err != nil || len(got) != 3 {
				t.Fatalf("got %v, %v; want 3 packets", got, err)
			}
		})
	}
	t.Run("zero-means-unlimited", func(t *testing.T) {
		pkts := make([]codec.Packet, 5000)
		for i := range pkts {
			pkts[i] = msg("x")
		}
		for _, v := range []codec.Version{codec.V4, codec.V3} {
			got, err := codec.DecodePayload(codec.AppendPayload(nil, pkts, v), v, codec.Limits{}, nil)
			if err != nil || len(got) != len(pkts) {
				t.Fatalf("V%d: got %d packets, %v", v, len(got), err)
			}
		}
	})
}

// ---- aliasing and capping of decoded Data ----

// aliases reports whether data is the sub-slice of in that starts at off.
func aliases(data, in []byte, off int) bool {
	if len(data) == 0 {
		return true // no byte to point at
	}
	return &data[0] == &in[off]
}

func TestDecodedDataAliasesInput(t *testing.T) {
	t.Run("frame/v4-text", func(t *testing.T) {
		in := []byte("4hello")
		p, err := codec.DecodeFrame(in, false, codec.V4)
		if err != nil {
			t.Fatal(err)
		}
		if !aliases(p.Data, in, 1) || cap(p.Data) != len(p.Data) {
			t.Errorf("Data does not alias the input or cap %d != len %d", cap(p.Data), len(p.Data))
		}
		in[1] = 'J'
		if string(p.Data) != "Jello" {
			t.Errorf("Data = %q after changing the input, want %q", p.Data, "Jello")
		}
	})
	t.Run("frame/v3-text", func(t *testing.T) {
		in := make([]byte, 0, 64) // spare capacity must not leak into Data
		in = append(in, "2probe"...)
		p, err := codec.DecodeFrame(in, false, codec.V3)
		if err != nil {
			t.Fatal(err)
		}
		if !aliases(p.Data, in, 1) || cap(p.Data) != len(p.Data) {
			t.Errorf("Data does not alias the input or cap %d != len %d", cap(p.Data), len(p.Data))
		}
	})
	t.Run("frame/v3-binary", func(t *testing.T) {
		in := make([]byte, 0, 64)
		in = append(in, 4, 1, 2, 3)
		p, err := codec.DecodeFrame(in, true, codec.V3)
		if err != nil {
			t.Fatal(err)
		}
		if !aliases(p.Data, in, 1) || cap(p.Data) != len(p.Data) {
			t.Errorf("Data does not alias the input or cap %d != len %d", cap(p.Data), len(p.Data))
		}
	})
	t.Run("frame/v4-binary", func(t *testing.T) {
		in := []byte{1, 2, 3}
		p, err := codec.DecodeFrame(in, true, codec.V4)
		if err != nil {
			t.Fatal(err)
		}
		if !aliases(p.Data, in, 0) {
			t.Errorf("Data does not alias the input")
		}
	})
	t.Run("frame/empty-data", func(t *testing.T) {
		in := make([]byte, 1, 8)
		in[0] = '2'
		p, err := codec.DecodeFrame(in, false, codec.V4)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Data) != 0 || cap(p.Data) != 0 {
			t.Errorf("len %d cap %d, want 0 0", len(p.Data), cap(p.Data))
		}
	})

	payloads := []struct {
		name   string
		in     []byte
		decode func([]byte) ([]codec.Packet, error)
		starts []int // where each packet's Data starts in the input
	}{
		{"payload/v4", []byte("4hello\x1e2probe\x1e4"), func(b []byte) ([]codec.Packet, error) {
			return codec.DecodePayload(b, codec.V4, codec.Limits{}, nil)
		}, []int{1, 8, 15}},
		{"payload/v3", []byte("6:4hello6:2probe2:4é"), func(b []byte) ([]codec.Packet, error) {
			return codec.DecodePayload(b, codec.V3, codec.Limits{}, nil)
		}, []int{3, 11, 19}},
		{"binary-payload/v3", []byte{0, 3, 0xff, '4', 'h', 'i', 1, 3, 0xff, 4, 7, 8, 0, 1, 0xff, '6'},
			func(b []byte) ([]codec.Packet, error) { return codec.DecodeBinaryPayload(b, codec.Limits{}, nil) },
			[]int{4, 10, 16}},
	}
	for _, tt := range payloads {
		t.Run(tt.name, func(t *testing.T) {
			pkts, err := tt.decode(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(pkts) != len(tt.starts) {
				t.Fatalf("got %d packets, want %d", len(pkts), len(tt.starts))
			}
			for i, p := range pkts {
				if !aliases(p.Data, tt.in, tt.starts[i]) {
					t.Errorf("packet %d: Data does not alias the input at %d", i, tt.starts[i])
				}
				if cap(p.Data) != len(p.Data) {
					t.Errorf("packet %d: cap %d != len %d", i, cap(p.Data), len(p.Data))
				}
			}
			// Capped Data: appending to one packet must not clobber the next.
			before := string(pkts[1].Data)
			_ = append(pkts[0].Data, "XXXXXXXX"...)
			if string(pkts[1].Data) != before {
				t.Errorf("appending to packet 0 changed packet 1 to %q", pkts[1].Data)
			}
		})
	}

	t.Run("payload/base64-is-copied-and-capped", func(t *testing.T) {
		for _, v := range []codec.Version{codec.V4, codec.V3} {
			in := codec.AppendPayload(nil, []codec.Packet{binMsg(1, 2, 3, 4, 5), msg("x")}, v)
			pkts, err := codec.DecodePayload(in, v, codec.Limits{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			d := pkts[0].Data
			if cap(d) != len(d) {
				t.Errorf("V%d: binary Data cap %d != len %d", v, cap(d), len(d))
			}
			for i := range in {
				if &in[i] == &d[0] {
					t.Errorf("V%d: binary Data points into the input", v)
				}
			}
		}
	})
}

// ---- handshake ----

var knownHandshake = codec.Handshake{
	SID:          "lv_VI97HAXpY6yYWAAAC",
	Upgrades:     []string{"websocket"},
	PingInterval: 25000,
	PingTimeout:  20000,
	MaxPayload:   1000000,
}

const knownHandshakeJSON = `{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`

func sameHandshake(a, b codec.Handshake) bool {
	if a.SID != b.SID || a.PingInterval != b.PingInterval || a.PingTimeout != b.PingTimeout ||
		a.MaxPayload != b.MaxPayload || len(a.Upgrades) != len(b.Upgrades) {
		return false
	}
	for i := range a.Upgrades {
		if a.Upgrades[i] != b.Upgrades[i] {
			return false
		}
	}
	return true
}

func TestAppendHandshake(t *testing.T) {
	tests := []struct {
		name string
		h    codec.Handshake
		want string
	}{
		{"known", knownHandshake, knownHandshakeJSON},
		{"no-upgrades", codec.Handshake{SID: "a", PingInterval: 1, PingTimeout: 2},
			`{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":2,"maxPayload":0}`},
		{"two-upgrades", codec.Handshake{SID: "a", Upgrades: []string{"websocket", "webtransport"}, PingInterval: 1, PingTimeout: 2, MaxPayload: 3},
			`{"sid":"a","upgrades":["websocket","webtransport"],"pingInterval":1,"pingTimeout":2,"maxPayload":3}`},
		{"escapes", codec.Handshake{SID: "q\"b\\n\n\t\x00\x1f\x7fé😀", PingInterval: 1, PingTimeout: 2},
			`{"sid":"q\"b\\n\u000a\u0009\u0000\u001f` + "\x7fé😀" + `","upgrades":[],"pingInterval":1,"pingTimeout":2,"maxPayload":0}`},
		{"invalid-utf8", codec.Handshake{SID: "a\xffb\xe2\x82", PingInterval: 1, PingTimeout: 2},
			`{"sid":"a\ufffdb\ufffd\ufffd","upgrades":[],"pingInterval":1,"pingTimeout":2,"maxPayload":0}`},
		{"negative-and-large", codec.Handshake{SID: "a", PingInterval: -1, PingTimeout: 1 << 62, MaxPayload: -9},
			`{"sid":"a","upgrades":[],"pingInterval":-1,"pingTimeout":4611686018427387904,"maxPayload":-9}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := codec.AppendHandshake([]byte("0"), tt.h)
			if string(got) != "0"+tt.want {
				t.Errorf("AppendHandshake =\n%s\nwant\n0%s", got, tt.want)
			}
			if !json.Valid(got[1:]) {
				t.Errorf("AppendHandshake wrote invalid JSON: %s", got[1:])
			}
			// encoding/json reads back what encoding/json would have written.
			var std, ours codec.Handshake
			want, _ := json.Marshal(tt.h)
			if err := json.Unmarshal(want, &std); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(got[1:], &ours); err != nil {
				t.Fatal(err)
			}
			if std.Upgrades == nil {
				std.Upgrades = []string{}
			}
			if !sameHandshake(std, ours) {
				t.Errorf("encoding/json reads %+v, want %+v", ours, std)
			}
		})
	}
}

func TestAppendHandshakeV3(t *testing.T) {
	got := codec.AppendHandshakeV3([]byte("0"), knownHandshake)
	want := `0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}`
	if string(got) != want {
		t.Fatalf("AppendHandshakeV3 =\n%s\nwant\n%s", got, want)
	}
	h, err := codec.ParseHandshake(got[1:])
	wantH := knownHandshake
	wantH.MaxPayload = 0
	if err != nil || !sameHandshake(h, wantH) {
		t.Fatalf("ParseHandshake = %+v, %v; want %+v", h, err, wantH)
	}
}

func TestParseHandshake(t *testing.T) {
	tests := []struct {
		name string
		json string
		want codec.Handshake
	}{
		{"known", knownHandshakeJSON, knownHandshake},
		{"max-payload-absent", `{"sid":"a","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}`,
			codec.Handshake{SID: "a", Upgrades: []string{"websocket"}, PingInterval: 25000, PingTimeout: 5000}},
		{"upgrades-absent", `{"sid":"a","pingInterval":1,"pingTimeout":2}`,
			codec.Handshake{SID: "a", PingInterval: 1, PingTimeout: 2}},
		{"upgrades-empty", `{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":2}`,
			codec.Handshake{SID: "a", Upgrades: []string{}, PingInterval: 1, PingTimeout: 2}},
		{"keys-reordered-extra-keys-whitespace", ` { "pingTimeout": 2, "extra": {"x": [1]}, "maxPayload": 3,
			"pingInterval": 1, "upgrades": ["websocket"], "sid": "a\u00e9" } `,
			codec.Handshake{SID: "aé", Upgrades: []string{"websocket"}, PingInterval: 1, PingTimeout: 2, MaxPayload: 3}},
		{"max-payload-zero", `{"sid":"a","pingInterval":1,"pingTimeout":2,"maxPayload":0}`,
			codec.Handshake{SID: "a", PingInterval: 1, PingTimeout: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := codec.ParseHandshake([]byte(tt.json))
			if err != nil {
				t.Fatalf("ParseHandshake error: %v", err)
			}
			if !sameHandshake(got, tt.want) {
				t.Errorf("ParseHandshake = %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("round-trip", func(t *testing.T) {
		got, err := codec.ParseHandshake(codec.AppendHandshake(nil, knownHandshake))
		if err != nil || !sameHandshake(got, knownHandshake) {
			t.Errorf("ParseHandshake(AppendHandshake(h)) = %+v, %v; want %+v", got, err, knownHandshake)
		}
	})
}

func TestParseHandshakeErrors(t *testing.T) {
	tests := []struct {
		name string
		json string
	}{
		{"empty", ``},
		{"bad-json", `{"sid":"a",`},
		{"not-json", `hello`},
		{"null", `null`},
		{"array", `[]`},
		{"empty-object", `{}`},
		{"missing-sid", `{"upgrades":[],"pingInterval":1,"pingTimeout":2}`},
		{"empty-sid", `{"sid":"","pingInterval":1,"pingTimeout":2}`},
		{"null-sid", `{"sid":null,"pingInterval":1,"pingTimeout":2}`},
		{"numeric-sid", `{"sid":5,"pingInterval":1,"pingTimeout":2}`},
		{"missing-ping-interval", `{"sid":"a","pingTimeout":2}`},
		{"zero-ping-interval", `{"sid":"a","pingInterval":0,"pingTimeout":2}`},
		{"negative-ping-interval", `{"sid":"a","pingInterval":-1,"pingTimeout":2}`},
		{"fractional-ping-interval", `{"sid":"a","pingInterval":1.5,"pingTimeout":2}`},
		{"string-ping-interval", `{"sid":"a","pingInterval":"1","pingTimeout":2}`},
		{"missing-ping-timeout", `{"sid":"a","pingInterval":1}`},
		{"zero-ping-timeout", `{"sid":"a","pingInterval":1,"pingTimeout":0}`},
		{"negative-max-payload", `{"sid":"a","pingInterval":1,"pingTimeout":2,"maxPayload":-1}`},
		{"upgrades-not-array", `{"sid":"a","upgrades":"websocket","pingInterval":1,"pingTimeout":2}`},
		{"trailing-garbage", `{"sid":"a","pingInterval":1,"pingTimeout":2}x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := codec.ParseHandshake([]byte(tt.json))
			wantSyntaxError(t, err, codec.ErrBadHandshake, 0)
			if !sameHandshake(got, codec.Handshake{}) {
				t.Errorf("ParseHandshake returned %+v with its error", got)
			}
		})
	}
}

// ---- allocations ----

func TestAllocs(t *testing.T) {
	textPkts := []codec.Packet{msg("hello"), text(codec.Ping, "probe"), msg("é€😀")}
	mixedPkts := []codec.Packet{msg("hello"), binMsg(1, 2, 3, 4, 5, 6, 7), text(codec.Noop, "")}
	v4Text := codec.AppendPayload(nil, textPkts, codec.V4)
	v3Text := codec.AppendPayload(nil, textPkts, codec.V3)
	buf := make([]byte, 0, 4096)
	dst := make([]codec.Packet, 0, 16)
	hello, three := msg("hello"), binMsg(1, 2, 3)
	var sink []byte
	tests := []struct {
		name string
		f    func()
	}{
		{"AppendFrame/v4-text", func() { sink, _ = codec.AppendFrame(buf[:0], hello, codec.V4) }},
		{"AppendFrame/v4-binary", func() { sink, _ = codec.AppendFrame(buf[:0], three, codec.V4) }},
		{"AppendFrame/v3-binary", func() { sink, _ = codec.AppendFrame(buf[:0], three, codec.V3) }},
		{"AppendPayload/v4-text", func() { sink = codec.AppendPayload(buf[:0], textPkts, codec.V4) }},
		{"AppendPayload/v4-mixed", func() { sink = codec.AppendPayload(buf[:0], mixedPkts, codec.V4) }},
		{"AppendPayload/v3-text", func() { sink = codec.AppendPayload(buf[:0], textPkts, codec.V3) }},
		{"AppendPayload/v3-mixed", func() { sink = codec.AppendPayload(buf[:0], mixedPkts, codec.V3) }},
		{"AppendBinaryPayload", func() { sink = codec.AppendBinaryPayload(buf[:0], mixedPkts) }},
		{"AppendHandshake", func() { sink = codec.AppendHandshake(buf[:0], knownHandshake) }},
		{"AppendHandshakeV3", func() { sink = codec.AppendHandshakeV3(buf[:0], knownHandshake) }},
		{"AppendBase64Frame/binary", func() { sink = codec.AppendBase64Frame(buf[:0], three) }},
		{"AppendBase64Frame/text", func() { sink = codec.AppendBase64Frame(buf[:0], hello) }},
		{"DecodeFrame/v4-text", func() {
			p, err := codec.DecodeFrame(v4Text[:6], false, codec.V4)
			if err != nil || string(p.Data) != "hello" {
				panic("bad decode")
			}
		}},
		{"DecodeFrame/v3-text", func() {
			p, _ := codec.DecodeFrame(v4Text[:6], false, codec.V3)
			sink = p.Data
		}},
		{"DecodePayload/v4-text", func() {
			var err error
			dst, err = codec.DecodePayload(v4Text, codec.V4, codec.Limits{}, dst[:0])
			if err != nil || len(dst) != 3 {
				panic("bad decode")
			}
		}},
		{"DecodePayload/v3-text", func() {
			var err error
			dst, err = codec.DecodePayload(v3Text, codec.V3, codec.Limits{}, dst[:0])
			if err != nil || len(dst) != 3 {
				panic("bad decode")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tt.f); n != 0 {
				t.Errorf("%v allocs per run, want 0", n)
			}
		})
	}
	_ = sink
}
