package actor

import (
	"context"
	"errors"
	"math"
	"sync"
)

// Errors returned by [Mailbox] operations.
var (
	ErrFull   = errors.New("actor: mailbox full")
	ErrClosed = errors.New("actor: mailbox closed")
)

// Mailbox is a bounded FIFO queue of T from any number of senders to its
// owner. It is bounded by a count and, optionally, by the sum of a size
// function over its items (bytes).
//
// Senders choose how to meet a full mailbox: [Mailbox.TrySend] reports
// [ErrFull] at once, [Mailbox.Send] waits for room or for its context. The
// owner receives one item at a time with [Mailbox.Recv] or everything queued
// at once with [Mailbox.Drain] after a wake-up on [Mailbox.Ready].
//
// [Mailbox.Close] stops new sends (they get [ErrClosed], never a panic);
// receivers still get everything queued before the close, then [ErrClosed].
//
// A server keeps several mailboxes for each of its many mostly idle
// sessions, so the struct is kept to 96 bytes: counts are int32, and the
// ring is allocated on the first send.
type Mailbox[T any] struct {
	mu       sync.Mutex
	ring     []T // len(ring) is the current ring capacity, grown on demand
	head     int32
	n        int32
	capacity int32
	waiting  int32 // senders blocked in Send
	bytes    int32 // sum of sizeOf over the queued items
	maxBytes int32
	closed   bool
	size     func(T) int
	ready    chan struct{} // capacity 1, made by the first Ready or Recv wait; a value or a close means "look again"
	space    chan struct{} // capacity 1, made when a sender first waits
	notify   func()        // see SetNotify
}

// clampInt32 bounds a count or byte size to what the mailbox stores.
func clampInt32(v int) int32 { return int32(min(v, math.MaxInt32)) }

// NewMailbox returns a mailbox that holds at most capacity items
// (capacity < 1 means 1).
func NewMailbox[T any](capacity int) *Mailbox[T] {
	if capacity < 1 {
		capacity = 1
	}
	return &Mailbox[T]{capacity: clampInt32(capacity)}
}

// SetNotify makes the mailbox call f whenever a send turns it from empty to
// non-empty, and once on Close: the hook by which a [Runner] gets its
// actor scheduled. f runs on the sender's goroutine, outside the mailbox's
// lock, and must not block. Call SetNotify before the mailbox is shared.
func (m *Mailbox[T]) SetNotify(f func()) { m.notify = f }

// NewSizedMailbox returns a mailbox that holds at most capacity items whose
// sizes, as measured by size, sum to at most maxBytes (at most 2 GiB; an
// item counts for at most that much). An item larger than
// maxBytes is accepted only into an empty mailbox, so that it can pass at
// all; callers that must refuse such items check their size first. size
// is called on send and again on receive, so it must give the same answer
// for the same item.
func NewSizedMailbox[T any](capacity, maxBytes int, size func(T) int) *Mailbox[T] {
	m := NewMailbox[T](capacity)
	if maxBytes > 0 && size != nil {
		m.maxBytes, m.size = clampInt32(maxBytes), size
	}
	return m
}

// fits reports whether an item of n bytes can be queued now. Called with mu
// held.
func (m *Mailbox[T]) fits(n int32) bool {
	if m.n >= m.capacity {
		return false
	}
	return m.maxBytes == 0 || m.n == 0 || int64(m.bytes)+int64(n) <= int64(m.maxBytes)
}

// push queues v and reports whether the mailbox was empty. Called with mu
// held and room checked.
func (m *Mailbox[T]) push(v T, n int32) (wasEmpty bool) {
	if int(m.n) == len(m.ring) {
		m.grow()
	}
	m.ring[int(m.head+m.n)%len(m.ring)] = v
	m.n++
	m.bytes += n
	if m.n == 1 {
		// Signal under the lock so that Close cannot close ready between
		// the push and the signal.
		m.signalReady()
		return true
	}
	return false
}

