package codec

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Handshake is the body of the open packet. Durations are in milliseconds,
// as on the wire.
type Handshake struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int64    `json:"maxPayload"`
}

// AppendHandshake appends h as the JSON object of an open packet, with
// exactly the keys sid, upgrades, pingInterval, pingTimeout and maxPayload,
// in that order. It does not allocate beyond growing dst.
func AppendHandshake(dst []byte, h Handshake) []byte {
	dst = appendHandshakeKeys(dst, h)
	dst = append(dst, `,"maxPayload":`...)
	dst = strconv.AppendInt(dst, h.MaxPayload, 10)
	return append(dst, '}')
}

// AppendHandshakeV3 appends h as the JSON object of a protocol 3 open
// packet: as [AppendHandshake] but without maxPayload, which protocol 3
// does not have (the Node engine.io 3.x server sends none). h.MaxPayload is
// ignored.
func AppendHandshakeV3(dst []byte, h Handshake) []byte {
	return append(appendHandshakeKeys(dst, h), '}')
}

// appendHandshakeKeys appends the keys the open packets of both protocols
// share, without the closing brace.
func appendHandshakeKeys(dst []byte, h Handshake) []byte {
	dst = append(dst, `{"sid":`...)
	dst = appendJSONString(dst, h.SID)
	dst = append(dst, `,"upgrades":[`...)
	for i, u := range h.Upgrades {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, u)
	}
	dst = append(dst, `],"pingInterval":`...)
	dst = strconv.AppendInt(dst, h.PingInterval, 10)
	dst = append(dst, `,"pingTimeout":`...)
	return strconv.AppendInt(dst, h.PingTimeout, 10)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		default:
			dst = append(dst, c)
		}
		i++
	}
	return append(dst, '"')
}

// ParseHandshake decodes the JSON body of an open packet. It requires a
// non-empty sid and positive pingInterval and pingTimeout; maxPayload is
// optional (older servers omit it) and is zero when absent.
func ParseHandshake(data []byte) (Handshake, error) {
	var raw struct {
		SID          *string  `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval *int64   `json:"pingInterval"`
		PingTimeout  *int64   `json:"pingTimeout"`
		MaxPayload   int64    `json:"maxPayload"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Handshake{}, syntaxErr(0, ErrBadHandshake)
	}
	if raw.SID == nil || *raw.SID == "" || raw.PingInterval == nil || *raw.PingInterval <= 0 ||
		raw.PingTimeout == nil || *raw.PingTimeout <= 0 || raw.MaxPayload < 0 {
		return Handshake{}, syntaxErr(0, ErrBadHandshake)
	}
	return Handshake{
		SID:          *raw.SID,
		Upgrades:     raw.Upgrades,
		PingInterval: *raw.PingInterval,
		PingTimeout:  *raw.PingTimeout,
		MaxPayload:   raw.MaxPayload,
	}, nil
}
