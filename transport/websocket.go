package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/chanio/chanio/actor"
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
// answered with the matching close frame: 1009 for ErrMessageTooBig (a
// compressed message that inflates past the limit included), 1007 for
// ErrInvalidUTF8 and ErrInvalidCompression, 1002 for ErrProtocol.
var (
	ErrMessageTooBig      = errors.New("transport: websocket message over the size limit")
	ErrInvalidUTF8        = errors.New("transport: invalid UTF-8 in websocket text message")
	ErrInvalidCompression = errors.New("transport: invalid permessage-deflate data in websocket message")
	ErrProtocol           = errors.New("transport: websocket protocol violation")
)

// CloseError is returned by [WebSocket.ReadMessage] when the peer sent a
// close frame. The close has been answered.
type CloseError struct {
	Code   ws.StatusCode
	Reason string
}

// Error gives the peer's close code and reason.
func (e *CloseError) Error() string {
	return fmt.Sprintf("transport: websocket closed by peer: %d %s", e.Code, e.Reason)
}

// Normal reports whether the peer closed deliberately: status 1000, or a
// close frame without a status.
func (e *CloseError) Normal() bool {
	return e.Code == ws.StatusNormalClosure || e.Code == ws.StatusNoStatusRcvd
}

// PacketError is returned by [WebSocket.ReadPacket] for a message that is
// not an Engine.IO packet.
type PacketError struct {
	Start []byte // the message's first bytes, at most 64
	Err   error  // why it does not decode (a *codec.SyntaxError)
}

// Error says why the message does not decode.
func (e *PacketError) Error() string { return "transport: not a packet: " + e.Err.Error() }

// Unwrap returns the decoding error.
func (e *PacketError) Unwrap() error { return e.Err }

// WebSocket frames Engine.IO packets over one WebSocket connection, on top
// of gobwas/ws's header codec. One goroutine reads (ReadMessage); writes may
// come from any goroutine and are serialised.
type WebSocket struct {
	conn         net.Conn
	side         Side
	maxMessage   int64
	budget       *ReadBudget
	writeTimeout time.Duration
	version      codec.Version // of the packets Write and ReadPacket carry
	deflate      bool          // permessage-deflate negotiated
	base64       bool          // V3 binary packets go as base64 text frames
	threshold    int           // compress outgoing messages longer than this

	// Read side, owned by the reading goroutine.
	in     connReader
	header [ws.MaxHeaderSize - 2]byte

	wmu           sync.Mutex    // serialises writes to conn
	closeSent     bool          // guarded by wmu
	writeDeadline actor.Instant // guarded by wmu
}

// NewWebSocket wraps an upgraded connection without compression. br holds
// bytes the handshake read past its end, or is nil. maxMessage bounds an
// incoming message (after reassembly of fragments); writeTimeout bounds
// every write (zero means none). It is [NewWebSocketWith] with only those
// options set.
func NewWebSocket(conn net.Conn, br *bufio.Reader, side Side, maxMessage int64, writeTimeout time.Duration) *WebSocket {
	return NewWebSocketWith(conn, br, WebSocketOptions{Side: side, MaxMessage: maxMessage, WriteTimeout: writeTimeout})
}

