package eio

import (
	"net/url"
	"testing"
)

// wantQuery is what url.ParseQuery makes of raw, as the server read it
// before parseQuery.
func wantQuery(raw string) query {
	v, _ := url.ParseQuery(raw)
	j, hasJ := v["j"]
	q := query{transport: v.Get("transport"), sid: v.Get("sid"), eio: v.Get("EIO"), b64: v.Get("b64"), hasJ: hasJ}
	if hasJ {
		q.j = j[0]
	}
	return q
}

func TestParseQuery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, raw string }{
		{"empty", ""},
		{"handshake", "EIO=4&transport=polling"},
		{"session", "EIO=4&transport=polling&t=PZ3x9Qa&sid=abcDEF-_0123456789ab"},
		{"first value wins", "sid=a&sid=b&transport=polling&transport=websocket"},
		{"empty first value wins", "sid=&sid=b"},
		{"no equals sign", "sid&sid=b&j"},
		{"escaped value", "sid=a%2Bb%20c+d&transport=poll%69ng"},
		{"escaped key", "s%69d=x&%45IO=3&b%36%34=1"},
		{"plus in key", "si+d=x&sid=y"},
		{"bad escape in value skips the pair", "sid=%zz&sid=good"},
		{"bad escape in key skips the pair", "s%zid=x&sid=y"},
		{"semicolon skips the pair", "sid=a;b&sid=c&EIO=4;transport=polling"},
		{"empty pairs", "&&sid=a&&"},
		{"jsonp", "EIO=3&transport=polling&j=12"},
		{"jsonp empty", "EIO=3&transport=polling&j="},
		{"jsonp bad first", "j=%&j=4"},
		{"b64", "EIO=3&transport=polling&b64=1"},
		{"b64 empty", "EIO=3&transport=polling&b64="},
		{"case matters", "SID=a&eio=4&Transport=polling"},
		{"equals in value", "sid=a=b"},
		{"other keys", "foo=%zz&bar=1&sid=s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got, want := parseQuery(tc.raw), wantQuery(tc.raw); got != want {
				t.Errorf("parseQuery(%q) = %+v, url.ParseQuery reads %+v", tc.raw, got, want)
			}
		})
	}
}

// FuzzParseQuery: parseQuery reads every query string as url.ParseQuery
// does (within maxQueryBytes, which the server checks first).
func FuzzParseQuery(f *testing.F) {
	for _, raw := range []string{
		"EIO=4&transport=polling",
		"EIO=4&transport=polling&sid=abcDEF-_0123456789ab&t=x",
		"EIO=3&transport=polling&j=1&b64=1",
		"sid=%zz&sid=a+b%20&s%69d=c;d",
	} {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if len(raw) > maxQueryBytes {
			return
		}
		if got, want := parseQuery(raw), wantQuery(raw); got != want {
			t.Errorf("parseQuery(%q) = %+v, url.ParseQuery reads %+v", raw, got, want)
		}
	})
}

func TestParseQueryAllocations(t *testing.T) {
	raw := "EIO=4&transport=polling&t=PZ3x9Qa&sid=abcDEF-_0123456789ab"
	if n := testing.AllocsPerRun(100, func() { _ = parseQuery(raw) }); n != 0 {
		t.Errorf("parseQuery of a long-poll's query: %v allocations, want 0", n)
	}
}
