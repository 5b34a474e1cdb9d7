package transport

import (
	"errors"
	"math"
	"net/http"
)

// ErrBodyTooLarge is returned by [ReadBody] for a body over the limit,
// whether its Content-Length says so up front or a chunked body runs over.
var ErrBodyTooLarge = errors.New("transport: request body over the size limit")

// ReadBody reads the whole body of a polling POST, refusing more than max
// bytes. The returned slice is newly allocated and belongs to the caller
// (decoded text packets point into it).
//
// Memory follows the bytes received, not the Content-Length: the body is
// read into a pooled buffer that grows as it arrives, so a request that
// declares a megabyte and sends nothing holds 4 KiB. budget, if not nil,
// bounds that buffer together with every other sharing it; past it
// ReadBody fails with [ErrReadBudget]. ReadBody sets no deadline: the
// caller bounds the read (http.ResponseController.SetReadDeadline).
func ReadBody(w http.ResponseWriter, r *http.Request, max int64, budget *ReadBudget) ([]byte, error) {
	if r.ContentLength > max {
		return nil, ErrBodyTooLarge
	}
	body := http.MaxBytesReader(w, r.Body, max)
	limit := max // one byte past max tells a chunked body over it apart
	if max < math.MaxInt64 {
		limit = max + 1
	}
	buf := recvBuffer{limit: limit, budget: budget}
	defer buf.release()
	var err error
	if r.ContentLength >= 0 {
		err = buf.readN(body, r.ContentLength, true)
	} else {
		err = buf.readAll(body)
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, ErrBodyTooLarge
	}
	if err != nil {
		return nil, err
	}
	if buf.b == nil {
		return []byte{}, nil
	}
	return buf.take(), nil
}
