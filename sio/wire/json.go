package wire

// A strict JSON scanner (RFC 8259, as encoding/json.Valid) that also finds
// the placeholders of binary attachments. It never allocates unless asked
// to record placeholders, and its recursion is bounded by MaxDepth.

// MaxDepth bounds how deeply a payload's arrays and objects may nest. It is
// about where python's json module gives up; the reference clients never
// come near it.
const MaxDepth = 1000

// placeholder is one {"_placeholder":true,"num":N} object of a payload.
type placeholder struct {
	num        int // the attachment it names; -1 if num is not a JSON integer in range
	start, end int // the object's bytes in the payload
}

type scanner struct {
	data []byte
	// phs, when record is set, collects the placeholders found, in order.
	record bool
	phs    []placeholder
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *scanner) skipSpace(i int) int {
	for i < len(s.data) && isSpace(s.data[i]) {
		i++
	}
	return i
}

// value scans one JSON value starting at i (no leading space) and returns
// the offset just past it, or -1 and the offset of the error.
func (s *scanner) value(i, depth int) (int, int) {
	d := s.data
	if i >= len(d) {
		return -1, i
	}
	switch c := d[i]; {
	case c == '{':
		return s.object(i, depth+1)
	case c == '[':
		return s.array(i, depth+1)
	case c == '"':
		return s.str(i)
	case c == '-' || c >= '0' && c <= '9':
		return s.number(i)
	case c == 't':
		return s.literal(i, "true")
	case c == 'f':
		return s.literal(i, "false")
	case c == 'n':
		return s.literal(i, "null")
	}
	return -1, i
}

func (s *scanner) literal(i int, lit string) (int, int) {
	if len(s.data)-i >= len(lit) && string(s.data[i:i+len(lit)]) == lit {
		return i + len(lit), 0
	}
	return -1, i
}

func (s *scanner) number(i int) (int, int) {
	d := s.data
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return -1, i
	}
	if i < len(d) && d[i] == '.' {
		i++
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			return -1, i
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			return -1, i
		}
	}
	return i, 0
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// str scans a string starting at its opening quote.
func (s *scanner) str(i int) (int, int) {
	d := s.data
	i++
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			return i + 1, 0
		case c == '\\':
			if i+1 >= len(d) {
				return -1, i
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d) || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) || !isHex(d[i+5]) {
					return -1, i
				}
				i += 6
			default:
				return -1, i
			}
		case c < 0x20:
			return -1, i
		default:
			i++
		}
	}
	return -1, i
}

func (s *scanner) array(i, depth int) (int, int) {
	if depth > MaxDepth {
		return -1, i
	}
	d := s.data
	i = s.skipSpace(i + 1)
	if i < len(d) && d[i] == ']' {
		return i + 1, 0
	}
	for {
		end, bad := s.value(i, depth)
		if end < 0 {
			return -1, bad
		}
		i = s.skipSpace(end)
		if i >= len(d) {
			return -1, i
		}
		switch d[i] {
		case ',':
			i = s.skipSpace(i + 1)
		case ']':
			return i + 1, 0
		default:
			return -1, i
		}
	}
}

// object scans an object. When recording, an object whose last
// "_placeholder" member is true is a placeholder (as JSON.parse keeps the
// last of duplicate keys); placeholders found inside it are forgotten, as
// the reference parser replaces the whole object without looking in.
func (s *scanner) object(i, depth int) (int, int) {
	if depth > MaxDepth {
		return -1, i
	}
	d := s.data
	start := i
	mark := len(s.phs)
	isPH, num := false, -1
	i = s.skipSpace(i + 1)
	if i < len(d) && d[i] == '}' {
		return i + 1, 0
	}
	for {
		if i >= len(d) || d[i] != '"' {
			return -1, i
		}
		kend, bad := s.str(i)
		if kend < 0 {
			return -1, bad
		}
		key := d[i+1 : kend-1]
		i = s.skipSpace(kend)
		if i >= len(d) || d[i] != ':' {
			return -1, i
		}
		i = s.skipSpace(i + 1)
		vstart := i
		end, bad := s.value(i, depth)
		if end < 0 {
			return -1, bad
		}
		if s.record {
			switch keyName(key) {
			case "_placeholder":
				isPH = string(d[vstart:end]) == "true"
			case "num":
				num = placeholderNum(d[vstart:end])
			}
		}
		i = s.skipSpace(end)
		if i >= len(d) {
			return -1, i
		}
		switch d[i] {
		case ',':
			i = s.skipSpace(i + 1)
		case '}':
			if isPH {
				s.phs = append(s.phs[:mark], placeholder{num: num, start: start, end: i + 1})
			}
			return i + 1, 0
		default:
			return -1, i
		}
	}
}

// keyName returns the key as text when it names one of the two members a
// placeholder has, unescaping it if needed; "" otherwise.
func keyName(raw []byte) string {
	switch string(raw) {
	case "_placeholder":
		return "_placeholder"
	case "num":
		return "num"
	}
	if len(raw) > 6*len("_placeholder") {
		return ""
	}
	for _, c := range raw {
		if c == '\\' {
			if k, ok := unquote(raw); ok && (k == "_placeholder" || k == "num") {
				return k
			}
			return ""
		}
	}
	return ""
}

// placeholderNum returns the value of a num member when it is a JSON integer
// written without fraction or exponent and fits an int; -1 otherwise.
func placeholderNum(v []byte) int {
	if len(v) == 0 || len(v) > 9 {
		return -1
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// scanValue checks that data is exactly one JSON value, with optional space
// around it, and returns the value's bounds.
func (s *scanner) scanValue() (start, end int, err error) {
	start = s.skipSpace(0)
	end, bad := s.value(start, 0)
	if end < 0 {
		return 0, 0, errAt(bad, ErrBadJSON)
	}
	if rest := s.skipSpace(end); rest != len(s.data) {
		return 0, 0, errAt(rest, ErrBadJSON)
	}
	return start, end, nil
}
