package transport

import "sync"

// Write buffers are pooled: every write borrows one for the time of the
// write and returns it. Buffers that grew past maxPooledBuffer (a large
// message) are dropped rather than kept alive in the pool.
const (
	initialBuffer   = 4096
	maxPooledBuffer = 64 << 10
)

var buffers = sync.Pool{New: func() any {
	b := make([]byte, 0, initialBuffer)
	return &b
}}

// AcquireBuffer borrows an empty buffer from the pool. The caller owns it
// until it passes it to [ReleaseBuffer]; after that it must not touch it.
func AcquireBuffer() *[]byte { return getBuffer() }

// ReleaseBuffer returns a buffer from [AcquireBuffer] to the pool.
func ReleaseBuffer(b *[]byte) { putBuffer(b) }

func getBuffer() *[]byte {
	b := buffers.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

func putBuffer(b *[]byte) {
	if cap(*b) > maxPooledBuffer {
		return
	}
	*b = (*b)[:0]
	buffers.Put(b)
}
