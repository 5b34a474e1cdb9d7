package eio

import (
	"errors"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// StaticFiles maps URL paths to files and directories, as python-engineio's
// static_files does; give it to [Server.Handler]. A key is a URL path, or ""
// for the default index file. A map literal is all there is to write:
//
//	eio.StaticFiles{
//		"/":        {Path: "chat.html"},
//		"/static":  {Path: "./public"},
//		"/version": {Path: "VERSION", ContentType: "text/plain"},
//		"":         {Path: "home.html"},
//	}
//
// A GET or HEAD request's path is matched as get_static_file matches it:
//
//  1. A key equal to the path wins, and the rule's Path is the file.
//  2. Otherwise the last segment is cut from the path, again and again; each
//     shorter path is looked up as it is and then with a trailing "/". The
//     first rule found is a directory: the cut-off part is appended to its
//     Path (one "/" between them).
//  3. A file name that ends in "/" gets the "" rule's Path appended (and its
//     ContentType, if set), or "index.html" when there is no "" rule.
//  4. The content type is the rule's ContentType; failing that, it comes
//     from the text after the last "." of the file name, case-sensitively:
//     css text/css, gif image/gif, html text/html, jpg image/jpeg, js
//     application/javascript, json application/json, png image/png, txt
//     text/plain; anything else is application/octet-stream.
//
// With the rules above:
//
//	/                   chat.html                 text/html
//	/version            VERSION                   text/plain
//	/static/app.js      ./public/app.js           application/javascript
//	/static/            ./public/home.html        text/html
//	/static/img/        ./public/img/home.html    text/html
//	/api/users          chat.html/api/users       (no such file: next handler)
//
// The "" key is never matched as a URL path. When the matched rule names no
// file (it is missing, it is a directory, or the rule's Path is a file and
// the request asks for something below it), the request goes on to the
// next handler, as in python: a "/" rule matches every path, yet the
// application still gets every path that is not a file. A file that is
// not a regular file (a FIFO, a socket, a device) is never opened: the
// request gets 404. The handler copies
// the rules when it is built; it looks for files on every request, so they
// may appear and change later.
type StaticFiles map[string]StaticFile

// StaticFile is one rule of [StaticFiles]. Path is the file the rule's URL
// serves or, for requests below that URL, the directory they are served
// from; a Path ending in "/" is a directory also for the URL itself, which
// then serves its index file. A relative Path is relative to the process's
// working directory. An empty Path serves nothing.
//
// ContentType, if set, is the Content-Type of every file the rule serves;
// empty means the type guessed from the file's extension.
type StaticFile struct {
	Path        string
	ContentType string
}

// Handler returns an [http.Handler] that serves a whole site around s, as
// python-engineio's WSGIApp and ASGIApp do. Requests are routed in this order:
//
//  1. At the server's path (Options.Path, with or without its trailing
//     slash): to s, whatever the method.
//  2. GET and HEAD requests that a rule of static serves a file for: the
//     file, with the rule's Content-Type; Last-Modified, If-Modified-Since
//     and Range work as in [http.ServeContent]. Directories are never listed.
//  3. Everything else: to next, or 404 when next is nil.
//
// The server's path wins over a static rule for the same URL.
//
// Static files are served only from inside their root: the rule's Path for
// requests below the rule's URL, the directory holding Path for the URL
// itself (Path itself when it ends in "/"). Each request opens its root
// with [os.OpenRoot], so neither "..", absolute paths, nor symbolic links
// lead out of it; links that stay inside are followed. The root's own path
// may go through links; a file rule's file is inside its directory's root,
// so if it is a link, the link must stay in that directory. A request whose path, once decoded (so "%2e%2e"
// and "%2F" count), has a ".." segment, a backslash or a NUL byte below a
// rule's URL gets 404, as does one for a file its root refuses to open (a
// link out of the root); neither is sent on to next.
//
// Handler is a method on the server, not a NewApp function, because the
// handler must know the server's path, and it returns a plain http.Handler
// to wrap or mount like any other: there is no new type to learn. s remains
// the caller's to shut down; the handler holds no resources of its own.
func (s *Server) Handler(static StaticFiles, next http.Handler) http.Handler {
	return &siteHandler{srv: s, static: maps.Clone(static), next: next}
}

// siteHandler is the handler [Server.Handler] returns.
//
// It keeps no open os.Root: every static request opens its root and closes
// it before returning. An http.Handler has no Close, so roots held for the
// handler's life would be file descriptors nobody can release; a root held
// open would also keep serving a directory that was replaced (renamed over
// by a deploy or a build) and could not pick up a directory created after
// the handler. One more open and close per static file is small next to
// reading the file, and this server is for development, as python's is.
type siteHandler struct {
	srv    *Server
	static StaticFiles
	next   http.Handler
}

func (h *siteHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.srv.atPath(r.URL.Path) {
		h.srv.ServeHTTP(w, r)
		return
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if t, ok := h.static.resolve(r.URL.Path); ok {
			switch serveStatic(w, r, t) {
			case staticServed:
				return
			case staticRefused:
				http.NotFound(w, r)
				return
			}
		}
	}
	if h.next != nil {
		h.next.ServeHTTP(w, r)
		return
	}
	http.NotFound(w, r)
}

// atPath reports whether p is the server's path, with or without its
// trailing slash: the paths ServeHTTP answers.
func (s *Server) atPath(p string) bool {
	return p == s.opts.Path || p == s.opts.Path[:len(s.opts.Path)-1]
}

// staticTarget is a file a request resolved to: name, opened in root.
type staticTarget struct {
	root        string // a directory, as configured
	name        string // slash-separated, relative, clean; "." is root itself
	contentType string
	unsafe      bool // the name had a "..", backslash or NUL: refuse it
}

// resolve finds the rule for urlPath as python-engineio's get_static_file
// does and returns the file it names; ok is false when no rule matches.
func (sf StaticFiles) resolve(urlPath string) (t staticTarget, ok bool) {
	rule, exact := sf[urlPath]
	exact = exact && urlPath != ""
	rest := "" // the cut-off part of urlPath, with its leading "/"
	if !exact {
		p := urlPath
		for {
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				return staticTarget{}, false
			}
			p, rest = p[:i], p[i:]+rest
			if r, found := sf[p]; found && p != "" {
				rule = r
				break
			}
			if r, found := sf[p+"/"]; found {
				rule = r
				break
			}
		}
	}

	// file is python's file name, kept for the extension; root and name
	// are the same file split at the root.
	file := rule.Path
	if rest != "" && endsInSlash(file) {
		rest = rest[1:]
	}
	file += rest
	var name string
	switch {
	case rest != "", endsInSlash(rule.Path):
		t.root, name = rule.Path, rest
	case rule.Path != "":
		t.root, name = filepath.Dir(rule.Path), filepath.Base(rule.Path)
	}
	t.contentType = rule.ContentType
	if endsInSlash(file) {
		index := "index.html"
		if d, found := sf[""]; found {
			index = d.Path
			if d.ContentType != "" {
				t.contentType = d.ContentType
			}
		}
		file += index
		name += "/" + index
	}
	if t.contentType == "" {
		t.contentType = contentTypeOf(file)
	}
	t.name, t.unsafe = cleanName(name)
	return t, true
}

