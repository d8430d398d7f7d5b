package api

import (
	_ "embed"
	"net/http"
	"strings"
)

//go:embed page.html
var pageHTML []byte

// page serves the web page at / and /customers/{id} (where it opens on
// that customer); any other path is 404. The page is self-contained (no
// asset from anywhere else) and reads the customer from the API.
func page(w http.ResponseWriter, r *http.Request) int {
	if r.URL.Path != "/" && !strings.HasPrefix(r.URL.Path, "/customers/") {
		return writeError(w, http.StatusNotFound, "not found")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
	_, _ = w.Write(pageHTML)
	return http.StatusOK
}