// WebSocketOptions configures a [WebSocket] made by [NewWebSocketWith].
type WebSocketOptions struct {
	// Side is the end of the connection this is: [ClientSide] masks the
	// frames it sends, [ServerSide] requires masked frames.
	Side Side
	// Version is the protocol of the packets [WebSocket.Write] and
	// [WebSocket.ReadPacket] carry. Zero means [codec.V4].
	Version codec.Version
	// MaxMessage bounds an incoming message in bytes, after reassembly of
	// its fragments and, if compressed, after inflating it. Past it
	// [WebSocket.ReadMessage] fails with [ErrMessageTooBig].
	MaxMessage int64
	// WriteTimeout bounds every write: a write that makes no progress
	// fails after between half of it and all of it. Zero means none.
	WriteTimeout time.Duration

	// Deflate turns on permessage-deflate (RFC 7692), without context
	// takeover in either direction. Set it only when the handshake
	// negotiated it: from [DeflateNegotiator.Accepted] on a server, from
	// [DeflateAccepted] on a client. Zero (false) sends every frame
	// uncompressed and fails a compressed one with [ErrProtocol].
	Deflate bool
	// DeflateThreshold is the size in bytes an outgoing data message must
	// pass to be compressed when Deflate is on; smaller ones, and any that
	// compression would not shrink, go uncompressed. Zero means
	// [DefaultCompressionThreshold]; negative means compress none (compressed
	// messages from the peer are still read).
	DeflateThreshold int

	// Base64 makes [WebSocket.WritePackets] send protocol 3 binary packets
	// as base64 in text frames ([codec.AppendBase64Frame]), for a protocol
	// 3 client that asked for it with b64=1 in its WebSocket URL. Zero
	// (false) sends them in binary frames. It has no effect on protocol 4.
	Base64 bool

	// Budget, if not nil, is shared by the connections whose incoming
	// messages it bounds together; see [ReadBudget]. Nil means each
	// connection is bounded by MaxMessage alone.
	Budget *ReadBudget
}

// NewWebSocketWith wraps an upgraded connection configured by o. br, if not
// nil, is the handshake's reader: the bytes it has buffered past the
// handshake are read first, then the connection; br itself is not kept.
func NewWebSocketWith(conn net.Conn, br *bufio.Reader, o WebSocketOptions) *WebSocket {
	c := &WebSocket{conn: conn, side: o.Side, version: o.Version, maxMessage: o.MaxMessage, budget: o.Budget, writeTimeout: o.WriteTimeout, base64: o.Base64}
	if c.version == 0 {
		c.version = codec.V4
	}
	c.in.init(conn, br)
	if o.Deflate {
		c.deflate = true
		switch c.threshold = o.DeflateThreshold; {
		case c.threshold == 0:
			c.threshold = DefaultCompressionThreshold
		case c.threshold < 0:
			c.threshold = math.MaxInt
		}
	}
	return c
}

// Conn returns the underlying connection.
func (c *WebSocket) Conn() net.Conn { return c.conn }

// Name is "websocket".
func (c *WebSocket) Name() string { return "websocket" }

// Room is [RoomAny]: a write goes out at once, whatever it holds.
func (c *WebSocket) Room() Room { return RoomAny }

// Write writes items as [WebSocket.WriteBatch] does, in the protocol
// version of the options. It fails with net.ErrClosed once a close frame
// has been sent (the reader answered the peer's): the reader then reports
// the end.
func (c *WebSocket) Write(items []Outgoing) error { return c.WriteBatch(items, c.version) }

// ReadPacket reads the next message and decodes it as a packet of the
// options' version. A message that is not a packet is answered with close
// status 1003 and a [*PacketError] returned.
func (c *WebSocket) ReadPacket() (codec.Packet, error) {
	data, binary, err := c.ReadMessage()
	if err != nil {
		return codec.Packet{}, err
	}
	p, err := codec.DecodeFrame(data, binary, c.version)
	if err != nil {
		_ = c.CloseWith(ws.StatusUnsupportedData)
		return codec.Packet{}, &PacketError{Start: data[:min(len(data), 64):min(len(data), 64)], Err: err}
	}
	return p, nil
}

// CloseAs sends the close frame that says how (none for [CloseAbort]) and
// closes the connection.
func (c *WebSocket) CloseAs(how Closing) error {
	code := ws.StatusNormalClosure
	switch how {
	case CloseAbort:
		return c.Close()
	case CloseGoingAway:
		code = ws.StatusGoingAway
	case CloseProtocolError:
		code = ws.StatusProtocolError
	case CloseBadData:
		code = ws.StatusUnsupportedData
	case CloseRefused:
		code = ws.StatusNoStatusRcvd
	}
	return c.CloseWith(code)
}

