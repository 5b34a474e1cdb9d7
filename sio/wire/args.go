package wire

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Errors of the argument helpers.
var (
	// ErrReservedName: an event name Socket.IO keeps for itself (see
	// [IsReserved]).
	ErrReservedName = errors.New("sio/wire: reserved event name")
	// ErrMissingArg: Args.Decode was given more values than there are
	// arguments.
	ErrMissingArg = errors.New("sio/wire: fewer arguments than values to decode")
)

// ArgError is the failure to encode or decode one argument.
type ArgError struct {
	Index int // the argument's position, from 0 (the event name excluded)
	Err   error
}

// Error says which argument failed and why.
func (e *ArgError) Error() string {
	return "sio/wire: argument " + strconv.Itoa(e.Index) + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *ArgError) Unwrap() error { return e.Err }

// AppendEvent appends to dst the payload of an EVENT: a JSON array of name
// and args, as [AppendArgs] writes args. It returns the extended dst and
// atts, and fails with [ErrReservedName] for a name Socket.IO keeps for
// itself.
func AppendEvent(dst []byte, atts [][]byte, name string, args ...any) ([]byte, [][]byte, error) {
	if IsReserved(name) {
		return dst, atts, ErrReservedName
	}
	mark, amark := len(dst), len(atts)
	dst = append(dst, '[')
	dst = appendString(dst, name)
	var err error
	for i, a := range args {
		dst = append(dst, ',')
		if dst, atts, err = appendValue(dst, atts, a, 0); err != nil {
			return dst[:mark], atts[:amark], &ArgError{Index: i, Err: err}
		}
	}
	return append(dst, ']'), atts, nil
}

// AppendArgs appends args to dst as a JSON array: the payload of an ACK, or
// of an EVENT when args[0] is its name. Each argument is written as
// encoding/json writes it, except that a []byte, at the top level or
// anywhere inside []any and map[string]any values, becomes a placeholder
// {"_placeholder":true,"num":N}, and is appended to atts as attachment N
// (counted from the first attachment of the packet, so atts must hold the
// packet's earlier attachments or be empty). A []byte inside a struct or
// a typed map is written by encoding/json, as base64. A [json.RawMessage]
// is written as it is, once checked to be valid JSON.
//
// The returned slices keep the []byte arguments themselves, not copies: do
// not change them until the packet has been sent.
func AppendArgs(dst []byte, atts [][]byte, args ...any) ([]byte, [][]byte, error) {
	mark, amark := len(dst), len(atts)
	dst = append(dst, '[')
	var err error
	for i, a := range args {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, atts, err = appendValue(dst, atts, a, 0); err != nil {
			return dst[:mark], atts[:amark], &ArgError{Index: i, Err: err}
		}
	}
	return append(dst, ']'), atts, nil
}

var errTooDeep = errors.New("sio/wire: value nests deeper than MaxDepth")

func appendValue(dst []byte, atts [][]byte, v any, depth int) ([]byte, [][]byte, error) {
	if depth > MaxDepth {
		return dst, atts, errTooDeep
	}
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), atts, nil
	case string:
		return appendString(dst, x), atts, nil
	case bool:
		return strconv.AppendBool(dst, x), atts, nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), atts, nil
	case int64:
		return strconv.AppendInt(dst, x, 10), atts, nil
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), atts, nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), atts, nil
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10), atts, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			break // encoding/json's error
		}
		if x == math.Trunc(x) && math.Abs(x) < 1e21 {
			return strconv.AppendFloat(dst, x, 'f', -1, 64), atts, nil
		}
	case []byte:
		dst = append(dst, `{"_placeholder":true,"num":`...)
		dst = strconv.AppendInt(dst, int64(len(atts)), 10)
		return append(dst, '}'), append(atts, x), nil
	case json.RawMessage:
		s := scanner{data: x}
		if _, _, err := s.scanValue(); err != nil {
			return dst, atts, err
		}
		return append(dst, x...), atts, nil
	case []any:
		dst = append(dst, '[')
		var err error
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, atts, err = appendValue(dst, atts, e, depth+1); err != nil {
				return dst, atts, err
			}
		}
		return append(dst, ']'), atts, nil
	case map[string]any:
		if x == nil {
			return append(dst, "null"...), atts, nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		var err error
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			if dst, atts, err = appendValue(dst, atts, x[k], depth+1); err != nil {
				return dst, atts, err
			}
		}
		return append(dst, '}'), atts, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, atts, err
	}
	return append(dst, b...), atts, nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string, as encoding/json does but
