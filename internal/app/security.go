package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/journey-dev/journey/internal/kafkaio"
	"github.com/journey-dev/journey/pkg/admin"
	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/pipeline"
)

// KafkaDialer is the base dialer of every Kafka connection: kafka.tls and
// kafka.sasl, the password read from $JOURNEY_KAFKA_PASSWORD or
// kafka.sasl.password_file. nil when neither is configured (plaintext).
// Its Timeout is kafka.dial_timeout.
func KafkaDialer(cfg config.Config) (*kafka.Dialer, error) {
	k := &cfg.Kafka
	if !k.TLS.Enabled && k.SASL.Mechanism == "" {
		return nil, nil
	}
	var tc *tls.Config
	if k.TLS.Enabled {
		var err error
		if tc, err = kafkaio.ClientTLS(tlsFiles("kafka.tls", k.TLS)); err != nil {
			return nil, err
		}
	}
	d := kafkaio.Dialer(k.DialTimeout, tc, nil)
	if k.SASL.Mechanism != "" {
		pw, source, err := cfg.KafkaPassword()
		if err != nil {
			return nil, err
		}
		if pw == "" {
			return nil, fmt.Errorf("kafka.sasl.password_file: required with kafka.sasl.mechanism (or set $%s)", config.EnvKafkaPassword)
		}
		if d.SASLMechanism, err = kafkaio.SASL(k.SASL.Mechanism, k.SASL.Username, pw.Reveal(), source); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// SecurePipelineConfig is PipelineConfig with the Kafka dialer of
// kafka.tls and kafka.sasl (KafkaDialer): what every command that talks to
// Kafka through the pipeline package runs with.
func SecurePipelineConfig(cfg config.Config) (pipeline.Config, error) {
	pc := PipelineConfig(cfg)
	d, err := KafkaDialer(cfg)
	if err != nil {
		return pc, err
	}
	pc.Dialer = d
	if f := cfg.Privacy.SecretFile; f != "" {
		if pc.Privacy.Secret, err = os.ReadFile(f); err != nil {
			return pc, fmt.Errorf("privacy.secret_file: %w", err)
		}
	}
	pc.Privacy.ForgetRetention = cfg.Privacy.ForgetRetention
	if pc.Privacy.Pseudonyms, err = Pseudonyms(cfg); err != nil {
		return pc, err
	}
	return pc, nil
}

// Pseudonyms is the Pseudonymizer of privacy.pseudonymize_ids, nil when
// it is off.
func Pseudonyms(cfg config.Config) (*ingest.Pseudonymizer, error) {
	if !cfg.Privacy.PseudonymizeIDs {
		return nil, nil
	}
	secret, err := os.ReadFile(cfg.Privacy.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("privacy.secret_file: %w", err)
	}
	ps, err := ingest.NewPseudonymizer(secret)
	if err != nil {
		return nil, fmt.Errorf("privacy.secret_file: %w", err)
	}
	return ps, nil
}

func tlsFiles(section string, t config.TLS) kafkaio.TLSFiles {
	return kafkaio.TLSFiles{Section: section, CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
		ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
}

// SecurityWarnings logs what the configuration leaves insecure on
// purpose: insecure_skip_verify, plaintext SASL PLAIN.
func SecurityWarnings(cfg config.Config, log *zap.Logger) {
	if cfg.Kafka.TLS.Enabled && cfg.Kafka.TLS.InsecureSkipVerify {
		log.Warn("kafka.tls.insecure_skip_verify: the brokers' certificates are not verified (development only)")
	}
	if cfg.Redis.TLS.Enabled && cfg.Redis.TLS.InsecureSkipVerify {
		log.Warn("redis.tls.insecure_skip_verify: Redis's certificate is not verified (development only)")
	}
	if cfg.Kafka.SASL.Mechanism == config.SASLPlain && !cfg.Kafka.TLS.Enabled {
		log.Warn("kafka.sasl.mechanism PLAIN without kafka.tls: the password crosses the network in the clear")
	}
}

// RedisClient is the Redis client of redis.*: its address (or, with
// redis.sentinel.master, the master the sentinels name, followed across
// failovers), redis.username and its password ($JOURNEY_REDIS_PASSWORD,
// redis.password or redis.password_file), redis.tls, with RedisOptions'
// timeouts and no retries of its own.
func RedisClient(cfg config.Config) (*redis.Client, error) {
	o := RedisOptions(cfg)
	pw, _, err := cfg.RedisPassword()
	if err != nil {
		return nil, err
	}
	o.Password = pw.Reveal()
	if r := &cfg.Redis; r.TLS.Enabled {
		if o.TLSConfig, err = kafkaio.ClientTLS(tlsFiles("redis.tls", r.TLS)); err != nil {
			return nil, err
		}
	}
	s := &cfg.Redis.Sentinel
	if s.Master == "" {
		return redis.NewClient(o), nil
	}
	spw, _, err := config.ReadSecret("", "", s.PasswordFile, "redis.sentinel.password_file")
	if err != nil {
		return nil, err
	}
	return redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: s.Master, SentinelAddrs: s.Addrs,
		SentinelUsername: s.Username, SentinelPassword: spw.Reveal(),
		Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig,
		MaxRetries: o.MaxRetries, DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
	}), nil
}

// PingRedisConfig is PingRedis for the client RedisClient(cfg) built:
// its errors name redis.addr, or with redis.sentinel the sentinels and
// the master ("redis.sentinel.addrs 10.0.0.1:26379 (master m): PING
// failed: ...").
func PingRedisConfig(ctx context.Context, cfg config.Config, rdb *redis.Client, timeout time.Duration) error {
	if s := cfg.Redis.Sentinel; s.Master != "" {
		where := fmt.Sprintf("redis.sentinel.addrs %s (master %s)", strings.Join(s.Addrs, ","), s.Master)
		return pingRedis(ctx, rdb, where, where, timeout)
	}
	return PingRedis(ctx, rdb, cfg.Redis.Addr, timeout)
}

// redisSecurityError names the redis.tls or credential setting behind a
// failed PING, "" when err is not about them. withTLS says whether the
// client speaks TLS.
func redisSecurityError(addr string, err error, withTLS bool) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		header    tls.RecordHeaderError
		alert     tls.AlertError
		remote    *net.OpError
	)
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "NOAUTH") || strings.HasPrefix(msg, "WRONGPASS"):
		return fmt.Errorf("redis.password_file ($%s, redis.username): Redis at %s refused the credentials: %w",
			config.EnvRedisPassword, addr, err)
	case strings.HasPrefix(msg, "NOPERM"):
		return fmt.Errorf("redis.username: Redis at %s: the ACL user may not run PING (README, \"Redis ACL\"): %w", addr, err)
	case errors.As(err, &hostErr):
		return fmt.Errorf("redis.tls.server_name: Redis at %s: its certificate is not for this name: %v", addr, hostErr)
	case errors.As(err, &unknownCA):
		return fmt.Errorf("redis.tls.ca_file: Redis at %s: its certificate is not signed by a trusted CA (%v)", addr, unknownCA)
	case errors.As(err, &invalid):
		return fmt.Errorf("redis.tls.ca_file: Redis at %s: its certificate is not valid: %v", addr, invalid)
	case errors.As(err, &verify):
		return fmt.Errorf("redis.tls.ca_file: Redis at %s: its certificate could not be verified: %v", addr, verify.Err)
	case errors.As(err, &header):
		return fmt.Errorf("redis.tls.enabled: Redis at %s did not answer the TLS handshake (a plaintext port?)", addr)
	case errors.As(err, &alert):
		return fmt.Errorf("redis.tls.cert_file: Redis at %s refused the TLS handshake: %v", addr, alert)
	case errors.As(err, &remote) && remote.Op == "remote error":
		return fmt.Errorf("redis.tls.cert_file: Redis at %s refused the TLS session: %v", addr, remote.Err)
	case !withTLS && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF)) &&
		speaksTLS(addr):
		return fmt.Errorf("redis.tls.enabled: Redis at %s closed the connection on PING without an answer: "+
			"it is a TLS port (set redis.tls.enabled: true)", addr)
	}
	return nil
}

