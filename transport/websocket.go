package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/chanio/chanio/codec"
	"github.com/gobwas/ws"
)

// Side says which end of a WebSocket connection this is: clients mask the
// frames they send and servers must not.
type Side uint8

// The two ends of a connection.
const (
	ServerSide Side = iota
	ClientSide
)

// Errors returned by [WebSocket.ReadMessage]. Each one has already been
// answered with the matching close frame.
var (
	ErrMessageTooBig = errors.New("transport: websocket message over the size limit")
	ErrInvalidUTF8   = errors.New("transport: invalid UTF-8 in websocket text message")
	ErrProtocol      = errors.New("transport: websocket protocol violation")
)

// CloseError is returned by [WebSocket.ReadMessage] when the peer sent a
// close frame. The close has been answered.
type CloseError struct {
	Code   ws.StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("transport: websocket closed by peer: %d %s", e.Code, e.Reason)
}

// WebSocket frames Engine.IO packets over one WebSocket connection, on top
// of gobwas/ws's header codec. One goroutine reads (ReadMessage); writes may
// come from any goroutine and are serialised.
type WebSocket struct {
	conn         net.Conn
	side         Side
	maxMessage   int64
	writeTimeout time.Duration

	// Read side, owned by the reading goroutine.
	br     *bufio.Reader
	header [ws.MaxHeaderSize - 2]byte
	ctrl   [125]byte

	wmu       sync.Mutex // serialises writes to conn
	closeSent bool       // guarded by wmu
}

// NewWebSocket wraps an upgraded connection. br holds bytes the handshake
// read past its end, or is nil. maxMessage bounds an incoming message
// (after reassembly of fragments); writeTimeout bounds every write (zero
// means none).
func NewWebSocket(conn net.Conn, br *bufio.Reader, side Side, maxMessage int64, writeTimeout time.Duration) *WebSocket {
	if br == nil {
		br = bufio.NewReaderSize(conn, 4096)
	}
	return &WebSocket{conn: conn, br: br, side: side, maxMessage: maxMessage, writeTimeout: writeTimeout}
}

// Conn returns the underlying connection.
func (c *WebSocket) Conn() net.Conn { return c.conn }

// ReadMessage returns the next complete data message. It answers pings,
// skips pongs, reassembles fragments and enforces the size limit and UTF-8
// validity of text, closing the connection with the matching WebSocket
// status on a violation.
//
// data is newly allocated for every message and belongs to the caller.
func (c *WebSocket) ReadMessage() (data []byte, binary bool, err error) {
	var op ws.OpCode // opcode of the message being assembled; 0 if none
	for {
		h, err := ws.ReadHeaderBuffer(c.br, c.header[:])
		if err != nil {
			return nil, false, err
		}
		if err := c.checkHeader(h); err != nil {
			return nil, false, err
		}
		if h.OpCode.IsControl() {
			if err := c.control(h); err != nil {
				return nil, false, err
			}
			continue
		}
		switch {
		case h.OpCode == ws.OpContinuation && op == 0,
			h.OpCode != ws.OpContinuation && op != 0:
			return nil, false, c.fail(ws.StatusProtocolError, ErrProtocol)
		case h.OpCode != ws.OpContinuation:
			op = h.OpCode
		}
		if h.Length > c.maxMessage-int64(len(data)) {
			return nil, false, c.fail(ws.StatusMessageTooBig, ErrMessageTooBig)
		}
		n := len(data)
		if data == nil && h.Fin {
			data = make([]byte, h.Length)
		} else {
			data = append(data, make([]byte, h.Length)...)
		}
		if _, err := io.ReadFull(c.br, data[n:]); err != nil {
			return nil, false, err
		}
		if h.Masked {
			ws.Cipher(data[n:], h.Mask, 0)
		}
		if !h.Fin {
			continue
		}
		if op == ws.OpText && !utf8.Valid(data) {
			return nil, false, c.fail(ws.StatusInvalidFramePayloadData, ErrInvalidUTF8)
		}
		if data == nil {
			data = []byte{}
		}
		return data, op == ws.OpBinary, nil
	}
}

func (c *WebSocket) checkHeader(h ws.Header) error {
	wantMask := c.side == ServerSide
	switch {
	case h.Rsv != 0, h.OpCode.IsReserved(), h.Masked != wantMask,
		h.OpCode.IsControl() && (!h.Fin || h.Length > 125):
		return c.fail(ws.StatusProtocolError, ErrProtocol)
	}
	return nil
}

