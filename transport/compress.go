package transport

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws/wsflate"
)

// DefaultCompressionThreshold is the size, in bytes, that a polling body or
// a WebSocket message must pass before it is compressed: the 1024 of the
// reference servers' httpCompression and perMessageDeflate thresholds.
const DefaultCompressionThreshold = 1024

// Every compressor here runs at flate.BestSpeed. On Engine.IO payloads
// (JSON text) it comes within a few percent of level 6's output for about a
// quarter of the CPU, and its Reset does not clear the 640 KB of hash
// chains the other levels clear on every use.
const compressionLevel = flate.BestSpeed

// Content codings of polling responses, as [NegotiateEncoding] returns them
// and Content-Encoding spells them.
const (
	EncodingGzip    = "gzip"
	EncodingDeflate = "deflate" // the zlib format (RFC 1950), as HTTP means it
)

// ErrUnknownEncoding is returned by [AppendCompressed] for an encoding other
// than [EncodingGzip] and [EncodingDeflate].
var ErrUnknownEncoding = errors.New("transport: unknown content encoding")

// appendWriter is an io.Writer appending to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// Compressors are pooled: each one holds about 1 MB of state (compress/flate
// sizes its hash tables for every level), far too much to make per body or
// keep per connection.
type gzipEncoder struct {
	zw  *gzip.Writer
	out appendWriter
}

type zlibEncoder struct {
	zw  *zlib.Writer
	out appendWriter
}

var (
	gzipEncoders = sync.Pool{New: func() any {
		e := new(gzipEncoder)
		e.zw, _ = gzip.NewWriterLevel(&e.out, compressionLevel) // valid level: no error
		return e
	}}
	zlibEncoders = sync.Pool{New: func() any {
		e := new(zlibEncoder)
		e.zw, _ = zlib.NewWriterLevel(&e.out, compressionLevel)
		return e
	}}
)

// AppendCompressed appends body compressed with encoding ([EncodingGzip] or
// [EncodingDeflate]) to dst and returns the extended buffer. The
// compressor comes from a pool and goes back to it before the call returns.
func AppendCompressed(dst, body []byte, encoding string) ([]byte, error) {
	switch encoding {
	case EncodingGzip:
		e := gzipEncoders.Get().(*gzipEncoder)
		e.out.b = dst
		e.zw.Reset(&e.out)
		_, _ = e.zw.Write(body) // appendWriter never fails
		_ = e.zw.Close()
		dst = e.out.b
		e.out.b = nil
		gzipEncoders.Put(e)
		return dst, nil
	case EncodingDeflate:
		e := zlibEncoders.Get().(*zlibEncoder)
		e.out.b = dst
		e.zw.Reset(&e.out)
		_, _ = e.zw.Write(body)
		_ = e.zw.Close()
		dst = e.out.b
		e.out.b = nil
		zlibEncoders.Put(e)
		return dst, nil
	}
	return dst, ErrUnknownEncoding
}

// NegotiateEncoding picks the content coding for a response from the
// values of a request's Accept-Encoding header(s): [EncodingGzip],
// [EncodingDeflate], or "" for none (send the body as is). It honours
// q-values (q=0 means not acceptable) and "*", and prefers gzip when both
// are equally acceptable. A q-value it cannot parse counts as q=0: sending
// the body uncompressed is always safe.
func NegotiateEncoding(acceptEncoding ...string) string {
	// q-values in thousandths; -1 means not mentioned.
	gz, df, star := -1, -1, -1
	for _, v := range acceptEncoding {
		for v != "" {
			var item string
			item, v, _ = strings.Cut(v, ",")
			coding, params, _ := strings.Cut(item, ";")
			q := parseQ(params)
			switch coding = strings.TrimSpace(coding); {
			case strings.EqualFold(coding, "gzip"), strings.EqualFold(coding, "x-gzip"):
				gz = max(gz, q)
			case strings.EqualFold(coding, "deflate"):
				df = max(df, q)
			case coding == "*":
				star = max(star, q)
			}
		}
	}
	if gz < 0 {
		gz = star
	}
	if df < 0 {
		df = star
	}
	switch {
	case gz > 0 && gz >= df:
		return EncodingGzip
	case df > 0:
		return EncodingDeflate
	}
	return ""
}

