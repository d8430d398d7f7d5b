package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/journey-dev/journey/internal/kafkaio"
	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/pipeline"
)

// topicsConfig is a pipeline configuration naming topics of the test's own:
// inputs <id>.in<i>, <id>.dlq and (changelog on) <id>.changelog.
func topicsConfig(t *testing.T, inputs int, changelog bool) (pipeline.Config, string) {
	t.Helper()
	brokers := testrig.KafkaBrokers(t)
	id := fmt.Sprintf("topics-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
	cfg := pipeline.Config{Brokers: brokers, GroupID: id, DLQTopic: id + ".dlq"}
	for i := range inputs {
		cfg.Topics = append(cfg.Topics, fmt.Sprintf("%s.in%d", id, i))
	}
	if changelog {
		cfg.Changelog.Topic = id + ".changelog"
	}
	return cfg, id
}

// statuses maps topic name to its status.
func statuses(ts []pipeline.TopicStatus) map[string]pipeline.TopicStatus {
	m := map[string]pipeline.TopicStatus{}
	for _, t := range ts {
		m[t.Name] = t
	}
	return m
}

// listed reports whether msg has a line that reads want, spaces aside.
func listed(msg string, want ...string) bool {
	for _, line := range strings.Split(msg, "\n") {
		if strings.Join(strings.Fields(line), " ") == strings.Join(want, " ") {
			return true
		}
	}
	return false
}

// partitionsOf reads the topics' partition counts with a client of the
// test's own (0: missing).
func partitionsOf(t *testing.T, brokers []string, topics ...string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Its own transport: the shared default one caches metadata, and
	// may not know topics created a moment ago.
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: &kafka.Transport{}}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, tp := range md.Topics {
		counts[tp.Name] = len(tp.Partitions)
	}
	return counts
}

