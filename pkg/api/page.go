package api

import (
	_ "embed"
	"net/http"
)

//go:embed page.html
var pageHTML []byte

// page serves the web page at / (any other path is 404).
func page(w http.ResponseWriter, r *http.Request) int {
	if r.URL.Path != "/" {
		return writeError(w, http.StatusNotFound, "not found")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'")
	_, _ = w.Write(pageHTML)
	return http.StatusOK
}
