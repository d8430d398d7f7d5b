package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Secret is a password or token. It prints, marshals and logs as
// "[redacted]" (empty when unset), so a configuration dumped with
// fmt, YAML or JSON, or logged whole, never shows one. Reveal returns
// the value for the one place that sends it.
type Secret string

const redacted = "[redacted]"

func (s Secret) show() string {
	if s == "" {
		return ""
	}
	return redacted
}

// Reveal is the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String is "[redacted]", or "" when unset.
func (s Secret) String() string { return s.show() }

// GoString is String, for %#v.
func (s Secret) GoString() string { return `"` + s.show() + `"` }

// MarshalYAML redacts.
func (s Secret) MarshalYAML() (any, error) { return s.show(), nil }

// MarshalText redacts (JSON and every text encoder).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.show()), nil }

// TLS is a client's TLS: kafka.tls, redis.tls.
type TLS struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is the PEM bundle of the CAs trusted to sign the server's
	// certificate; empty trusts the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client's certificate and key (PEM),
	// for servers that require mutual TLS; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the server's certificate must carry; empty
	// is the host of the address dialed.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any server certificate: development
	// only, logged as a warning at start.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASL mechanisms (kafka.sasl.mechanism).
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASL is Kafka's authentication: kafka.sasl.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: no SASL.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// PasswordFile holds the password (one line; the trailing newline is
	// dropped). $JOURNEY_KAFKA_PASSWORD, when set, wins over it.
	PasswordFile string `yaml:"password_file"`
	// Password is $JOURNEY_KAFKA_PASSWORD's value; never read from the
	// YAML file nor a flag.
	Password Secret `yaml:"-"`
}

// Sentinel is Redis Sentinel: redis.sentinel. With Master set, journey
// asks the sentinels at Addrs for the master's address (redis.addr is
// then unused) and follows failovers.
type Sentinel struct {
	Master string   `yaml:"master"`
	Addrs  []string `yaml:"addrs"`
	// Username and PasswordFile authenticate to the sentinels themselves,
	// when they require it (the master takes redis.username and its
	// password).
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
}

