package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestHealth: journey health (the container healthcheck) exits 0 on a 200
// and 1 otherwise, saying what answered.
func TestHealth(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, `{"ready":false}`, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"ready":true}`))
	}))
	defer srv.Close()
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"health", "--url", srv.URL + "/readyz"}, &out, &errb); code != 1 {
		t.Fatalf("not ready: exit %d, want 1", code)
	}
	if !strings.Contains(errb.String(), "503") {
		t.Errorf("stderr %q does not give the status", errb.String())
	}
	ready.Store(true)
	out.Reset()
	if code := dispatch(context.Background(), []string{"health", "--url", srv.URL + "/readyz"}, &out, &errb); code != 0 {
		t.Fatalf("ready: exit %d, want 0: %s", code, errb.String())
	}
}
