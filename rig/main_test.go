package main

import (
	"flag"
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