// control handles a ping, pong or close frame.
func (c *WebSocket) control(h ws.Header) error {
	p := c.ctrl[:h.Length]
	if _, err := io.ReadFull(c.br, p); err != nil {
		return err
	}
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	switch h.OpCode {
	case ws.OpPing:
		return c.writeControl(ws.OpPong, p)
	case ws.OpPong:
		return nil
	}
	ce := &CloseError{Code: ws.StatusNoStatusRcvd}
	if len(p) >= 2 {
		ce.Code = ws.StatusCode(binary.BigEndian.Uint16(p))
		ce.Reason = string(p[2:])
		if ws.CheckCloseFrameData(ce.Code, ce.Reason) != nil {
			return c.fail(ws.StatusProtocolError, ErrProtocol)
		}
	} else if len(p) == 1 {
		return c.fail(ws.StatusProtocolError, ErrProtocol)
	}
	reply := ws.StatusNormalClosure
	if ce.Code != ws.StatusNoStatusRcvd {
		reply = ce.Code
	}
	_ = c.WriteClose(reply, "")
	return ce
}

// fail answers a violation with a close frame and returns err.
func (c *WebSocket) fail(code ws.StatusCode, err error) error {
	_ = c.WriteClose(code, "")
	return err
}

// WriteClose sends a close frame with code and reason, once; later calls
// do nothing. It does not close the connection.
func (c *WebSocket) WriteClose(code ws.StatusCode, reason string) error {
	var body [125]byte
	binary.BigEndian.PutUint16(body[:], uint16(code))
	n := 2 + copy(body[2:], reason)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return nil
	}
	c.closeSent = true
	return c.writeFrameLocked(ws.OpClose, body[:n])
}

func (c *WebSocket) writeControl(op ws.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return nil
	}
	return c.writeFrameLocked(op, p)
}

func (c *WebSocket) writeFrameLocked(op ws.OpCode, p []byte) error {
	buf := getBuffer()
	defer putBuffer(buf)
	b := c.appendFrame((*buf)[:0], op, p)
	*buf = b
	return c.writeLocked(b)
}

// appendFrame appends one unfragmented frame carrying p.
func (c *WebSocket) appendFrame(dst []byte, op ws.OpCode, p []byte) []byte {
	dst, mask, masked := c.appendHeader(dst, op, len(p))
	start := len(dst)
	dst = append(dst, p...)
	if masked {
		ws.Cipher(dst[start:], mask, 0)
	}
	return dst
}

// appendHeader appends a final frame's header for a payload of n bytes and
// returns the mask the payload must be XORed with, if any.
func (c *WebSocket) appendHeader(dst []byte, op ws.OpCode, n int) ([]byte, [4]byte, bool) {
	var mask [4]byte
	masked := c.side == ClientSide
	var maskBit byte
	if masked {
		maskBit = 0x80
	}
	dst = append(dst, 0x80|byte(op))
	switch {
	case n < 126:
		dst = append(dst, maskBit|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, maskBit|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, maskBit|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if masked {
		binary.BigEndian.PutUint32(mask[:], rand.Uint32())
		dst = append(dst, mask[:]...)
	}
	return dst, mask, masked
}

// WritePackets writes each packet as one frame, all in a single write to
// the connection.
func (c *WebSocket) WritePackets(pkts []codec.Packet, v codec.Version) error {
	buf := getBuffer()
	defer putBuffer(buf)
	b := (*buf)[:0]
	for _, p := range pkts {
		op := ws.OpText
		if codec.FrameIsBinary(p, v) {
			op = ws.OpBinary
		}
		var mask [4]byte
		var masked bool
		b, mask, masked = c.appendHeader(b, op, codec.FrameLen(p, v))
		start := len(b)
		b, _ = codec.AppendFrame(b, p, v)
		if masked {
			ws.Cipher(b[start:], mask, 0)
		}
	}
	*buf = b
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return net.ErrClosed
	}
	return c.writeLocked(b)
}

func (c *WebSocket) writeLocked(b []byte) error {
	if c.writeTimeout > 0 {
		_ = c.conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
	_, err := c.conn.Write(b)
	return err
}

// Close closes the connection without a close frame; it unblocks a pending
// read or write. It is safe to call from any goroutine, more than once.
func (c *WebSocket) Close() error { return c.conn.Close() }

// CloseWith sends a close frame with code (unless one was sent already) and
// then closes the connection.
func (c *WebSocket) CloseWith(code ws.StatusCode) error {
	_ = c.WriteClose(code, "")
	return c.conn.Close()
}
