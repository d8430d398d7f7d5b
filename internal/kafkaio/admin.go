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
//
// Every call but Offsets is a start-up call: it is bounded by the
// dialer's Timeout (DefaultTimeout when 0) for each network round trip
// as well as by ctx, so a broker that stops answering fails the call
// instead of hanging it, and a cancelled ctx ends it at once.
type Admin struct {
	brokers []string
	dialer  *kafka.Dialer
	client  *kafka.Client
	timeout time.Duration
	log     *zap.Logger
}

// NewAdmin returns an Admin for the cluster at brokers, dialing with
// dialer, whose Timeout also bounds each call. It does no I/O.
func NewAdmin(brokers []string, dialer *kafka.Dialer, log *zap.Logger) *Admin {
	timeout := dialer.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	t := TransportFor(dialer, timeout)
	return &Admin{brokers: brokers, dialer: dialer, log: log, timeout: timeout,
		client: &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second, Transport: t}}
}

// dial connects to the first of the brokers that accepts a connection,
// and returns it with every read and write on it bounded by the Admin's
// timeout from now (extend it with conn.SetDeadline) and closed as soon
// as ctx ends; done closes it.
func (a *Admin) dial(ctx context.Context) (conn *kafka.Conn, done func(), err error) {
	for _, b := range a.brokers {
		if conn, err = a.dialAddr(ctx, b); err == nil {
			break
		}
		err = fmt.Errorf("connect to %s: %w", b, err)
		if ctx.Err() != nil {
			return nil, nil, err
		}
	}
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	return conn, func() { stop(); _ = conn.Close() }, nil
}

func (a *Admin) dialAddr(ctx context.Context, addr string) (*kafka.Conn, error) {
	conn, err := a.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(a.timeout))
	return conn, nil
}

// TopicError is a failure to read one topic's partitions.
type TopicError struct {
	Topic string
	Err   error
}

func (e *TopicError) Error() string { return fmt.Sprintf("topic %q: %v", e.Topic, e.Err) }
func (e *TopicError) Unwrap() error { return e.Err }

// PartitionCounts returns the number of partitions of each topic (0: the
// topic does not exist), read over one connection to the first broker
// that accepts one. A topic whose partitions cannot be read fails with a
// *TopicError.
func (a *Admin) PartitionCounts(ctx context.Context, topics []string) (map[string]int, error) {
	conn, done, err := a.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	counts := map[string]int{}
	for _, t := range topics {
		_ = conn.SetDeadline(time.Now().Add(a.timeout))
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
	conn, done, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer done()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("find controller: %w", err)
	}
	cc, ccDone, err := a.dialController(ctx, ctrl)
	if err != nil {
		return err
	}
	defer ccDone()
	if err := cc.CreateTopics(cfg); err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("create %q: %w", cfg.Topic, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_ = conn.SetDeadline(time.Now().Add(a.timeout))
		if parts, err := conn.ReadPartitions(cfg.Topic); err == nil && len(parts) == cfg.NumPartitions && allLed(parts) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// dialController connects to the cluster's controller, bounded like dial.
func (a *Admin) dialController(ctx context.Context, ctrl kafka.Broker) (*kafka.Conn, func(), error) {
	addr := net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port))
	cc, err := a.dialAddr(ctx, addr)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the controller %s: %w", addr, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = cc.Close() })
	return cc, func() { stop(); _ = cc.Close() }, nil
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
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
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
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
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

// MaxMessageBytes returns the largest record batch topic accepts: its
// max.message.bytes (DescribeConfigs reports the effective value, the
// broker's message.max.bytes when the topic sets none), else the broker's
// message.max.bytes read from the first broker the cluster lists.
func (a *Admin) MaxMessageBytes(ctx context.Context, topic string) (int, error) {
	v, err := a.TopicConfig(ctx, topic, "max.message.bytes")
	if err != nil {
		return 0, err
	}
	if v == "" {
		if v, err = a.brokerConfig(ctx, "message.max.bytes"); err != nil {
			return 0, err
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("topic %q: max.message.bytes %q: not a positive number", topic, v)
	}
	return n, nil
}

// brokerConfig returns the value of a broker's configuration entry name ("":
// none reported), asking the first broker the cluster's metadata lists.
func (a *Admin) brokerConfig(ctx context.Context, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	md, err := a.client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return "", err
	}
	if len(md.Brokers) == 0 {
		return "", errors.New("the cluster lists no brokers")
	}
	res, err := a.client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeBroker, ResourceName: strconv.Itoa(md.Brokers[0].ID), ConfigNames: []string{name},
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
