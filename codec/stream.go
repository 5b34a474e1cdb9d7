package codec

import (
	"encoding/binary"
	"math"
	"unicode/utf8"
)

// The stream framing of Engine.IO over WebTransport: packets travel on one
// bidirectional stream, each as a header and then the packet, in the
// format of engine.io-parser's createPacketEncoderStream and
// createPacketDecoderStream (protocol 4 only).
//
// The header is modelled on a WebSocket frame's length: its first byte
// holds a flag in its top bit, set when the packet is binary, and a
// length in its low seven bits: below 126 that is the packet's length;
// 126 means that a 16-bit length follows, 127 a 64-bit one, both
// big-endian. The packet is then the V4 WebSocket frame payload
// ([AppendFrame]): a text packet is its type digit and its data, a
// binary message is its raw bytes.

// streamBinaryFlag marks a binary packet in a stream frame's first byte.
const streamBinaryFlag = 0x80

// StreamFrameLen returns the length of p encoded by [AppendStreamFrame],
// header included.
func StreamFrameLen(p Packet) int {
	n := streamPacketLen(p)
	return streamHeaderLen(n) + n
}

// streamPacketLen returns the length of p's body in a stream frame.
func streamPacketLen(p Packet) int {
	if isEmptyBinary(p) {
		return 1 // "b"
	}
	return FrameLen(p, V4)
}

func streamHeaderLen(n int) int {
	switch {
	case n < 126:
		return 1
	case n <= math.MaxUint16:
		return 3
	}
	return 9
}

// isEmptyBinary reports whether p is a binary message without data, which
// a stream frame cannot carry as binary: engine.io-parser's decoder fails
// a frame of length zero.
func isEmptyBinary(p Packet) bool {
	return p.Type == Message && p.Binary && len(p.Data) == 0
}

