package transport

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/chanio/chanio/codec"
	"github.com/gobwas/ws"
)

// parkedRead is what [WebSocket.readParked] made of a parked connection's
// readable event.
type parkedRead uint8

const (
	// parkedNothing: nothing has arrived, or everything that had is
	// delivered; the connection can park again.
	parkedNothing parkedRead = iota
	// parkedPacket: the next packet, whole in what has arrived.
	parkedPacket
	// parkedSlow: what has arrived (a part of a frame, a control frame, a
	// compressed or fragmented message, a violation, an error) is for a
	// reading goroutine, which takes it from the buffer as it is.
	parkedSlow
)

// readParked is how a parked connection is read on the poller's goroutine,
// without a goroutine of its own: it decodes the next packet when the
// bytes that have arrived (reading them once, without waiting, if none
// are buffered) hold a whole simple data frame: final, uncompressed, text
// or binary, masked as the side requires, within the size limit, valid
// UTF-8 text and a valid packet. Anything else it leaves in the buffer,
// untouched, for [WebSocket.ReadPacket] on a reading goroutine, which
// then answers a violation as it always does: the two paths agree on every
// input because the quick one only ever accepts what the other would.
//
// A read that returned less than the buffer holds found the socket empty
// behind it: once that buffer is used up, parkedNothing comes without
// another read. (Data that arrived meanwhile is not lost: parking again
// re-arms the poller, which looks at the socket as it does.)
func (c *WebSocket) readParked() (p codec.Packet, r parkedRead) {
	if c.in.r == c.in.w {
		if c.in.err != nil {
			return p, parkedSlow
		}
		if c.in.drained {
			c.in.drained = false
			return p, parkedNothing
		}
		got, drained, err := c.in.tryFill()
		if err != nil {
			// The reading goroutine reports it, as its own read would.
			c.in.err = err
			return p, parkedSlow
		}
		if !got {
			return p, parkedNothing
		}
		c.in.drained = drained
	}
	b := (*c.in.buf)[c.in.r:c.in.w]
	if len(b) < 2 {
		return p, parkedSlow
	}
	op := ws.OpCode(b[0] & 0x0f)
	fin, rsv, masked := b[0]&0x80 != 0, b[0]&0x70, b[1]&0x80 != 0
	if !fin || rsv != 0 || (op != ws.OpText && op != ws.OpBinary) || masked != (c.side == ServerSide) {
		return p, parkedSlow
	}
	n, at := int(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return p, parkedSlow
		}
		n, at = int(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		return p, parkedSlow // larger than any buffer of ours
	}
	var mask [4]byte
	if masked {
		if len(b) < at+4 {
			return p, parkedSlow
		}
		copy(mask[:], b[at:])
		at += 4
	}
	if int64(n) > c.maxMessage || len(b)-at < n {
		return p, parkedSlow
	}
	data := make([]byte, n) // the packet's own, as ReadMessage's
	copy(data, b[at:at+n])
	if masked {
		ws.Cipher(data, mask, 0)
	}
	if op == ws.OpText && !utf8.Valid(data) {
		return p, parkedSlow
	}
	p, err := codec.DecodeFrame(data, op == ws.OpBinary, c.version)
	if err != nil {
		return p, parkedSlow
	}
	c.in.r += at + n
	if c.in.r == c.in.w {
		c.in.release()
	}
	return p, parkedPacket
}
