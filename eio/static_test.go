package eio

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStaticResolve checks the rule matching of python-engineio's
// get_static_file, without a file system: which root, which name in it,
// which content type.
func TestStaticResolve(t *testing.T) {
	public := StaticFile{Path: "./public"}
	for _, tc := range []struct {
		name  string
		rules StaticFiles
		path  string
		want  staticTarget
		miss  bool // no rule matches
	}{
		{"exact file", StaticFiles{"/": {Path: "index.html"}}, "/",
			staticTarget{root: ".", name: "index.html", contentType: "text/html"}, false},
		{"exact file in a directory", StaticFiles{"/static/engine.io.js": {Path: "static/engine.io.js"}}, "/static/engine.io.js",
			staticTarget{root: "static", name: "engine.io.js", contentType: "application/javascript"}, false},
		{"exact beats prefix", StaticFiles{"/static": public, "/static/app.js": {Path: "build/app.js"}}, "/static/app.js",
			staticTarget{root: "build", name: "app.js", contentType: "application/javascript"}, false},
		{"directory prefix", StaticFiles{"/static": public}, "/static/css/styles.css",
			staticTarget{root: "./public", name: "css/styles.css", contentType: "text/css"}, false},
		{"slash key and slash path", StaticFiles{"/static/": {Path: "public/"}}, "/static/a.png",
			staticTarget{root: "public/", name: "a.png", contentType: "image/png"}, false},
		{"slash key, path without slash", StaticFiles{"/static/": {Path: "public"}}, "/static/a.png",
			staticTarget{root: "public", name: "a.png", contentType: "image/png"}, false},
		{"nested prefix, inner rule", StaticFiles{"/static": {Path: "a"}, "/static/test/": {Path: "b/"}}, "/static/test/x.gif",
			staticTarget{root: "b/", name: "x.gif", contentType: "image/gif"}, false},
		{"nested prefix, outer rule", StaticFiles{"/static": {Path: "a"}, "/static/test/": {Path: "b/"}}, "/static/other/x.gif",
			staticTarget{root: "a", name: "other/x.gif", contentType: "image/gif"}, false},
		{"trailing slash gets index.html", StaticFiles{"/static": public}, "/static/",
			staticTarget{root: "./public", name: "index.html", contentType: "text/html"}, false},
		{"trailing slash below", StaticFiles{"/static": public}, "/static/img/",
			staticTarget{root: "./public", name: "img/index.html", contentType: "text/html"}, false},
		{"exact directory path", StaticFiles{"/docs/": {Path: "site/"}}, "/docs/",
			staticTarget{root: "site/", name: "index.html", contentType: "text/html"}, false},
		{"empty key overrides index", StaticFiles{"/static": public, "": {Path: "image.gif"}}, "/static/",
			staticTarget{root: "./public", name: "image.gif", contentType: "image/gif"}, false},
		{"empty key with content type", StaticFiles{"/static": public, "": {Path: "image.gif", ContentType: "text/plain"}}, "/static/",
			staticTarget{root: "./public", name: "image.gif", contentType: "text/plain"}, false},
		{"empty key type beats rule type",
			StaticFiles{"/static": {Path: "p", ContentType: "text/x-rule"}, "": {Path: "home.html", ContentType: "text/x-index"}}, "/static/",
			staticTarget{root: "p", name: "home.html", contentType: "text/x-index"}, false},
		{"empty key without type keeps rule type",
			StaticFiles{"/static": {Path: "p", ContentType: "text/x-rule"}, "": {Path: "home.html"}}, "/static/",
			staticTarget{root: "p", name: "home.html", contentType: "text/x-rule"}, false},
		{"empty key unused without slash", StaticFiles{"/": {Path: "index.html"}, "": {Path: "image.gif"}}, "/",
			staticTarget{root: ".", name: "index.html", contentType: "text/html"}, false},
		{"empty key is no URL", StaticFiles{"": {Path: "public/"}}, "/foo", staticTarget{}, true},
		{"explicit content type", StaticFiles{"/foo": {Path: "index.html", ContentType: "text/plain"}}, "/foo",
			staticTarget{root: ".", name: "index.html", contentType: "text/plain"}, false},
		{"explicit content type on a directory", StaticFiles{"/dl": {Path: "files", ContentType: "application/x-custom"}}, "/dl/a.html",
			staticTarget{root: "files", name: "a.html", contentType: "application/x-custom"}, false},
		{"css", StaticFiles{"/s": public}, "/s/f.css", staticTarget{root: "./public", name: "f.css", contentType: "text/css"}, false},
		{"gif", StaticFiles{"/s": public}, "/s/f.gif", staticTarget{root: "./public", name: "f.gif", contentType: "image/gif"}, false},
		{"html", StaticFiles{"/s": public}, "/s/f.html", staticTarget{root: "./public", name: "f.html", contentType: "text/html"}, false},
		{"jpg", StaticFiles{"/s": public}, "/s/f.jpg", staticTarget{root: "./public", name: "f.jpg", contentType: "image/jpeg"}, false},
		{"js", StaticFiles{"/s": public}, "/s/f.js", staticTarget{root: "./public", name: "f.js", contentType: "application/javascript"}, false},
		{"json", StaticFiles{"/s": public}, "/s/f.json", staticTarget{root: "./public", name: "f.json", contentType: "application/json"}, false},
		{"png", StaticFiles{"/s": public}, "/s/f.png", staticTarget{root: "./public", name: "f.png", contentType: "image/png"}, false},
		{"txt", StaticFiles{"/s": public}, "/s/f.txt", staticTarget{root: "./public", name: "f.txt", contentType: "text/plain"}, false},
		{"unknown extension", StaticFiles{"/s": public}, "/s/foo.bar",
			staticTarget{root: "./public", name: "foo.bar", contentType: "application/octet-stream"}, false},
		{"no extension", StaticFiles{"/s": public}, "/s/LICENSE",
			staticTarget{root: "./public", name: "LICENSE", contentType: "application/octet-stream"}, false},
		{"extension is case-sensitive", StaticFiles{"/s": public}, "/s/A.JPG",
			staticTarget{root: "./public", name: "A.JPG", contentType: "application/octet-stream"}, false},
		{"dot in the directory only", StaticFiles{"/s": {Path: "v1.css"}}, "/s/README",
			staticTarget{root: "v1.css", name: "README", contentType: "application/octet-stream"}, false},
		{"slash rule catches every path", StaticFiles{"/": {Path: "index.html"}}, "/bar/foo",
			staticTarget{root: "index.html", name: "bar/foo", contentType: "application/octet-stream"}, false},
		{"no rule", StaticFiles{"/static": public}, "/other/x.js", staticTarget{}, true},
		{"no slash in path", StaticFiles{"/": public}, "*", staticTarget{}, true},
		{"empty and dot segments", StaticFiles{"/static": public}, "/static//./x.txt",
			staticTarget{root: "./public", name: "x.txt", contentType: "text/plain"}, false},
		{"empty path serves nothing", StaticFiles{"/x": {}}, "/x",
			staticTarget{contentType: "application/octet-stream", name: "."}, false},
		{"dot-dot", StaticFiles{"/static": public}, "/static/../secret.txt", staticTarget{unsafe: true}, false},
		{"dot-dot inside", StaticFiles{"/static": public}, "/static/a/../b.txt", staticTarget{unsafe: true}, false},
		{"dot-dot last", StaticFiles{"/static": public}, "/static/..", staticTarget{unsafe: true}, false},
		{"backslash", StaticFiles{"/static": public}, `/static/..\secret.txt`, staticTarget{unsafe: true}, false},
		{"NUL", StaticFiles{"/static": public}, "/static/a.txt\x00.png", staticTarget{unsafe: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.rules.resolve(tc.path)
			if ok == tc.miss {
				t.Fatalf("resolve(%q) matched = %v, want %v", tc.path, ok, !tc.miss)
			}
			if tc.want.unsafe {
				if !got.unsafe {
					t.Fatalf("resolve(%q) = %+v, want unsafe", tc.path, got)
				}
				return
			}
			if got != tc.want {
				t.Fatalf("resolve(%q) = %+v, want %+v", tc.path, got, tc.want)
			}
		})
	}
}

