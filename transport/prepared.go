package transport

import (
	"encoding/binary"
	"math"

	"github.com/chanio/chanio/codec"
)

// Outgoing is one packet on its way to a peer, as a server session queues
// it: a packet of its own, or a message [Prepare]d once for many sessions.
// Packet always describes the packet (for a prepared one, its Data lies
// within the prepared bytes); Prepared, when not zero, holds its
// encodings, which [WebSocket.WriteBatch] and [AppendPayload] copy instead
// of encoding Packet again.
type Outgoing struct {
	Packet   codec.Packet
	Prepared Prepared
}

// Prepared is a packet encoded once in every form a server sends it in:
// the whole WebSocket frame, header included, for protocols 4 and 3 (and
// compressed, for connections with permessage-deflate); and the packet as
// it stands in a polling payload of either protocol. It is what a
// broadcast shares between sessions: immutable once made, safe to read
// from any number of goroutines at once, and one allocation whatever the
// number of forms. The zero Prepared holds nothing.
type Prepared struct {
	// b is an index of spans, one per form, then the encodings. Forms
	// that are the same bytes share a span: a V4 text frame's payload is
	// also its polling packet, and its V3 frame is the same frame.
	b []byte
}

// The forms of a Prepared, in the order of its index.
const (
	formFrameV4 = iota // WebSocket frame, protocol 4
	formFrameV3
	formDeflatedV4 // compressed WebSocket frame; the plain one when compression does not help
	formDeflatedV3
	formPollV4 // the packet in a protocol 4 polling payload, without separator
	formPollV3 // with its "<length>:" prefix
	formData   // the packet's data
	numForms
)

const preparedIndex = numForms * 8 // a start and an end, uint32 each, per form

// PrepareOptions says which forms [Prepare] makes.
type PrepareOptions struct {
	// V3 adds the protocol 3 forms, for a server that accepts protocol 3
	// clients. Without them a protocol 3 session encodes the packet itself.
	V3 bool
	// Deflate adds the compressed frames, for a server whose connections
	// may negotiate permessage-deflate; DeflateThreshold is theirs (see
	// [WebSocketOptions]): zero means [DefaultCompressionThreshold],
	// negative means none is compressed.
	Deflate          bool
	DeflateThreshold int
}

