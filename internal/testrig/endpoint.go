package testrig

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Endpoints that are neither Kafka nor Redis, for start-up tests: a server
// that accepts and says nothing, one that answers like HTTP, a closed port.

// Endpoint is a TCP server on 127.0.0.1 that runs serve for each
// connection it accepts until the test ends; Accepted counts them.
type Endpoint struct {
	Addr     string
	Accepted atomic.Int64
}

// NewEndpoint starts an Endpoint; the test's cleanup closes it and waits
// for its connections' serve calls to return.
func NewEndpoint(t testing.TB, serve func(net.Conn)) *Endpoint {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &Endpoint{Addr: ln.Addr().String()}
	var conns sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range open {
			_ = c.Close()
		}
		mu.Unlock()
		conns.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.Accepted.Add(1)
			mu.Lock()
			open[c] = true
			mu.Unlock()
			conns.Go(func() {
				defer func() { mu.Lock(); delete(open, c); mu.Unlock(); _ = c.Close() }()
				serve(c)
			})
		}
	}()
	return e
}

// Silent accepts and says nothing until the client hangs up.
func Silent(c net.Conn) { _, _ = io.Copy(io.Discard, c) }

// HTTPAnswer answers whatever it reads as a strict HTTP server answers a
// request it cannot parse.
func HTTPAnswer(c net.Conn) {
	if _, err := c.Read(make([]byte, 512)); err != nil {
		return
	}
	_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
}

// ClosedPort returns an address on 127.0.0.1 nothing listens on: a
// connection to it is refused.
func ClosedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
