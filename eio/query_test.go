package eio

import (
	"net/url"
	"testing"
)

// queryKeys are the parameters the server reads.
var queryKeys = []string{"transport", "sid", "EIO", "j", "b64"}

// checkQuery compares query's reading of raw with url.ParseQuery's.
func checkQuery(t *testing.T, raw string) {
	t.Helper()
	want, _ := url.ParseQuery(raw) // what parsed is kept on error too
	for _, k := range queryKeys {
		v, ok := query(raw).get(k)
		_, wantOK := want[k]
		if v != want.Get(k) || ok != wantOK {
			t.Errorf("query %q, key %q: got %q %v, url.ParseQuery %q %v", raw, k, v, ok, want.Get(k), wantOK)
		}
	}
}

// TestQueryGet: query reads each parameter as url.ParseQuery and
// url.Values.Get do, escapes, repeats and malformed pairs included.
func TestQueryGet(t *testing.T) {
	t.Parallel()
	for _, raw := range queryCorpus {
		t.Run(raw, func(t *testing.T) {
			t.Parallel()
			checkQuery(t, raw)
		})
	}
}

var queryCorpus = []string{
	"",
	"EIO=4&transport=websocket",
	"EIO=4&transport=polling&t=abc&sid=AbC-_123",
	"transport=web%73ocket&EIO=4",
	"%74ransport=polling",
	"sid=a+b&sid=c",
	"sid=%zz&sid=ok",
	"%zz=1&sid=x",
	"sid;x=1&sid=2",
	"sid",
	"sid=",
	"&&sid=1&&",
	"j=12&b64=1",
	"j=&b64=",
	"b64&j",
	"EIO=3=3",
	"EIO=%34",
	"sid=%2",
	"=x&sid=y",
}

// FuzzQueryGet: for any raw query, query agrees with url.ParseQuery.
func FuzzQueryGet(f *testing.F) {
	for _, raw := range queryCorpus {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) { checkQuery(t, raw) })
}
