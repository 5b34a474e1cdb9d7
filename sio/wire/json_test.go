package wire

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzScanner checks the JSON scanner against encoding/json: it accepts
// exactly what json.Valid accepts (within MaxDepth), and the strings it
// unquotes read as encoding/json reads them.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,2.5e-3,-0,true,false,null,"x\u00e9\n"]}`, `[]`, `{}`, ` "s" `, `1.`, `01`, `-`, `1e`, `"\ud800"`,
		`"\ud83d\ude00"`, `{"_placeholder":true,"num":0}`, `[{"\u005fplaceholder":true,"num":3}]`, "\"\xff\"", `[1,]`, `{"a" 1}`, `nul`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) > MaxDepth {
			return
		}
		s := scanner{data: data, record: true}
		start, end, err := s.scanValue()
		if (err == nil) != json.Valid(data) {
			t.Fatalf("scanner says %v, json.Valid says %v for %q", err, json.Valid(data), data)
		}
		if err != nil {
			return
		}
		if !json.Valid(data[start:end]) || len(bytes.TrimSpace(data)) != end-start {
			t.Fatalf("value bounds %d:%d wrong in %q", start, end, data)
		}
		for _, ph := range s.phs {
			var obj map[string]any
			if json.Unmarshal(data[ph.start:ph.end], &obj) != nil || obj["_placeholder"] != true {
				t.Fatalf("placeholder %q is not one", data[ph.start:ph.end])
			}
		}
		if data[start] == '"' {
			var want string
			if json.Unmarshal(data[start:end], &want) != nil {
				t.Fatalf("json cannot read the string %q", data[start:end])
			}
			got, ok := unquote(data[start+1 : end-1])
			if !ok || got != want {
				t.Fatalf("unquote(%q) = %q, %v; encoding/json reads %q", data[start:end], got, ok, want)
			}
		}
	})
}
