package codec

// FrameLen returns the length of p encoded as one WebSocket frame payload by
// [AppendFrame], so that a frame header can be written before the body.
func FrameLen(p Packet, v Version) int {
	if v == V4 && binaryFrame(p, v) {
		return len(p.Data)
	}
	return 1 + len(p.Data)
}

// binaryFrame reports whether p travels as a binary frame: binary messages
// in V4, any binary packet in V3.
func binaryFrame(p Packet, v Version) bool {
	return p.Binary && (p.Type == Message || v == V3)
}

// AppendFrame appends p encoded as one WebSocket frame payload to dst and
// reports whether it must travel in a binary frame.
//
// In V4 a text packet is its type digit followed by its data, and a binary
// message is its raw bytes; Binary is ignored on other types. In V3 a binary
// packet is a type byte (4, not '4') followed by its bytes.
func AppendFrame(dst []byte, p Packet, v Version) (b []byte, binary bool) {
	if binaryFrame(p, v) {
		if v == V3 {
			dst = append(dst, byte(p.Type))
		}
		return append(dst, p.Data...), true
	}
	dst = append(dst, '0'+byte(p.Type))
	return append(dst, p.Data...), false
}

// DecodeFrame decodes one WebSocket frame payload; binary says whether it
// arrived in a binary frame.
//
// The returned Data aliases frame: it stays valid for as long as the caller
// leaves frame unmodified, and no copy is made. The one exception is a V3
// text frame holding a binary packet in base64 ('b', its type digit, then
// base64, as protocol 3 clients with forceBase64 send binary): its Data is
// newly allocated.
func DecodeFrame(frame []byte, binary bool, v Version) (Packet, error) {
	if !binary {
		if v == V3 {
			return decodeV3Packet(frame, 0)
		}
		return decodeText(frame, 0)
	}
	if v == V4 {
		return Packet{Type: Message, Data: frame[:len(frame):len(frame)], Binary: true}, nil
	}
	if len(frame) == 0 {
		return Packet{}, syntaxErr(0, ErrEmptyPacket)
	}
	t := Type(frame[0])
	if !t.Valid() {
		return Packet{}, syntaxErr(0, ErrUnknownType)
	}
	return Packet{Type: t, Data: frame[1:len(frame):len(frame)], Binary: true}, nil
}

// FrameIsBinary reports whether [AppendFrame] encodes p for a binary
// WebSocket frame: a binary message in V4, any binary packet in V3.
func FrameIsBinary(p Packet, v Version) bool { return binaryFrame(p, v) }

// AppendBase64Frame appends p encoded as one V3 WebSocket text frame
// payload to dst, for a protocol 3 client that asked for base64 (b64=1 in
// its WebSocket URL, as clients without binary frames do): a binary packet
// is 'b', its type digit and its data in standard base64, as in a V3
// polling payload; any other packet is encoded as [AppendFrame] does.
// [DecodeFrame] with binary false and [V3] decodes it.
func AppendBase64Frame(dst []byte, p Packet) []byte {
	if p.Binary {
		return appendV3Base64(dst, p)
	}
	dst, _ = AppendFrame(dst, p, V3)
	return dst
}
