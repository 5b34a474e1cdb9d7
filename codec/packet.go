package codec

import (
	"errors"
	"fmt"
	"strconv"
)

// Type is an Engine.IO packet type. Its value is the digit that starts a
// packet on the wire ('0' + Type).
type Type byte

// The Engine.IO packet types, numbered as on the wire.
const (
	Open Type = iota
	Close
	Ping
	Pong
	Message
	Upgrade
	Noop
)

var typeNames = [...]string{"open", "close", "ping", "pong", "message", "upgrade", "noop"}

// String returns the protocol name of t ("open", "message", ...).
func (t Type) String() string {
	if t.Valid() {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is one of the seven packet types.
func (t Type) Valid() bool { return t <= Noop }

// Version selects the wire format: [V4] (current) or [V3] (Socket.IO 2 era).
type Version uint8

// The protocol versions the codec speaks.
const (
	V3 Version = 3
	V4 Version = 4
)

// Packet is one Engine.IO packet.
//
// Data is the packet body without its type byte. Binary marks a message
// whose body is raw bytes rather than text; it is meaningful for [Message]
// packets only.
type Packet struct {
	Type   Type
	Data   []byte
	Binary bool
}

// String formats p for logs and test failures; it does not print binary
// bodies.
func (p Packet) String() string {
	if p.Binary {
		return fmt.Sprintf("%s <%d bytes binary>", p.Type, len(p.Data))
	}
	return fmt.Sprintf("%s %q", p.Type, p.Data)
}

// Sentinel errors returned (wrapped in a [*SyntaxError]) by the decoders.
// Test for them with errors.Is.
var (
	ErrEmptyPacket    = errors.New("codec: empty packet")
	ErrEmptyPayload   = errors.New("codec: empty payload")
	ErrUnknownType    = errors.New("codec: unknown packet type")
	ErrBadBase64      = errors.New("codec: invalid base64 in binary packet")
	ErrBadLength      = errors.New("codec: invalid length prefix")
	ErrTruncated      = errors.New("codec: truncated payload")
	ErrTooManyPackets = errors.New("codec: too many packets in payload")
	ErrTooLarge       = errors.New("codec: payload too large")
	ErrBadHandshake   = errors.New("codec: invalid handshake")
	ErrBadVersion     = errors.New("codec: unsupported protocol version")
	ErrInvalidUTF8    = errors.New("codec: invalid UTF-8 in text packet")
)

// SyntaxError reports where a decoder found bad input. Err is one of the
// sentinel errors of this package.
type SyntaxError struct {
	Offset int // byte offset into the decoded input
	Err    error
}

// Error names the problem and its offset.
func (e *SyntaxError) Error() string {
	return e.Err.Error() + " at offset " + strconv.Itoa(e.Offset)
}

// Unwrap returns the sentinel error so that errors.Is works.
func (e *SyntaxError) Unwrap() error { return e.Err }

func syntaxErr(off int, err error) error { return &SyntaxError{Offset: off, Err: err} }

// Limits bounds what a payload decoder accepts. A zero field means no limit.
type Limits struct {
	MaxPackets int // packets in one payload
	MaxBytes   int // bytes of encoded payload
}

func (l Limits) checkBytes(n int) error {
	if l.MaxBytes > 0 && n > l.MaxBytes {
		return syntaxErr(l.MaxBytes, ErrTooLarge)
	}
	return nil
}

func (l Limits) checkCount(count, off int) error {
	if l.MaxPackets > 0 && count > l.MaxPackets {
		return syntaxErr(off, ErrTooManyPackets)
	}
	return nil
}

// typeFromDigit maps an ASCII digit to a packet type.
func typeFromDigit(c byte) (Type, bool) {
	t := Type(c - '0')
	return t, c >= '0' && t.Valid()
}

// decodeText decodes a text packet "<digit><data>". Data aliases b.
func decodeText(b []byte, off int) (Packet, error) {
	if len(b) == 0 {
		return Packet{}, syntaxErr(off, ErrEmptyPacket)
	}
	t, ok := typeFromDigit(b[0])
	if !ok {
		return Packet{}, syntaxErr(off, ErrUnknownType)
	}
	return Packet{Type: t, Data: b[1:len(b):len(b)]}, nil
}