// Linger sends a normal close frame and leaves the connection open for
// the peer's own close frame, which the reader reports as the end (a
// [*CloseError]). The caller bounds the wait: CloseAs cuts it.
func (c *WebSocket) Linger() error { return c.WriteClose(ws.StatusNormalClosure, "") }

// Compressed reports whether the connection speaks permessage-deflate.
func (c *WebSocket) Compressed() bool { return c.deflate }

// ReadMessage returns the next complete data message. It answers pings,
// skips pongs, reassembles fragments, inflates compressed messages and
// enforces the size limit and UTF-8 validity of text, closing the
// connection with the matching WebSocket status on a violation.
//
// Memory follows the bytes received, not the lengths frame headers
// declare: until a frame's payload begins to arrive nothing is held for
// it, and then a buffer grows as it arrives (see recvBuffer), so a peer
// that declares a large frame and stalls costs no more than it has sent.
//
// data is newly allocated for every message and belongs to the caller.
func (c *WebSocket) ReadMessage() (data []byte, binary bool, err error) {
	var op ws.OpCode // opcode of the message being assembled; 0 if none
	msg := recvBuffer{limit: c.maxMessage, budget: c.budget}
	defer msg.release()
	for {
		h, err := c.readHeader()
		if err != nil {
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
			if h.Rsv != 0 { // RSV1, which checkHeader let through: compressed
				return c.readCompressed(h, op)
			}
		}
		n := len(msg.bytes())
		if h.Length > c.maxMessage-int64(n) {
			return nil, false, c.fail(ws.StatusMessageTooBig, ErrMessageTooBig)
		}
		if err := c.readPayload(&msg, h, h.Fin); err != nil {
			return nil, false, err
		}
		if !h.Fin {
			continue
		}
		if op == ws.OpText && !utf8.Valid(msg.bytes()) {
			return nil, false, c.fail(ws.StatusInvalidFramePayloadData, ErrInvalidUTF8)
		}
		return msg.take(), op == ws.OpBinary, nil
	}
}

// readHeader reads and checks the next frame header. A 64-bit length with
// its top bit set is a protocol error (RFC 6455 section 5.2), answered
// with 1002 like the others.
func (c *WebSocket) readHeader() (ws.Header, error) {
	h, err := ws.ReadHeaderBuffer(&c.in, c.header[:])
	if err != nil {
		if errors.Is(err, ws.ErrHeaderLengthMSB) || errors.Is(err, ws.ErrHeaderLengthUnexpected) {
			return h, c.fail(ws.StatusProtocolError, ErrProtocol)
		}
		return h, err
	}
	return h, c.checkHeader(h)
}

// readPayload appends the payload of the frame h heads to msg, unmasked;
// final lets msg end exactly with it. It waits for the payload's first
// byte before it takes any buffer.
func (c *WebSocket) readPayload(msg *recvBuffer, h ws.Header, final bool) error {
	if h.Length == 0 {
		if msg.b == nil {
			msg.b = []byte{} // an empty message is not nil
		}
		return nil
	}
	if err := c.in.await(); err != nil {
		return err
	}
	n := len(msg.b)
	if err := msg.readN(&c.in, h.Length, final); err != nil {
		if errors.Is(err, ErrReadBudget) {
			return c.fail(statusTryAgainLater, err)
		}
		return err
	}
	if h.Masked {
		ws.Cipher(msg.b[n:], h.Mask, 0)
	}
	return nil
}

// statusTryAgainLater is close code 1013 (IANA's WebSocket close code
// registry), which gobwas/ws does not name.
const statusTryAgainLater ws.StatusCode = 1013

// rsv1 is RSV1 as ws.Header.Rsv holds it: the permessage-deflate bit.
const rsv1 = 0x04

func (c *WebSocket) checkHeader(h ws.Header) error {
	wantMask := c.side == ServerSide
	rsv := h.Rsv
	if c.deflate && (h.OpCode == ws.OpText || h.OpCode == ws.OpBinary) {
		rsv &^= rsv1 // allowed on the first frame of a data message only
	}
	switch {
	case rsv != 0, h.OpCode.IsReserved(), h.Masked != wantMask,
		h.OpCode.IsControl() && (!h.Fin || h.Length > 125):
		return c.fail(ws.StatusProtocolError, ErrProtocol)
	}
	return nil
}

