package eio_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/chanio/chanio/eio"
)

// A whole site around the Engine.IO server, as python-engineio's WSGIApp
// with static_files: the chat page at /, a directory at /static, a file
// with its own content type, "home.html" instead of "index.html" for
// URLs ending in "/", and everything else for the application's own mux.
func ExampleServer_Handler() {
	dir, err := os.MkdirTemp("", "chanio-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	for name, body := range map[string]string{
		"chat.html":             "<h1>chat</h1>",
		"VERSION":               "1.0.0",
		"public/app.js":         "connect()",
		"public/docs/home.html": "<h1>docs</h1>",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			panic(err)
		}
	}

	srv := eio.NewServer(nil)
	defer srv.Close()
	app := http.NewServeMux()
	app.HandleFunc("GET /api/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from the app")
	})

	site := srv.Handler(eio.StaticFiles{
		"/":        {Path: filepath.Join(dir, "chat.html")},
		"/static":  {Path: filepath.Join(dir, "public")},
		"/version": {Path: filepath.Join(dir, "VERSION"), ContentType: "text/plain"},
		"":         {Path: "home.html"},
	}, app)
	hs := httptest.NewServer(site)
	defer hs.Close()

	for _, path := range []string{
		"/",
		"/version",
		"/static/app.js",
		"/static/docs/",
		"/static/../VERSION",
		"/api/hello",
		"/engine.io/?EIO=4&transport=polling",
	} {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.HasPrefix(path, "/engine.io/") {
			body = append(body[:2:2], "..."...) // an open packet: 0{"sid":...}
		}
		fmt.Printf("%-19s %d %-25s %s\n", strings.Split(path, "?")[0], resp.StatusCode,
			resp.Header.Get("Content-Type"), strings.TrimSpace(string(body)))
	}
	// Output:
	// /                   200 text/html                 <h1>chat</h1>
	// /version            200 text/plain                1.0.0
	// /static/app.js      200 application/javascript    connect()
	// /static/docs/       200 text/html                 <h1>docs</h1>
	// /static/../VERSION  404 text/plain; charset=utf-8 404 page not found
	// /api/hello          200 text/plain; charset=utf-8 hello from the app
	// /engine.io/         200 text/plain; charset=UTF-8 0{...
}