// signalReady wakes the owner if it waits on ready. Called with mu held.
func (m *Mailbox[T]) signalReady() {
	if m.ready != nil && !m.closed {
		select {
		case m.ready <- struct{}{}:
		default:
		}
	}
}

// readyLocked returns the ready channel, making it on first use (already
// signalled if items wait, closed if the mailbox is). Called with mu held.
func (m *Mailbox[T]) readyLocked() chan struct{} {
	if m.ready == nil {
		m.ready = make(chan struct{}, 1)
		switch {
		case m.closed:
			close(m.ready)
		case m.n > 0:
			m.ready <- struct{}{}
		}
	}
	return m.ready
}

func (m *Mailbox[T]) grow() {
	// From one item, doubling: a mostly idle owner holds one item at a
	// time, and a busy one reaches its steady size in a few sends.
	size := 2 * len(m.ring)
	if size == 0 {
		size = 1
	}
	size = min(size, int(m.capacity))
	ring := make([]T, size)
	for i := 0; i < int(m.n); i++ {
		ring[i] = m.ring[(int(m.head)+i)%len(m.ring)]
	}
	m.ring, m.head = ring, 0
}

func (m *Mailbox[T]) sizeOf(v T) int32 {
	if m.size == nil {
		return 0
	}
	return clampInt32(m.size(v))
}

// TrySend queues v without waiting. It returns [ErrFull] if the mailbox is
// at its count or byte bound and [ErrClosed] after Close.
func (m *Mailbox[T]) TrySend(v T) error {
	n := m.sizeOf(v)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	if !m.fits(n) {
		m.mu.Unlock()
		return ErrFull
	}
	wasEmpty := m.push(v, n)
	m.mu.Unlock()
	if wasEmpty && m.notify != nil {
		m.notify()
	}
	return nil
}

