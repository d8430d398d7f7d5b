package config

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// A configuration dumped whole (YAML, JSON, fmt's verbs) shows no secret.
func TestSecretsAreRedacted(t *testing.T) {
	const pw = "s3cr3t-value-91"
	c := Default()
	c.Kafka.SASL = SASL{Mechanism: SASLScramSHA512, Username: "u", Password: pw}
	c.Redis.Password, c.Admin.Token = pw, pw
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{
		"yaml": string(y), "json": string(j), "%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		//lint:ignore S1025 the %s verb is what is tested
		"%s": fmt.Sprintf("%s", c.Redis.Password),
	} {
		if strings.Contains(s, pw) {
			t.Errorf("%s dump shows the secret", name)
		}
		if !strings.Contains(s, "[redacted]") {
			t.Errorf("%s dump does not say [redacted]", name)
		}
	}
	if c.Redis.Password.Reveal() != pw {
		t.Error("Reveal does not return the secret")
	}
}

// The passwords come from the environment or a file; no flag takes one.
func TestSecretsFromEnvAndFiles(t *testing.T) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	apply := Flags(fs)
	if fs.Lookup("redis-password") != nil {
		t.Error("a --redis-password flag exists: a password on the command line is visible to every user")
	}
	if err := fs.Parse([]string{"--redis-password", "x"}); err == nil {
		t.Error("--redis-password accepted")
	}
	c := Default()
	env := map[string]string{EnvKafkaPassword: "kp", EnvRedisPassword: "rp", EnvAdminToken: "at"}
	if err := apply(&c, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Kafka.SASL.Password != "kp" || c.Redis.Password != "rp" || c.Admin.Token != "at" {
		t.Fatalf("secrets from the environment: %q %q %q", c.Kafka.SASL.Password.Reveal(), c.Redis.Password.Reveal(), c.Admin.Token.Reveal())
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = Default()
	c.Kafka.SASL.PasswordFile = file
	if pw, src, err := c.KafkaPassword(); err != nil || pw != "from-file" || src != "kafka.sasl.password_file" {
		t.Errorf("password from the file: %q from %q (%v)", pw.Reveal(), src, err)
	}
	c.Kafka.SASL.Password = "from-env"
	if pw, src, err := c.KafkaPassword(); err != nil || pw != "from-env" || src != "$"+EnvKafkaPassword {
		t.Errorf("the variable wins over the file: %q from %q (%v)", pw.Reveal(), src, err)
	}
	c = Default()
	c.Redis.PasswordFile = filepath.Join(dir, "missing")
	if _, _, err := c.RedisPassword(); err == nil || !strings.HasPrefix(err.Error(), "redis.password_file ") {
		t.Errorf("a missing password file: %v, want an error naming redis.password_file", err)
	}
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	c.Admin.TokenFile = empty
	if _, _, err := c.AdminToken(); err == nil || !strings.Contains(err.Error(), "admin.token_file") {
		t.Errorf("an empty token file: %v", err)
	}
}

func TestValidateSecurity(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		yaml, want string
	}{
		{"kafka:\n  sasl:\n    mechanism: GSSAPI\n    username: u\n    password_file: /x\n", `kafka.sasl.mechanism: "GSSAPI" is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`},
		{"kafka:\n  sasl:\n    mechanism: PLAIN\n    password_file: /x\n", "kafka.sasl.username: required with kafka.sasl.mechanism"},
		{"kafka:\n  sasl:\n    mechanism: PLAIN\n    username: u\n", "kafka.sasl.password_file: required with kafka.sasl.mechanism (or set $JOURNEY_KAFKA_PASSWORD)"},
		{"kafka:\n  sasl:\n    username: u\n", "kafka.sasl.mechanism: required with kafka.sasl.username or password_file"},
		{"kafka:\n  tls:\n    ca_file: /x\n", "kafka.tls.enabled: false, but other kafka.tls settings are set"},
		{"redis:\n  tls:\n    enabled: true\n    ca_file: " + filepath.Join(dir, "nope.pem") + "\n", "redis.tls.ca_file: " + filepath.Join(dir, "nope.pem") + ": no such file or directory"},
		{"redis:\n  tls:\n    enabled: true\n    cert_file: /x\n", "redis.tls.cert_file: cert_file and key_file go together"},
		{"redis:\n  sentinel:\n    master: m\n", "redis.sentinel.addrs: at least one sentinel"},
		{"redis:\n  sentinel:\n    addrs: [a:1]\n", "redis.sentinel.master: required with redis.sentinel.addrs"},
		{"admin:\n  tls:\n    enabled: true\n", "admin.tls.cert_file: admin.tls needs cert_file and key_file"},
		{"api:\n  tls:\n    enabled: true\n", "api.tls.cert_file: api.tls needs cert_file and key_file"},
		{"api:\n  tls:\n    cert_file: x.crt\n", "api.tls.enabled: false, but other api.tls settings are set: set enabled: true"},
	} {
		c := Default()
		if err := c.Parse([]byte(tc.yaml)); err != nil {
			t.Fatalf("%s: %v", tc.yaml, err)
		}
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v\nwant %s", tc.yaml, err, tc.want)
		}
	}
	// The password is not a field of the file under kafka.sasl.
	c := Default()
	if err := c.Parse([]byte("kafka:\n  sasl:\n    password: x\n")); err == nil || !strings.Contains(err.Error(), "kafka.sasl.password (line 3): unknown field") {
		t.Errorf("kafka.sasl.password in the file: %v", err)
	}
}