// Prepare encodes p in every form o asks for, in one allocation, and
// returns the Outgoing that carries it, to be queued to any number of
// sessions. p.Data is copied: the caller may reuse it once Prepare
// returns.
func Prepare(p codec.Packet, o PrepareOptions) Outgoing {
	scratch := getBuffer()
	defer putBuffer(scratch)
	var spans [numForms][2]int
	b := (*scratch)[:0]
	add := func(form int, start int) {
		spans[form] = [2]int{start, len(b)}
	}

	start := len(b)
	b = appendPacketFrame(b, &p, codec.V4, false, false, 0)
	add(formFrameV4, start)
	payload := len(b) - codec.FrameLen(p, codec.V4)
	switch {
	case p.Binary && p.Type == codec.Message:
		spans[formData] = [2]int{payload, len(b)}
		start = len(b)
		b = codec.AppendPacket(b, p, codec.V4)
		add(formPollV4, start)
	default:
		// The frame's payload is the type digit and the data: the packet
		// as a V4 polling payload has it.
		spans[formData] = [2]int{payload + 1, len(b)}
		spans[formPollV4] = [2]int{payload, len(b)}
	}
	sameV3 := !p.Binary // a text frame is the same in both protocols
	if o.V3 {
		if sameV3 {
			spans[formFrameV3] = spans[formFrameV4]
		} else {
			start = len(b)
			b = appendPacketFrame(b, &p, codec.V3, false, false, 0)
			add(formFrameV3, start)
		}
		start = len(b)
		b = codec.AppendPacket(b, p, codec.V3)
		add(formPollV3, start)
	}
	threshold := o.DeflateThreshold
	switch {
	case threshold == 0:
		threshold = DefaultCompressionThreshold
	case threshold < 0:
		threshold = math.MaxInt
	}
	for _, f := range [...]struct {
		v              codec.Version
		plain, deflate int
		want           bool
	}{
		{codec.V4, formFrameV4, formDeflatedV4, true},
		{codec.V3, formFrameV3, formDeflatedV3, o.V3},
	} {
		switch {
		case !f.want || !o.Deflate:
			// Absent: a connection with permessage-deflate then
			// encodes the packet itself.
		case codec.FrameLen(p, f.v) <= threshold:
			spans[f.deflate] = spans[f.plain]
		case f.v == codec.V3 && sameV3:
			spans[f.deflate] = spans[formDeflatedV4]
		default:
			start = len(b)
			b = appendDeflatedFrame(b, &p, f.v, false)
			if b[start]&rsv1Frame == 0 {
				// Compression did not help: the plain frame is the same.
				b = b[:start]
				spans[f.deflate] = spans[f.plain]
			} else {
				add(f.deflate, start)
			}
		}
	}
	*scratch = b

	out := make([]byte, preparedIndex+len(b))
	for i, sp := range spans {
		// An absent form has the span 0..0; the others start after the
		// index.
		if sp[1] > sp[0] || i == formData {
			sp[0], sp[1] = sp[0]+preparedIndex, sp[1]+preparedIndex
		}
		binary.LittleEndian.PutUint32(out[i*8:], uint32(sp[0]))
		binary.LittleEndian.PutUint32(out[i*8+4:], uint32(sp[1]))
	}
	copy(out[preparedIndex:], b)
	prep := Prepared{b: out}
	return Outgoing{
		Packet:   codec.Packet{Type: p.Type, Data: prep.form(formData), Binary: p.Binary},
		Prepared: prep,
	}
}

// form returns the bytes of one form, nil when p does not hold it.
func (p Prepared) form(f int) []byte {
	if p.b == nil {
		return nil
	}
	start := binary.LittleEndian.Uint32(p.b[f*8:])
	end := binary.LittleEndian.Uint32(p.b[f*8+4:])
	if end == 0 {
		return nil
	}
	return p.b[start:end:end]
}

// frame returns the server's WebSocket frame for protocol v, the
// compressed one for a connection with permessage-deflate, or nil.
func (p Prepared) frame(v codec.Version, deflate bool) []byte {
	f := formFrameV4
	if v == codec.V3 {
		f = formFrameV3
	}
	if deflate {
		f += formDeflatedV4 - formFrameV4
	}
	return p.form(f)
}

// pollPacket returns the packet as it stands in a polling payload of
// protocol v (without separator), or nil.
func (p Prepared) pollPacket(v codec.Version) []byte {
	if v == codec.V3 {
		return p.form(formPollV3)
	}
	return p.form(formPollV4)
}

// IsZero reports whether p holds nothing.
func (p Prepared) IsZero() bool { return p.b == nil }

// AppendBinaryPayload appends items as one protocol 3 binary polling
// payload, as [codec.AppendBinaryPayload] does packets. It encodes each
// item's packet: no prepared form holds this one.
func AppendBinaryPayload(dst []byte, items []Outgoing) []byte {
	for i := range items {
		one := [1]codec.Packet{items[i].Packet}
		dst = codec.AppendBinaryPayload(dst, one[:])
	}
	return dst
}

// AppendPayload appends items encoded as one polling payload of protocol
// v, as [codec.AppendPayload] does packets: a prepared item's polling form
// is copied, any other item encoded.
func AppendPayload(dst []byte, items []Outgoing, v codec.Version) []byte {
	for i := range items {
		if i > 0 && v == codec.V4 {
			dst = append(dst, codec.Separator)
		}
		if f := items[i].Prepared.pollPacket(v); f != nil {
			dst = append(dst, f...)
			continue
		}
		dst = codec.AppendPacket(dst, items[i].Packet, v)
	}
	return dst
}
