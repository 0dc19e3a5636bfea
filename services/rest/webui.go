package main

import (
	_ "embed"
	"net/http"
)

// The web page (web/index.html): one self-contained file, no external
// scripts, fonts or styles, embedded in the binary at build time.
//
//go:embed web/index.html
var indexHTML []byte

// withIndex serves the page at "/" and everything else from api.
func withIndex(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Write(indexHTML)
			return
		}
		api.ServeHTTP(w, r)
	})
}
