package kafkaio

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// TLSFiles is a client's TLS configuration as files: kafka.tls and
// redis.tls. Section names the settings in errors ("kafka.tls").
type TLSFiles struct {
	Section            string
	CAFile             string
	CertFile, KeyFile  string
	ServerName         string
	InsecureSkipVerify bool
}

// ClientTLS builds the tls.Config of f: the CAs of CAFile (the system's
// roots when empty), the client certificate of CertFile and KeyFile when
// set. An error names the setting ("kafka.tls.ca_file /x: no PEM
// certificate in it") and never a key's content.
func ClientTLS(f TLSFiles) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName, InsecureSkipVerify: f.InsecureSkipVerify} //nolint:gosec // development only, warned at start
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", f.Section, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file %s: no PEM certificate in it", f.Section, f.CAFile)
		}
		c.RootCAs = pool
	}
	if f.CertFile != "" || f.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file %s, key_file %s: %v", f.Section, f.CertFile, f.KeyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// SASL returns the SASL mechanism named mechanism (PLAIN, SCRAM-SHA-256,
// SCRAM-SHA-512) for username and password. source names where the
// password came from ("kafka.sasl.password_file",
// "$JOURNEY_KAFKA_PASSWORD"): a broker that refuses the credentials fails
// the start-up probe with an error naming it. The mechanism prints as its
// name and user, never the password.
func SASL(mechanism, username, password, source string) (sasl.Mechanism, error) {
	var m sasl.Mechanism
	switch mechanism {
	case "PLAIN":
		m = plain.Mechanism{Username: username, Password: password}
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		algo := scram.SHA256
		if mechanism == "SCRAM-SHA-512" {
			algo = scram.SHA512
		}
		var err error
		if m, err = scram.Mechanism(algo, username, password); err != nil {
			// The error of SASLprep on the username or password; it
			// does not carry them.
			return nil, fmt.Errorf("kafka.sasl: %v", err)
		}
	default:
		return nil, fmt.Errorf("kafka.sasl.mechanism: %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", mechanism)
	}
	return &mech{Mechanism: m, user: username, source: source}, nil
}

// mech is a SASL mechanism that knows where its password came from, and
// prints without it.
type mech struct {
	sasl.Mechanism
	user, source string
}

func (m *mech) String() string   { return fmt.Sprintf("%s user %q", m.Name(), m.user) }
func (m *mech) GoString() string { return m.String() }

// Dialer returns a dialer with timeout, the TLS configuration tlsConfig
// (nil: plaintext) and the SASL mechanism mech (nil: none): what every
// connection journey opens to Kafka goes through, directly or through
// TransportFor.
func Dialer(timeout time.Duration, tlsConfig *tls.Config, mechanism sasl.Mechanism) *kafka.Dialer {
	return &kafka.Dialer{Timeout: timeout, TLS: tlsConfig, SASLMechanism: mechanism}
}

// WithTimeout is a copy of d (nil: a plaintext dialer) with timeout.
func WithTimeout(d *kafka.Dialer, timeout time.Duration) *kafka.Dialer {
	out := &kafka.Dialer{}
	if d != nil {
		*out = *d
	}
	out.Timeout = timeout
	return out
}

// TransportFor is a kafka-go Transport (for a kafka.Client or a
// kafka.Writer) with d's TLS and SASL (d may be nil: plaintext), its
// metadata cached for 5s and each connection's set-up (dial, TLS
// handshake, SASL) bounded by dialTimeout.
func TransportFor(d *kafka.Dialer, dialTimeout time.Duration) *kafka.Transport {
	t := &kafka.Transport{MetadataTTL: 5 * time.Second, DialTimeout: dialTimeout}
	if d != nil {
		t.TLS, t.SASL = d.TLS, d.SASLMechanism
		if d.DialFunc != nil {
			t.Dial = d.DialFunc
		}
	}
	return t
}

// securityError names the setting behind a failed TLS handshake or SASL
// exchange with a broker, "" when err is neither. d is the dialer used.
func securityError(err error, d *kafka.Dialer) (setting, reason string) {
	var (
		unknownCA x509.UnknownAuthorityError
		verify    *tls.CertificateVerificationError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		header    tls.RecordHeaderError
		alert     tls.AlertError
		kerr      kafka.Error
		remote    *net.OpError
	)
	switch {
	case errors.As(err, &hostErr):
		return "kafka.tls.server_name", "the broker's certificate is not for this name: " + hostErr.Error()
	case errors.As(err, &unknownCA):
		return "kafka.tls.ca_file", "the broker's certificate is not signed by a trusted CA (" + unknownCA.Error() + ")"
	case errors.As(err, &invalid):
		return "kafka.tls.ca_file", "the broker's certificate is not valid: " + invalid.Error()
	case errors.As(err, &verify):
		return "kafka.tls.ca_file", "the broker's certificate could not be verified: " + verify.Err.Error()
	case errors.As(err, &header):
		return "kafka.tls.enabled", "the broker did not answer the TLS handshake (a plaintext listener?)"
	case errors.As(err, &alert):
		return "kafka.tls.cert_file", "the broker refused the TLS handshake: " + alert.Error()
	case errors.As(err, &remote) && remote.Op == "remote error":
		// A TLS alert from the broker (crypto/tls reports it so): over
		// TLS 1.3 a refused client certificate shows on the first read.
		return "kafka.tls.cert_file", "the broker refused the TLS session: " + remote.Err.Error()
	case errors.As(err, &kerr) && (kerr == kafka.SASLAuthenticationFailed):
		src := "kafka.sasl.password_file"
		user := ""
		if m, ok := d.SASLMechanism.(*mech); ok {
			src, user = m.source, m.user
		}
		return src, fmt.Sprintf("the broker refused the credentials of kafka.sasl.username %q (%s)", user, kerr.Title())
	case errors.As(err, &kerr) && (kerr == kafka.UnsupportedSASLMechanism || kerr == kafka.IllegalSASLState):
		return "kafka.sasl.mechanism", "the broker refused the SASL handshake: " + kerr.Title() + " (does this listener take SASL, and this mechanism?)"
	}
	return "", ""
}