// readCompressed reads the rest of a compressed message whose first frame
// header, h, has been read, and inflates it. The compressed bytes collect
// in a buffer that grows as they arrive; they may run a little past
// maxMessage (deflate's framing of incompressible data), the inflated
// message may not.
func (c *WebSocket) readCompressed(h ws.Header, op ws.OpCode) ([]byte, bool, error) {
	limit := c.maxMessage + c.maxMessage>>10 + 64
	if limit < c.maxMessage {
		limit = math.MaxInt64
	}
	z := recvBuffer{limit: limit, budget: c.budget}
	defer z.release()
	for {
		if h.Length > limit-int64(len(z.bytes())) {
			return nil, false, c.fail(ws.StatusMessageTooBig, ErrMessageTooBig)
		}
		// Not final: the buffer keeps room for the tail inflate appends.
		if err := c.readPayload(&z, h, false); err != nil {
			return nil, false, err
		}
		if h.Fin {
			break
		}
		var err error
		if h, err = c.nextDataHeader(); err != nil {
			return nil, false, err
		}
		if h.OpCode != ws.OpContinuation {
			return nil, false, c.fail(ws.StatusProtocolError, ErrProtocol)
		}
	}
	data, err := inflate(z.bytes(), c.maxMessage)
	switch {
	case errors.Is(err, errTooBig):
		return nil, false, c.fail(ws.StatusMessageTooBig, ErrMessageTooBig)
	case err != nil:
		return nil, false, c.fail(ws.StatusInvalidFramePayloadData, ErrInvalidCompression)
	case op == ws.OpText && !utf8.Valid(data):
		return nil, false, c.fail(ws.StatusInvalidFramePayloadData, ErrInvalidUTF8)
	}
	return data, op == ws.OpBinary, nil
}

// nextDataHeader reads frame headers, handling control frames, up to the
// next data frame's.
func (c *WebSocket) nextDataHeader() (ws.Header, error) {
	for {
		h, err := c.readHeader()
		if err != nil {
			return h, err
		}
		if !h.OpCode.IsControl() {
			return h, nil
		}
		if err := c.control(h); err != nil {
			return h, err
		}
	}
}

