package admin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key
// under dir.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600)
	cert, _ = x509.ParseCertificate(der)
	return certFile, keyFile, cert
}

// The admin port over TLS with a bearer token: /healthz open, /readyz and
// /metrics 401 without the token or with a wrong one, 200 with it; a
// plaintext request gets no answer it could read.
func TestListenSecure(t *testing.T) {
	certFile, keyFile, cert := writeCert(t, t.TempDir())
	tc, err := ServerTLS("admin.tls", certFile, keyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	const token = "tok-3b9e"
	srv, err := ListenSecure("127.0.0.1:0", prometheus.NewRegistry(), func() (bool, any) { return true, nil },
		Security{TLS: tc, Token: token, Open: []string{"/healthz"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(path, auth string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "https://"+srv.Addr()+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		path, auth string
		want       int
	}{
		{"/healthz", "", 200},
		{"/readyz", "", 401},
		{"/metrics", "", 401},
		{"/metrics", "Bearer wrong", 401},
		{"/metrics", "Basic " + token, 401},
		{"/readyz", "Bearer " + token, 200},
		{"/metrics", "Bearer " + token, 200},
	} {
		if got := get(tc.path, tc.auth); got != tc.want {
			t.Errorf("GET %s with %q: %d, want %d", tc.path, tc.auth, got, tc.want)
		}
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + srv.Addr() + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plaintext /healthz answered 200 on the TLS port")
		}
	}
}

func TestServerTLSNamesTheSetting(t *testing.T) {
	dir := t.TempDir()
	if _, err := ServerTLS("admin.tls", filepath.Join(dir, "none.pem"), filepath.Join(dir, "none-key.pem"), ""); err == nil ||
		err.Error()[:len("admin.tls.cert_file")] != "admin.tls.cert_file" {
		t.Errorf("missing files: %v", err)
	}
	certFile, keyFile, _ := writeCert(t, dir)
	if _, err := ServerTLS("admin.tls", certFile, keyFile, keyFile); err == nil || err.Error()[:len("admin.tls.client_ca_file")] != "admin.tls.client_ca_file" {
		t.Errorf("a client CA file with no certificate: %v", err)
	}
}
