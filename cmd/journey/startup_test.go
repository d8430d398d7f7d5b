package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/testrig"
)

// Start-up never hangs (issue 29): each network call of `journey run`'s
// start-up is bounded by kafka.dial_timeout, an endpoint that is not Kafka
// (or not Redis) is named with the setting it came from, and SIGTERM at any
// moment of start-up ends the process at once. These run the real binary.

// httpServer is a real Go HTTP server on 127.0.0.1. It waits for a
// request line that a Kafka request never completes, so to a Kafka client
// it is silent; accepted counts its connections.
func httpServer(t *testing.T) (addr string, accepted *atomic.Int64) {
	t.Helper()
	accepted = new(atomic.Int64)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("hello\n"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), accepted
}

// runArgs are `journey run`'s flags for a start-up against brokers and
// redis with the given dial timeout; nothing else is needed to fail.
func runArgs(t *testing.T, brokers, redisAddr, dialTimeout string, extra ...string) []string {
	return append([]string{"run", "--brokers", brokers, "--redis-addr", redisAddr, "--dial-timeout", dialTimeout,
		"--state-dir", filepath.Join(t.TempDir(), "state"), "--admin-addr", "127.0.0.1:0", "--topics", "startup.events"},
		extra...)
}

// runTimed runs the journey binary with args until it exits (at most a
// minute) and returns its exit code, output and how long it ran.
func runTimed(t *testing.T, args ...string) (code int, out string, took time.Duration) {
	t.Helper()
	journeyBinary(t) // built before the clock starts
	start := time.Now()
	code, out = runToExit(t, time.Minute, args...)
	return code, out, time.Since(start)
}

// An endpoint that is not a Kafka broker fails the start-up within
// kafka.dial_timeout, with one line naming kafka.brokers and the address.
func TestStartupNotKafkaFailsWithinTheDialTimeout(t *testing.T) {
	redisAddr := testrig.RedisAddr(t) // Redis answers: the Kafka probe is what fails
	silent := testrig.NewEndpoint(t, testrig.Silent)
	answersHTTP := testrig.NewEndpoint(t, testrig.HTTPAnswer)
	httpAddr, _ := httpServer(t)
	closed := testrig.ClosedPort(t)
	const dialTimeout = 2 * time.Second
	for _, tc := range []struct {
		name, addr, want string
	}{
		{"silent", silent.Addr, "not a Kafka broker (no ApiVersions answer in 2s)"},
		{"HTTP server", httpAddr, "not a Kafka broker (no ApiVersions answer in 2s)"},
		{"answers HTTP", answersHTTP.Addr, `not a Kafka broker (it answered HTTP: "HTTP/1.1 400 Bad Request")`},
		{"closed port", closed, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, took := runTimed(t, runArgs(t, tc.addr, redisAddr, dialTimeout.String())...)
			want := "journey run: kafka.brokers " + tc.addr + ": " + tc.want
			if code == 0 || lastLine(out) != want {
				t.Fatalf("exit %d, last line:\n%s\nwant:\n%s\noutput:\n%s", code, lastLine(out), want, out)
			}
			if took > dialTimeout+testrig.Within(3*time.Second) {
				t.Errorf("took %v with --dial-timeout %v", took, dialTimeout)
			}
		})
	}
}

// The other commands that reach Kafka at start-up fail the same way.
func TestStartupNotKafkaOtherCommands(t *testing.T) {
	silent := testrig.NewEndpoint(t, testrig.Silent)
	notKafka := silent.Addr + ": not a Kafka broker (no ApiVersions answer in 2s)"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"generate", []string{"generate", "--brokers", silent.Addr, "--dial-timeout", "2s", "--events", "1"},
			"journey generate: --brokers " + notKafka},
		{"replay", []string{"replay", "--brokers", silent.Addr, "--dial-timeout", "2s", "--from", "earliest",
			"--state-dir", filepath.Join(t.TempDir(), "replay"), "--progress", "none"},
			"journey replay: kafka.brokers " + notKafka},
		{"state restore", []string{"state", "restore", "--brokers", silent.Addr, "--dial-timeout", "2s",
			"--state-dir", filepath.Join(t.TempDir(), "restore")},
			"kafka.brokers " + notKafka},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, took := runTimed(t, tc.args...)
			if code == 0 || !strings.HasSuffix(lastLine(out), tc.want) {
				t.Fatalf("exit %d, last line:\n%s\nwant it to end with:\n%s\noutput:\n%s", code, lastLine(out), tc.want, out)
			}
			if took > testrig.Within(5*time.Second) {
				t.Errorf("took %v with --dial-timeout 2s", took)
			}
		})
	}
}

