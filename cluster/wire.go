package cluster

import (
	"encoding/binary"
	"errors"
)

// The messages nodes exchange over NATS. Every one is a byte string that
// starts with a kind byte; strings are length-prefixed with one byte
// (node ids are at most 64 bytes, session ids at most 255), integers are
// big-endian uint64.
//
//	heartbeat  P.hb             kind ('h' beat, 'j' join: answer with a beat, 'b' bye) | id | incarnation(8)
//	broadcast  P.bc             from | binary(1) | data
//	rpc        P.n.<id>.rpc     op | ...          request-reply; the reply is one code byte
//	             send/binary    op | sid | data
//	             disconnect     op | sid
//	             open tunnel    op | dialer | tunnel id
//	             ping           op
//	tunnel     P.n.<id>.t       kind|side | from | tunnel id | (data: seq | bytes) (ack: consumed)
//
// P is Options.Subject. A tunnel frame's side bit says whether the dialing
// end sent it, so that the receiver knows which end of its tunnel it is for.

var errMalformed = errors.New("cluster: malformed message")

// Heartbeat kinds.
const (
	beatAlive = 'h'
	beatJoin  = 'j'
	beatBye   = 'b'
)

// RPC operations.
const (
	opSend       = 's'
	opSendBinary = 'y'
	opDisconnect = 'd'
	opOpen       = 'o'
	opPing       = 'p'
)

// replyCode is the answer to an RPC: one byte.
type replyCode byte

const (
	codeOK replyCode = iota
	codeUnknownSession
	codeSessionClosed
	codeSlowConsumer
	codeServerClosed
	codeBadRequest
	codeBusy
)

// Tunnel frame kinds; fromDialer is or-ed in by the dialing end.
const (
	frameData  = 'd'
	frameAck   = 'a'
	frameClose = 'c'
	fromDialer = 0x80
)

// frameHeaderMax bounds a tunnel frame's header: kind, from (1+64), tunnel
// id, sequence number.
const frameHeaderMax = 1 + 1 + maxNodeID + 8 + 8

func appendString(b []byte, s string) []byte {
	b = append(b, byte(len(s)))
	return append(b, s...)
}

func readString(b []byte) (string, []byte, error) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return "", nil, errMalformed
	}
	n := int(b[0])
	return string(b[1 : 1+n]), b[1+n:], nil
}

func readUint64(b []byte) (uint64, []byte, error) {
	if len(b) < 8 {
		return 0, nil, errMalformed
	}
	return binary.BigEndian.Uint64(b), b[8:], nil
}

// heartbeat is a decoded heartbeat message.
type heartbeat struct {
	kind        byte
	id          string
	incarnation uint64
}

func appendHeartbeat(b []byte, h heartbeat) []byte {
	b = append(b, h.kind)
	b = appendString(b, h.id)
	return binary.BigEndian.AppendUint64(b, h.incarnation)
}

func decodeHeartbeat(b []byte) (heartbeat, error) {
	var h heartbeat
	if len(b) < 1 {
		return h, errMalformed
	}
	h.kind = b[0]
	if h.kind != beatAlive && h.kind != beatJoin && h.kind != beatBye {
		return h, errMalformed
	}
	var err error
	if h.id, b, err = readString(b[1:]); err != nil {
		return h, err
	}
	if !validNodeID(h.id) {
		return h, errMalformed
	}
	if h.incarnation, b, err = readUint64(b); err != nil {
		return h, err
	}
	if len(b) != 0 {
		return h, errMalformed
	}
	return h, nil
}

// broadcast is a decoded broadcast message. data aliases the message.
type broadcast struct {
	from   string
	binary bool
	data   []byte
}

func appendBroadcast(b []byte, m broadcast) []byte {
	b = appendString(b, m.from)
	if m.binary {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return append(b, m.data...)
}

func decodeBroadcast(b []byte) (broadcast, error) {
	var m broadcast
	var err error
	if m.from, b, err = readString(b); err != nil {
		return m, err
	}
	if len(b) < 1 || b[0] > 1 {
		return m, errMalformed
	}
	m.binary = b[0] == 1
	m.data = b[1:]
	return m, nil
}

// rpc is a decoded RPC request. data aliases the message.
type rpc struct {
	op     byte
	sid    string // send, disconnect
	data   []byte // send
	dialer string // open
	tunnel uint64 // open
}

func appendRPC(b []byte, r rpc) []byte {
	b = append(b, r.op)
	switch r.op {
	case opSend, opSendBinary:
		b = appendString(b, r.sid)
		b = append(b, r.data...)
	case opDisconnect:
		b = appendString(b, r.sid)
	case opOpen:
		b = appendString(b, r.dialer)
		b = binary.BigEndian.AppendUint64(b, r.tunnel)
	}
	return b
}

func decodeRPC(b []byte) (rpc, error) {
	var r rpc
	if len(b) < 1 {
		return r, errMalformed
	}
	r.op, b = b[0], b[1:]
	var err error
	switch r.op {
	case opSend, opSendBinary:
		if r.sid, b, err = readString(b); err != nil {
			return r, err
		}
		r.data = b
	case opDisconnect:
		if r.sid, b, err = readString(b); err != nil {
			return r, err
		}
		if len(b) != 0 {
			return r, errMalformed
		}
	case opOpen:
		if r.dialer, b, err = readString(b); err != nil {
			return r, err
		}
		if !validNodeID(r.dialer) {
			return r, errMalformed
		}
		if r.tunnel, b, err = readUint64(b); err != nil {
			return r, err
		}
		if len(b) != 0 {
			return r, errMalformed
		}
	case opPing:
		if len(b) != 0 {
			return r, errMalformed
		}
	default:
		return r, errMalformed
	}
	return r, nil
}

// frame is a decoded tunnel frame. data aliases the message.
type frame struct {
	kind       byte // frameData, frameAck, frameClose
	fromDialer bool
	from       string
	tunnel     uint64
	seq        uint64 // data: the frame's number; ack: bytes consumed
	data       []byte
}

// appendFrameHeader appends everything of a frame but its data.
func appendFrameHeader(b []byte, f frame) []byte {
	k := f.kind
	if f.fromDialer {
		k |= fromDialer
	}
	b = append(b, k)
	b = appendString(b, f.from)
	b = binary.BigEndian.AppendUint64(b, f.tunnel)
	if f.kind != frameClose {
		b = binary.BigEndian.AppendUint64(b, f.seq)
	}
	return b
}

func decodeFrame(b []byte) (frame, error) {
	var f frame
	if len(b) < 1 {
		return f, errMalformed
	}
	f.kind, f.fromDialer = b[0]&^fromDialer, b[0]&fromDialer != 0
	b = b[1:]
	var err error
	if f.from, b, err = readString(b); err != nil {
		return f, err
	}
	if !validNodeID(f.from) {
		return f, errMalformed
	}
	if f.tunnel, b, err = readUint64(b); err != nil {
		return f, err
	}
	switch f.kind {
	case frameData:
		if f.seq, b, err = readUint64(b); err != nil {
			return f, err
		}
		f.data = b
	case frameAck:
		if f.seq, b, err = readUint64(b); err != nil {
			return f, err
		}
		if len(b) != 0 {
			return f, errMalformed
		}
	case frameClose:
		if len(b) != 0 {
			return f, errMalformed
		}
	default:
		return f, errMalformed
	}
	return f, nil
}
