package transport

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chanio/chanio/actor"
	"github.com/chanio/chanio/codec"
)

// Errors of a client's polling requests.
var (
	// ErrResponseTooLarge: a response body is over the limit the client
	// set (after decompression). It wraps codec.ErrTooLarge.
	ErrResponseTooLarge = fmt.Errorf("transport: response over the size limit: %w", codec.ErrTooLarge)
	// ErrUnsupportedEncoding: a response has a Content-Encoding other than
	// gzip or deflate.
	ErrUnsupportedEncoding = errors.New("transport: unsupported Content-Encoding in a response")
)

// PollClient is a client's side of HTTP long-polling for one session: the
// GET the server holds until it has packets, and POSTs for what the
// client sends, one at a time. The endpoint starts each GET with
// [PollClient.Poll] once it has taken the last one's packets, so that it
// decides whether there is a next; each POST comes from a
// [PollClient.Write]. Both run on goroutines of the options' Group and
// report to the Receiver: each packet a GET brings, Ready when a request
// is done, End (once) when one fails.
//
// A POST is in flight, and Room empty, from Write until the endpoint has
// heard how it went and says so with [PollClient.PostHeard]: the endpoint
// must not see room for a next write (or for an upgrade's switch) before
// it has the POST's Ready or End, or it could act on that room and then
// drop the POST's failure as coming from a transport it has left.
type PollClient struct {
	o       PollClientOptions
	ctx     context.Context // the requests'; cancelled by CloseAs
	cancel  context.CancelFunc
	getting atomic.Bool
	posting atomic.Bool // a POST the endpoint has not heard the end of: Write sets, PostHeard clears
	ended   atomic.Bool // End was reported
}

// RequestError is the failure of one of a [PollClient]'s requests: a
// long-poll GET or a POST.
type RequestError struct {
	Method string // http.MethodGet or http.MethodPost
	Err    error
}

// Error names the request and its error.
func (e *RequestError) Error() string {
	if e.Method == http.MethodGet {
		return "transport: poll: " + e.Err.Error()
	}
	return "transport: post: " + e.Err.Error()
}

// Unwrap returns the request's error.
func (e *RequestError) Unwrap() error { return e.Err }

// PollClientOptions configures a [PollClient].
type PollClientOptions struct {
	// HTTP sends the requests.
	HTTP *http.Client
	// URL is the session's polling URL, with its query.
	URL string
	// Header holds extra headers for every request.
	Header http.Header
	// MaxResponse bounds a GET's body, after decompression, in bytes, and
	// MaxPackets the packets in it.
	MaxResponse int64
	MaxPackets  int
	// PollTimeout bounds a GET (the server holds it until its next ping);
	// PostTimeout bounds a POST.
	PollTimeout time.Duration
	PostTimeout time.Duration
	// Post is what one POST may carry ([PollClient.Room]).
	Post Room
	// Group runs the requests; Receiver takes what they bring.
	Group    *actor.Group
	Receiver Receiver
}

// NewPollClient returns the polling transport of a session; no request
// is made until Poll or Write.
func NewPollClient(o PollClientOptions) *PollClient {
	ctx, cancel := context.WithCancel(o.Group.Context())
	return &PollClient{o: o, ctx: ctx, cancel: cancel}
}

// Name is "polling".
func (p *PollClient) Name() string { return "polling" }

// Room is what a POST may carry, or nothing while one is in flight (until
// PostHeard).
func (p *PollClient) Room() Room {
	if p.posting.Load() {
		return Room{}
	}
	return p.o.Post
}

// Busy reports whether a GET or a POST is in flight.
func (p *PollClient) Busy() bool { return p.getting.Load() || p.posting.Load() }

// Poll starts the next long-poll GET, unless one is in flight, and
// reports whether it did.
func (p *PollClient) Poll() bool {
	if p.getting.Load() || p.ended.Load() {
		return false
	}
	p.getting.Store(true)
	err := p.o.Group.Go("poll", func(context.Context) error {
		ctx, cancel := context.WithTimeout(p.ctx, p.o.PollTimeout)
		defer cancel()
		pkts, err := p.get(ctx)
		if err != nil {
			p.getting.Store(false)
			p.end(&RequestError{Method: http.MethodGet, Err: err})
			return nil
		}
		for _, pkt := range pkts {
			if p.o.Receiver.Receive(p, pkt) != nil {
				p.getting.Store(false)
				return nil
			}
		}
		p.getting.Store(false)
		p.o.Receiver.Ready(p, true)
		return nil
	})
	if err != nil {
		p.getting.Store(false) // the client is ending
		return false
	}
	return true
}