// AdminTLS is the admin port's TLS (admin.tls).
type AdminTLS struct {
	Enabled  bool   `yaml:"enabled"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, requires every client to present a
	// certificate signed by one of these CAs (mutual TLS).
	ClientCAFile string `yaml:"client_ca_file"`
}

// The environment variables that carry secrets. They have no flag: a
// password on the command line is visible to every user of the machine.
const (
	EnvKafkaPassword = "JOURNEY_KAFKA_PASSWORD"
	EnvRedisPassword = "JOURNEY_REDIS_PASSWORD"
	EnvAdminToken    = "JOURNEY_ADMIN_TOKEN"
)

// SecretsFromEnv sets the secrets found in getenv ($JOURNEY_KAFKA_PASSWORD,
// $JOURNEY_REDIS_PASSWORD, $JOURNEY_ADMIN_TOKEN); Flags' function does it
// too, for a command that has no other settings' flags.
func SecretsFromEnv(c *Config, getenv func(string) string) {
	if v := getenv(EnvKafkaPassword); v != "" {
		c.Kafka.SASL.Password = Secret(v)
	}
	if v := getenv(EnvRedisPassword); v != "" {
		c.Redis.Password = Secret(v)
	}
	if v := getenv(EnvAdminToken); v != "" {
		c.Admin.Token = Secret(v)
	}
}

// ReadSecret resolves a secret: the environment's value (already in env,
// from variable envName) when set, else the first line of file, else "".
// source names where it came from ("$JOURNEY_KAFKA_PASSWORD",
// "kafka.sasl.password_file"), for an error to name; a file that cannot
// be read is an error naming setting, without the file's content.
func ReadSecret(env Secret, envName, file, setting string) (value Secret, source string, err error) {
	if env != "" {
		return env, "$" + envName, nil
	}
	if file == "" {
		return "", "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		if pe := (*os.PathError)(nil); errors.As(err, &pe) {
			err = pe.Err
		}
		return "", setting, fmt.Errorf("%s %s: %v", setting, file, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", setting, fmt.Errorf("%s %s: the file is empty", setting, file)
	}
	return Secret(s), setting, nil
}

// KafkaPassword is kafka.sasl's password and where it came from.
func (c *Config) KafkaPassword() (Secret, string, error) {
	return ReadSecret(c.Kafka.SASL.Password, EnvKafkaPassword, c.Kafka.SASL.PasswordFile, "kafka.sasl.password_file")
}

// RedisPassword is Redis's password and where it came from:
// $JOURNEY_REDIS_PASSWORD (or redis.password in the file, which it
// fills), else redis.password_file.
func (c *Config) RedisPassword() (Secret, string, error) {
	if c.Redis.Password != "" {
		return c.Redis.Password, "$" + EnvRedisPassword + " (redis.password)", nil
	}
	return ReadSecret("", EnvRedisPassword, c.Redis.PasswordFile, "redis.password_file")
}

// AdminToken is the admin port's bearer token and where it came from.
func (c *Config) AdminToken() (Secret, string, error) {
	return ReadSecret(c.Admin.Token, EnvAdminToken, c.Admin.TokenFile, "admin.token_file")
}

func (t *TLS) check(p *problems, section string) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		p.add(section+".cert_file", "cert_file and key_file go together (mutual TLS), or neither")
	}
	if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.ServerName != "" || t.InsecureSkipVerify) {
		p.add(section+".enabled", "false, but other %s settings are set: set enabled: true", section)
	}
	for _, f := range []struct{ name, path string }{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				p.add(section+"."+f.name, "%v", statErr(err))
			}
		}
	}
}

func (s *SASL) check(p *problems) {
	switch s.Mechanism {
	case "":
		if s.Username != "" || s.PasswordFile != "" {
			p.add("kafka.sasl.mechanism", "required with kafka.sasl.username or password_file: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
		}
		return
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
	default:
		p.add("kafka.sasl.mechanism", "%q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
	}
	if s.Username == "" {
		p.add("kafka.sasl.username", "required with kafka.sasl.mechanism")
	}
	if s.Password == "" && s.PasswordFile == "" {
		p.add("kafka.sasl.password_file", "required with kafka.sasl.mechanism (or set $%s)", EnvKafkaPassword)
	}
}

func (s *Sentinel) check(p *problems) {
	if s.Master == "" {
		if len(s.Addrs) > 0 {
			p.add("redis.sentinel.master", "required with redis.sentinel.addrs")
		}
		return
	}
	if len(s.Addrs) == 0 {
		p.add("redis.sentinel.addrs", "at least one sentinel host:port is required with redis.sentinel.master")
	}
	for _, a := range s.Addrs {
		if !strings.Contains(a, ":") {
			p.add("redis.sentinel.addrs", "%q is not host:port", a)
		}
	}
}

func (a *AdminTLS) check(p *problems, section string) {
	if !a.Enabled {
		if a.CertFile != "" || a.KeyFile != "" || a.ClientCAFile != "" {
			p.add(section+".enabled", "false, but other %s settings are set: set enabled: true", section)
		}
		return
	}
	if a.CertFile == "" || a.KeyFile == "" {
		p.add(section+".cert_file", "%s needs cert_file and key_file", section)
	}
	for _, f := range []struct{ name, path string }{{"cert_file", a.CertFile}, {"key_file", a.KeyFile}, {"client_ca_file", a.ClientCAFile}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				p.add(section+"."+f.name, "%v", statErr(err))
			}
		}
	}
}

// checkSecurity checks the TLS, SASL, Sentinel and admin security
// settings (called from the sections' checks).
func (c *Config) checkSecurity(p *problems) {
	c.Kafka.TLS.check(p, "kafka.tls")
	c.Kafka.SASL.check(p)
	c.Redis.TLS.check(p, "redis.tls")
	c.Redis.Sentinel.check(p)
	c.Admin.TLS.check(p, "admin.tls")
	c.API.TLS.check(p, "api.tls")
}

func statErr(err error) error {
	if pe := (*os.PathError)(nil); errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}
