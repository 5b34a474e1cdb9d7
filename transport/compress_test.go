package transport_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/chanio/chanio/transport"
)

func TestNegotiateEncoding(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header []string
		want   string
	}{
		{"none", nil, ""},
		{"empty", []string{""}, ""},
		{"browser", []string{"gzip, deflate, br, zstd"}, "gzip"},
		{"go client", []string{"gzip"}, "gzip"},
		{"deflate only", []string{"deflate"}, "deflate"},
		{"identity", []string{"identity"}, ""},
		{"unsupported only", []string{"br, zstd"}, ""},
		{"case and spaces", []string{"  GZip ;Q=0.5 , Deflate;q=0.4"}, "gzip"},
		{"deflate preferred by q", []string{"gzip;q=0.5, deflate"}, "deflate"},
		{"equal q prefers gzip", []string{"deflate;q=0.8, gzip;q=0.8"}, "gzip"},
		{"gzip refused", []string{"gzip;q=0, deflate"}, "deflate"},
		{"both refused", []string{"gzip;q=0, deflate;q=0.000"}, ""},
		{"star", []string{"*"}, "gzip"},
		{"star refused", []string{"*;q=0"}, ""},
		{"star without gzip", []string{"gzip;q=0, *"}, "deflate"},
		{"named beats star", []string{"*;q=0, deflate;q=0.1"}, "deflate"},
		{"x-gzip", []string{"x-gzip"}, "gzip"},
		{"several headers", []string{"br", "deflate"}, "deflate"},
		{"other parameters", []string{"gzip;level=1;q=0.2"}, "gzip"},
		{"malformed q", []string{"gzip;q=abc, deflate;q=0.1"}, "deflate"},
		{"q over 1", []string{"gzip;q=1.5"}, ""},
		{"q too precise", []string{"gzip;q=0.1234"}, ""},
		{"q=1.000", []string{"gzip;q=1.000"}, "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := transport.NegotiateEncoding(tc.header...); got != tc.want {
				t.Fatalf("NegotiateEncoding(%q) = %q, want %q", tc.header, got, tc.want)
			}
		})
	}
}

