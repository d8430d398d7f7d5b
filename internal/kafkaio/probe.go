package kafkaio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
)

// DefaultTimeout bounds each start-up call (a dial, a topic check, a
// probe) when no timeout is given.
const DefaultTimeout = 10 * time.Second

// BrokerError is why one bootstrap broker could not be used: it refused
// the connection, did not answer, or answered something that is not
// Kafka. Its message starts with the address; the caller names the
// setting the address came from.
type BrokerError struct {
	Addr   string
	Reason string // "connection refused", "not a Kafka broker (...)", ...
	Err    error  // the underlying error, if any
	// Setting, when set, is the security setting to fix instead of the
	// address ("kafka.tls.ca_file", "kafka.sasl.password_file"): the
	// broker answered, but its TLS or SASL did not agree with journey's.
	Setting string
}

func (e *BrokerError) Error() string { return e.Addr + ": " + e.Reason }
func (e *BrokerError) Unwrap() error { return e.Err }

// ProbeError is ProbeBrokers' failure: no broker answered. Its message
// names the setting the addresses came from, then each address and why,
// on one line: "kafka.brokers 127.0.0.1:1: connection refused".
type ProbeError struct {
	Setting string         // e.g. "kafka.brokers"
	Brokers []*BrokerError // one per broker, in the configured order
}

func (e *ProbeError) Error() string {
	if len(e.Brokers) == 1 {
		if b := e.Brokers[0]; b.Setting != "" {
			return b.Setting + ": broker " + b.Error()
		}
		return e.Setting + " " + e.Brokers[0].Error()
	}
	parts := make([]string, len(e.Brokers))
	for i, b := range e.Brokers {
		parts[i] = b.Error()
		if b.Setting != "" {
			parts[i] = b.Setting + ": broker " + b.Error()
		}
	}
	return e.Setting + ": no broker answered: " + strings.Join(parts, "; ")
}

// Unwrap returns the brokers' errors.
func (e *ProbeError) Unwrap() []error {
	errs := make([]error, len(e.Brokers))
	for i, b := range e.Brokers {
		errs[i] = b
	}
	return errs
}

// ProbeBrokers asks every broker, all at once, for its ApiVersions (the
// first request any Kafka client sends) and returns the address of the
// first that answers as a Kafka broker: one reachable broker is enough to
// proceed, as it is for any Kafka client bootstrapping. Each broker gets
// timeout (DefaultTimeout when 0) for the dial and the answer together,
// so ProbeBrokers returns within about timeout. When none answers, the
// error is a *ProbeError naming setting (where the addresses came from);
// when ctx ends first, ctx's error.
//
// It tells apart what a newcomer mistypes: a closed port ("connection
// refused"), an address that accepts and says nothing, an HTTP server or
// Redis ("not a Kafka broker (...)").
func ProbeBrokers(ctx context.Context, setting string, brokers []string, dialer *kafka.Dialer, timeout time.Duration) (string, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithCancel(ctx)
	type result struct {
		i   int
		err *BrokerError
	}
	results := make(chan result, len(brokers))
	var wg sync.WaitGroup
	for i, addr := range brokers {
		wg.Go(func() { results <- result{i, probe(ctx, addr, dialer, timeout)} })
	}
	// The others stop once one has answered, and are waited for.
	defer func() { cancel(); wg.Wait() }()
	perr := &ProbeError{Setting: setting, Brokers: make([]*BrokerError, len(brokers))}
	for range brokers {
		r := <-results
		if r.err == nil {
			return brokers[r.i], nil
		}
		perr.Brokers[r.i] = r.err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return "", perr
}

// probe asks one broker for its ApiVersions within timeout.
func probe(ctx context.Context, addr string, dialer *kafka.Dialer, timeout time.Duration) *BrokerError {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := *dialer
	d.Timeout = 0 // ctx carries the deadline
	var seen *recordingConn
	base := d.DialFunc
	if base == nil {
		nd := &net.Dialer{}
		base = nd.DialContext
	}
	d.DialFunc = func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := base(ctx, network, address)
		if err == nil {
			seen = &recordingConn{Conn: c}
			return seen, nil
		}
		return c, err
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if setting, reason := securityError(err, dialer); setting != "" {
			return &BrokerError{Addr: addr, Reason: reason, Err: err, Setting: setting}
		}
		if dialer.TLS == nil && isTLSRecord(seen.first()) {
			return tlsAnswer(addr, err)
		}
		if dialer.TLS != nil && seen != nil && len(seen.first()) == 0 &&
			(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
			// Connected, and closed without a byte of TLS handshake: a
			// plaintext listener (Kafka's reads the ClientHello as an
			// oversized request and closes).
			return &BrokerError{Addr: addr, Err: err, Setting: "kafka.tls.enabled",
				Reason: "the broker closed the connection on the TLS handshake (a plaintext listener?)"}
		}
		return dialError(addr, err, timeout)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer func() { stop(); _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err = conn.ApiVersions(); err == nil {
		return needsSASL(conn, addr, dialer)
	}
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		// A broker that answers with a Kafka error code is a Kafka broker
		// (one that does not like ApiVersions v0 still says so in kind).
		return nil
	}
	if dialer.TLS == nil && isTLSRecord(seen.first()) {
		return tlsAnswer(addr, err)
	}
	return answerError(ctx, addr, err, seen.first(), timeout)
}

// needsSASL asks a broker that answered ApiVersions, on a connection
// without SASL, for metadata: a SASL listener allows ApiVersions before
// authentication and closes the connection on anything else, which
// would otherwise show only later as retried requests.
func needsSASL(conn *kafka.Conn, addr string, dialer *kafka.Dialer) *BrokerError {
	if dialer.SASLMechanism != nil {
		return nil
	}
	_, err := conn.Brokers()
	if err != nil && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		return &BrokerError{Addr: addr, Err: err, Setting: "kafka.sasl.mechanism",
			Reason: "the broker closed the connection on a request before authentication: the listener requires SASL"}
	}
	return nil
}