const staticSecret = "TOP-SECRET"

// staticTree is a site on disk:
//
//	dir/index.html, dir/secret.txt (what no request may read)
//	dir/public/...           served at /static
//	dir/public/test/         served at /static/test/ too
//	dir/site/page.html       a link to ../secret.txt, served at /page
type staticTree struct {
	dir, public, secret string
	rules               StaticFiles
}

func newStaticTree(t *testing.T) staticTree {
	t.Helper()
	dir := t.TempDir()
	tr := staticTree{dir: dir, public: filepath.Join(dir, "public"), secret: filepath.Join(dir, "secret.txt")}
	for name, body := range map[string]string{
		"index.html":             "<html></html>\n",
		"secret.txt":             staticSecret,
		"public/index.html":      "public index",
		"public/app.js":          "app js",
		"public/style.css":       "style css",
		"public/data.json":       "{}",
		"public/logo.png":        "png",
		"public/pic.jpg":         "jpg",
		"public/anim.gif":        "gif",
		"public/notes.txt":       "notes",
		"public/blob.bin":        "bin",
		"public/LICENSE":         "license",
		"public/test/index.html": "test index",
		"public/test/image.gif":  "test gif",
		"public/sub/deep/x.txt":  "deep x",
		"site/other.html":        "other",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"public/link.txt":    "../secret.txt",                   // relative, out of the root
		"public/abslink.txt": tr.secret,                         // absolute, out of the root
		"public/linkdir":     "..",                              // a directory out of the root
		"public/inlink.txt":  "notes.txt",                       // inside the root: followed
		"publink":            "public",                          // a root reached through a link
		"site/page.html":     filepath.Join("..", "secret.txt"), // a file rule's own file, out of its directory
	} {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(link))); err != nil {
			t.Skipf("no symlinks here: %v", err)
		}
	}
	tr.rules = StaticFiles{
		"/":             {Path: filepath.Join(dir, "index.html")},
		"/foo":          {Path: filepath.Join(dir, "index.html"), ContentType: "text/plain"},
		"/static":       {Path: tr.public},
		"/static/test/": {Path: filepath.Join(tr.public, "test") + "/"},
		"/typed":        {Path: tr.public, ContentType: "text/x-typed"},
		"/page":         {Path: filepath.Join(dir, "site", "page.html")},
		"/other":        {Path: filepath.Join(dir, "site", "other.html")},
		"/linked":       {Path: filepath.Join(dir, "publink")},
		"/missing.html": {Path: filepath.Join(dir, "nope.html")},
		"/missing-dir":  {Path: filepath.Join(dir, "nope") + "/"},
	}
	return tr
}

