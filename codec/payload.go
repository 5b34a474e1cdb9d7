package codec

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strconv"
	"unicode/utf8"
)

// Separator joins the packets of a V4 polling payload (ASCII record
// separator).
const Separator = 0x1E

// AppendPayload appends pkts encoded as one polling payload to dst.
//
// V4 joins packets with [Separator] and writes a binary message as 'b'
// followed by its standard base64 encoding. V3 prefixes every packet with
// "<length>:", where length counts UTF-16 code units as JavaScript does,
// and writes a binary packet as 'b', its type digit and base64.
func AppendPayload(dst []byte, pkts []Packet, v Version) []byte {
	for i, p := range pkts {
		if i > 0 && v == V4 {
			dst = append(dst, Separator)
		}
		dst = AppendPacket(dst, p, v)
	}
	return dst
}

// AppendPacket appends p as it stands in a polling payload of version v,
// without the [Separator] that V4 puts between packets: V3 packets carry
// their own "<length>:" prefix. [AppendPayload] is AppendPacket for each
// packet, separated.
func AppendPacket(dst []byte, p Packet, v Version) []byte {
	if v == V3 {
		return appendV3Packet(dst, p)
	}
	if p.Binary && p.Type == Message {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, p.Data)
	}
	dst = append(dst, '0'+byte(p.Type))
	return append(dst, p.Data...)
}

func appendV3Packet(dst []byte, p Packet) []byte {
	if p.Binary {
		n := 2 + base64.StdEncoding.EncodedLen(len(p.Data))
		dst = strconv.AppendInt(dst, int64(n), 10)
		return appendV3Base64(append(dst, ':'), p)
	}
	dst = strconv.AppendInt(dst, int64(1+utf16Len(p.Data)), 10)
	dst = append(dst, ':', '0'+byte(p.Type))
	return append(dst, p.Data...)
}

// appendV3Base64 appends the V3 text form of a binary packet: 'b', its
// type digit, and its data in standard base64.
func appendV3Base64(dst []byte, p Packet) []byte {
	dst = append(dst, 'b', '0'+byte(p.Type))
	return base64.StdEncoding.AppendEncode(dst, p.Data)
}

