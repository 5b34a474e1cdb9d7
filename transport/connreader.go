package transport

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chanio/chanio/actor"
)

// connReader is the read side of a connection, buffered only while it has
// bytes buffered. An idle connection holds no buffer: on a connection that
// exposes its file descriptor, the reading goroutine parks in the runtime's
// network poller and borrows a pooled buffer only once data has arrived.
// That is what lets a server hold many idle WebSockets in a few KiB each.
type connReader struct {
	conn net.Conn
	raw  syscall.RawConn // nil when conn has no descriptor (TLS): then a buffer is held while waiting
	buf  *[]byte         // pooled; nil whenever r == w
	r, w int
	err  error // a read error to report once the buffered bytes are gone

	// idle, once WaitReadable has set it, keeps a read deadline about idle
	// ahead; a read that meets it mid-message moves it on and goes on.
	idle     time.Duration
	deadline actor.Instant

	// For a Poller: the poller and the token of the current park (0 when
	// none), which Close fires.
	poller      atomic.Pointer[Poller]
	parkedToken atomic.Uint64

	// drained: the last read on the poller's goroutine (tryFill) found
	// nothing behind what it read, so that the connection can park again
	// once the buffer is used up. Any other read clears it.
	drained bool
}

// ErrIdle is returned by [WebSocket.WaitReadable] when no data came in the
// time given.
var ErrIdle = errors.New("transport: connection idle")

// directRead is the size from which a read goes straight into the caller's
// slice (a large message) instead of through a pooled buffer.
const directRead = initialBuffer

// init readies cr to read conn, starting with what br has buffered.
func (cr *connReader) init(conn net.Conn, br *bufio.Reader) {
	cr.conn = conn
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			cr.raw = raw
		}
	}
	if br != nil && br.Buffered() > 0 {
		// Bytes the handshake read past its end: keep them, not the
		// handshake's reader.
		pre, _ := br.Peek(br.Buffered())
		b := getBuffer()
		*b = append((*b)[:0], pre...)
		cr.buf, cr.w = b, len(pre)
	}
}

// Buffered returns how many bytes can be read without touching the
// connection.
func (cr *connReader) Buffered() int { return cr.w - cr.r }

// Read implements io.Reader.
func (cr *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if cr.r == cr.w {
		if cr.err != nil {
			err := cr.err
			cr.err = nil
			return 0, err
		}
		if len(p) >= directRead {
			// A large body: no point copying it through a buffer.
			for {
				n, err := cr.conn.Read(p)
				if n > 0 || !cr.extendDeadline(err) {
					return n, err
				}
			}
		}
		for {
			err := cr.fill()
			if err == nil {
				break
			}
			if !cr.extendDeadline(err) {
				return 0, err
			}
		}
	}
	n := copy(p, (*cr.buf)[cr.r:cr.w])
	cr.r += n
	if cr.r == cr.w {
		cr.release()
	}
	return n, nil
}

// await waits until at least one byte can be read without touching the
// connection, holding no buffer while it waits: a frame header that
// declares a payload and stalls costs its reader nothing more.
func (cr *connReader) await() error {
	for cr.r == cr.w {
		if cr.err != nil {
			err := cr.err
			cr.err = nil
			return err
		}
		err := cr.fill()
		if err != nil && !cr.extendDeadline(err) {
			return err
		}
	}
	return nil
}

func (cr *connReader) release() {
	if cr.buf != nil {
		putBuffer(cr.buf)
		cr.buf = nil
	}
	cr.r, cr.w = 0, 0
}