// staticServer returns a server stopped at the end of the test.
func staticServer(t *testing.T, opts *Options) *Server {
	t.Helper()
	srv := NewServer(opts)
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// nextHandler answers every request it gets with "next METHOD PATH".
var nextHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/x-next")
	_, _ = io.WriteString(w, "next "+r.Method+" "+r.URL.Path)
})

// staticDo sends a request, target as on the request line, to h.
func staticDo(h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestStaticRules serves python-engineio's static file cases from disk.
func TestStaticRules(t *testing.T) {
	tr := newStaticTree(t)
	srv := staticServer(t, nil)
	withIndex := func(index StaticFile) StaticFiles {
		rules := maps.Clone(tr.rules)
		rules[""] = index
		return rules
	}
	for _, tc := range []struct {
		name   string
		rules  StaticFiles // nil means tr.rules
		path   string
		status int
		ctype  string
		body   string
	}{
		{"exact file", nil, "/", 200, "text/html", "<html></html>\n"},
		{"explicit content type", nil, "/foo", 200, "text/plain", "<html></html>\n"},
		{"directory prefix", nil, "/static/index.html", 200, "text/html", "public index"},
		{"directory index", nil, "/static/", 200, "text/html", "public index"},
		{"nested prefix", nil, "/static/test/index.html", 200, "text/html", "test index"},
		{"nested prefix index", nil, "/static/test/", 200, "text/html", "test index"},
		{"deep file", nil, "/static/sub/deep/x.txt", 200, "text/plain", "deep x"},
		{"rule content type for a directory", nil, "/typed/app.js", 200, "text/x-typed", "app js"},
		{"js", nil, "/static/app.js", 200, "application/javascript", "app js"},
		{"css", nil, "/static/style.css", 200, "text/css", "style css"},
		{"json", nil, "/static/data.json", 200, "application/json", "{}"},
		{"png", nil, "/static/logo.png", 200, "image/png", "png"},
		{"jpg", nil, "/static/pic.jpg", 200, "image/jpeg", "jpg"},
		{"gif", nil, "/static/anim.gif", 200, "image/gif", "gif"},
		{"txt", nil, "/static/notes.txt", 200, "text/plain", "notes"},
		{"unknown extension", nil, "/static/blob.bin", 200, "application/octet-stream", "bin"},
		{"no extension", nil, "/static/LICENSE", 200, "application/octet-stream", "license"},
		{"link inside the root", nil, "/static/inlink.txt", 200, "text/plain", "notes"},
		{"file rule", nil, "/other", 200, "text/html", "other"},
		{"root reached through a link", nil, "/linked/app.js", 200, "application/javascript", "app js"},
		{"missing file", nil, "/static/foo.bar", 404, "", ""},
		{"below a file rule", nil, "/bar/foo", 404, "", ""},
		{"directory without index", nil, "/static/sub/", 404, "", ""},
		{"directory not listed", nil, "/static/sub", 404, "", ""},
		{"rule file missing", nil, "/missing.html", 404, "", ""},
		{"rule directory missing", nil, "/missing-dir/a.js", 404, "", ""},
		{"rule directory missing, index", nil, "/missing-dir/", 404, "", ""},
		{"empty key", withIndex(StaticFile{Path: "image.gif"}), "/static/test/", 200, "image/gif", "test gif"},
		{"empty key with content type", withIndex(StaticFile{Path: "index.html", ContentType: "image/gif"}), "/static/test/",
			200, "image/gif", "test index"},
		{"empty key names a missing file", withIndex(StaticFile{Path: "nope.gif"}), "/static/test/", 404, "", ""},
		{"empty key not for exact files", withIndex(StaticFile{Path: "image.gif"}), "/", 200, "text/html", "<html></html>\n"},
		{"no rules", StaticFiles{}, "/static/test/index.html", 404, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules := tc.rules
			if rules == nil {
				rules = tr.rules
			}
			w := staticDo(srv.Handler(rules, nil), http.MethodGet, tc.path)
			if w.Code != tc.status {
				t.Fatalf("GET %s: status %d, want %d; body %q", tc.path, w.Code, tc.status, w.Body)
			}
			if tc.status != 200 {
				return
			}
			if ct := w.Header().Get("Content-Type"); ct != tc.ctype {
				t.Errorf("GET %s: Content-Type %q, want %q", tc.path, ct, tc.ctype)
			}
			if w.Body.String() != tc.body {
				t.Errorf("GET %s: body %q, want %q", tc.path, w.Body, tc.body)
			}
		})
	}
}