// utf16Len counts the UTF-16 code units of b read as UTF-8: what
// JavaScript's String.length says of the same text. An invalid byte counts
// as one unit, as the U+FFFD it would decode to.
func utf16Len(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		i += size
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// utf16Prefix returns how many bytes of b hold its first units UTF-16 code
// units, and false if b holds fewer.
func utf16Prefix(b []byte, units int) (int, bool) {
	i := 0
	for units > 0 {
		if i >= len(b) {
			return 0, false
		}
		c := b[i]
		if c < utf8.RuneSelf {
			i++
			units--
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if w > units {
			// The length ends inside a surrogate pair.
			return 0, false
		}
		i += size
		units -= w
	}
	return i, true
}

// DecodePayload decodes a polling payload and appends its packets to dst.
//
// The Data of a text packet aliases payload: it stays valid for as long as
// the caller leaves payload unmodified. A binary packet's Data is newly
// allocated (it is decoded from base64). Each Data is capped (cap == len), so
// appending to one never overwrites the next.
//
// Malformed input returns a [*SyntaxError] wrapping one of the package's
// sentinel errors, together with the packets decoded before it.
func DecodePayload(payload []byte, v Version, lim Limits, dst []Packet) ([]Packet, error) {
	if len(payload) == 0 {
		return dst, syntaxErr(0, ErrEmptyPayload)
	}
	if err := lim.checkBytes(len(payload)); err != nil {
		return dst, err
	}
	if v == V3 {
		return decodeV3(payload, lim, dst)
	}
	count := 0
	for off := 0; off <= len(payload); {
		end := bytes.IndexByte(payload[off:], Separator)
		if end < 0 {
			end = len(payload)
		} else {
			end += off
		}
		count++
		if err := lim.checkCount(count, off); err != nil {
			return dst, err
		}
		part := payload[off:end:end]
		var p Packet
		var err error
		if len(part) > 0 && part[0] == 'b' {
			p, err = decodeBase64(Message, part[1:], off+1)
		} else {
			p, err = decodeText(part, off)
		}
		if err != nil {
			return dst, err
		}
		dst = append(dst, p)
		off = end + 1
	}
	return dst, nil
}

func decodeBase64(t Type, b []byte, off int) (Packet, error) {
	enc := base64.StdEncoding
	if len(b)%4 != 0 {
		// Tolerate peers that strip the padding.
		enc = base64.RawStdEncoding
	}
	data, err := enc.AppendDecode(make([]byte, 0, enc.DecodedLen(len(b))), b)
	if err != nil {
		return Packet{}, syntaxErr(off, ErrBadBase64)
	}
	return Packet{Type: t, Data: data[:len(data):len(data)], Binary: true}, nil
}

// maxLengthDigits bounds a V3 length prefix; 10 digits already exceed any
// payload a server accepts.
const maxLengthDigits = 10

func decodeV3(payload []byte, lim Limits, dst []Packet) ([]Packet, error) {
	count := 0
	for off := 0; off < len(payload); {
		// int64: 10 digits overflow a 32-bit int.
		units, digits := int64(0), 0
		for ; off+digits < len(payload) && payload[off+digits] != ':'; digits++ {
			d := payload[off+digits] - '0'
			if d > 9 || digits == maxLengthDigits {
				return dst, syntaxErr(off+digits, ErrBadLength)
			}
			units = units*10 + int64(d)
		}
		if digits == 0 || off+digits == len(payload) {
			return dst, syntaxErr(off, ErrBadLength)
		}
		off += digits + 1
		if units > int64(len(payload)-off) { // a unit takes at least a byte
			return dst, syntaxErr(off, ErrTruncated)
		}
		n, ok := utf16Prefix(payload[off:], int(units))
		if !ok {
			return dst, syntaxErr(off, ErrTruncated)
		}
		count++
		if err := lim.checkCount(count, off); err != nil {
			return dst, err
		}
		p, err := decodeV3Packet(payload[off:off+n:off+n], off)
		if err != nil {
			return dst, err
		}
		dst = append(dst, p)
		off += n
	}
	return dst, nil
}

func decodeV3Packet(b []byte, off int) (Packet, error) {
	if len(b) == 0 || b[0] != 'b' {
		return decodeText(b, off)
	}
	if len(b) < 2 {
		return Packet{}, syntaxErr(off, ErrEmptyPacket)
	}
	t, ok := typeFromDigit(b[1])
	if !ok {
		return Packet{}, syntaxErr(off+1, ErrUnknownType)
	}
	return decodeBase64(t, b[2:], off+2)
}

// V3 binary payloads (XHR2 clients of protocol 3 that post
// application/octet-stream): each packet is a kind byte (0 string, 1
// binary), its byte length as one byte per decimal digit, 0xFF, then the
// packet; a binary packet is a type byte followed by raw data.
const (
	binaryKindString = 0
	binaryKindBinary = 1
	binaryLengthEnd  = 0xFF
)

// AppendBinaryPayload appends pkts as a V3 binary payload to dst.
func AppendBinaryPayload(dst []byte, pkts []Packet) []byte {
	var digits [20]byte
	for _, p := range pkts {
		kind := byte(binaryKindString)
		if p.Binary {
			kind = binaryKindBinary
		}
		dst = append(dst, kind)
		for _, d := range strconv.AppendInt(digits[:0], int64(1+len(p.Data)), 10) {
			dst = append(dst, d-'0')
		}
		dst = append(dst, binaryLengthEnd)
		if p.Binary {
			dst = append(dst, byte(p.Type))
		} else {
			dst = append(dst, '0'+byte(p.Type))
		}
		dst = append(dst, p.Data...)
	}
	return dst
}

// DecodeBinaryPayload decodes a V3 binary payload and appends its packets to
// dst. Data of every packet aliases payload, capped as in [DecodePayload].
func DecodeBinaryPayload(payload []byte, lim Limits, dst []Packet) ([]Packet, error) {
	if len(payload) == 0 {
		return dst, syntaxErr(0, ErrEmptyPayload)
	}
	if err := lim.checkBytes(len(payload)); err != nil {
		return dst, err
	}
	count := 0
	for off := 0; off < len(payload); {
		start := off
		kind := payload[off]
		if kind != binaryKindString && kind != binaryKindBinary {
			return dst, syntaxErr(off, ErrBadLength)
		}
		off++
		// int64: 10 digits overflow a 32-bit int.
		n64, digits := int64(0), 0
		for ; off < len(payload) && payload[off] != binaryLengthEnd; off++ {
			d := payload[off]
			if d > 9 || digits == maxLengthDigits {
				return dst, syntaxErr(off, ErrBadLength)
			}
			n64 = n64*10 + int64(d)
			digits++
		}
		if digits == 0 || off >= len(payload) {
			return dst, syntaxErr(start, ErrBadLength)
		}
		off++
		if n64 > int64(len(payload)-off) {
			return dst, syntaxErr(off, ErrTruncated)
		}
		n := int(n64)
		count++
		if err := lim.checkCount(count, start); err != nil {
			return dst, err
		}
		body := payload[off : off+n : off+n]
		var p Packet
		var err error
		if kind == binaryKindString {
			p, err = decodeText(body, off)
		} else {
			p, err = DecodeFrame(body, true, V3)
			if err != nil {
				err = syntaxErr(off, errors.Unwrap(err))
			}
		}
		if err != nil {
			return dst, err
		}
		dst = append(dst, p)
		off += n
	}
	return dst, nil
}
