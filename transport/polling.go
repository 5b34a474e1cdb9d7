package transport

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/chanio/chanio/actor"
	"github.com/chanio/chanio/codec"
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
	if err != nil {
		// Declared here, where it is needed: errors.As makes it escape,
		// which on the path of every body read would be an allocation.
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, ErrBodyTooLarge
		}
		return nil, err
	}
	if buf.b == nil {
		return []byte{}, nil
	}
	return buf.take(), nil
}

// Poll is a server session's side of HTTP long-polling: the GET its client
// keeps open, held until the session writes and answered with a payload
// of what it writes. The session's actor holds the Poll and calls all its
// methods; the HTTP handler of each GET waits on its [PollRequest].
type Poll struct {
	held     *PollRequest
	answered actor.Instant // when a GET was last answered
	max      int           // packets in one answer; negative: any
	version  codec.Version
	late     bool // the held GET waits to be settled: no write takes it
	text     bool // every answer is text: protocol 3 with b64, or JSONP
}

// NewPoll returns the polling transport of a session of protocol v whose
// answers carry at most maxPackets packets (negative: any number). With
// text, protocol 3 answers are always text payloads, binary packets in
// base64 (a client that asked for b64, or polls with JSONP).
func NewPoll(v codec.Version, maxPackets int, text bool) *Poll {
	return &Poll{version: v, max: maxPackets, text: text}
}

// PollRequest is one long-poll GET on its way to a session. The session
// answers it exactly once; its handler waits for that on Answer.
type PollRequest struct {
	answer chan PollAnswer // capacity 1
	text   bool            // the answer must be a text payload (JSONP)
}

// NewPollRequest returns a GET to hand to a session; jsonp says the answer
// goes back as a JSONP script, which carries text only.
func NewPollRequest(jsonp bool) *PollRequest {
	return &PollRequest{answer: make(chan PollAnswer, 1), text: jsonp}
}

// Answer is where the request's one answer arrives.
func (r *PollRequest) Answer() <-chan PollAnswer { return r.answer }

// Refuse answers the request with an Engine.IO error code.
func (r *PollRequest) Refuse(code int) { r.answer <- PollAnswer{Refused: true, Code: code} }

// PollAnswer is the answer to a GET: a payload in a pooled buffer, or a
// refusal with an Engine.IO error code.
type PollAnswer struct {
	Body     *[]byte // from AcquireBuffer; the handler releases it
	Messages int     // message packets in Body
	Binary   bool    // Body is a protocol 3 binary payload (application/octet-stream)
	Refused  bool
	Code     int // with Refused
}

// Name is "polling".
func (p *Poll) Name() string { return "polling" }

// Room is what the held GET can take: nothing when none is held, or the
// held one waits to be settled.
func (p *Poll) Room() Room {
	if p.held == nil || p.late {
		return Room{}
	}
	return Room{Packets: p.max}
}

// Hold keeps r until the session writes; with late, no write takes it
// until [Poll.Settle]. One is held at a time.
func (p *Poll) Hold(r *PollRequest, late bool) { p.held, p.late = r, late }

// Held reports whether a GET is held (none on a nil Poll).
func (p *Poll) Held() bool { return p != nil && p.held != nil }

// Late reports whether the held GET waits to be settled (none on a nil
// Poll).
func (p *Poll) Late() bool { return p != nil && p.late }

// Settle lets writes take the held GET.
func (p *Poll) Settle() { p.late = false }

// Answered returns when a GET was last answered; zero if none was.
func (p *Poll) Answered() actor.Instant { return p.answered }

// Write answers the held GET with items. As the reference server, a
// protocol 3 client that reads binary payloads (XHR2: no b64 at the
// handshake, not JSONP) gets one whenever a packet is binary, instead of
// base64 text.
func (p *Poll) Write(items []Outgoing) error {
	if p.held == nil {
		return errNoGET
	}
	p.answer(p.held, items)
	p.held, p.late = nil, false
	return nil
}

var errNoGET = errors.New("transport: no GET held")

// Release answers the held GET, if any, with the one packet pkt.
func (p *Poll) Release(pkt codec.Packet) {
	if p.Held() {
		p.AnswerWith(p.held, pkt)
		p.held, p.late = nil, false
	}
}

// AnswerWith answers r, held or not, with the one packet pkt.
func (p *Poll) AnswerWith(r *PollRequest, pkt codec.Packet) {
	one := [1]Outgoing{{Packet: pkt}}
	p.answer(r, one[:])
}

func (p *Poll) answer(r *PollRequest, items []Outgoing) {
	p.answered = actor.Now()
	buf := AcquireBuffer()
	binary := p.version == codec.V3 && !p.text && !r.text && hasBinary(items)
	if binary {
		*buf = AppendBinaryPayload(*buf, items)
	} else {
		*buf = AppendPayload(*buf, items, p.version)
	}
	r.answer <- PollAnswer{Body: buf, Messages: CountMessages(items), Binary: binary}
}

// RefuseHeld answers the held GET, if any, with an Engine.IO error code.
func (p *Poll) RefuseHeld(code int) {
	if p.Held() {
		p.held.Refuse(code)
		p.held, p.late = nil, false
	}
}