// parseQ returns the q parameter among an Accept-Encoding item's
// parameters, in thousandths: 1000 if absent, 0 if malformed.
func parseQ(params string) int {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, val, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
		val = strings.TrimSpace(val)
		if val == "" || val[0] != '0' && val[0] != '1' {
			return 0
		}
		q := int(val[0]-'0') * 1000
		if len(val) > 1 {
			frac := val[1:]
			if frac[0] != '.' || len(frac) > 4 {
				return 0
			}
			scale := 100
			for _, c := range []byte(frac[1:]) {
				if c < '0' || c > '9' {
					return 0
				}
				q += int(c-'0') * scale
				scale /= 10
			}
		}
		if q > 1000 {
			return 0
		}
		return q
	}
	return 1000
}

var (
	contentEncodingGzip    = []string{EncodingGzip}
	contentEncodingDeflate = []string{EncodingDeflate}
)

// WriteBody writes body as a 200 response to r. If body is longer than
// threshold bytes and r's Accept-Encoding allows gzip or deflate, it is
// compressed, into a pooled buffer, with a pooled compressor, and sent
// with Content-Encoding; when compression would not make it smaller it
// goes as is. A negative threshold turns compression off.
//
// The caller sets the other headers (Content-Type, Cache-Control) first;
// WriteBody sets Content-Length, and Vary: Accept-Encoding on every body
// large enough to be compressed, whether or not it was. It returns the
// error of writing the body.
func WriteBody(w http.ResponseWriter, r *http.Request, body []byte, threshold int) error {
	h := w.Header()
	if threshold >= 0 && len(body) > threshold {
		h.Add("Vary", "Accept-Encoding")
		if enc := NegotiateEncoding(r.Header["Accept-Encoding"]...); enc != "" {
			buf := getBuffer()
			defer putBuffer(buf)
			*buf, _ = AppendCompressed((*buf)[:0], body, enc) // enc is known
			if len(*buf) < len(body) {
				if enc == EncodingGzip {
					h["Content-Encoding"] = contentEncodingGzip
				} else {
					h["Content-Encoding"] = contentEncodingDeflate
				}
				body = *buf
			}
		}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

// WebSocket permessage-deflate (RFC 7692).
//
// Both directions run without context takeover: the server offers
// server_no_context_takeover and client_no_context_takeover, so every
// message is compressed and inflated on its own. A connection then keeps no
// compression state between messages, and the ~1 MB deflater and ~45 KB
// inflater are borrowed from a pool for one message; with context takeover
// each connection would pin both for its whole life. The cost is a worse
// ratio on streams of small, similar messages.

// deflateParameters are what the server answers and the client offers.
// The window sizes stay unset: compress/flate always uses a 32 KB window,
// so an offer that asks the server for a smaller one is declined.
var deflateParameters = wsflate.Parameters{
	ServerNoContextTakeover: true,
	ClientNoContextTakeover: true,
}

// DeflateNegotiator answers a client's permessage-deflate offer during one
// server-side WebSocket upgrade. Set its Negotiate method as the
// Negotiate field of a ws.HTTPUpgrader (or ws.Upgrader), run the upgrade,
// then pass Accepted to [WebSocketOptions].Deflate. The zero value is
// ready; use a new one for every upgrade. It is not safe for concurrent
// use.
type DeflateNegotiator struct {
	ext wsflate.Extension
}

// Negotiate is the ws.HTTPUpgrader.Negotiate callback. It accepts the
// first permessage-deflate offer it can honour, answering
// "permessage-deflate; server_no_context_takeover;
// client_no_context_takeover", and declines the others (an offer that
// limits server_max_window_bits, a malformed one) without failing the
// upgrade, as RFC 7692 section 7 asks. Other extensions are left alone.
func (n *DeflateNegotiator) Negotiate(opt httphead.Option) (httphead.Option, error) {
	n.ext.Parameters = deflateParameters
	accept, err := n.ext.Negotiate(opt)
	if err != nil {
		return httphead.Option{}, nil
	}
	return accept, nil
}

// Accepted reports whether the upgrade agreed on permessage-deflate.
func (n *DeflateNegotiator) Accepted() bool {
	_, ok := n.ext.Accepted()
	return ok
}

// DeflateOffer returns the permessage-deflate offer a client puts in
// ws.Dialer.Extensions: "permessage-deflate; server_no_context_takeover;
// client_no_context_takeover". Check the answer with [DeflateAccepted].
func DeflateOffer() httphead.Option { return deflateParameters.Option() }

// ErrDeflateResponse is returned by [DeflateAccepted] when the server's
// answer to [DeflateOffer] is one the client cannot honour. RFC 7692 asks
// the client to fail the connection.
var ErrDeflateResponse = errors.New("transport: unusable permessage-deflate response")

// DeflateAccepted reports whether the server accepted [DeflateOffer], given
// the extensions of the handshake (ws.Handshake.Extensions returned by
// ws.Dialer.Dial). It returns [ErrDeflateResponse] for an answer that
// drops server_no_context_takeover (the client inflates every message on
// its own), has malformed parameters or limits the client's window below
// 32 KB.
func DeflateAccepted(extensions []httphead.Option) (bool, error) {
	for _, opt := range extensions {
		if !bytes.Equal(opt.Name, wsflate.ExtensionNameBytes) {
			continue
		}
		var p wsflate.Parameters
		if err := p.Parse(opt); err != nil {
			return false, ErrDeflateResponse
		}
		if !p.ServerNoContextTakeover ||
			p.ClientMaxWindowBits.Defined() && p.ClientMaxWindowBits != 15 {
			return false, ErrDeflateResponse
		}
		return true, nil
	}
	return false, nil
}

// deflateTail ends every sync-flushed deflate stream; RFC 7692 has the
// sender strip it from a message.
var deflateTail = [4]byte{0, 0, 0xff, 0xff}

// inflateTail is what the receiver appends: the stripped tail, then an
// empty final stored block so that the inflater ends with io.EOF.
var inflateTail = [9]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}

type deflater struct {
	fw  *flate.Writer
	out appendWriter
}

type inflater struct {
	fr  io.ReadCloser // a flate.Resetter
	src bytes.Reader
}

var (
	deflaters = sync.Pool{New: func() any {
		d := new(deflater)
		d.fw, _ = flate.NewWriter(&d.out, compressionLevel)
		return d
	}}
	inflaters = sync.Pool{New: func() any {
		i := new(inflater)
		// bytes.Reader is an io.ByteReader: flate adds no bufio.Reader.
		i.fr = flate.NewReader(&i.src)
		return i
	}}
)

// appendDeflated appends p compressed as one permessage-deflate message
// (the sync-flush tail stripped) to dst.
func appendDeflated(dst, p []byte) []byte {
	d := deflaters.Get().(*deflater)
	d.out.b = dst
	d.fw.Reset(&d.out)
	_, _ = d.fw.Write(p) // appendWriter never fails
	_ = d.fw.Flush()
	dst = d.out.b
	d.out.b = nil
	deflaters.Put(d)
	if n := len(dst) - len(deflateTail); n >= 0 && [4]byte(dst[n:]) == deflateTail {
		dst = dst[:n]
	}
	return dst
}

// inflate decompresses the payload of one message, z (to which it appends
// inflateTail, in place when z has the room), refusing to
// produce more than maxSize bytes: it stops the moment the output passes
// maxSize, having allocated at most about twice maxSize, and returns
// errTooBig.
//
// It inflates into a pooled buffer and copies the message out, so a
// message that fits the pool's buffers costs one allocation of its exact
// size; a larger one keeps the buffer it grew. The result is the
// caller's.
func inflate(z []byte, maxSize int64) ([]byte, error) {
	z = append(z, inflateTail[:]...)
	i := inflaters.Get().(*inflater)
	defer func() {
		i.src.Reset(nil)
		inflaters.Put(i)
	}()
	i.src.Reset(z)
	_ = i.fr.(flate.Resetter).Reset(&i.src, nil) // never fails without a dictionary

	limit := maxSize + 1 // reading one byte past max tells the bomb apart
	if limit < maxSize {
		limit = maxSize
	}
	buf := getBuffer()
	defer putBuffer(buf) // drops a buffer grown past the pool's size
	out := *buf
	for {
		room := out[len(out):cap(out)]
		if int64(len(room)) > limit-int64(len(out)) {
			room = room[:limit-int64(len(out))]
		}
		if len(room) == 0 {
			if int64(len(out)) >= limit {
				return nil, errTooBig
			}
			size := max(2*int64(cap(out)), initialBuffer)
			if size >= maxSize {
				size = limit // not max, then max+1
			}
			grown := make([]byte, len(out), size)
			copy(grown, out)
			out = grown
			*buf = out
			continue
		}
		n, err := i.fr.Read(room)
		out = out[:len(out)+n]
		if int64(len(out)) > maxSize {
			return nil, errTooBig
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if cap(out) > maxPooledBuffer {
		return out, nil // putBuffer drops it: the caller keeps it
	}
	*buf = out
	data := make([]byte, len(out))
	copy(data, out)
	return data, nil
}

var errTooBig = errors.New("inflated message over the limit")
