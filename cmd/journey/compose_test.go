package main

import (
	"flag"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/generate"
)

// composeFile is the part of docker-compose.yml this test reads.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string                    `yaml:"image"`
	Build       any                       `yaml:"build"`
	Command     any                       `yaml:"command"`
	Entrypoint  []string                  `yaml:"entrypoint"`
	Environment map[string]string         `yaml:"environment"`
	Ports       []string                  `yaml:"ports"`
	Volumes     []string                  `yaml:"volumes"`
	Profiles    []string                  `yaml:"profiles"`
	DependsOn   map[string]map[string]any `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

// command returns the service's command as a list of words.
func (s composeService) command() []string {
	switch c := s.Command.(type) {
	case string:
		return strings.Fields(c)
	case []any:
		out := make([]string, len(c))
		for i, w := range c {
			out[i], _ = w.(string)
		}
		return out
	}
	return nil
}

// TestDockerCompose checks docker-compose.yml's structure, as no Docker
// engine is there to run it: Kafka 3.9 in KRaft mode, Redis 7 with
// persistence, journey built from the Dockerfile and pointed at the kafka
// and redis services, the topics it reads created, healthchecks, ports on
// the host's loopback, volumes, and the generator behind a profile with
// flags journey generate has.
func TestDockerCompose(t *testing.T) {
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kafka", "topics", "redis", "journey", "generator"} {
		if _, ok := f.Services[name]; !ok {
			t.Fatalf("no %s service", name)
		}
	}
	kafka, redis, topics, jy, gen := f.Services["kafka"], f.Services["redis"], f.Services["topics"], f.Services["journey"], f.Services["generator"]

	// Kafka: Apache's 3.9 image, KRaft (broker and controller, no ZooKeeper).
	if !regexp.MustCompile(`^apache/kafka:3\.9\.\d+$`).MatchString(kafka.Image) {
		t.Errorf("kafka image %q, want apache/kafka:3.9.x", kafka.Image)
	}
	if kafka.Environment["KAFKA_PROCESS_ROLES"] != "broker,controller" || kafka.Environment["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "" {
		t.Errorf("kafka is not a KRaft broker+controller: %v", kafka.Environment)
	}
	for k := range kafka.Environment {
		if strings.Contains(k, "ZOOKEEPER") {
			t.Errorf("kafka has ZooKeeper setting %s", k)
		}
	}
	// The address containers use: the advertised listener on the kafka host.
	internal := ""
	for _, l := range strings.Split(kafka.Environment["KAFKA_ADVERTISED_LISTENERS"], ",") {
		if name, addr, ok := strings.Cut(l, "://"); ok && name == kafka.Environment["KAFKA_INTER_BROKER_LISTENER_NAME"] {
			internal = addr
		}
	}
	if host, _, _ := net.SplitHostPort(internal); host != "kafka" {
		t.Fatalf("kafka's inter-broker listener is advertised as %q, want kafka:<port>", internal)
	}
	if dir := kafka.Environment["KAFKA_LOG_DIRS"]; !hasVolume(kafka, dir) {
		t.Errorf("kafka's log dir %q is not on a volume (%v): the topics would not survive a restart", dir, kafka.Volumes)
	}

	// Redis 7 with persistence (the trigger-id markers must survive a restart).
	if !strings.HasPrefix(redis.Image, "redis:7") {
		t.Errorf("redis image %q, want redis:7", redis.Image)
	}
	if !slices.Contains(redis.command(), "--appendonly") || !hasVolume(redis, "/data") {
		t.Errorf("redis does not persist on a volume: command %v, volumes %v", redis.command(), redis.Volumes)
	}

	// journey: built from the Dockerfile, running journey run with its
	// config and environment pointing at the kafka and redis services.
	if jy.Build == nil {
		t.Error("journey is not built from the Dockerfile")
	}
	if c := jy.command(); len(c) == 0 || c[0] != "run" {
		t.Errorf("journey command %v, want run ...", c)
	}
	cfg := config.Default()
	if err := cfg.Load(configInContainer(t, jy)); err != nil {
		t.Fatal(err)
	}
	if err := config.Flags(flag.NewFlagSet("run", flag.ContinueOnError))(&cfg, func(k string) string { return jy.Environment[k] }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Kafka.Brokers, []string{internal}) {
		t.Errorf("journey's brokers %v, want the kafka service %s", cfg.Kafka.Brokers, internal)
	}
	if host, _, _ := net.SplitHostPort(cfg.Redis.Addr); host != "redis" {
		t.Errorf("journey's redis.addr %q, want the redis service", cfg.Redis.Addr)
	}
	if !hasVolume(jy, cfg.State.Dir) {
		t.Errorf("journey's state.dir %q is not on a volume (%v)", cfg.State.Dir, jy.Volumes)
	}
	for typ, name := range generate.CloudEventTypes() {
		if cfg.Ingest.CloudEventTypes[typ] != name {
			t.Errorf("journey's config does not map the generator's CloudEvents type %s", typ)
		}
	}
	created := topics.command()
	for _, topic := range append(slices.Clone(cfg.Kafka.Topics), cfg.Kafka.DLQTopic) {
		if !strings.Contains(strings.Join(created, " "), "--topic "+topic+" ") {
			t.Errorf("the topics service does not create %s: %v", topic, created)
		}
	}
	if dep := jy.DependsOn["topics"]["condition"]; dep != "service_completed_successfully" {
		t.Errorf("journey does not wait for the topics (depends_on topics: %v)", dep)
	}
	if dep := jy.DependsOn["redis"]["condition"]; dep != "service_healthy" {
		t.Errorf("journey does not wait for a healthy redis (depends_on redis: %v)", dep)
	}
	if dep := topics.DependsOn["kafka"]["condition"]; dep != "service_healthy" {
		t.Errorf("topics does not wait for a healthy kafka (depends_on kafka: %v)", dep)
	}

	// Healthchecks; journey's uses journey health against its admin port.
	for name, s := range map[string]composeService{"kafka": kafka, "redis": redis, "journey": jy} {
		if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 {
			t.Errorf("%s has no healthcheck", name)
		}
	}
	if jy.Healthcheck != nil && !slices.Contains(jy.Healthcheck.Test, "health") {
		t.Errorf("journey's healthcheck %v does not run journey health", jy.Healthcheck.Test)
	}
	if _, port, _ := net.SplitHostPort(cfg.Admin.Addr); jy.Healthcheck != nil && !strings.Contains(strings.Join(jy.Healthcheck.Test, " "), ":"+port+"/readyz") {
		t.Errorf("journey's healthcheck %v does not ask /readyz on admin.addr %s", jy.Healthcheck.Test, cfg.Admin.Addr)
	}

	// Published ports are on the host's loopback only.
	for name, s := range f.Services {
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes %q beyond the host's loopback", name, p)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
				if _, ok := f.Volumes[src]; !ok {
					t.Errorf("%s mounts undeclared volume %q", name, src)
				}
			}
		}
	}

	// The generator: behind a profile, running journey generate with flags
	// it has, against the kafka service and the topic journey reads.
	if !slices.Equal(gen.Profiles, []string{"generator"}) {
		t.Errorf("generator profiles %v, want [generator]", gen.Profiles)
	}
	if gen.Image != jy.Image {
		t.Errorf("generator image %q, want journey's %q", gen.Image, jy.Image)
	}
	words := gen.command()
	if len(words) == 0 || words[0] != "generate" {
		t.Fatalf("generator command %v, want generate ...", words)
	}
	var pc generate.ProduceConfig
	fs, brokers := generateFlags(&pc, io.Discard, io.Discard)
	if err := fs.Parse(words[1:]); err != nil {
		t.Fatalf("journey generate rejects the generator's flags %v: %v", words[1:], err)
	}
	if *brokers != internal {
		t.Errorf("generator --brokers %q, want the kafka service %s", *brokers, internal)
	}
	if !slices.Contains(cfg.Kafka.Topics, pc.Topic) {
		t.Errorf("generator --topic %q is not one journey reads (%v)", pc.Topic, cfg.Kafka.Topics)
	}

	// The Dockerfile: multi-stage, static binary, small base.
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{" AS build", "CGO_ENABLED=0", "FROM gcr.io/distroless/static", "COPY --from=build"} {
		if !strings.Contains(string(df), want) {
			t.Errorf("Dockerfile has no %q", want)
		}
	}
}

// configInContainer returns the host path of the file journey's --config
// names inside its container (a bind mount).
func configInContainer(t *testing.T, s composeService) string {
	t.Helper()
	c := s.command()
	i := slices.Index(c, "--config")
	if i < 0 || i+1 >= len(c) {
		return ""
	}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == c[i+1] {
			return "../../" + strings.TrimPrefix(parts[0], "./")
		}
	}
	t.Fatalf("journey's --config %s is not mounted from the repository (%v)", c[i+1], s.Volumes)
	return ""
}

// hasVolume reports whether dir is a mount target of s.
func hasVolume(s composeService, dir string) bool {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == dir {
			return true
		}
	}
	return false
}