// CloseAs answers the held GET, if any, with the close packet, or with a
// noop when the peer ended the session itself, as the reference does.
func (p *Poll) CloseAs(how Closing) error {
	last := codec.Packet{Type: codec.Close}
	if how == ClosePeerEnded {
		last.Type = codec.Noop
	}
	p.Release(last)
	return nil
}

// hasBinary reports whether any packet of items is binary.
func hasBinary(items []Outgoing) bool {
	for i := range items {
		if items[i].Packet.Binary {
			return true
		}
	}
	return false
}

// CountMessages counts the message packets in items: what a write that
// failed leaves undelivered, and what a poll answer carries.
func CountMessages(items []Outgoing) int {
	n := 0
	for i := range items {
		if items[i].Packet.Type == codec.Message {
			n++
		}
	}
	return n
}

var (
	textPlain      = []string{"text/plain; charset=UTF-8"}
	octetStream    = []string{"application/octet-stream"}
	textJavaScript = []string{"text/javascript; charset=UTF-8"}
	noStore        = []string{"no-store"}
)

// WriteAnswer writes a payload answer to a GET: as a JSONP script when
// jsonp (the bracketed index of [JSONPIndex]) is not empty, else as a
// binary or text payload, compressed when over threshold bytes (negative:
// never) and r accepts it. It releases nothing: the caller releases
// a.Body.
func WriteAnswer(w http.ResponseWriter, r *http.Request, a PollAnswer, jsonp string, threshold int) {
	if jsonp != "" {
		WriteJSONP(w, jsonp, *a.Body)
		return
	}
	WritePayload(w, r, *a.Body, a.Binary, threshold)
}

// WritePayload answers a polling GET with body, a text payload or (binary)
// a protocol 3 binary one, compressed when it is over threshold bytes
// (negative: never) and r accepts gzip or deflate. XHR2 clients of
// protocol 3 read a binary payload only with its Content-Type,
// application/octet-stream.
func WritePayload(w http.ResponseWriter, r *http.Request, body []byte, binary bool, threshold int) {
	h := w.Header()
	h["Content-Type"] = textPlain
	if binary {
		h["Content-Type"] = octetStream
	}
	h["Cache-Control"] = noStore
	_ = WriteBody(w, r, body, threshold)
}

// JSONP polling, for old browsers without CORS: the Node and Python servers
// still answer it when a request has a "j" query parameter. A GET's
// payload comes back as a JavaScript call, `___eio[j]("payload");`; a POST
// sends its payload form-encoded in the field "d".

// JSONPIndex returns the bracketed digits of j, the (first) value of a
// JSONP request's j parameter: "[3]", or "[]" when j has none, as the
// reference keeps only digits. A request without a j parameter is not
// JSONP.
func JSONPIndex(j string) string {
	digits := make([]byte, 0, 8)
	for _, c := range []byte(j) {
		if c >= '0' && c <= '9' {
			digits = append(digits, c)
		}
	}
	return "[" + string(digits) + "]"
}

// WriteJSONP answers a JSONP GET with payload, as the call
// ___eio<index>("payload");.
func WriteJSONP(w http.ResponseWriter, index string, payload []byte) {
	// encoding/json escapes U+2028 and U+2029, which JSON allows in strings
	// and JavaScript does not, and <, >, & for script contexts.
	js, _ := json.Marshal(string(payload))
	body := make([]byte, 0, len(js)+len(index)+8)
	body = append(body, "___eio"...)
	body = append(body, index...)
	body = append(body, '(')
	body = append(body, js...)
	body = append(body, ");"...)
	h := w.Header()
	h["Content-Type"] = textJavaScript
	h["Cache-Control"] = noStore
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// ErrJSONPBody is returned by [JSONPBody] for a body without its d field.
var ErrJSONPBody = errors.New("transport: JSONP POST without a d field")

// JSONPBody extracts the payload of a JSONP POST: the form field d, with
// the client's escaping of newlines undone ("\\n" is a literal
// backslash-n, "\n" a newline), as the reference does.
func JSONPBody(body []byte) ([]byte, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil || !form.Has("d") {
		return nil, ErrJSONPBody
	}
	d := form.Get("d")
	var out strings.Builder
	out.Grow(len(d))
	for i := 0; i < len(d); i++ {
		switch {
		case strings.HasPrefix(d[i:], `\\n`):
			out.WriteString(`\n`)
			i += 2
		case strings.HasPrefix(d[i:], `\n`):
			out.WriteByte('\n')
			i++
		default:
			out.WriteByte(d[i])
		}
	}
	return []byte(out.String()), nil
}

// WriteError answers a request as the reference server answers a
// protocol error: status, and the JSON body {"code":N,"message":"..."}.
// message must be ASCII.
func WriteError(w http.ResponseWriter, status, code int, message string) {
	body := make([]byte, 0, 64)
	body = append(body, `{"code":`...)
	body = strconv.AppendInt(body, int64(code), 10)
	body = append(body, `,"message":`...)
	body = strconv.AppendQuoteToASCII(body, message) // messages are ASCII: JSON-safe
	body = append(body, '}')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