// speaksTLS reports whether the server at addr answers a TLS handshake
// (whatever its certificate) within a second: what tells a TLS port that
// hung up on a plaintext PING from any other hang-up.
func speaksTLS(addr string) bool {
	d := &net.Dialer{Timeout: time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only asks whether TLS is spoken
	if err != nil {
		var header tls.RecordHeaderError
		return !errors.As(err, &header) && !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) &&
			!errors.Is(err, syscall.ECONNREFUSED) && !isTimeoutErr(err)
	}
	_ = conn.Close()
	return true
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// AdminSecurity is the admin port's admin.Security: HTTPS with admin.tls,
// and the bearer token of $JOURNEY_ADMIN_TOKEN or admin.token_file on
// every path but /healthz.
func AdminSecurity(cfg config.Config) (admin.Security, error) {
	var sec admin.Security
	if t := cfg.Admin.TLS; t.Enabled {
		var err error
		if sec.TLS, err = admin.ServerTLS("admin.tls", t.CertFile, t.KeyFile, t.ClientCAFile); err != nil {
			return sec, err
		}
	}
	tok, _, err := cfg.AdminToken()
	if err != nil {
		return sec, err
	}
	sec.Token, sec.Open = tok.Reveal(), []string{"/healthz"}
	return sec, nil
}

// APIProxyClient is the HTTP client one instance's API proxies requests
// to another's with, and its scheme: with api.tls, HTTPS that trusts the
// system's roots and api.tls.client_ca_file's CAs, and presents api.tls's
// certificate when client_ca_file makes the API require one.
func APIProxyClient(cfg config.Config) (*http.Client, string, error) {
	t := cfg.API.TLS
	if !t.Enabled {
		return &http.Client{Timeout: 15 * time.Second}, "http", nil
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, "", fmt.Errorf("api.tls.client_ca_file: %w", err)
		}
		roots.AppendCertsFromPEM(pem)
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, "", fmt.Errorf("api.tls.cert_file %s, key_file %s: %v", t.CertFile, t.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}, "https", nil
}

// APISecurity is the API's admin.Security: HTTPS with api.tls, and the
// bearer token of api.token_file on every path but the page's, /.
func APISecurity(cfg config.Config) (admin.Security, error) {
	var sec admin.Security
	if t := cfg.API.TLS; t.Enabled {
		var err error
		if sec.TLS, err = admin.ServerTLS("api.tls", t.CertFile, t.KeyFile, t.ClientCAFile); err != nil {
			return sec, err
		}
	}
	tok, _, err := config.ReadSecret("", "", cfg.API.TokenFile, "api.token_file")
	if err != nil {
		return sec, err
	}
	// The page holds no data (it asks the API, with the token typed in).
	sec.Token, sec.Open = tok.Reveal(), []string{"/"}
	return sec, nil
}
