package eio

import (
	"net/url"
	"strings"

	"github.com/chanio/chanio/transport"
)

// query is what a request's query string says to the server: the
// Engine.IO parameters, each the first value as url.Values.Get gives it
// (j also says whether it is there at all).
//
// parseQuery reads them as url.ParseQuery does, without building the
// url.Values map: every long-poll GET and POST reads its query, and the
// map was a few percent of a polling server's CPU.
type query struct {
	transport, sid, eio, b64, j string
	hasJ                        bool
}

// The parameters of query, as bits of a set.
const (
	qTransport = 1 << iota
	qSID
	qEIO
	qB64
	qJ
)

// parseQuery reads raw, a request's raw query string, as url.ParseQuery
// reads it: pairs separated by '&'; a pair with a ';' in it, or whose key
// or value is not a valid escape, is skipped; keys and values are
// unescaped; the first value of a key is its value. (ParseQuery also
// refuses a query of more parameters than GODEBUG urlmaxqueryparams
// allows, 10,000 by default: the server refuses queries over
// maxQueryBytes first, which have fewer.)
func parseQuery(raw string) query {
	var q query
	var seen int
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(key, "%+") {
			var err error
			if key, err = url.QueryUnescape(key); err != nil {
				continue
			}
		}
		var bit int
		var field *string
		switch key {
		case "transport":
			bit, field = qTransport, &q.transport
		case "sid":
			bit, field = qSID, &q.sid
		case "EIO":
			bit, field = qEIO, &q.eio
		case "b64":
			bit, field = qB64, &q.b64
		case "j":
			bit, field = qJ, &q.j
		default:
			continue // no other key is read
		}
		if seen&bit != 0 {
			continue
		}
		if strings.ContainsAny(value, "%+") {
			var err error
			if value, err = url.QueryUnescape(value); err != nil {
				continue // skipped: a later pair of the key counts
			}
		}
		seen |= bit
		*field = value
	}
	q.hasJ = seen&qJ != 0
	return q
}

// wantsBase64 reports whether a request asks for binary as base64 text:
// the b64 parameter, set to anything but the empty string (as the
// reference reads it). Protocol 3 clients without binary support send it.
func (q query) wantsBase64() bool { return q.b64 != "" }

// jsonp is the bracketed index of a JSONP request ([transport.JSONPIndex]),
// or "" when the request has no j parameter and is not JSONP.
func (q query) jsonp() string {
	if !q.hasJ {
		return ""
	}
	return transport.JSONPIndex(q.j)
}
