package wire

import (
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits bounds what a [Decoder] accepts from its peer.
type Limits struct {
	// MaxAttachments bounds the attachments of one binary packet. Zero
	// means 10, the reference parser's default; negative means no bound.
	MaxAttachments int
	// MaxBytes bounds one packet: its text message plus all its
	// attachments, in bytes. Zero means no bound beyond what the Engine.IO
	// layer allows per message.
	MaxBytes int
}

// DefaultMaxAttachments is the reference parser's bound on the attachments of
// one packet, used when Limits.MaxAttachments is zero.
const DefaultMaxAttachments = 10

func (l Limits) maxAttachments() int {
	switch {
	case l.MaxAttachments == 0:
		return DefaultMaxAttachments
	case l.MaxAttachments < 0:
		return int(^uint(0) >> 1)
	}
	return l.MaxAttachments
}

// Decoder turns the Engine.IO messages of one connection into Socket.IO
// packets: a text message is a packet, unless it announces binary
// attachments, which are then the next binary messages. Its zero value is
// ready to use, with the default [Limits]; a Decoder is not safe for
// concurrent use, and one connection needs exactly one.
type Decoder struct {
	// Limits bounds what Add accepts. Change it only between packets.
	Limits Limits

	pending *Packet // the binary packet whose attachments are awaited
	want    int     // attachments it announced
	size    int     // its bytes so far
}

// Add gives the decoder the next Engine.IO message of the connection, text
// or binary. It returns ok and the packet when one is complete: a text
// message without attachments is one at once; a packet with N attachments
// is complete at its N-th binary message, with the attachments in
// Packet.Attachments.
//
// The packet aliases msg (and the earlier messages that were its
// attachments): the decoder keeps none of them once the packet is returned.
// A BINARY_EVENT or BINARY_ACK comes out as [Event] or [Ack] with its
// attachments, as the reference parser reports it.
//
// An error is an [*Error] wrapping one of the Err sentinels; the decoder has
// then dropped any partial packet and is ready for a new one, but a peer that
// sent bad input should be disconnected ("parse error").
func (d *Decoder) Add(msg []byte, binary bool) (p Packet, ok bool, err error) {
	if binary {
		return d.addBinary(msg)
	}
	if d.pending != nil {
		d.Reset()
		return Packet{}, false, errAt(0, ErrUnexpectedText)
	}
	if d.Limits.MaxBytes > 0 && len(msg) > d.Limits.MaxBytes {
		return Packet{}, false, errAt(d.Limits.MaxBytes, ErrTooLarge)
	}
	p, n, err := decodeText(msg, d.Limits.maxAttachments())
	if err != nil {
		return Packet{}, false, err
	}
	if n == 0 {
		return p, true, nil
	}
	pending := p
	pending.Attachments = make([][]byte, 0, n)
	d.pending, d.want, d.size = &pending, n, len(msg)
	return Packet{}, false, nil
}

func (d *Decoder) addBinary(msg []byte) (Packet, bool, error) {
	if d.pending == nil {
		return Packet{}, false, errAt(0, ErrUnexpectedBinary)
	}
	d.size += len(msg)
	if d.Limits.MaxBytes > 0 && d.size > d.Limits.MaxBytes {
		d.Reset()
		return Packet{}, false, errAt(0, ErrTooLarge)
	}
	p := d.pending
	p.Attachments = append(p.Attachments, msg)
	if len(p.Attachments) < d.want {
		return Packet{}, false, nil
	}
	d.Reset()
	return *p, true, nil
}

// Awaiting returns how many attachments the decoder still waits for: zero
// between packets.
func (d *Decoder) Awaiting() int {
	if d.pending == nil {
		return 0
	}
	return d.want - len(d.pending.Attachments)
}

// Reset drops a partly received binary packet, if any.
func (d *Decoder) Reset() { d.pending, d.want, d.size = nil, 0, 0 }

// Decode decodes one text message that carries no attachments. A packet
// that announces attachments fails with [ErrAttachmentMismatch]: use a
// [Decoder] for a connection's stream of messages.
func Decode(msg []byte) (Packet, error) {
	p, n, err := decodeText(msg, -1)
	if err != nil {
		return Packet{}, err
	}
	if n > 0 {
		return Packet{}, errAt(0, ErrAttachmentMismatch)
	}
	return p, nil
}

// decodeText decodes a text message and returns the packet and the number of
// attachments it announces, bounded by maxAtt (negative for no bound). The
// packet's type is Event or Ack for the binary types.
func decodeText(msg []byte, maxAtt int) (p Packet, natt int, err error) {
	if len(msg) == 0 {
		return p, 0, errAt(0, ErrEmpty)
	}
	c := msg[0]
	if c < '0' || c > '0'+byte(BinaryAck) {
		return p, 0, errAt(0, ErrUnknownType)
	}
	p.Type = Type(c - '0')
	i := 1
	binary := p.Type == BinaryEvent || p.Type == BinaryAck
	if binary {
		j := i
		n := 0
		for i < len(msg) && msg[i] >= '0' && msg[i] <= '9' {
			if n > 1e8 {
				return p, 0, errAt(i, ErrTooManyAttachments)
			}
			n = n*10 + int(msg[i]-'0')
			i++
		}
		if i == j || i >= len(msg) || msg[i] != '-' {
			return p, 0, errAt(i, ErrBadAttachmentCount)
		}
		if maxAtt >= 0 && n > maxAtt {
			return p, 0, errAt(j, ErrTooManyAttachments)
		}
		natt = n
		i++
	}
	p.Namespace = "/"
	if i < len(msg) && msg[i] == '/' {
		j := i
		for i < len(msg) && msg[i] != ',' {
			i++
		}
		ns := msg[j:i]
		if !utf8.Valid(ns) {
			return p, 0, errAt(j, ErrBadNamespace)
		}
		if len(ns) > 1 {
			p.Namespace = string(ns)
		}
		if i < len(msg) {
			i++ // the comma
		}
	}
	if i < len(msg) && msg[i] >= '0' && msg[i] <= '9' {
		j := i
		var id uint64
		for i < len(msg) && msg[i] >= '0' && msg[i] <= '9' {
			id = id*10 + uint64(msg[i]-'0')
			if id > MaxAckID {
				return p, 0, errAt(j, ErrBadAckID)
			}
			i++
		}
		p.ID, p.HasID = id, true
	}
	if i < len(msg) {
		s := scanner{data: msg[i:], record: binary}
		start, end, err := s.scanValue()
		if err != nil {
			err.(*Error).Offset += i
			return p, 0, err
		}
		p.Data = msg[i+start : i+end : i+end]
		if binary {
			if err := checkPlaceholders(s.phs, natt); err != nil {
				err.(*Error).Offset += i
				return p, 0, err
			}
		}
	}
	if err := checkPayload(p.Type, p.Data); err != nil {
		err.(*Error).Offset += i
		return p, 0, err
	}
	switch p.Type {
	case BinaryEvent:
		p.Type = Event
	case BinaryAck:
		p.Type = Ack
	}
	return p, natt, nil
}

// checkPlaceholders checks that the placeholders name 0..n-1, each once.
func checkPlaceholders(phs []placeholder, n int) error {
	if len(phs) != n {
		return errAt(0, ErrAttachmentMismatch) // the payload's start
	}
	var small uint64
	var seen []bool
	if n > 64 {
		seen = make([]bool, n)
	}
	for _, ph := range phs {
		if ph.num < 0 || ph.num >= n {
			return errAt(ph.start, ErrAttachmentMismatch)
		}
		if seen != nil {
			if seen[ph.num] {
				return errAt(ph.start, ErrAttachmentMismatch)
			}
			seen[ph.num] = true
			continue
		}
		bit := uint64(1) << uint(ph.num)
		if small&bit != 0 {
			return errAt(ph.start, ErrAttachmentMismatch)
		}
		small |= bit
	}
	return nil
}

// reservedEvents are the names an EVENT may not carry: the reference
// parser's list.
var reservedEvents = [...]string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}