// control handles a ping, pong or close frame.
func (c *WebSocket) control(h ws.Header) error {
	// Control frames are rare enough to take their buffer from the heap,
	// rather than carry 125 bytes in every idle connection.
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(&c.in, p); err != nil {
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
// do nothing. It does not close the connection. The code
// ws.StatusNoStatusRcvd, which must never be sent, sends a close frame
// without a body: the peer sees that status.
func (c *WebSocket) WriteClose(code ws.StatusCode, reason string) error {
	var body [125]byte
	n := 0
	if code != ws.StatusNoStatusRcvd {
		binary.BigEndian.PutUint16(body[:], uint16(code))
		n = 2 + copy(body[2:], reason)
	}
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
	return appendFrame(dst, op, p, c.side == ClientSide)
}

// appendFrame appends one unfragmented frame carrying p, masked (as a
// client sends it) or not.
func appendFrame(dst []byte, op ws.OpCode, p []byte, masked bool) []byte {
	dst, mask := appendHeader(dst, op, len(p), masked)
	start := len(dst)
	dst = append(dst, p...)
	if masked {
		ws.Cipher(dst[start:], mask, 0)
	}
	return dst
}

// appendHeader appends a final frame's header for a payload of n bytes
// and, when masked, returns the mask the payload must be XORed with.
func appendHeader(dst []byte, op ws.OpCode, n int, masked bool) ([]byte, [4]byte) {
	var mask [4]byte
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
	return dst, mask
}

// WritePackets writes each packet as one frame, all in a single write to
// the connection. With permessage-deflate on, a frame over the threshold
// is compressed (RSV1 set) if that makes it smaller.
func (c *WebSocket) WritePackets(pkts []codec.Packet, v codec.Version) error {
	buf := getBuffer()
	defer putBuffer(buf)
	b := (*buf)[:0]
	for i := range pkts {
		b = c.appendPacket(b, &pkts[i], v)
	}
	*buf = b
	return c.write(b)
}

// WriteBatch is [WebSocket.WritePackets] for a batch in which some items
// are [Prepared] messages: their frames are copied as they were prepared
// (compressed or not, as this connection negotiated), not encoded again.
// A client, which masks its frames, encodes every item itself.
func (c *WebSocket) WriteBatch(items []Outgoing, v codec.Version) error {
	buf := getBuffer()
	defer putBuffer(buf)
	b := (*buf)[:0]
	for i := range items {
		if f := items[i].Prepared.frame(v, c.deflate); f != nil && c.side == ServerSide && !c.sendsBase64(&items[i].Packet, v) {
			b = append(b, f...)
			continue
		}
		b = c.appendPacket(b, &items[i].Packet, v)
	}
	*buf = b
	return c.write(b)
}

// write writes b unless a close frame has been sent.
func (c *WebSocket) write(b []byte) error {
	c.wmu.Lock()
	if c.closeSent {
		c.wmu.Unlock()
		return net.ErrClosed
	}
	err := c.writeLocked(b)
	c.wmu.Unlock()
	return err
}

// appendPacket appends p as one frame as this connection sends it: masked
// on a client; with permessage-deflate, compressed when over the threshold
// and smaller for it.
func (c *WebSocket) appendPacket(dst []byte, p *codec.Packet, v codec.Version) []byte {
	if c.sendsBase64(p, v) {
		return c.appendBase64Frame(dst, p)
	}
	return appendPacketFrame(dst, p, v, c.side == ClientSide, c.deflate, c.threshold)
}

// sendsBase64 reports whether p goes as base64 text on this connection: a
// protocol 3 binary packet to a client that asked for base64 (b64=1).
func (c *WebSocket) sendsBase64(p *codec.Packet, v codec.Version) bool {
	return c.base64 && v == codec.V3 && codec.FrameIsBinary(*p, v)
}

// appendPacketFrame appends p as one frame of protocol v, masked or not,
// compressed when deflate is on, its payload is over threshold bytes and
// compression makes it smaller.
func appendPacketFrame(dst []byte, p *codec.Packet, v codec.Version, masked, deflate bool, threshold int) []byte {
	n := codec.FrameLen(*p, v)
	if deflate && n > threshold {
		return appendDeflatedFrame(dst, p, v, masked)
	}
	op := ws.OpText
	if codec.FrameIsBinary(*p, v) {
		op = ws.OpBinary
	}
	dst, mask := appendHeader(dst, op, n, masked)
	start := len(dst)
	dst, _ = codec.AppendFrame(dst, *p, v)
	if masked {
		ws.Cipher(dst[start:], mask, 0)
	}
	return dst
}

// appendBase64Frame appends the V3 binary packet p as base64 in one text
// frame, compressed as appendDeflatedFrame would.
func (c *WebSocket) appendBase64Frame(dst []byte, p *codec.Packet) []byte {
	raw := getBuffer()
	defer putBuffer(raw)
	*raw = codec.AppendBase64Frame((*raw)[:0], *p)
	masked := c.side == ClientSide
	if c.deflate && len(*raw) > c.threshold {
		return appendCompressedFrame(dst, ws.OpText, *raw, masked)
	}
	return appendFrame(dst, ws.OpText, *raw, masked)
}

// appendDeflatedFrame appends p as one compressed frame, or as a plain one
// if compression does not shrink it.
func appendDeflatedFrame(dst []byte, p *codec.Packet, v codec.Version, masked bool) []byte {
	raw := getBuffer()
	defer putBuffer(raw)
	op := ws.OpText
	if codec.FrameIsBinary(*p, v) {
		op = ws.OpBinary
	}
	*raw, _ = codec.AppendFrame((*raw)[:0], *p, v)
	return appendCompressedFrame(dst, op, *raw, masked)
}

// appendCompressedFrame appends raw as one compressed frame, or as a plain
// one if compression does not shrink it. The compressed payload is written
// after room for the largest header, then moved down against the header
// once its length is known.
func appendCompressedFrame(dst []byte, op ws.OpCode, raw []byte, masked bool) []byte {
	start := len(dst)
	payload := start + ws.MaxHeaderSize
	dst = appendDeflated(append(dst, make([]byte, ws.MaxHeaderSize)...), raw)
	n := len(dst) - payload
	if n >= len(raw) {
		return appendFrame(dst[:start], op, raw, masked)
	}
	var hdr [ws.MaxHeaderSize]byte
	h, mask := appendHeader(hdr[:0], op, n, masked)
	h[0] |= rsv1Frame // compressed
	copy(dst[start+len(h):], dst[payload:])
	copy(dst[start:], h)
	dst = dst[:start+len(h)+n]
	if masked {
		ws.Cipher(dst[start+len(h):], mask, 0)
	}
	return dst
}

// rsv1Frame is RSV1 in a frame's first byte: permessage-deflate's
// "compressed".
const rsv1Frame = 0x40

// writeLocked writes b. The write deadline is moved only once less than
// half of writeTimeout is left: setting it costs a timer update, which a
// busy connection would otherwise pay on every write. A write thus gets
// between half and all of writeTimeout.
func (c *WebSocket) writeLocked(b []byte) error {
	if c.writeTimeout > 0 {
		if now := actor.Now(); c.writeDeadline.Sub(now) < c.writeTimeout/2 {
			c.writeDeadline = now.Add(c.writeTimeout)
			_ = c.conn.SetWriteDeadline(c.writeDeadline.Time())
		}
	}
	_, err := c.conn.Write(b)
	return err
}

// Close closes the connection without a close frame; it unblocks a pending
// read or write, and runs the function of a [WebSocket.Park] at once, so
// that a parked reader gets to see the end. It is safe to call from any
// goroutine, more than once.
func (c *WebSocket) Close() error {
	err := c.conn.Close()
	if token := c.in.parkedToken.Swap(0); token != 0 {
		if p := c.in.poller.Load(); p != nil {
			p.fire(token)
		}
	}
	return err
}

// CloseWith sends a close frame with code (unless one was sent already) and
// then closes the connection as Close does.
func (c *WebSocket) CloseWith(code ws.StatusCode) error {
	_ = c.WriteClose(code, "")
	return c.Close()
}

// WaitReadable waits, for at most idle, until a message has begun to
// arrive, holding no buffer meanwhile; it returns [ErrIdle] if none has.
// It is the reading goroutine's way to notice that its connection has gone
// quiet, before it parks it with [WebSocket.Park]. Once called, reads
// keep a deadline about idle ahead that they move on by themselves, so a
// slow message is never cut.
func (c *WebSocket) WaitReadable(idle time.Duration) error { return c.in.waitReadable(idle) }

// StopIdleWait drops the read deadline that [WebSocket.WaitReadable]
// keeps. A reader that has learned it cannot park the connection (Park
// fails with [ErrNotPollable], as for TLS) calls it and then simply blocks
// in reads: otherwise the deadline would wake it every idle period for
// nothing.
func (c *WebSocket) StopIdleWait() { c.in.stopIdle() }

// Park hands the connection to p until data (or a hang-up) arrives, then
// p runs fn once: fn starts a new reading goroutine, and the one that
// parked returns. Close also runs fn, so that the reader sees the end.
// Park returns nil whenever fn will run (also when a Close that came
// meanwhile made the registration fail): the caller must then leave the
// connection alone, as fn may be running already. On an error fn will
// not run and the caller still reads the connection. It fails with
// [ErrNotPollable] for a connection without a descriptor.
func (c *WebSocket) Park(p *Poller, fn func()) error {
	if c.in.r < c.in.w {
		return errors.New("transport: cannot park a connection with buffered data")
	}
	c.in.poller.Store(p)
	return p.park(&c.in, fn)
}