// without escaping <, > and & (as JSON.stringify does not): invalid UTF-8
// becomes \ufffd, and U+2028 and U+2029 are escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			switch r {
			case utf8.RuneError:
				dst = append(dst, `\ufffd`...)
			default:
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Args are the arguments of an event or an ack as they arrived: the
// elements of a JSON array, in which placeholders stand for binary
// attachments. It is a view of the packet's bytes: it copies nothing and is
// valid as long as the packet is.
type Args struct {
	data json.RawMessage // a JSON array
	skip int             // elements before the first argument (1: an event's name)
	atts [][]byte
}

// NewArgs returns the arguments in data, a JSON array, whose placeholders
// index atts. It is how a packet built by hand, or an ACK's data, is read.
func NewArgs(data json.RawMessage, atts [][]byte) Args { return Args{data: data, atts: atts} }

// EventArgs returns the name and the arguments of an EVENT packet.
func EventArgs(p *Packet) (name string, args Args, err error) {
	if p.Type != Event && p.Type != BinaryEvent || len(p.Data) == 0 || p.Data[0] != '[' {
		return "", Args{}, errAt(0, ErrBadPayload)
	}
	name, err = eventName(p.Data)
	if err != nil {
		return "", Args{}, err
	}
	return name, Args{data: p.Data, skip: 1, atts: p.Attachments}, nil
}

// AckArgs returns the arguments of an ACK packet.
func AckArgs(p *Packet) Args { return Args{data: p.Data, atts: p.Attachments} }

// each calls fn with the bounds of every argument until fn returns false;
// it stops at the end of the array or at the first malformed element.
func (a Args) each(fn func(i, start, end int) bool) {
	if len(a.data) == 0 || a.data[0] != '[' {
		return
	}
	s := scanner{data: a.data}
	i := s.skipSpace(1)
	if i < len(a.data) && a.data[i] == ']' {
		return
	}
	for n := 0; ; n++ {
		end, _ := s.value(i, 1)
		if end < 0 {
			return
		}
		if n >= a.skip && !fn(n-a.skip, i, end) {
			return
		}
		i = s.skipSpace(end)
		if i >= len(a.data) || a.data[i] != ',' {
			return
		}
		i = s.skipSpace(i + 1)
	}
}

// Len returns the number of arguments.
func (a Args) Len() int {
	n := 0
	a.each(func(int, int, int) bool { n++; return true })
	return n
}

// Raw returns argument i as raw JSON, placeholders included, or nil when
// there is no argument i.
func (a Args) Raw(i int) json.RawMessage {
	var r json.RawMessage
	a.each(func(j, start, end int) bool {
		if j == i {
			r = a.data[start:end:end]
			return false
		}
		return true
	})
	return r
}

// JSON returns the arguments as one JSON array, placeholders included. For
// an ACK it is the packet's data itself; for an EVENT the name is left out,
// which costs a copy.
func (a Args) JSON() json.RawMessage {
	if a.skip == 0 {
		return a.data
	}
	out := []byte{'['}
	a.each(func(i, start, end int) bool {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, a.data[start:end]...)
		return true
	})
	return append(out, ']')
}

// Attachments returns the binary attachments the placeholders point to.
func (a Args) Attachments() [][]byte { return a.atts }

// Binary returns the attachment argument i stands for, when argument i is a
// placeholder.
func (a Args) Binary(i int) ([]byte, bool) {
	raw := a.Raw(i)
	if raw == nil || len(a.atts) == 0 {
		return nil, false
	}
	s := scanner{data: raw, record: true}
	if _, _, err := s.scanValue(); err != nil || len(s.phs) != 1 {
		return nil, false
	}
	ph := s.phs[0]
	if ph.start != 0 || ph.end != len(raw) || ph.num < 0 || ph.num >= len(a.atts) {
		return nil, false
	}
	return a.atts[ph.num], true
}