// isTLSRecord reports whether b starts like a TLS record (an alert or a
// handshake, TLS 1.0 to 1.3's record version): what a TLS listener sends
// back to a plaintext client, if anything.
func isTLSRecord(b []byte) bool {
	return len(b) >= 3 && (b[0] == 0x15 || b[0] == 0x16) && b[1] == 0x03 && b[2] <= 0x04
}

func tlsAnswer(addr string, err error) *BrokerError {
	return &BrokerError{Addr: addr, Err: err, Setting: "kafka.tls.enabled",
		Reason: "it answered TLS to a plaintext request: the listener expects TLS (set kafka.tls.enabled: true)"}
}

// dialError names why a connection to addr could not be opened.
func dialError(addr string, err error, timeout time.Duration) *BrokerError {
	var dnsErr *net.DNSError
	reason := "cannot connect: " + err.Error()
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		reason = "connection refused"
	case errors.As(err, &dnsErr):
		reason = "cannot resolve host: " + dnsErr.Err
	case isTimeout(err):
		reason = fmt.Sprintf("no connection in %s", timeout)
	}
	return &BrokerError{Addr: addr, Reason: reason, Err: err}
}

// answerError names why what came back on an open connection was not an
// ApiVersions answer; first is the start of what the endpoint sent. ctx
// is the probe's: ended by its deadline, it means the endpoint was silent.
func answerError(ctx context.Context, addr string, err error, first []byte, timeout time.Duration) *BrokerError {
	var what string
	switch {
	case len(first) == 0 && (isTimeout(err) || errors.Is(context.Cause(ctx), context.DeadlineExceeded)):
		what = fmt.Sprintf("no ApiVersions answer in %s", timeout)
	case bytes.HasPrefix(first, []byte("HTTP/")):
		what = fmt.Sprintf("it answered HTTP: %q", firstLine(first))
	case len(first) > 0:
		what = fmt.Sprintf("it answered %q", firstLine(first))
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		what = "it closed the connection without an ApiVersions answer"
	default:
		what = "no ApiVersions answer: " + err.Error()
	}
	return &BrokerError{Addr: addr, Reason: "not a Kafka broker (" + what + ")", Err: err}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout()
}

// firstLine is the first line of b, at most 40 bytes of it.
func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	s = strings.TrimRight(s, "\r")
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}

// recordingConn keeps the first bytes read from a connection, to say what
// answered when it was not Kafka.
type recordingConn struct {
	net.Conn
	mu  sync.Mutex
	buf []byte
}

const recordBytes = 64

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if room := recordBytes - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(n, room)]...)
	}
	c.mu.Unlock()
	return n, err
}

func (c *recordingConn) first() []byte {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf)
}
