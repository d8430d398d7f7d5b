package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/journey-dev/journey/pkg/admin"
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

// journey health against an admin port with admin.tls and a token: it
// trusts --ca-file and sends the token of --token-file; without the token
// the answer is 401 and it exits 1.
func TestHealthTLSAndToken(t *testing.T) {
	srv := httptest.NewTLSServer(admin.RequireToken("tok-1", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"ready":true}`))
	})))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("tok-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	args := []string{"health", "--url", srv.URL + "/readyz", "--ca-file", ca}
	if code := dispatch(context.Background(), args, &out, &errb); code != 1 || !strings.Contains(errb.String(), "401") {
		t.Fatalf("without the token: exit %d, stderr %q; want 1 and 401", code, errb.String())
	}
	errb.Reset()
	if code := dispatch(context.Background(), append(args, "--token-file", tok), &out, &errb); code != 0 {
		t.Fatalf("with the token: exit %d: %s", code, errb.String())
	}
	if strings.Contains(out.String()+errb.String(), "tok-1") {
		t.Error("the token is printed")
	}
}
