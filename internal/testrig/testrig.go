// Package testrig finds the real Kafka broker and Redis server an
// integration test talks to.
//
// In order: the addresses `make test` (or `make up`) exported in
// JOURNEY_TEST_KAFKA_BROKERS and JOURNEY_TEST_REDIS_ADDR; else containers
// started with testcontainers-go when a Docker engine answers; else the test
// is skipped with a message saying to run `make test`. Under CI=true a
// missing service fails the test instead of skipping it. With -short
// (make test-unit) integration tests always skip.
//
// Only _test.go files import this package, so testcontainers never reaches
// the production binary (a test in cmd/journey checks that).
package testrig

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/testcontainers/testcontainers-go"
	tckafka "github.com/testcontainers/testcontainers-go/modules/kafka"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
)

// Environment variables the rig exports.
const (
	EnvKafka = "JOURNEY_TEST_KAFKA_BROKERS"
	EnvRedis = "JOURNEY_TEST_REDIS_ADDR"
)

// Container images used when a Docker engine is available.
const (
	kafkaImage = "apache/kafka:3.9.1"
	redisImage = "redis:7-alpine"
)

// Containers are started once per test binary and left for the Ryuk reaper
// to remove when the binary exits.
var (
	kafkaOnce, redisOnce sync.Once
	kafkaAddr, redisAddr []string
	kafkaErr, redisErr   error
	dockerOnce           sync.Once
	dockerErr            error
)

// KafkaBrokers returns the bootstrap addresses of a real Kafka broker.
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
	if v := os.Getenv(EnvKafka); v != "" && !testing.Short() {
		return strings.Split(v, ",")
	}
	need(t, "Kafka", EnvKafka)
	kafkaOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		c, err := tckafka.Run(ctx, kafkaImage, tckafka.WithClusterID("journey-test"))
		if err != nil {
			kafkaErr = err
			return
		}
		kafkaAddr, kafkaErr = c.Brokers(ctx)
	})
	if kafkaErr != nil {
		t.Fatalf("testrig: start Kafka container: %v", kafkaErr)
	}
	return kafkaAddr
}

// RedisAddr returns the host:port of a real Redis server.
func RedisAddr(t testing.TB) string {
	t.Helper()
	if v := os.Getenv(EnvRedis); v != "" && !testing.Short() {
		return v
	}
	need(t, "Redis", EnvRedis)
	redisOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c, err := tcredis.Run(ctx, redisImage)
		if err != nil {
			redisErr = err
			return
		}
		s, err := c.ConnectionString(ctx)
		if err != nil {
			redisErr = err
			return
		}
		redisAddr = []string{strings.TrimPrefix(s, "redis://")}
	})
	if redisErr != nil {
		t.Fatalf("testrig: start Redis container: %v", redisErr)
	}
	return redisAddr[0]
}

// need skips (or, under CI=true, fails) t when the service is not exported
// and no Docker engine answers.
func need(t testing.TB, service, env string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("integration test needs %s: skipped in -short mode (make test-unit); run `make test`", service)
	}
	dockerOnce.Do(func() { dockerErr = dockerHealthy() })
	if dockerErr == nil {
		return
	}
	msg := fmt.Sprintf("no %s: %s is unset and no Docker engine answers (%v); run `make test`, which starts real Kafka and Redis",
		service, env, dockerErr)
	if os.Getenv("CI") == "true" {
		t.Fatal("testrig: " + msg)
	}
	t.Skip(msg)
}

func dockerHealthy() (err error) {
	defer func() {
		// The provider panics on some broken Docker configurations.
		if r := recover(); r != nil {
			err = fmt.Errorf("docker provider: %v", r)
		}
	}()
	p, err := testcontainers.ProviderDefault.GetProvider()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.Health(ctx)
}

// EnvPatience scales every deadline a test waits for (Within).
const EnvPatience = "JOURNEY_TEST_PATIENCE"

// Patience is how many times longer than on an idle developer machine a
// test waits before it calls a condition failed: $JOURNEY_TEST_PATIENCE,
// else 4 under CI=true, else 1. CI machines are shared: one CI run of
// `make test` took five times as long as the same commit on an idle
// machine. A deadline bounds how long a failure takes to be reported; a
// passing test never waits for it, so a generous one costs nothing.
func Patience() float64 {
	if v, err := strconv.ParseFloat(os.Getenv(EnvPatience), 64); err == nil && v >= 1 {
		return v
	}
	if os.Getenv("CI") == "true" {
		return 4
	}
	return 1
}

// Within scales a test's deadline by Patience.
func Within(d time.Duration) time.Duration { return time.Duration(float64(d) * Patience()) }

// CheckFor polls fn every interval until it returns nil or total (scaled
// by Patience) elapses, then fails t with fn's last error. Tests wait with
// it, never with a sleep.
func CheckFor(t testing.TB, total, interval time.Duration, fn func() error) {
	t.Helper()
	total = Within(total)
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", total, err)
		}
		time.Sleep(interval)
	}
}

// CreateTopic creates a topic and waits until every partition has a leader,
// so producing to it right away works.
func CreateTopic(t testing.TB, brokers []string, topic string, partitions int, configs ...kafka.ConfigEntry) {
	t.Helper()
	conn, err := kafka.Dial("tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		t.Fatal(err)
	}
	cc, err := kafka.Dial("tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	err = cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: configs})
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		ps, err := conn.ReadPartitions(topic)
		if err != nil {
			return err
		}
		if len(ps) != partitions {
			return fmt.Errorf("topic %s has %d of %d partitions", topic, len(ps), partitions)
		}
		for _, p := range ps {
			if p.Leader.ID < 0 || p.Leader.Host == "" {
				return fmt.Errorf("partition %d has no leader yet", p.ID)
			}
		}
		return nil
	})
}
