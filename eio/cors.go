package eio

import (
	"net/http"
	"strings"

	"github.com/chanio/chanio/internal/loglimit"
	"github.com/chanio/chanio/transport"
)

// checkCORS applies the origin policy to r. It returns false, having
// answered the request, when r is refused or was a preflight.
func (s *Server) checkCORS(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.DisableCORS {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if !s.originAllowed(r, origin) {
		s.log.Info("eio: origin refused", "origin", loglimit.Text(origin), "remote", loglimit.Text(r.RemoteAddr))
		s.stats.rejected[CodeBadRequest].Add(1)
		transport.WriteError(w, http.StatusBadRequest, int(CodeBadRequest), "Not an accepted origin")
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	if !s.opts.NoCORSCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "OPTIONS, GET, POST")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		}
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return false
	}
	return true
}

func (s *Server) originAllowed(r *http.Request, origin string) bool {
	if s.opts.CheckOrigin != nil {
		return s.opts.CheckOrigin(r, origin)
	}
	if s.opts.anyOrigin || s.opts.origins[origin] {
		return true
	}
	return strings.EqualFold(origin, s.ownOrigin(r))
}

// ownOrigin is the origin the request was addressed to.
func (s *Server) ownOrigin(r *http.Request) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if s.opts.BehindProxy {
		if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p != "" {
			scheme = p
		}
		if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" {
			host = h
		}
	}
	return scheme + "://" + host
}

// firstValue returns the first of a comma-separated header's values: the
// one the outermost proxy set.
func firstValue(v string) string {
	v, _, _ = strings.Cut(v, ",")
	return strings.TrimSpace(v)
}