// AppendStreamFrame appends p encoded as one WebTransport stream frame, its
// header and then the packet, to dst, as engine.io-parser's
// createPacketEncoderStream writes it, and returns the extended buffer. A
// binary message is sent raw with the binary flag; any other packet as
// text, its type digit and its data. Binary is ignored on other types
// than [Message], as in [AppendFrame].
//
// The one exception is a binary message without data: engine.io-parser
// refuses a frame of length zero, so it is sent as the text packet "b"
// (base64 of nothing), which engine.io-parser and [StreamDecoder] both
// decode as an empty binary message.
//
// Appending to a buffer kept from one batch to the next costs no
// allocation once the buffer has grown to the batch.
func AppendStreamFrame(dst []byte, p Packet) []byte {
	n := streamPacketLen(p)
	var flag byte
	if p.Binary && p.Type == Message && n == len(p.Data) {
		flag = streamBinaryFlag
	}
	switch {
	case n < 126:
		dst = append(dst, flag|byte(n))
	case n <= math.MaxUint16:
		dst = append(dst, flag|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, flag|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if isEmptyBinary(p) {
		return append(dst, 'b')
	}
	dst, _ = AppendFrame(dst, p, V4)
	return dst
}

// AppendStreamFrames appends every packet of pkts as [AppendStreamFrame]
// does, for one write of a whole batch.
func AppendStreamFrames(dst []byte, pkts []Packet) []byte {
	for i := range pkts {
		dst = AppendStreamFrame(dst, pkts[i])
	}
	return dst
}

// The states of a StreamDecoder, by the part of a frame it expects next.
const (
	streamHeader  = iota // the first byte
	streamLength         // the 2 or 8 bytes of an extended length
	streamPayload        // the packet
)

// streamFirstBuffer is the most a StreamDecoder holds for a frame before
// its bytes arrive: the first buffer it takes for a frame's packet is
// this size, or the packet's declared length if that is less.
const streamFirstBuffer = 4096

// StreamDecoder decodes a WebTransport stream of Engine.IO packets as it
// arrives, in chunks of any size: the format of engine.io-parser's
// createPacketDecoderStream. It is the receiving half of
// [AppendStreamFrame]. The zero value, with MaxPayload set, is ready to
// use. A StreamDecoder is not safe for concurrent use.
//
// Memory follows the bytes received, not the lengths headers declare: a
// frame's packet is collected in a buffer that starts at 4 KiB (or at the
// declared length when that is less) and grows, at most doubling, only as
// its bytes arrive; when the declared length is within the next step, the
// step is exactly that length, so the finished packet needs no copy. A
// peer that declares a large packet and stalls therefore makes the
// decoder hold at most 4 KiB; one that sends n bytes of it, at most about
// 2n.
//
// The decoder is strict where engine.io-parser's is: a frame of length
// zero and a frame longer than MaxPayload are errors, found from the
// header before any of the packet is held. It is also strict where
// engine.io-parser is lenient: a text packet must be UTF-8 (engine.io-parser
// would replace bad sequences) with a known type digit. Like
// engine.io-parser, it accepts a length in a longer form than needed (a
// 16-bit length below 126), and a text packet "b" and base64, which it
// decodes as a binary message.
type StreamDecoder struct {
	// MaxPayload bounds the length of one packet (what a frame's header
	// declares), in bytes: a frame that declares more fails with
	// [ErrTooLarge] before any of it is held. Zero or less means no bound
	// but the largest int: set one for any peer you do not trust.
	MaxPayload int64

	// Account, if not nil, is told of every change in the memory the
	// decoder holds: called with the bytes a buffer is about to grow by
	// (positive) before it grows, and with the bytes it lets go of
	// (negative) once a packet is handed over or the decoder is reset.
	// An error for a growth stops the decoder: [StreamDecoder.Decode]
	// returns it as it is. Its error for a release is ignored. It is the
	// hook for a bound shared by many decoders, such as a server's bytes
	// in flight.
	Account func(delta int64) error

	state  uint8
	binary bool
	lenN   uint8   // bytes of the extended length: 0, 2 or 8
	hdrN   uint8   // bytes of the extended length read so far
	hdr    [8]byte // the extended length
	need   int64   // the packet's declared length
	frame  int64   // offset of the frame's first byte in the stream
	off    int64   // bytes consumed since the decoder began or was reset
	buf    []byte  // the packet so far
	held   int64   // bytes reported to Account and not yet given back
	err    error   // sticky: the decoder's first error
}

// Decode consumes all of b, calling emit with every packet that b
// completes, in stream order; a packet split across calls is completed by
// a later one. It does not keep b.
//
// Each packet's Data is newly allocated and belongs to emit's callee, to
// keep as long as it likes (a text packet's Data is its bytes after the
// type digit; cap(Data) == len(Data)).
//
// An error stops the decoder for good: it is returned again by every later
// call until [StreamDecoder.Reset]. Bad input gives a [*SyntaxError]
// wrapping [ErrEmptyPacket] (a frame of length zero), [ErrTooLarge] (past
// MaxPayload), [ErrUnknownType], [ErrInvalidUTF8] or [ErrBadBase64], at
// its offset in the stream; an error from emit or from Account is
// returned as it is.
func (d *StreamDecoder) Decode(b []byte, emit func(Packet) error) error {
	if d.err != nil {
		return d.err
	}
	for len(b) > 0 {
		var n int
		var err error
		switch d.state {
		case streamHeader:
			n, err = 1, d.header(b[0])
		case streamLength:
			n, err = d.length(b)
		default:
			n, err = d.payload(b, emit)
		}
		d.off += int64(n)
		if err != nil {
			d.err = err
			d.release()
			return err
		}
		b = b[n:]
	}
	return nil
}

// header reads a frame's first byte.
func (d *StreamDecoder) header(c byte) error {
	d.frame = d.off
	d.binary = c&streamBinaryFlag != 0
	switch n := c &^ streamBinaryFlag; n {
	case 126:
		d.state, d.lenN, d.hdrN = streamLength, 2, 0
		return nil
	case 127:
		d.state, d.lenN, d.hdrN = streamLength, 8, 0
		return nil
	default:
		d.lenN = 0
		return d.declare(int64(n))
	}
}

// length reads the bytes of an extended length that b holds.
func (d *StreamDecoder) length(b []byte) (int, error) {
	n := copy(d.hdr[d.hdrN:d.lenN], b)
	d.hdrN += uint8(n)
	if d.hdrN < d.lenN {
		return n, nil
	}
	if d.lenN == 2 {
		return n, d.declare(int64(binary.BigEndian.Uint16(d.hdr[:2])))
	}
	v := binary.BigEndian.Uint64(d.hdr[:8])
	if v > math.MaxInt64 {
		return n, syntaxErr(int(d.frame), ErrTooLarge)
	}
	return n, d.declare(int64(v))
}

// declare checks a frame's declared length and expects its packet.
func (d *StreamDecoder) declare(n int64) error {
	switch {
	case n == 0:
		return syntaxErr(int(d.frame), ErrEmptyPacket)
	case d.MaxPayload > 0 && n > d.MaxPayload, n > math.MaxInt:
		return syntaxErr(int(d.frame), ErrTooLarge)
	}
	d.need, d.state = n, streamPayload
	return nil
}

// payload collects the packet's bytes that b holds and, once it is
// complete, decodes it and hands it to emit.
func (d *StreamDecoder) payload(b []byte, emit func(Packet) error) (int, error) {
	have := int64(len(d.buf))
	k := min(int64(len(b)), d.need-have)
	if int64(cap(d.buf))-have < k {
		if err := d.grow(have + k); err != nil {
			return 0, err
		}
	}
	d.buf = append(d.buf, b[:k]...)
	if int64(len(d.buf)) < d.need {
		return int(k), nil
	}
	data := d.buf
	d.buf = nil
	d.give()
	d.state = streamHeader
	p, err := d.packet(data)
	if err != nil {
		return int(k), err
	}
	return int(k), emit(p)
}

// grow makes room for at least want bytes of the packet: twice the room
// there is (streamFirstBuffer to start), or exactly the declared length
// when that is no more; never more than the declared length.
func (d *StreamDecoder) grow(want int64) error {
	size := max(2*int64(cap(d.buf)), streamFirstBuffer, want)
	if size > d.need {
		size = d.need
	}
	if d.Account != nil {
		if err := d.Account(size - int64(cap(d.buf))); err != nil {
			return err
		}
		d.held += size - int64(cap(d.buf))
	}
	nb := make([]byte, len(d.buf), size)
	copy(nb, d.buf)
	d.buf = nb
	return nil
}

// give reports the bytes held back to Account.
func (d *StreamDecoder) give() {
	if d.held != 0 {
		_ = d.Account(-d.held)
		d.held = 0
	}
}

// release drops a partial packet.
func (d *StreamDecoder) release() {
	d.buf = nil
	d.give()
}

// packet decodes a complete packet; data is its own.
func (d *StreamDecoder) packet(data []byte) (Packet, error) {
	data = data[:len(data):len(data)]
	if d.binary {
		return Packet{Type: Message, Data: data, Binary: true}, nil
	}
	start := int(d.frame) + 1 + int(d.lenN) // offset of the packet's first byte
	if data[0] == 'b' {
		return decodeBase64(Message, data[1:], start+1)
	}
	if !utf8.Valid(data) {
		return Packet{}, syntaxErr(start, ErrInvalidUTF8)
	}
	return decodeText(data, start)
}

// Partial reports whether the decoder is inside a frame: it has consumed
// part of one and waits for the rest.
func (d *StreamDecoder) Partial() bool {
	return d.err == nil && d.state != streamHeader
}

// Held returns the bytes of buffer the decoder holds for a partial packet.
func (d *StreamDecoder) Held() int { return cap(d.buf) }

// Reset drops any partial frame and error, and gives its memory back, so
// that the decoder starts on a new stream. MaxPayload and Account are kept.
func (d *StreamDecoder) Reset() {
	d.release()
	*d = StreamDecoder{MaxPayload: d.MaxPayload, Account: d.Account}
}