func (p *PollClient) get(ctx context.Context) ([]codec.Packet, error) {
	body, _, err := Get(ctx, p.o.HTTP, p.o.URL, p.o.Header, p.o.MaxResponse)
	if err != nil {
		return nil, err
	}
	return codec.DecodePayload(body, codec.V4, codec.Limits{MaxBytes: int(p.o.MaxResponse), MaxPackets: p.o.MaxPackets}, nil)
}

// Write sends items in one POST, on a goroutine; Room is empty until the
// endpoint, told by Ready or End how it went, calls PostHeard.
func (p *PollClient) Write(items []Outgoing) error {
	buf := AcquireBuffer()
	*buf = AppendPayload(*buf, items, codec.V4)
	p.posting.Store(true)
	err := p.o.Group.Go("post", func(context.Context) error {
		ctx, cancel := context.WithTimeout(p.ctx, p.o.PostTimeout)
		defer cancel()
		err := Post(ctx, p.o.HTTP, p.o.URL, p.o.Header, *buf)
		ReleaseBuffer(buf)
		if err != nil {
			p.end(&RequestError{Method: http.MethodPost, Err: err})
			return nil
		}
		p.o.Receiver.Ready(p, false)
		return nil
	})
	if err != nil {
		p.posting.Store(false)
		ReleaseBuffer(buf)
		return err
	}
	return nil
}

// PostHeard says the endpoint has heard how the POST in flight went (its
// Ready or End): Room is what a POST may carry again. Call it from the
// endpoint's goroutine, the one that calls Write.
func (p *PollClient) PostHeard() { p.posting.Store(false) }

// end reports the first failure.
func (p *PollClient) end(err error) {
	if p.ended.CompareAndSwap(false, true) {
		p.o.Receiver.End(p, err)
	}
}

// CloseAs cancels the requests in flight. Safe from any goroutine.
func (p *PollClient) CloseAs(Closing) error {
	p.cancel()
	return nil
}

// newRequest builds a polling request with the extra headers.
func newRequest(ctx context.Context, method, u string, header http.Header, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	} else {
		// Set by hand, so Go's transport does not decode gzip for us:
		// readResponse does, and deflate too.
		req.Header.Set("Accept-Encoding", "gzip, deflate")
	}
	return req, nil
}

// Get sends a polling GET to u and returns the body of its 200 answer,
// decompressed, and its Content-Type. Any other status is a
// [*StatusError]. A body over limit bytes fails with
// [ErrResponseTooLarge], returned with its first limit+1 bytes.
func Get(ctx context.Context, c *http.Client, u string, header http.Header, limit int64) ([]byte, string, error) {
	req, err := newRequest(ctx, http.MethodGet, u, header, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := readResponse(resp, maxErrorBody)
		return nil, "", &StatusError{Method: http.MethodGet, Status: resp.StatusCode, URL: withoutQuery(u), Body: body}
	}
	body, err := readResponse(resp, limit)
	return body, resp.Header.Get("Content-Type"), err
}

// Post sends body (a protocol 4 payload) to u. An answer other than 200
// is a [*StatusError].
func Post(ctx context.Context, c *http.Client, u string, header http.Header, body []byte) error {
	req, err := newRequest(ctx, http.MethodPost, u, header, body)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Read the small answer ("ok") whole so that the connection is reused.
	b, _ := readResponse(resp, maxErrorBody)
	if resp.StatusCode != http.StatusOK {
		return &StatusError{Method: http.MethodPost, Status: resp.StatusCode, URL: withoutQuery(u), Body: b}
	}
	return nil
}

// readResponse reads a response body of at most limit bytes, decoding
// Content-Encoding gzip and deflate. Past limit it returns the first
// limit+1 bytes with ErrResponseTooLarge.
func readResponse(resp *http.Response, limit int64) ([]byte, error) {
	var r io.Reader = resp.Body
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("transport: gzip response: %w", err)
		}
		defer zr.Close()
		r = zr
	case "deflate":
		// HTTP's deflate is zlib (RFC 1950); some servers send raw
		// deflate (RFC 1951): tell them apart by the zlib header.
		br := bufio.NewReader(resp.Body)
		if h, err := br.Peek(2); err == nil && h[0]&0x0f == 8 && (uint16(h[0])<<8|uint16(h[1]))%31 == 0 {
			zr, err := zlib.NewReader(br)
			if err != nil {
				return nil, fmt.Errorf("transport: deflate response: %w", err)
			}
			defer zr.Close()
			r = zr
		} else {
			fr := flate.NewReader(br)
			defer fr.Close()
			r = fr
		}
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedEncoding, enc)
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return b, ErrResponseTooLarge
	}
	return b, nil
}