func decode(t *testing.T, encoding string, body []byte) []byte {
	t.Helper()
	var r io.ReadCloser
	var err error
	switch encoding {
	case "":
		return body
	case "gzip":
		r, err = gzip.NewReader(bytes.NewReader(body))
	case "deflate":
		r, err = zlib.NewReader(bytes.NewReader(body)) // HTTP deflate is zlib
	default:
		t.Fatalf("unknown encoding %q", encoding)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func payload(n int) []byte {
	return bytes.Repeat([]byte(`4{"msg":"hello"}`+"\x1e"), n/17+1)[:n]
}

// TestWriteBody: bodies over the threshold are compressed with the
// negotiated coding, bodies at or under it are not.
func TestWriteBody(t *testing.T) {
	const threshold = 1024
	for _, enc := range []string{"gzip", "deflate", ""} {
		for _, size := range []int{threshold - 1, threshold, threshold + 1, 100_000} {
			name := enc
			if name == "" {
				name = "identity"
			}
			t.Run(name+"/"+strconv.Itoa(size), func(t *testing.T) {
				r := httptest.NewRequest(http.MethodGet, "/engine.io/", nil)
				if enc != "" {
					r.Header.Set("Accept-Encoding", enc)
				} else {
					r.Header.Set("Accept-Encoding", "identity")
				}
				w := httptest.NewRecorder()
				w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
				body := payload(size)
				if err := transport.WriteBody(w, r, body, threshold); err != nil {
					t.Fatal(err)
				}
				res := w.Result()
				want := ""
				if size > threshold {
					want = enc
				}
				if got := res.Header.Get("Content-Encoding"); got != want {
					t.Fatalf("Content-Encoding %q, want %q", got, want)
				}
				if got, want := res.Header.Get("Vary"), size > threshold; (got == "Accept-Encoding") != want {
					t.Errorf("Vary %q with a body of %d bytes", got, size)
				}
				if cl := res.Header.Get("Content-Length"); cl != strconv.Itoa(w.Body.Len()) {
					t.Errorf("Content-Length %s, body %d bytes", cl, w.Body.Len())
				}
				if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/plain; charset=UTF-8" {
					t.Errorf("status %d, Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
				}
				if want != "" && w.Body.Len() >= size {
					t.Errorf("compressed to %d bytes from %d", w.Body.Len(), size)
				}
				if got := decode(t, want, w.Body.Bytes()); !bytes.Equal(got, body) {
					t.Fatalf("decoded body differs: %d bytes, want %d", len(got), len(body))
				}
			})
		}
	}
}

func TestWriteBodyUncompressed(t *testing.T) {
	for _, tc := range []struct {
		name      string
		body      []byte
		threshold int
		vary      bool
	}{
		{"compression off", payload(5000), -1, false},
		{"incompressible", randomBytes(5000), 1024, true},
		{"threshold zero, empty body", nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Accept-Encoding", "gzip, deflate")
			w := httptest.NewRecorder()
			w.Header().Set("Vary", "Origin")
			if err := transport.WriteBody(w, r, tc.body, tc.threshold); err != nil {
				t.Fatal(err)
			}
			h := w.Result().Header
			if h.Get("Content-Encoding") != "" || !bytes.Equal(w.Body.Bytes(), tc.body) {
				t.Fatalf("Content-Encoding %q, body changed: %v", h.Get("Content-Encoding"), !bytes.Equal(w.Body.Bytes(), tc.body))
			}
			if vary := strings.Join(h.Values("Vary"), ","); vary != map[bool]string{false: "Origin", true: "Origin,Accept-Encoding"}[tc.vary] {
				t.Errorf("Vary %q", vary)
			}
		})
	}
}

// TestWriteBodyHTTP goes through a real server and Go's HTTP client: the
// client's own "Accept-Encoding: gzip" is decoded transparently, a
// deflate request is decoded here.
func TestWriteBodyHTTP(t *testing.T) {
	body := payload(50_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		_ = transport.WriteBody(w, r, body, 1024)
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	t.Run("gzip by the transport", func(t *testing.T) {
		res, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		got, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Uncompressed || !bytes.Equal(got, body) {
			t.Fatalf("uncompressed by the transport: %v; body equal: %v", res.Uncompressed, bytes.Equal(got, body))
		}
	})
	for _, enc := range []string{"gzip", "deflate"} {
		t.Run(enc+" by hand", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			req.Header.Set("Accept-Encoding", enc)
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if res.Header.Get("Content-Encoding") != enc || res.ContentLength != int64(len(raw)) {
				t.Fatalf("Content-Encoding %q, Content-Length %d for %d bytes", res.Header.Get("Content-Encoding"), res.ContentLength, len(raw))
			}
			if got := decode(t, enc, raw); !bytes.Equal(got, body) {
				t.Fatal("decoded body differs")
			}
		})
	}
}

func TestAppendCompressed(t *testing.T) {
	body := payload(10_000)
	for _, enc := range []string{transport.EncodingGzip, transport.EncodingDeflate} {
		prefix := []byte("keep")
		out, err := transport.AppendCompressed(prefix, body, enc)
		if err != nil {
			t.Fatal(err)
		}
		if string(out[:4]) != "keep" {
			t.Fatalf("%s: prefix lost", enc)
		}
		if got := decode(t, enc, out[4:]); !bytes.Equal(got, body) {
			t.Fatalf("%s: round trip differs", enc)
		}
	}
	if _, err := transport.AppendCompressed(nil, body, "br"); !errors.Is(err, transport.ErrUnknownEncoding) {
		t.Fatalf("br: err %v", err)
	}
}

// BenchmarkWriteBody measures compressing a 16 KiB polling body.
func BenchmarkWriteBody(b *testing.B) {
	body := payload(16 << 10)
	for _, enc := range []string{"identity", "gzip", "deflate"} {
		b.Run(enc, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Accept-Encoding", enc)
			w := &discardResponse{h: make(http.Header)}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				clear(w.h)
				w.n = 0
				if err := transport.WriteBody(w, r, body, 1024); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(w.n)/float64(len(body)), "ratio")
		})
	}
}

type discardResponse struct {
	h http.Header
	n int
}

func (w *discardResponse) Header() http.Header         { return w.h }
func (w *discardResponse) WriteHeader(int)             {}
func (w *discardResponse) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
