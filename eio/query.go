package eio

import (
	"net/url"
	"strings"

	"github.com/chanio/chanio/transport"
)

// query is a request's raw query, read the way url.ParseQuery and
// url.Values.Get read it, without building the map: every request reads
// a few parameters, and url.Values cost a map and a slice and a string
// for each parameter (four allocations for a handshake's query).
type query string

// get returns the first value of key, as url.ParseQuery(q).Get(key) does:
// a pair holding a semicolon, or whose key or value does not unescape, is
// skipped. ok reports whether key is there. key must need no escaping.
func (q query) get(key string) (value string, ok bool) {
	rest := string(q)
	for rest != "" {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if k != key {
			if !needsUnescape(k) {
				continue
			}
			uk, err := url.QueryUnescape(k)
			if err != nil || uk != key {
				continue
			}
		}
		if needsUnescape(v) {
			var err error
			if v, err = url.QueryUnescape(v); err != nil {
				continue
			}
		}
		return v, true
	}
	return "", false
}

// needsUnescape reports whether s has escapes (%XX, or + for a space).
func needsUnescape(s string) bool { return strings.ContainsAny(s, "%+") }

// value returns the first value of key, "" when it is not there.
func (q query) value(key string) string {
	v, _ := q.get(key)
	return v
}

// jsonpIndex is transport.JSONPIndex of the query's j parameter.
func (q query) jsonpIndex() string {
	j, ok := q.get("j")
	if !ok {
		return ""
	}
	return transport.JSONPIndex(url.Values{"j": {j}})
}
