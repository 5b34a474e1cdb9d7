// Package wsbuf helps programs that batch WebSocket writes behind a
// buffered reader (the benchmark's baseline server and load generator)
// decide when to flush.
package wsbuf

import "bufio"

// FullFrameBuffered reports whether r holds a whole frame, so that reading
// it will not block. Writers flush before any read that may block:
// flushing only when the read buffer is empty deadlocks when both peers
// hold half a frame.
func FullFrameBuffered(r *bufio.Reader) bool {
	b, _ := r.Peek(r.Buffered())
	if len(b) < 2 {
		return false
	}
	n, length := 2, int(b[1]&0x7f)
	switch length {
	case 126:
		n += 2
		if len(b) < n {
			return false
		}
		length = int(b[2])<<8 | int(b[3])
	case 127:
		n += 8
		if len(b) < n {
			return false
		}
		length = 0
		for _, c := range b[2:10] {
			length = length<<8 | int(c)
		}
	}
	if b[1]&0x80 != 0 {
		n += 4
	}
	return len(b)-n >= length
}
