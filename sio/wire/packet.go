package wire

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// Protocol is the Socket.IO protocol revision this package speaks.
const Protocol = 5

// Type is a Socket.IO packet type. Its value is the digit that starts a
// packet on the wire ('0' + Type).
type Type uint8

// The Socket.IO packet types, numbered as on the wire. A [Decoder] reports
// BINARY_EVENT and BINARY_ACK packets as [Event] and [Ack] with their
// attachments, as the reference parser does; [Append] writes an [Event] or
// [Ack] that has attachments as BINARY_EVENT or BINARY_ACK.
const (
	Connect Type = iota
	Disconnect
	Event
	Ack
	ConnectError
	BinaryEvent
	BinaryAck
)

var typeNames = [...]string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"}

// String returns the protocol's name of t ("EVENT", "CONNECT_ERROR", ...).
func (t Type) String() string {
	if t.Valid() {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is one of the seven packet types.
func (t Type) Valid() bool { return t <= BinaryAck }

// MaxAckID is the largest ack id the package reads or writes: the largest
// integer a JavaScript peer represents exactly (2^53-1).
const MaxAckID = 1<<53 - 1

// Packet is one Socket.IO packet.
type Packet struct {
	Type Type
	// Namespace is the namespace the packet belongs to, starting with "/".
	// The main namespace is "/"; [Append] also takes "" for it, and a
	// decoded packet always has "/" or longer.
	Namespace string
	// ID is the ack id when HasID is true: an EVENT that wants an answer,
	// or the ACK that answers it. It is at most [MaxAckID].
	ID    uint64
	HasID bool
	// Data is the JSON payload, nil when the packet has none. Binary
	// parts are placeholders, {"_placeholder":true,"num":N}, where N
	// indexes Attachments.
	Data json.RawMessage
	// Attachments are the binary parts of the payload, in placeholder
	// order. Each travels as one Engine.IO binary message after the text.
	Attachments [][]byte
}

// Sentinel errors of the decoder, wrapped in an [*Error]. Test for them with
// errors.Is.
var (
	// ErrEmpty: the message is empty.
	ErrEmpty = errors.New("sio/wire: empty packet")
	// ErrUnknownType: the first byte is not a packet type digit.
	ErrUnknownType = errors.New("sio/wire: unknown packet type")
	// ErrBadAttachmentCount: a BINARY_EVENT or BINARY_ACK does not start
	// with a count of attachments and "-".
	ErrBadAttachmentCount = errors.New("sio/wire: illegal attachment count")
	// ErrTooManyAttachments: the attachment count is over
	// Limits.MaxAttachments.
	ErrTooManyAttachments = errors.New("sio/wire: too many attachments")
	// ErrBadNamespace: the namespace is not valid UTF-8.
	ErrBadNamespace = errors.New("sio/wire: invalid namespace")
	// ErrBadAckID: the ack id is over MaxAckID.
	ErrBadAckID = errors.New("sio/wire: invalid ack id")
	// ErrBadJSON: the payload is not one JSON value, or nests deeper than
	// MaxDepth.
	ErrBadJSON = errors.New("sio/wire: payload is not valid JSON")
	// ErrBadPayload: the payload is JSON but not what the packet type
	// requires: an object (or nothing) for CONNECT, nothing for
	// DISCONNECT, a non-empty array starting with an event name that is
	// not reserved for EVENT, an array for ACK, an object or a string for
	// CONNECT_ERROR.
	ErrBadPayload = errors.New("sio/wire: invalid payload")
	// ErrAttachmentMismatch: the placeholders of a binary packet do not
	// name each of its announced attachments exactly once.
	ErrAttachmentMismatch = errors.New("sio/wire: placeholders do not match the attachments")
	// ErrTooLarge: the packet, with its attachments, is over
	// Limits.MaxBytes.
	ErrTooLarge = errors.New("sio/wire: packet too large")
	// ErrUnexpectedBinary: a binary message arrived when no attachment was
	// awaited.
	ErrUnexpectedBinary = errors.New("sio/wire: binary message without a binary packet")
	// ErrUnexpectedText: a text message arrived while attachments of a
	// binary packet were still awaited.
	ErrUnexpectedText = errors.New("sio/wire: text message while attachments are awaited")
)

// Error is a decoding failure: which rule the input broke (one of the Err
// sentinels) and where. Test with errors.As, and the sentinel with errors.Is.
type Error struct {
	// Offset is the byte offset in the text message where the problem
	// was found (0 for the attachment errors).
	Offset int
	Err    error
}

// Error names the problem and its offset.
func (e *Error) Error() string {
	return e.Err.Error() + " at offset " + strconv.Itoa(e.Offset)
}

// Unwrap returns the sentinel, so that errors.Is works.
func (e *Error) Unwrap() error { return e.Err }

func errAt(off int, err error) error { return &Error{Offset: off, Err: err} }

// Errors of the encoder.
var (
	// ErrInvalidPacket: Append was given a packet it cannot write so that
	// it decodes back the same (see Append).
	ErrInvalidPacket = errors.New("sio/wire: packet cannot be encoded")
)

// Append appends the text message of p to dst and returns it. When p has
// attachments (or its Type is [BinaryEvent] or [BinaryAck]) the text
// announces their number, and the caller sends p.Attachments after it, each
// as one binary message, in order.
//
// Append checks what it can without reading Data through: the type is
// valid, the namespace is "", "/" or starts with "/" and has no ",", the
// ack id is at most [MaxAckID], and Data is absent where the type forbids
// it and starts as the type requires ("[" for events and acks, "{" for
// CONNECT, "{" or "\"" for CONNECT_ERROR). It fails with an error wrapping
// [ErrInvalidPacket] otherwise. Data itself must be valid JSON, as
// [AppendArgs] and encoding/json make it: Append writes it as it is.
func Append(dst []byte, p *Packet) ([]byte, error) {
	if err := checkEncodable(p); err != nil {
		return dst, err
	}
	t := p.Type
	n := len(p.Attachments)
	switch {
	case t == Event && n > 0:
		t = BinaryEvent
	case t == Ack && n > 0:
		t = BinaryAck
	}
	dst = append(dst, '0'+byte(t))
	if t == BinaryEvent || t == BinaryAck {
		dst = strconv.AppendInt(dst, int64(n), 10)
		dst = append(dst, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		dst = append(dst, p.Namespace...)
		dst = append(dst, ',')
	}
	if p.HasID {
		dst = strconv.AppendUint(dst, p.ID, 10)
	}
	return append(dst, p.Data...), nil
}

// Len returns the length of the text message [Append] writes for p, which
// must be encodable.
func Len(p *Packet) int {
	n := 1 + len(p.Data)
	if p.Type == BinaryEvent || p.Type == BinaryAck || len(p.Attachments) > 0 {
		n += decLen(uint64(len(p.Attachments))) + 1
	}
	if p.Namespace != "" && p.Namespace != "/" {
		n += len(p.Namespace) + 1
	}
	if p.HasID {
		n += decLen(p.ID)
	}
	return n
}

func decLen(v uint64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

func invalid(why string) error { return &encodeError{why: why} }

type encodeError struct{ why string }

func (e *encodeError) Error() string { return ErrInvalidPacket.Error() + ": " + e.why }
func (e *encodeError) Unwrap() error { return ErrInvalidPacket }

func checkEncodable(p *Packet) error {
	if !p.Type.Valid() {
		return invalid("unknown type " + p.Type.String())
	}
	if ns := p.Namespace; ns != "" && ns != "/" {
		if ns[0] != '/' {
			return invalid("namespace does not start with /")
		}
		for i := 0; i < len(ns); i++ {
			if ns[i] == ',' {
				return invalid("namespace contains a comma")
			}
		}
		if !utf8.ValidString(ns) {
			return invalid("namespace is not UTF-8")
		}
	}
	if p.HasID && p.ID > MaxAckID {
		return invalid("ack id over MaxAckID")
	}
	if len(p.Attachments) > 0 && p.Type != Event && p.Type != Ack && p.Type != BinaryEvent && p.Type != BinaryAck {
		return invalid("attachments on a " + p.Type.String())
	}
	first := byte(0)
	if len(p.Data) > 0 {
		first = p.Data[0]
	}
	ok := true
	switch p.Type {
	case Connect:
		ok = first == 0 || first == '{'
	case Disconnect:
		ok = first == 0
	case Event, Ack, BinaryEvent, BinaryAck:
		ok = first == '['
	case ConnectError:
		ok = first == '{' || first == '"'
	}
	if !ok {
		return invalid("payload does not fit a " + p.Type.String())
	}
	return nil
}
