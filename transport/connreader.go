package transport

import (
	"bufio"
	"io"
	"net"
	"os"
	"syscall"
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
}

// directRead is the size from which a read goes straight into the caller's
// slice (a large message) instead of through a pooled buffer.
const directRead = initialBuffer

func newConnReader(conn net.Conn, br *bufio.Reader) connReader {
	cr := connReader{conn: conn}
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
	return cr
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
			return cr.conn.Read(p)
		}
		if err := cr.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, (*cr.buf)[cr.r:cr.w])
	cr.r += n
	if cr.r == cr.w {
		cr.release()
	}
	return n, nil
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
		return &net.OpError{Op: "read", Net: cr.conn.LocalAddr().Network(), Source: cr.conn.LocalAddr(),
			Addr: cr.conn.RemoteAddr(), Err: os.NewSyscallError("read", rerr)}
	case n == 0:
		putBuffer(b)
		return io.EOF
	}
	cr.buf, cr.r, cr.w = b, 0, n
	return nil
}

// close returns the buffer, if one is held, to the pool. The reader must
// not be used after.
func (cr *connReader) close() { cr.release() }
