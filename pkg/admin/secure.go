package admin

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Security is how an HTTP server of journey's (the admin port, the
// journey API) protects itself: TLS, and a bearer token every request
// must carry. The zero value is plaintext and open.
type Security struct {
	// TLS, when set, serves HTTPS (ServerTLS builds it from files).
	TLS *tls.Config
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every path but Open's; a request without it gets 401.
	Token string
	// Open lists the paths served without the token (e.g. "/healthz",
	// for probes that cannot carry it).
	Open []string
}

// ServerTLS is the tls.Config of a server with the certificate and key in
// certFile and keyFile (PEM); with clientCAFile, every client must
// present a certificate signed by one of its CAs. setting names the
// settings in errors ("admin.tls").
func ServerTLS(setting, certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s.cert_file %s, key_file %s: %v", setting, certFile, keyFile, err)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.client_ca_file: %w", setting, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.client_ca_file %s: no PEM certificate in it", setting, clientCAFile)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// RequireToken wraps next so that a request to any path but open's must
// carry "Authorization: Bearer <token>" (compared in constant time); one
// without it is answered 401 with a WWW-Authenticate challenge, one with a
// wrong token 401 too. An empty token returns next unchanged.
func RequireToken(token string, next http.Handler, open ...string) http.Handler {
	if token == "" {
		return next
	}
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range open {
			if r.URL.Path == p {
				next.ServeHTTP(w, r)
				return
			}
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="journey"`)
			http.Error(w, "unauthorized: a bearer token is required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Wrap applies s to a handler: RequireToken with s.Token and s.Open.
func (s Security) Wrap(h http.Handler) http.Handler { return RequireToken(s.Token, h, s.Open...) }
