package transport

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// Memory follows bytes received. A WebSocket frame header and a
// Content-Length only declare a length; a peer can declare a megabyte and
// send nothing. A message or body is therefore read into a buffer that
// grows as its bytes arrive: from a pooled 4 KiB, doubling through pooled
// sizes up to 64 KiB and then on the heap, each step taken only once the
// last is full. So it holds at most about twice the bytes received, plus
// 4 KiB. Once the declared end of a message is no more than twice what has
// arrived, the last step is exactly the declared end, which the caller
// then gets without a copy. Before the first byte of a frame's payload has
// arrived, a WebSocket holds no buffer at all (see connReader.await).
// Model: gobwas/ws saferio.ReadN; Node ws receiver.js.

// Receive buffers are pooled by size class: recvClasses sizes from
// initialBuffer to maxPooledBuffer, each twice the last, so that a buffer
// taken for n bytes is never more than twice n.
const recvClasses = 5 // 4, 8, 16, 32 and 64 KiB

var recvPools [recvClasses]sync.Pool

// recvClass returns the class of the smallest pooled size of at least n
// bytes, or -1 if n is over maxPooledBuffer.
func recvClass(n int) int {
	for c, size := 0, initialBuffer; c < recvClasses; c, size = c+1, size*2 {
		if n <= size {
			return c
		}
	}
	return -1
}

func getRecvBuffer(class int) *[]byte {
	if b, ok := recvPools[class].Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, initialBuffer<<class)
	return &b
}

func putRecvBuffer(b *[]byte) {
	if c := recvClass(cap(*b)); c >= 0 && cap(*b) == initialBuffer<<c {
		*b = (*b)[:0]
		recvPools[c].Put(b)
	}
}

// ErrReadBudget is returned by [WebSocket.ReadMessage] and [ReadBody] when
// the [ReadBudget] they share has no room left for the bytes arriving. A
// WebSocket has answered it with close code 1013 (try again later).
var ErrReadBudget = errors.New("transport: receive budget exhausted")

// ReadBudget bounds the memory that messages and bodies still arriving
// hold, summed over every [WebSocket] and [ReadBody] call that shares it:
// a server-wide bound on bytes in flight. Each receive buffer takes its
// size from the budget as it grows and gives it back once the message is
// complete (handed to the caller) or failed; a read that would pass the
// limit fails with [ErrReadBudget]. A nil *ReadBudget bounds nothing. It
// is safe for concurrent use.
type ReadBudget struct {
	limit int64
	used  atomic.Int64
}

// NewReadBudget returns a budget of limit bytes; limit <= 0 means none
// (the same as a nil budget).
func NewReadBudget(limit int64) *ReadBudget {
	if limit <= 0 {
		return nil
	}
	return &ReadBudget{limit: limit}
}

// InUse returns the bytes the budget's receive buffers hold now.
func (b *ReadBudget) InUse() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

func (b *ReadBudget) take(n int64) bool {
	if b == nil {
		return true
	}
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *ReadBudget) give(n int64) {
	if b != nil && n != 0 {
		b.used.Add(-n)
	}
}

// recvBuffer collects one message or body as its bytes arrive. The zero
// value, with limit and budget set, is ready; release it when done.
type recvBuffer struct {
	b      []byte
	pooled *[]byte     // the pool's handle of b's array while b is pooled
	limit  int64       // b never grows past this many bytes
	budget *ReadBudget // nil: none
	held   int64       // bytes taken from budget
}

// readN appends exactly n bytes read from r. final says that they end the
// message, so that the buffer may grow to exactly its end.
func (m *recvBuffer) readN(r io.Reader, n int64, final bool) error {
	for n > 0 {
		if len(m.b) == cap(m.b) {
			if err := m.grow(n, final); err != nil {
				return err
			}
		}
		room := m.b[len(m.b):cap(m.b)]
		if int64(len(room)) > n {
			room = room[:n]
		}
		k, err := r.Read(room)
		m.b = m.b[:len(m.b)+k]
		n -= int64(k)
		if n > 0 && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// readAll appends what r has until io.EOF.
func (m *recvBuffer) readAll(r io.Reader) error {
	for {
		if len(m.b) == cap(m.b) {
			if err := m.grow(1, false); err != nil {
				return err
			}
		}
		k, err := r.Read(m.b[len(m.b):cap(m.b)])
		m.b = m.b[:len(m.b)+k]
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// grow makes room for at least one more of the need bytes still to come:
// twice the room it has (4 KiB to start), or exactly len+need when that is
// no more and they are final.
func (m *recvBuffer) grow(need int64, final bool) error {
	have := int64(len(m.b))
	size := max(2*int64(cap(m.b)), initialBuffer)
	exact := final && have+need <= size
	if exact {
		size = have + need
	}
	if size > m.limit {
		size = m.limit
	}
	if size <= int64(cap(m.b)) {
		return ErrMessageTooBig // the caller checks limits first: not reached
	}
	var nb []byte
	var handle *[]byte
	if c := recvClass(int(size)); c >= 0 && !exact {
		handle = getRecvBuffer(c)
		nb = (*handle)[:0]
	} else {
		nb = make([]byte, 0, size)
	}
	delta := int64(cap(nb) - cap(m.b))
	if !m.budget.take(delta) {
		if handle != nil {
			putRecvBuffer(handle)
		}
		return ErrReadBudget
	}
	m.held += delta
	nb = append(nb, m.b...)
	if m.pooled != nil {
		*m.pooled = m.b
		putRecvBuffer(m.pooled)
	}
	m.b, m.pooled = nb, handle
	if handle != nil {
		*handle = nb
	}
	return nil
}

// bytes returns what has been collected, valid until the next call.
func (m *recvBuffer) bytes() []byte { return m.b }

// take returns what has been collected as a slice of its own, which the
// caller keeps, and releases the buffer: the buffer itself when it is
// exactly the message, a copy otherwise.
func (m *recvBuffer) take() []byte {
	var data []byte
	if m.pooled == nil && len(m.b) == cap(m.b) && m.b != nil {
		data = m.b
		m.b = nil
	} else {
		data = make([]byte, len(m.b))
		copy(data, m.b)
	}
	m.release()
	return data
}

// release gives the buffer back, to the pool if it came from there, and
// its bytes back to the budget.
func (m *recvBuffer) release() {
	if m.pooled != nil {
		*m.pooled = m.b
		putRecvBuffer(m.pooled)
		m.pooled = nil
	}
	m.b = nil
	m.budget.give(m.held)
	m.held = 0
}
