package transport

import (
	"errors"
	"io"
	"net/http"
)

// ErrBodyTooLarge is returned by [ReadBody] for a body over the limit,
// whether its Content-Length says so up front or a chunked body runs over.
var ErrBodyTooLarge = errors.New("transport: request body over the size limit")

// ReadBody reads the whole body of a polling POST, refusing more than max
// bytes. The returned slice is newly allocated and belongs to the caller
// (decoded text packets point into it).
func ReadBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, ErrBodyTooLarge
	}
	body := http.MaxBytesReader(w, r.Body, max)
	if r.ContentLength >= 0 {
		b := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	b, err := io.ReadAll(body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, ErrBodyTooLarge
	}
	return b, err
}