// SIGTERM while the start-up waits on an endpoint that is not Kafka ends
// the process at once (the dial timeout is a minute here).
func TestStartupSIGTERMWhileProbingKafka(t *testing.T) {
	redisAddr := testrig.RedisAddr(t)
	silent := testrig.NewEndpoint(t, testrig.Silent)
	httpAddr, httpAccepted := httpServer(t)
	for _, tc := range []struct {
		name     string
		addr     string
		accepted func() int64 // nil: signal at once
	}{
		{"silent", silent.Addr, silent.Accepted.Load},
		{"HTTP server", httpAddr, httpAccepted.Load},
		{"closed port", testrig.ClosedPort(t), nil}, // fails at once: SIGTERM or not, it must be gone
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startChild(t, runArgs(t, tc.addr, redisAddr, "1m")...)
			if tc.accepted != nil {
				waitAccepted(t, c, tc.accepted)
			}
			start := time.Now()
			code := c.signal(t, syscall.SIGTERM, 3*time.Second)
			t.Logf("exited %d, %v after SIGTERM", code, time.Since(start))
			if tc.accepted != nil && code != 0 {
				t.Fatalf("exit %d after SIGTERM during start-up, want 0:\n%s", code, c.tail(10))
			}
		})
	}
}

// waitAccepted waits until the endpoint has accepted the child's
// connection: the child is then inside the start-up call.
func waitAccepted(t *testing.T, c *child, accepted func() int64) {
	t.Helper()
	testrig.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		select {
		case <-c.done:
			t.Fatalf("journey exited before it connected:\n%s", c.tail(20))
		default:
		}
		if accepted() == 0 {
			return errors.New("no connection yet")
		}
		return nil
	})
}

// Redis is pinged at start: unreachable or silent, the start-up fails
// within kafka.dial_timeout naming redis.addr; SIGTERM during the ping
// ends the process at once.
func TestStartupRedisUnreachable(t *testing.T) {
	closed := testrig.ClosedPort(t)
	silent := testrig.NewEndpoint(t, testrig.Silent)
	kafka := testrig.ClosedPort(t) // never reached: Redis is checked first
	for _, tc := range []struct{ name, addr, want string }{
		{"closed port", closed, "journey run: redis.addr " + closed + ": connection refused"},
		{"silent", silent.Addr, "journey run: redis.addr " + silent.Addr + ": no answer to PING in 2s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, took := runTimed(t, runArgs(t, kafka, tc.addr, "2s")...)
			if code == 0 || lastLine(out) != tc.want {
				t.Fatalf("exit %d, last line:\n%s\nwant:\n%s\noutput:\n%s", code, lastLine(out), tc.want, out)
			}
			if took > testrig.Within(5*time.Second) {
				t.Errorf("took %v with --dial-timeout 2s", took)
			}
		})
	}
	t.Run("SIGTERM during the ping", func(t *testing.T) {
		before := silent.Accepted.Load()
		c := startChild(t, runArgs(t, kafka, silent.Addr, "1m")...)
		waitAccepted(t, c, func() int64 { return silent.Accepted.Load() - before })
		if code := c.signal(t, syscall.SIGTERM, 3*time.Second); code != 0 {
			t.Fatalf("exit %d after SIGTERM during the Redis ping, want 0:\n%s", code, c.tail(10))
		}
	})
}

// redisGate is a TCP proxy to Redis that hangs up on every connection
// until open is called.
type redisGate struct {
	*testrig.Endpoint
	opened atomic.Bool
}

func newRedisGate(t *testing.T, redisAddr string) *redisGate {
	g := &redisGate{}
	g.Endpoint = testrig.NewEndpoint(t, func(c net.Conn) {
		if !g.opened.Load() {
			return // hang up
		}
		up, err := net.Dial("tcp", redisAddr)
		if err != nil {
			return
		}
		defer up.Close()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		_, _ = io.Copy(c, up)
	})
	return g
}

// With redis.wait_at_start journey starts while Redis does not answer,
// /readyz answers 503 with the reason, then 200 once Redis answers.
func TestStartupRedisWaitAtStart(t *testing.T) {
	e := newRigEnv(t, 1)
	gate := newRedisGate(t, e.redis)
	c := startChild(t, "run", "--config", e.config(t, ""), "--redis-addr", gate.Addr, "--redis-wait-at-start=true", "--dial-timeout", "2s")
	var body string
	testrig.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		select {
		case <-c.done:
			t.Fatalf("journey exited although redis.wait_at_start is set:\n%s", c.tail(20))
		default:
		}
		code, b, err := c.adminGet("/readyz")
		if err != nil {
			return err
		}
		if code != http.StatusServiceUnavailable || !strings.Contains(string(b), `"redis":"redis.addr `+gate.Addr) {
			return fmt.Errorf("/readyz %d: %s", code, b)
		}
		body = string(b)
		return nil
	})
	if !strings.Contains(body, "redis.wait_at_start") {
		t.Errorf("/readyz does not say why it waits: %s", body)
	}
	gate.opened.Store(true)
	c.waitReady(t, time.Minute)
	if code := c.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
}