// TestStaticTraversal tries to read dir/secret.txt through the /static
// and / rules. Refused requests get 404 even with a next handler; the rest
// are plain misses inside the root, 404 without one.
func TestStaticTraversal(t *testing.T) {
	tr := newStaticTree(t)
	srv := staticServer(t, nil)
	abs := filepath.ToSlash(tr.secret) // "/tmp/.../secret.txt"
	rules := maps.Clone(tr.rules)
	rules["/secret"] = StaticFile{Path: tr.secret} // a control: the secret is readable

	if w := staticDo(srv.Handler(rules, nil), http.MethodGet, "/secret"); w.Code != 200 || w.Body.String() != staticSecret {
		t.Fatalf("control: GET /secret = %d %q: the tree is broken", w.Code, w.Body)
	}
	for _, tc := range []struct {
		name    string
		target  string
		refused bool
	}{
		{"dot-dot", "/static/../secret.txt", true},
		{"encoded slash", "/static/..%2fsecret.txt", true},
		{"encoded slash, upper case", "/static/..%2Fsecret.txt", true},
		{"encoded dots", "/static/%2e%2e/secret.txt", true},
		{"encoded dots and slash", "/static/%2e%2e%2fsecret.txt", true},
		{"backslash", `/static/..\secret.txt`, true},
		{"encoded backslash", "/static/..%5csecret.txt", true},
		{"two levels", "/static/test/../../secret.txt", true},
		{"dot-dot staying inside", "/static/sub/../app.js", true},
		{"dot-dot from the slash rule", "/..%2fsecret.txt", true},
		{"NUL", "/static/secret.txt%00.txt", true},
		{"relative symlink out", "/static/link.txt", true},
		{"absolute symlink out", "/static/abslink.txt", true},
		{"directory symlink out", "/static/linkdir/secret.txt", true},
		{"file rule symlink out", "/page", true},
		{"absolute path", "/static/" + abs, false},
		{"absolute path, encoded", "/static/" + url.PathEscape(abs), false},
		{"absolute path under the slash rule", "/" + url.PathEscape(abs), false},
		{"drive letter", "/static/C:" + url.PathEscape(abs), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, next := range []http.Handler{nil, nextHandler} {
				w := staticDo(srv.Handler(rules, next), http.MethodGet, tc.target)
				if strings.Contains(w.Body.String(), staticSecret) {
					t.Fatalf("GET %s (next %v): the secret leaked: %d %q", tc.target, next != nil, w.Code, w.Body)
				}
				gotNext := strings.HasPrefix(w.Body.String(), "next ")
				switch wantNext := next != nil && !tc.refused; {
				case wantNext && !gotNext:
					t.Fatalf("GET %s: %d %q, want the next handler", tc.target, w.Code, w.Body)
				case !wantNext && (gotNext || w.Code != 404):
					t.Fatalf("GET %s (next %v): %d %q, want 404", tc.target, next != nil, w.Code, w.Body)
				}
			}
		})
	}
}

