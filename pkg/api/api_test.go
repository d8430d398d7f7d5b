package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/journey-dev/journey/pkg/api"
	"github.com/journey-dev/journey/pkg/state"
	"github.com/journey-dev/journey/processors"
)

// TestErrors checks the answers that need no customer: 404 for an id the
// store holds nothing of, 400 for malformed ids and limits, each a JSON
// error; and the page at /. The rig test in cmd/journey checks a real
// customer's answer.
func TestErrors(t *testing.T) {
	store, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	procs, err := processors.Build(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.NewHandler(store, procs, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		code int
		msg  string
	}{
		{"/v1/customers/nobody", http.StatusNotFound, "no customer with this id"},
		{"/v1/customers/a%00b", http.StatusBadRequest, "customer id holds control characters"},
		{"/v1/customers/a%ffb", http.StatusBadRequest, "customer id is not UTF-8"},
		{"/v1/customers/" + strings.Repeat("x", api.MaxIDLen+1), http.StatusBadRequest, "customer id longer than 1024 bytes"},
		{"/v1/customers/nobody?limit=x", http.StatusBadRequest, "limit: want a whole number >= 0"},
		{"/nothing-here", http.StatusNotFound, "not found"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		var body struct{ Error string }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != tc.code || body.Error != tc.msg {
			t.Errorf("GET %.40s: %d %q (%v), want %d %q", tc.path, rec.Code, rec.Body.String(), err, tc.code, tc.msg)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %.40s: Content-Type %q", tc.path, ct)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Errorf("GET /: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
}