// IsReserved reports whether name is reserved by Socket.IO for its own
// events ("connect", "disconnect", ...), and so cannot be the name of an
// EVENT.
func IsReserved(name string) bool {
	for _, r := range reservedEvents {
		if name == r {
			return true
		}
	}
	return false
}

// checkPayload checks the payload's shape against the packet type; data is
// valid JSON or nil. Offsets are relative to data.
func checkPayload(t Type, data json.RawMessage) error {
	first := byte(0)
	if len(data) > 0 {
		first = data[0]
	}
	switch t {
	case Connect:
		if first == 0 || first == '{' {
			return nil
		}
	case Disconnect:
		if first == 0 {
			return nil
		}
	case ConnectError:
		if first == '{' || first == '"' {
			return nil
		}
	case Ack, BinaryAck:
		if first == '[' {
			return nil
		}
	case Event, BinaryEvent:
		if first != '[' {
			break
		}
		_, err := eventName(data)
		return err
	}
	return errAt(0, ErrBadPayload)
}

// eventName returns the name of an event whose data is a valid JSON array:
// its first element, a string that is not reserved, or a number (as written).
func eventName(data json.RawMessage) (string, error) {
	s := scanner{data: data}
	i := s.skipSpace(1)
	end, _ := s.value(i, 1)
	if end < 0 {
		return "", errAt(i, ErrBadPayload)
	}
	v := data[i:end]
	switch c := v[0]; {
	case c == '"':
		name, ok := unquote(v[1 : len(v)-1])
		if !ok || IsReserved(name) {
			return "", errAt(i, ErrBadPayload)
		}
		return name, nil
	case c == '-' || c >= '0' && c <= '9':
		return string(v), nil
	}
	return "", errAt(i, ErrBadPayload)
}

// unquote returns the text of a JSON string's contents (without quotes),
// which the scanner has checked. Invalid UTF-8 and lone surrogates become
// U+FFFD, as encoding/json decodes them.
func unquote(raw []byte) (string, bool) {
	plain := true
	for _, c := range raw {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(raw), true
	}
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(raw[i:])
			b = utf8.AppendRune(b, r)
			i += size
			continue
		}
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return "", false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			b = append(b, raw[i+1])
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(raw[i+2:])
			if !ok {
				return "", false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if r2, ok := hex4(raw[i+2 : i+6]); ok {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							b = utf8.AppendRune(b, d)
							i += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
			continue
		default:
			return "", false
		}
		i += 2
	}
	return string(b), true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
