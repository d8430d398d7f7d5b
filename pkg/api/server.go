package api

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/journey-dev/journey/pkg/admin"
)

// Server serves a Handler on a listener, with admin.Security's TLS and
// bearer token.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen binds addr (127.0.0.1:0 for a free port); Serve starts answering.
func Listen(addr string, h http.Handler, sec admin.Security) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if sec.TLS != nil {
		ln = tls.NewListener(ln, sec.TLS)
	}
	return &Server{srv: &http.Server{Handler: sec.Wrap(h), ReadHeaderTimeout: 5 * time.Second}, ln: ln}, nil
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
