// Package admin serves journey's operational HTTP endpoints: /healthz
// (the process is up), /readyz (joined the group and every assigned
// partition's state is open, with per-partition detail as JSON) and
// /metrics (Prometheus).
package admin

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Readiness reports whether the instance is ready and why, as JSON-able detail.
type Readiness func() (ready bool, detail any)

// Server is the admin HTTP server.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen binds addr (use 127.0.0.1:0 for a free port) and prepares the
// handlers; Serve starts answering.
func Listen(addr string, gatherer prometheus.Gatherer, ready Readiness) (*Server, error) {
	return ListenSecure(addr, gatherer, ready, Security{})
}

// ListenSecure is Listen serving with sec: HTTPS when sec.TLS is set, and
// sec.Token required on every path but sec.Open's.
func ListenSecure(addr string, gatherer prometheus.Gatherer, ready Readiness, sec Security) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if sec.TLS != nil {
		ln = tls.NewListener(ln, sec.TLS)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, detail := ready()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": ok, "detail": detail})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return &Server{
		srv: &http.Server{Handler: sec.Wrap(mux), ReadHeaderTimeout: 5 * time.Second},
		ln:  ln,
	}, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve answers until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.srv.Shutdown(sctx)
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = e
		}
		return err
	}
}
