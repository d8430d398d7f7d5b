package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/api"
)

// loadPage drives headless Chromium through the DevTools pipe over the real
// page (pkg/api) and an API answer of n entries: every load must report the
// rendered rows and times in order (what pagePhase reports; no timing is
// judged here).
func TestLoadPage(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium not found (rig/install.sh installs it)")
		}
		t.Skip("chromium not found: run rig/install.sh")
	}
	h, err := api.NewHandler(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 7
	if s := os.Getenv("JOURNEY_PAGE_ENTRIES"); s != "" { // a look at a larger page: go test -v -run TestLoadPage
		n, _ = strconv.Atoi(s)
	}
	var entries []string
	for i := range n {
		entries = append(entries, fmt.Sprintf(`{"kind":"event","at":"2026-12-07T15:00:%02dZ","channel":"%s","name":"Product Viewed","id":"e%d"}`,
			i, [...]string{"web", "app", "email"}[i%3], i))
	}
	answer := `{"customer_id":"c-1","requested_id":"c-1","ids":["c-1"],"partition":0,"processors":{},"timers":[],` +
		`"timeline":[` + strings.Join(entries, ",") + `],"triggers":[]}`
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/customers/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(answer))
	})
	mux.Handle("/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), testrig.Within(2*time.Minute))
	defer cancel()
	times, err := loadPage(ctx, chromium, srv.URL+"/customers/c-1", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(times) != 2 {
		t.Fatalf("%d loads, want 2", len(times))
	}
	for i, pt := range times {
		t.Logf("load %d: %+v", i+1, pt)
		if pt.Rows != n {
			t.Errorf("load %d: %d rows, want %d", i+1, pt.Rows, n)
		}
		if !(0 < pt.HTML && pt.HTML <= pt.Parsed && pt.HTML <= pt.APIStart && pt.APIStart <= pt.APIEnd && pt.APIEnd <= pt.Rendered && pt.Rendered <= pt.Painted) {
			t.Errorf("load %d: times out of order: %+v", i+1, pt)
		}
	}
}
