package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/journey-dev/journey/pkg/config"
)

// runHealth checks a journey admin endpoint and fails unless it answers
// 200. It is the container healthcheck (the distroless image has no shell
// or curl): `journey health` asks /readyz on the default admin address.
func runHealth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(help{name: "health", text: `Asks a journey admin endpoint and exits 0 when it answers 200, printing its answer; else
prints why and exits 1. It is the container healthcheck (the image has no shell or curl).`}, stdout, stderr)
	url := fs.String("url", "http://127.0.0.1:9464/readyz", "admin endpoint to check: /readyz (ready to process) or /healthz (alive)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	tokenFile := fs.String("token-file", "", "file holding admin.token_file's bearer token ($JOURNEY_ADMIN_TOKEN wins)")
	caFile := fs.String("ca-file", "", "CAs trusted for an https --url (admin.tls); default: the system's")
	if err := fs.parse(args); err != nil {
		return err
	}
	token, _, err := config.ReadSecret(config.Secret(os.Getenv(config.EnvAdminToken)), config.EnvAdminToken, *tokenFile, "--token-file")
	if err != nil {
		return err
	}
	client := http.DefaultClient
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--ca-file %s: no PEM certificate in it", *caFile)
		}
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fs.usageError("--url: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token.Reveal())
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", *url, resp.Status, body)
	}
	fmt.Fprintf(stdout, "%s: %s\n", *url, body)
	return nil
}