func endsInSlash(p string) bool { return p != "" && os.IsPathSeparator(p[len(p)-1]) }

// contentTypeOf guesses as python-engineio does: by the text after the
// last dot of the whole file name (the whole name if it has none).
func contentTypeOf(file string) string {
	switch file[strings.LastIndexByte(file, '.')+1:] {
	case "css":
		return "text/css"
	case "gif":
		return "image/gif"
	case "html":
		return "text/html"
	case "jpg":
		return "image/jpeg"
	case "js":
		return "application/javascript"
	case "json":
		return "application/json"
	case "png":
		return "image/png"
	case "txt":
		return "text/plain"
	}
	return "application/octet-stream"
}

// cleanName turns the part of a file name below its root into a relative
// slash-separated name, dropping empty and "." segments (as the file
// system would). A ".." segment, a backslash (a separator on Windows) or a
// NUL byte makes it unsafe.
func cleanName(name string) (clean string, unsafe bool) {
	segs := make([]string, 0, strings.Count(name, "/")+1)
	for seg := range strings.SplitSeq(name, "/") {
		switch {
		case seg == "" || seg == ".":
			continue
		case seg == "..", strings.ContainsAny(seg, "\\\x00"):
			return "", true
		}
		segs = append(segs, seg)
	}
	if len(segs) == 0 {
		return ".", false
	}
	return strings.Join(segs, "/"), false
}

type staticResult int

const (
	staticMissing staticResult = iota // no regular file: send the request on
	staticServed
	staticRefused // unsafe, or the root would not open it: 404
)

func serveStatic(w http.ResponseWriter, r *http.Request, t staticTarget) staticResult {
	if t.unsafe {
		return staticRefused
	}
	if t.root == "" {
		return staticMissing
	}
	root, err := os.OpenRoot(t.root)
	if err != nil {
		return staticMissing // no such directory, or not a directory
	}
	defer root.Close()
	// Only regular files are served, and the check comes before the open:
	// opening a FIFO blocks until a writer comes, and a device may never
	// end. The open is non-blocking as well, for a file replaced by one of
	// those between the two.
	fi, err := root.Stat(t.name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return staticMissing
		}
		return staticRefused // a link out of the root, or no permission
	}
	switch {
	case fi.IsDir():
		return staticMissing
	case !fi.Mode().IsRegular():
		return staticRefused // a FIFO, a socket, a device
	}
	f, err := root.OpenFile(t.name, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return staticMissing
		}
		return staticRefused
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return staticRefused
	}
	w.Header().Set("Content-Type", t.contentType)
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
	return staticServed
}