// TestStaticHTTP checks what http.ServeContent brings: HEAD, Range and
// conditional requests.
func TestStaticHTTP(t *testing.T) {
	tr := newStaticTree(t)
	mtime := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(tr.public, "app.js"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	h := staticServer(t, nil).Handler(tr.rules, nextHandler)
	for _, tc := range []struct {
		name   string
		method string
		header []string
		status int
		body   string
		check  map[string]string // response headers
	}{
		{"GET", http.MethodGet, nil, 200, "app js", map[string]string{
			"Content-Type": "application/javascript", "Content-Length": "6", "Last-Modified": "Wed, 01 May 2024 12:00:00 GMT"}},
		{"HEAD", http.MethodHead, nil, 200, "", map[string]string{
			"Content-Type": "application/javascript", "Content-Length": "6"}},
		{"range", http.MethodGet, []string{"Range", "bytes=0-2"}, 206, "app", map[string]string{
			"Content-Range": "bytes 0-2/6", "Content-Type": "application/javascript"}},
		{"not modified", http.MethodGet, []string{"If-Modified-Since", "Wed, 01 May 2024 12:00:00 GMT"}, 304, "", nil},
		{"modified", http.MethodGet, []string{"If-Modified-Since", "Tue, 30 Apr 2024 12:00:00 GMT"}, 200, "app js", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := staticDo(h, tc.method, "/static/app.js", tc.header...)
			if w.Code != tc.status || w.Body.String() != tc.body {
				t.Fatalf("%s: %d %q, want %d %q", tc.name, w.Code, w.Body, tc.status, tc.body)
			}
			for k, v := range tc.check {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s: %s = %q, want %q", tc.name, k, got, v)
				}
			}
		})
	}
}