// fill waits for data and reads what has arrived into a pooled buffer.
func (cr *connReader) fill() error {
	cr.drained = false
	if cr.raw == nil {
		b := getBuffer()
		n, err := cr.conn.Read((*b)[:cap(*b)])
		if n <= 0 {
			putBuffer(b)
			if err == nil {
				err = io.ErrNoProgress
			}
			return err
		}
		cr.buf, cr.r, cr.w, cr.err = b, 0, n, err
		return nil
	}
	var (
		b    *[]byte
		n    int
		rerr error
	)
	// The function runs once at once and again each time the poller says
	// the descriptor is readable; the buffer is held only while reading.
	err := cr.raw.Read(func(fd uintptr) bool {
		b = getBuffer()
		for {
			n, rerr = syscall.Read(int(fd), (*b)[:cap(*b)])
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			putBuffer(b)
			b = nil
			return false
		}
		return true
	})
	switch {
	case err != nil: // closed, or past a read deadline
		if b != nil {
			putBuffer(b)
		}
		return err
	case rerr != nil:
		putBuffer(b)
		return cr.readError(rerr)
	case n == 0:
		putBuffer(b)
		return io.EOF
	}
	cr.buf, cr.r, cr.w = b, 0, n
	return nil
}

// readError is what a read of the descriptor that failed with errno
// returns, as net.Conn's Read would.
func (cr *connReader) readError(errno error) error {
	return &net.OpError{Op: "read", Net: cr.conn.LocalAddr().Network(), Source: cr.conn.LocalAddr(),
		Addr: cr.conn.RemoteAddr(), Err: os.NewSyscallError("read", errno)}
}

// tryFill reads what has already arrived into a pooled buffer, without
// waiting and without the read deadline (a parked connection's has
// passed). It reports whether it read anything; drained says the read
// took less than the buffer holds, so that the socket had nothing more at
// that moment. Only the one reader of the connection calls it, as fill.
func (cr *connReader) tryFill() (got, drained bool, err error) {
	if cr.raw == nil {
		return false, false, ErrNotPollable
	}
	b := getBuffer()
	var (
		n    int
		rerr error
	)
	// Control, not Read: Read would wait in the runtime's poller (and
	// check the deadline); here the descriptor is only borrowed for one
	// non-blocking read.
	err = cr.raw.Control(func(fd uintptr) {
		for {
			n, rerr = syscall.Read(int(fd), (*b)[:cap(*b)])
			if rerr != syscall.EINTR {
				return
			}
		}
	})
	switch {
	case err == nil && rerr == syscall.EAGAIN:
		putBuffer(b)
		return false, true, nil
	case err != nil:
		putBuffer(b)
		return false, false, err
	case rerr != nil:
		putBuffer(b)
		return false, false, cr.readError(rerr)
	case n == 0:
		putBuffer(b)
		return false, false, io.EOF
	}
	cr.buf, cr.r, cr.w = b, 0, n
	return true, n < cap(*b), nil
}

// waitReadable waits until data can be read, for at most d, holding no
// buffer while it waits. It returns ErrIdle after d without data.
func (cr *connReader) waitReadable(d time.Duration) error {
	if cr.r < cr.w {
		return nil
	}
	if cr.err != nil {
		// A read on the poller's goroutine met it (tryFill): a second
		// read might not (a reset reads as EOF after its first report).
		err := cr.err
		cr.err = nil
		return err
	}
	cr.idle = d
	cr.moveDeadline(false)
	err := cr.fill()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ErrIdle
	}
	return err
}

// stopIdle drops the idle deadline: reads wait without one from now on.
func (cr *connReader) stopIdle() {
	if cr.idle == 0 {
		return
	}
	cr.idle, cr.deadline = 0, 0
	_ = cr.conn.SetReadDeadline(time.Time{})
}

// moveDeadline sets the read deadline idle ahead, unless (and force is
// false) the one set is still more than half of idle ahead: a busy
// connection then touches its timer only now and then.
func (cr *connReader) moveDeadline(force bool) {
	now := actor.Now()
	if !force && cr.deadline.Sub(now) > cr.idle/2 {
		return
	}
	cr.deadline = now.Add(cr.idle)
	_ = cr.conn.SetReadDeadline(cr.deadline.Time())
}

// extendDeadline reports whether err is the idle deadline met in the
// middle of a message; then it moves the deadline on for a retry.
func (cr *connReader) extendDeadline(err error) bool {
	if cr.idle == 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	cr.moveDeadline(true)
	return true
}