// TrySendAll queues vs as one unit without waiting: all of them, in order
// and with no other item between them, or none. It returns [ErrFull] if
// they do not all fit, counted together against both bounds (a unit over
// the byte bound is accepted only into an empty mailbox, as a single item
// is), and [ErrClosed] after Close.
func (m *Mailbox[T]) TrySendAll(vs []T) error {
	if len(vs) == 0 {
		return nil
	}
	sizes := make([]int32, len(vs))
	var total int64
	for i, v := range vs {
		sizes[i] = m.sizeOf(v)
		total += int64(sizes[i])
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	if int64(m.n)+int64(len(vs)) > int64(m.capacity) || total > math.MaxInt32-int64(m.bytes) ||
		m.maxBytes > 0 && m.n > 0 && int64(m.bytes)+total > int64(m.maxBytes) {
		m.mu.Unlock()
		return ErrFull
	}
	wasEmpty := m.n == 0
	for i, v := range vs {
		m.push(v, sizes[i])
	}
	m.mu.Unlock()
	if wasEmpty && m.notify != nil {
		m.notify()
	}
	return nil
}

// Send queues v, waiting while the mailbox is full. It returns ctx.Err() if
// ctx ends first and [ErrClosed] if the mailbox is or becomes closed; in
// both cases v was not queued.
func (m *Mailbox[T]) Send(ctx context.Context, v T) error {
	n := m.sizeOf(v)
	m.mu.Lock()
	for {
		if m.closed {
			m.mu.Unlock()
			return ErrClosed
		}
		if m.fits(n) {
			wasEmpty := m.push(v, n)
			if m.waiting > 0 && m.n < m.capacity {
				// Pass the wake-up on to the next waiting sender.
				m.signalSpace()
			}
			m.mu.Unlock()
			if wasEmpty && m.notify != nil {
				m.notify()
			}
			return nil
		}
		if m.space == nil {
			m.space = make(chan struct{}, 1)
		}
		space := m.space
		m.waiting++
		m.mu.Unlock()
		var err error
		select {
		case <-space:
		case <-ctx.Done():
			err = ctx.Err()
		}
		m.mu.Lock()
		m.waiting--
		if err != nil {
			m.mu.Unlock()
			return err
		}
	}
}

// signalSpace wakes one waiting sender. Called with mu held.
func (m *Mailbox[T]) signalSpace() {
	if m.space != nil && !m.closed {
		select {
		case m.space <- struct{}{}:
		default:
		}
	}
}

// pop removes the oldest item. Called with mu held and m.n > 0.
func (m *Mailbox[T]) pop() T {
	var zero T
	v := m.ring[m.head]
	m.ring[m.head] = zero
	m.head = int32((int(m.head) + 1) % len(m.ring))
	m.n--
	m.bytes -= m.sizeOf(v)
	return v
}

// TryRecv returns the oldest item without waiting; ok is false if the
// mailbox is empty.
func (m *Mailbox[T]) TryRecv() (v T, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n == 0 {
		return v, false
	}
	v = m.pop()
	m.afterRecv()
	return v, true
}

// afterRecv wakes whoever may be waiting for the state a receive leaves.
// Called with mu held.
func (m *Mailbox[T]) afterRecv() {
	if m.waiting > 0 {
		m.signalSpace()
	}
	if m.n > 0 {
		// Another receiver may be waiting on ready for the rest.
		m.signalReady()
	}
}

// Recv returns the oldest item, waiting until there is one. After Close it
// returns the items still queued and then [ErrClosed]; it returns ctx.Err()
// if ctx ends first.
func (m *Mailbox[T]) Recv(ctx context.Context) (T, error) {
	for {
		m.mu.Lock()
		if m.n > 0 {
			v := m.pop()
			m.afterRecv()
			m.mu.Unlock()
			return v, nil
		}
		closed := m.closed
		ready := m.readyLocked()
		m.mu.Unlock()
		if closed {
			var zero T
			return zero, ErrClosed
		}
		select {
		case <-ready:
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
}

// Ready returns a channel that receives (or is closed) whenever the mailbox
// may have items for its owner or has been closed. A wake-up can be stale:
// after one, call [Mailbox.Drain] or [Mailbox.TryRecv] and accept finding
// nothing.
func (m *Mailbox[T]) Ready() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.readyLocked()
}

// Drain appends every queued item to dst, oldest first, and returns it. It
// never waits. It returns [ErrClosed] only when the mailbox is closed and
// nothing was left to drain.
func (m *Mailbox[T]) Drain(dst []T) ([]T, error) {
	return m.DrainMax(dst, -1)
}

// DrainMax is Drain taking at most max items (max < 0: no limit); the rest
// stay queued, and Ready fires again for them.
func (m *Mailbox[T]) DrainMax(dst []T, max int) ([]T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n == 0 {
		if m.closed {
			return dst, ErrClosed
		}
		return dst, nil
	}
	for taken := 0; m.n > 0 && taken != max; taken++ {
		dst = append(dst, m.pop())
	}
	m.afterRecv()
	return dst, nil
}

// Close stops the mailbox accepting items and wakes every waiting sender
// (they return [ErrClosed]) and receiver. It is idempotent.
func (m *Mailbox[T]) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	if m.ready != nil {
		close(m.ready)
	}
	if m.space != nil {
		close(m.space)
	}
	m.mu.Unlock()
	if m.notify != nil {
		m.notify()
	}
}

// Trim lets go of the queue's memory if the mailbox is empty; the next
// send makes it again. An owner of many mostly idle mailboxes calls it when
// one goes quiet, so that a burst of work does not stay allocated for the
// rest of a long idle life. Safe from any goroutine.
func (m *Mailbox[T]) Trim() {
	m.mu.Lock()
	if m.n == 0 {
		m.ring, m.head = nil, 0
	}
	m.mu.Unlock()
}

// Len returns the number of queued items.
func (m *Mailbox[T]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int(m.n)
}

// Bytes returns the summed size of the queued items (0 without a size
// function).
func (m *Mailbox[T]) Bytes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int(m.bytes)
}