// TestHandlerRouting checks where [Server.Handler] sends each request.
func TestHandlerRouting(t *testing.T) {
	tr := newStaticTree(t)
	srv := staticServer(t, nil)
	custom := staticServer(t, &Options{Path: "/rt"})
	rules := maps.Clone(tr.rules)
	rules["/engine.io/"] = StaticFile{Path: filepath.Join(tr.public, "app.js")} // shadowed by the server
	const (
		toServer = "server"
		toNext   = "next"
		toStatic = "static"
		to404    = "404"
	)
	for _, tc := range []struct {
		name   string
		srv    *Server
		next   http.Handler
		method string
		target string
		want   string
	}{
		{"static GET", srv, nextHandler, http.MethodGet, "/static/app.js", toStatic},
		{"static HEAD", srv, nextHandler, http.MethodHead, "/static/app.js", toStatic},
		{"POST to a static path", srv, nextHandler, http.MethodPost, "/static/app.js", toNext},
		{"PUT to a static path", srv, nextHandler, http.MethodPut, "/static/app.js", toNext},
		{"OPTIONS to a static path", srv, nextHandler, http.MethodOptions, "/static/app.js", toNext},
		{"no rule", srv, nextHandler, http.MethodGet, "/api/users", toNext},
		{"missing static file", srv, nextHandler, http.MethodGet, "/static/nope.js", toNext},
		{"below a file rule", srv, nextHandler, http.MethodGet, "/bar/foo", toNext},
		{"directory", srv, nextHandler, http.MethodGet, "/static/sub", toNext},
		{"no rule, no next", srv, nil, http.MethodGet, "/api/users", to404},
		{"POST, no next", srv, nil, http.MethodPost, "/static/app.js", to404},
		{"engine path", srv, nextHandler, http.MethodGet, "/engine.io/", toServer},
		{"engine path without slash", srv, nextHandler, http.MethodGet, "/engine.io", toServer},
		{"engine path POST", srv, nextHandler, http.MethodPost, "/engine.io/", toServer},
		{"engine path HEAD", srv, nextHandler, http.MethodHead, "/engine.io/", toServer},
		{"below the engine path", srv, nextHandler, http.MethodGet, "/engine.io/x", toNext},
		{"engine path prefix", srv, nextHandler, http.MethodGet, "/engine.iox", toNext},
		{"custom path", custom, nextHandler, http.MethodGet, "/rt/", toServer},
		{"custom path without slash", custom, nextHandler, http.MethodGet, "/rt", toServer},
		{"default path on a custom server", custom, nextHandler, http.MethodGet, "/engine.io/", toStatic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := staticDo(tc.srv.Handler(rules, tc.next), tc.method, tc.target)
			body, ct := w.Body.String(), w.Header().Get("Content-Type")
			var got string
			switch {
			case w.Code == 400 && ct == "application/json" && strings.HasPrefix(body, `{"code":0,`):
				got = toServer // no transport: the server's "Transport unknown"
			case w.Code == 200 && ct == "text/x-next":
				got = toNext
				if want := "next " + tc.method + " " + tc.target; body != want {
					t.Errorf("next got %q, want %q", body, want)
				}
			case w.Code == 200 && ct == "application/javascript":
				got = toStatic
			case w.Code == 404:
				got = to404
			default:
				got = "unexpected"
			}
			if got != tc.want {
				t.Fatalf("%s %s went to %s (%d %q %q), want %s", tc.method, tc.target, got, w.Code, ct, body, tc.want)
			}
		})
	}

	t.Run("rules copied", func(t *testing.T) {
		rules := StaticFiles{"/a.js": {Path: filepath.Join(tr.public, "app.js")}}
		h := srv.Handler(rules, nil)
		rules["/a.js"] = StaticFile{Path: tr.secret}
		delete(rules, "/a.js")
		if w := staticDo(h, http.MethodGet, "/a.js"); w.Code != 200 || w.Body.String() != "app js" {
			t.Fatalf("GET /a.js after the map changed: %d %q", w.Code, w.Body)
		}
	})
}

// TestHandlerEngineIO runs a polling handshake through the combined
// handler over a real socket.
func TestHandlerEngineIO(t *testing.T) {
	tr := newStaticTree(t)
	srv := NewServer(nil)
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler(tr.rules, nextHandler))
	defer hs.Close()

	for _, tc := range []struct {
		name, path, prefix string
	}{
		{"handshake", "/engine.io/?EIO=4&transport=polling", `0{"sid":"`},
		{"static beside it", "/static/app.js", "app js"},
		{"next beside it", "/api", "next GET /api"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := hs.Client().Get(hs.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || !strings.HasPrefix(string(body), tc.prefix) {
				t.Fatalf("GET %s: %d %q, want 200 and %q...", tc.path, resp.StatusCode, body, tc.prefix)
			}
		})
	}
	hs.Client().CloseIdleConnections()
}