func TestCreateTopicsCreatesMissingAndIsIdempotent(t *testing.T) {
	cfg, _ := topicsConfig(t, 2, true)
	ctx := context.Background()
	all := append(append([]string{}, cfg.Topics...), cfg.DLQTopic, cfg.Changelog.Topic)

	ts, err := pipeline.CheckTopics(ctx, cfg, zap.NewNop(), 0)
	if err == nil || !strings.Contains(err.Error(), cfg.Topics[0]) || !strings.Contains(err.Error(), cfg.Topics[1]) {
		t.Fatalf("check before create: want an error naming both missing inputs, got %v", err)
	}
	if len(ts) != 4 {
		t.Fatalf("check before create: %d statuses, want 4: %+v", len(ts), ts)
	}

	ts, err = pipeline.CreateTopics(ctx, cfg, zap.NewNop(), pipeline.TopicsOptions{Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	got := statuses(ts)
	for _, name := range all {
		if st := got[name]; st.Partitions != 3 || !st.Created {
			t.Errorf("first create: %s is %+v, want created with 3 partitions", name, st)
		}
	}
	for name, n := range partitionsOf(t, cfg.Brokers, all...) {
		if n != 3 {
			t.Errorf("the broker has %s with %d partitions, want 3", name, n)
		}
	}
	// The changelog is created as Run creates it: compacted.
	admin := kafkaio.NewAdmin(cfg.Brokers, &kafka.Dialer{Timeout: 10 * time.Second}, zap.NewNop())
	policy, err := admin.TopicConfig(ctx, cfg.Changelog.Topic, "cleanup.policy")
	if err != nil || policy != "compact" {
		t.Errorf("changelog cleanup.policy %q (%v), want compact", policy, err)
	}

	// Again, with no count: it takes the existing one and creates nothing.
	ts, err = pipeline.CreateTopics(ctx, cfg, zap.NewNop(), pipeline.TopicsOptions{})
	if err != nil {
		t.Fatalf("second create: %v", err)
	}
	for _, st := range ts {
		if st.Created || st.Partitions != 3 {
			t.Errorf("second create: %+v, want existing with 3 partitions", st)
		}
	}
	if _, err := pipeline.CheckTopics(ctx, cfg, zap.NewNop(), 0); err != nil {
		t.Fatalf("check after create: %v", err)
	}
}

func TestCreateTopicsPartitionCount(t *testing.T) {
	ctx := context.Background()
	t.Run("default", func(t *testing.T) {
		cfg, _ := topicsConfig(t, 1, false)
		ts, err := pipeline.CreateTopics(ctx, cfg, zap.NewNop(), pipeline.TopicsOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) != 2 { // input, dead-letter; no changelog
			t.Fatalf("statuses %+v, want the input and the dead-letter topic", ts)
		}
		for _, st := range ts {
			if st.Partitions != pipeline.DefaultTopicPartitions {
				t.Errorf("%+v: want %d partitions", st, pipeline.DefaultTopicPartitions)
			}
		}
	})
	t.Run("existing input", func(t *testing.T) {
		cfg, _ := topicsConfig(t, 2, true)
		testrig.CreateTopic(t, cfg.Brokers, cfg.Topics[1], 2)
		ts, err := pipeline.CreateTopics(ctx, cfg, zap.NewNop(), pipeline.TopicsOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range ts {
			if st.Partitions != 2 || st.Created != (st.Name != cfg.Topics[1]) {
				t.Errorf("%+v: want 2 partitions, created unless it existed", st)
			}
		}
	})
}

func TestCreateTopicsRefusesMismatchedCounts(t *testing.T) {
	ctx := context.Background()
	cfg, _ := topicsConfig(t, 3, true)
	testrig.CreateTopic(t, cfg.Brokers, cfg.Topics[0], 2)
	testrig.CreateTopic(t, cfg.Brokers, cfg.Topics[1], 4)
	for _, opts := range []pipeline.TopicsOptions{{}, {Partitions: 2}} {
		_, err := pipeline.CreateTopics(ctx, cfg, zap.NewNop(), opts)
		var cpe *pipeline.CoPartitionError
		if !errors.As(err, &cpe) {
			t.Fatalf("partitions %d: want a *CoPartitionError, got %v", opts.Partitions, err)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "kafka.topics: not co-partitioned") ||
			!listed(msg, cfg.Topics[0], "input", "2 partitions") || !listed(msg, cfg.Topics[1], "input", "4 partitions") ||
			!listed(msg, cfg.Topics[2], "input", "does not exist") || !listed(msg, cfg.Changelog.Topic, "changelog", "does not exist") {
			t.Errorf("partitions %d: the error does not list each topic with its count:\n%s", opts.Partitions, msg)
		}
	}
	if _, err := pipeline.CheckTopics(ctx, cfg, zap.NewNop(), 0); err == nil {
		t.Error("check: no error for topics that are missing and not co-partitioned")
	}
	// Nothing was created.
	for name, n := range partitionsOf(t, cfg.Brokers, cfg.Topics[2], cfg.DLQTopic, cfg.Changelog.Topic) {
		if n != 0 {
			t.Errorf("%s was created (%d partitions) although the create was refused", name, n)
		}
	}
}

func TestCreateTopicsRefusesAnotherCount(t *testing.T) {
	ctx := context.Background()
	cfg, _ := topicsConfig(t, 2, true)
	testrig.CreateTopic(t, cfg.Brokers, cfg.Topics[0], 2)
	_, err := pipeline.CreateTopics(ctx, cfg, zap.NewNop(), pipeline.TopicsOptions{Partitions: 4})
	var cpe *pipeline.CoPartitionError
	if !errors.As(err, &cpe) || cpe.Setting != "partitions" || !listed(err.Error(), cfg.Topics[0], "input", "2 partitions") {
		t.Fatalf("want a partitions error naming %s and its 2 partitions, got %v", cfg.Topics[0], err)
	}
	if n := partitionsOf(t, cfg.Brokers, cfg.Topics[1])[cfg.Topics[1]]; n != 0 {
		t.Fatalf("%s was created with %d partitions although the create was refused", cfg.Topics[1], n)
	}
}

func TestCheckTopicsChangelogNotCoPartitioned(t *testing.T) {
	ctx := context.Background()
	cfg, _ := topicsConfig(t, 1, true)
	testrig.CreateTopic(t, cfg.Brokers, cfg.Topics[0], 2)
	testrig.CreateTopic(t, cfg.Brokers, cfg.Changelog.Topic, 3, kafka.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"})
	_, err := pipeline.CheckTopics(ctx, cfg, zap.NewNop(), 0)
	var cpe *pipeline.CoPartitionError
	if !errors.As(err, &cpe) || cpe.Setting != "changelog.topic" || !listed(err.Error(), cfg.Changelog.Topic, "changelog", "3 partitions") {
		t.Fatalf("want a changelog.topic error naming the changelog's 3 partitions, got %v", err)
	}
	if _, err := pipeline.CreateTopics(ctx, cfg, zap.NewNop(), pipeline.TopicsOptions{}); !errors.As(err, &cpe) {
		t.Fatalf("create: want a *CoPartitionError, got %v", err)
	}
}

func TestTopicsDeadline(t *testing.T) {
	addr := testrig.NewEndpoint(t, testrig.Silent).Addr
	cfg := pipeline.Config{Brokers: []string{addr}, GroupID: "g", Topics: []string{"in"}, DLQTopic: "dlq"}
	start := time.Now()
	_, err := pipeline.CreateTopics(context.Background(), cfg, zap.NewNop(), pipeline.TopicsOptions{Timeout: time.Second})
	if took := time.Since(start); took > testrig.Within(10*time.Second) {
		t.Errorf("a silent broker took %v to fail, with a 1s timeout", took)
	}
	if want := "kafka.brokers " + addr + ": not a Kafka broker (no ApiVersions answer in 1s)"; err == nil || err.Error() != want {
		t.Fatalf("want %q, got %v", want, err)
	}

	// Cancelled (Ctrl-C), it stops at once, long before its timeout.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := pipeline.CheckTopics(ctx, cfg, zap.NewNop(), time.Minute)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled check succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled check did not return")
	}
}
