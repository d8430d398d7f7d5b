package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/journey-dev/journey/pkg/config"
)

// TestEnvFileConfiguresJourney sources the env file `rig up` writes as the
// README says (set -a; . .rig/env; set +a) and applies the resulting
// environment as journey run does: brokers and Redis are the rig's.
func TestEnvFileConfiguresJourney(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	s := services{kafka: "127.0.0.1:19092", redis: "127.0.0.1:16379", kafkaLibs: "/nowhere/libs"}
	path := filepath.Join(t.TempDir(), "env")
	if err := writeEnv(path, s); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bash, "-c", `set -a; . "$1"; set +a; env -0`, "bash", path)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("source %s: %v", path, err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(out), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for k, want := range map[string]string{
		"JOURNEY_BROKERS": s.kafka, "JOURNEY_REDIS_ADDR": s.redis, // journey run, topics, generate
		"KAFKA_BROKERS": s.kafka, "REDIS_ADDR": s.redis, // kcat, redis-cli
		"JOURNEY_TEST_KAFKA_BROKERS": s.kafka, "JOURNEY_TEST_REDIS_ADDR": s.redis, // the tests
	} {
		if env[k] != want {
			t.Errorf("after sourcing the env file %s=%q, want %q", k, env[k], want)
		}
	}

	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	apply := config.Flags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	if err := apply(&cfg, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Kafka.Brokers) != 1 || cfg.Kafka.Brokers[0] != s.kafka || cfg.Redis.Addr != s.redis {
		t.Fatalf("journey's configuration from the env file: brokers %v, redis %q; want [%s], %q",
			cfg.Kafka.Brokers, cfg.Redis.Addr, s.kafka, s.redis)
	}
}

// TestExecEnvLeavesJourneyDefaults: `rig exec` (make test) does not set
// the variables journey reads, which would change what the tests' journey
// commands default to.
func TestExecEnvLeavesJourneyDefaults(t *testing.T) {
	for _, kv := range (services{kafka: "k:1", redis: "r:2"}).env() {
		if k, _, _ := strings.Cut(kv, "="); k == config.EnvName("brokers") || k == config.EnvName("redis-addr") {
			t.Errorf("rig exec's environment sets %s", k)
		}
	}
}

// TestReadmeRedisACL: the Redis ACL the README lists is the rig's
// restricted user's, which the security tests run journey as.
func TestReadmeRedisACL(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "ACL SETUSER journey ") {
			if !strings.HasSuffix(line, " "+redisACL) {
				t.Errorf("README's Redis ACL:\n%s\nthe rig's user:\n%s", line, redisACL)
			}
			return
		}
	}
	t.Error(`README has no "ACL SETUSER journey" line`)
}

// TestSecureEnv: rig exec and rig up export the secure endpoints and
// files under their names.
func TestSecureEnv(t *testing.T) {
	sec, err := newSecure(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := services{kafka: "k:1", redis: "r:2", kafkaSecure: "k:3", redisTLS: "r:4", sec: sec}
	env := map[string]string{}
	for _, kv := range s.upEnv() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for k, want := range map[string]string{
		"JOURNEY_TEST_KAFKA_SASL_SSL_BROKERS": "k:3", "JOURNEY_TEST_REDIS_TLS_ADDR": "r:4",
		"JOURNEY_TEST_KAFKA_SASL_PASSWORD_FILE": sec.kafkaPasswordFile, "JOURNEY_TEST_TLS_CA_FILE": sec.caFile,
		"JOURNEY_TEST_REDIS_PASSWORD_FILE": sec.redisPasswordFile, "JOURNEY_TEST_TLS_OTHER_CA_FILE": sec.otherCAFile,
		"JOURNEY_TEST_KAFKA_SASL_USERNAME": secureUser, "JOURNEY_TEST_REDIS_USERNAME": secureUser,
		"JOURNEY_TEST_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "JOURNEY_TEST_REDIS_ACL_PREFIX": redisACLPrefix,
		"JOURNEY_TEST_KAFKA_SASL_MECHANISMS": "SCRAM-SHA-512,SCRAM-SHA-256,PLAIN",
		"JOURNEY_TEST_TLS_CLIENT_CERT_FILE":  sec.clientCert, "JOURNEY_TEST_TLS_CLIENT_KEY_FILE": sec.clientKey,
		"JOURNEY_TEST_TLS_OTHER_CLIENT_CERT_FILE": sec.otherClientCert, "JOURNEY_TEST_TLS_OTHER_CLIENT_KEY_FILE": sec.otherClientKey,
	} {
		if env[k] != want {
			t.Errorf("%s=%q, want %q", k, env[k], want)
		}
	}
	// The passwords are in files readable by the owner only, and in no variable.
	for _, f := range []string{sec.kafkaPasswordFile, sec.redisPasswordFile, sec.keyFile, sec.clientKey} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v", f, err, fi.Mode())
		}
	}
	for k, v := range env {
		if strings.Contains(v, sec.kafkaPassword) || strings.Contains(v, sec.redisPassword) {
			t.Errorf("%s holds a password", k)
		}
	}
}