// Decode decodes the arguments into vs, in order: argument i into vs[i],
// which must be a pointer, or nil to skip that argument. Arguments past
// len(vs) are ignored; fewer arguments than vs fails with [ErrMissingArg].
//
// JSON is decoded by encoding/json. A placeholder decodes into a *[]byte
// (or a *any) as its attachment itself, not a copy, and anywhere else a
// []byte can be: inside a struct, a slice, a map. Into a *any, *[]any or
// *map[string]any, the placeholders anywhere inside become []byte; an any
// field of a struct gets the base64 string encoding/json would give it.
//
// Each failure is an [*ArgError] with the index of the argument.
func (a Args) Decode(vs ...any) error {
	found := 0
	var err error
	a.each(func(i, start, end int) bool {
		if i >= len(vs) {
			return false
		}
		found++
		if vs[i] == nil {
			return true
		}
		if e := a.decodeOne(a.data[start:end:end], vs[i]); e != nil {
			err = &ArgError{Index: i, Err: e}
			return false
		}
		return true
	})
	if err == nil && found < len(vs) {
		err = &ArgError{Index: found, Err: ErrMissingArg}
	}
	return err
}

// Values decodes every argument into a Go value as Decode does into a *any:
// strings, float64, bool, nil, []any, map[string]any, and []byte for the
// attachments.
func (a Args) Values() ([]any, error) {
	vs := make([]any, a.Len())
	ptrs := make([]any, len(vs))
	for i := range vs {
		ptrs[i] = &vs[i]
	}
	if err := a.Decode(ptrs...); err != nil {
		return nil, err
	}
	return vs, nil
}

func (a Args) decodeOne(raw json.RawMessage, v any) error {
	if len(a.atts) == 0 {
		return json.Unmarshal(raw, v)
	}
	s := scanner{data: raw, record: true}
	if _, _, err := s.scanValue(); err != nil {
		return err
	}
	if len(s.phs) == 0 {
		return json.Unmarshal(raw, v)
	}
	for _, ph := range s.phs {
		if ph.num < 0 || ph.num >= len(a.atts) {
			return errAt(ph.start, ErrAttachmentMismatch)
		}
	}
	whole := len(s.phs) == 1 && s.phs[0].start == 0 && s.phs[0].end == len(raw)
	switch p := v.(type) {
	case *[]byte:
		if whole {
			*p = a.atts[s.phs[0].num]
			return nil
		}
	case *any:
		if whole {
			*p = a.atts[s.phs[0].num]
			return nil
		}
		if err := json.Unmarshal(raw, p); err != nil {
			return err
		}
		*p = a.replace(*p, 0)
		return nil
	case *json.RawMessage:
		*p = raw
		return nil
	case *[]any:
		if err := json.Unmarshal(raw, p); err != nil {
			return err
		}
		a.replace(*p, 0)
		return nil
	case *map[string]any:
		if err := json.Unmarshal(raw, p); err != nil {
			return err
		}
		a.replace(*p, 0)
		return nil
	}
	// Everywhere else a placeholder becomes the base64 string that
	// encoding/json decodes into a []byte.
	out := make([]byte, 0, len(raw)+32)
	last := 0
	for _, ph := range s.phs {
		out = append(out, raw[last:ph.start]...)
		att := a.atts[ph.num]
		out = append(out, '"')
		out = base64.StdEncoding.AppendEncode(out, att)
		out = append(out, '"')
		last = ph.end
	}
	out = append(out, raw[last:]...)
	return json.Unmarshal(out, v)
}

// replace swaps the placeholders of a decoded JSON value for their
// attachments.
func (a Args) replace(v any, depth int) any {
	if depth > MaxDepth {
		return v
	}
	switch x := v.(type) {
	case []any:
		for i := range x {
			x[i] = a.replace(x[i], depth+1)
		}
	case map[string]any:
		if x["_placeholder"] == true {
			if n, ok := x["num"].(float64); ok && n >= 0 && n < float64(len(a.atts)) && n == math.Trunc(n) {
				return a.atts[int(n)]
			}
			return v
		}
		for k, e := range x {
			x[k] = a.replace(e, depth+1)
		}
	}
	return v
}
