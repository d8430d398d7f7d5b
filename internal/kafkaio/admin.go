package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Admin answers questions about topics and creates them: partition counts,
// topic configuration, partition ids and offsets. It holds no connection
// between calls except its client's idle ones.
type Admin struct {
	brokers []string
	dialer  *kafka.Dialer
	client  *kafka.Client
	log     *zap.Logger
}

// NewAdmin returns an Admin for the cluster at brokers, dialing with
// dialer. It does no I/O.
func NewAdmin(brokers []string, dialer *kafka.Dialer, log *zap.Logger) *Admin {
	t := &kafka.Transport{MetadataTTL: 5 * time.Second, DialTimeout: 10 * time.Second}
	return &Admin{brokers: brokers, dialer: dialer, log: log,
		client: &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second, Transport: t}}
}

// TopicError is a failure to read one topic's partitions.
type TopicError struct {
	Topic string
	Err   error
}

func (e *TopicError) Error() string { return fmt.Sprintf("topic %q: %v", e.Topic, e.Err) }
func (e *TopicError) Unwrap() error { return e.Err }

// PartitionCounts returns the number of partitions of each topic (0: the
// topic does not exist), read over one connection to the first broker. A
// topic whose partitions cannot be read fails with a *TopicError.
func (a *Admin) PartitionCounts(ctx context.Context, topics []string) (map[string]int, error) {
	conn, err := a.dialer.DialContext(ctx, "tcp", a.brokers[0])
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", a.brokers[0], err)
	}
	defer conn.Close()
	counts := map[string]int{}
	for _, t := range topics {
		parts, err := conn.ReadPartitions(t)
		if err != nil {
			return nil, &TopicError{Topic: t, Err: err}
		}
		counts[t] = len(parts)
	}
	return counts, nil
}

// Exists reports whether topic exists with at least one partition, and
// with how many; an error reading it reads as "does not exist".
func (a *Admin) Exists(ctx context.Context, topic string) (partitions int, ok bool) {
	counts, err := a.PartitionCounts(ctx, []string{topic})
	if err != nil || counts[topic] == 0 {
		return 0, false
	}
	return counts[topic], true
}

// CreateTopic creates a topic (one that exists already is not an error) on
// the controller, then waits up to 30 s for every partition to have a
// leader, so the first write to it does not start with a retry.
func (a *Admin) CreateTopic(ctx context.Context, cfg kafka.TopicConfig) error {
	conn, err := a.dialer.DialContext(ctx, "tcp", a.brokers[0])
	if err != nil {
		return err
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("find controller: %w", err)
	}
	cc, err := a.dialer.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return err
	}
	defer cc.Close()
	if err := cc.CreateTopics(cfg); err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("create %q: %w", cfg.Topic, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if parts, err := conn.ReadPartitions(cfg.Topic); err == nil && len(parts) == cfg.NumPartitions && allLed(parts) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func allLed(parts []kafka.Partition) bool {
	for _, p := range parts {
		if p.Leader.Host == "" {
			return false
		}
	}
	return true
}

// TopicConfig returns the value of topic's configuration entry name ("" when
// the broker reports none).
func (a *Admin) TopicConfig(ctx context.Context, topic, name string) (string, error) {
	res, err := a.client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{name},
		}},
	})
	if err != nil {
		return "", err
	}
	for _, r := range res.Resources {
		if r.Error != nil {
			return "", r.Error
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == name {
				return e.ConfigValue, nil
			}
		}
	}
	return "", nil
}

// PartitionIDs returns topic's partition ids in order (none when the topic
// does not exist).
func (a *Admin) PartitionIDs(ctx context.Context, topic string) ([]int, error) {
	md, err := a.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		return nil, nil
	}
	var ids []int
	for _, pt := range md.Topics[0].Partitions {
		ids = append(ids, pt.ID)
	}
	slices.Sort(ids)
	return ids, nil
}

// Offsets returns the first and the next offset of one partition. Errors
// are retried with backoff until ctx ends: right after a topic is created
// (or a leader moves) the broker answers "not leader" or "unknown" for a
// moment, and a broker under load has answered ListOffsets with
// UNKNOWN_SERVER_ERROR; neither should make the caller give the partition
// up. The first quiet failures are not logged.
func (a *Admin) Offsets(ctx context.Context, topic string, partition, quiet int) (first, next int64, err error) {
	return offsetsRetrying(ctx, a.client, a.log, topic, partition, quiet)
}
