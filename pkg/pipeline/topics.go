package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/journey-dev/journey/internal/kafkaio"
)

// The topics journey uses, for `journey topics`: the input topics (which
// the operator owns: Run only checks them), the dead-letter topic, the
// changelog topic, the repartition topic and the forget ledger (which Run
// creates when missing). CreateTopics creates
// all of them ahead of Run, with the same settings Run would give the
// latter two; CheckTopics is Run's check, reported topic by topic.

// DefaultTopicPartitions is the partition count CreateTopics gives new
// topics when no existing topic fixes it and none is asked for.
const DefaultTopicPartitions = 8

// DefaultTopicsTimeout bounds each request CreateTopics and CheckTopics
// send to the brokers (connecting included).
const DefaultTopicsTimeout = 10 * time.Second

// What a topic is to journey (TopicStatus.Role).
const (
	RoleInput       = "input"
	RoleDeadLetter  = "dead-letter"
	RoleChangelog   = "changelog"
	RoleRepartition = "repartition"
	RoleForgotten   = "forgotten"
)

// TopicStatus is one topic journey uses.
type TopicStatus struct {
	Name string
	Role string // RoleInput, RoleDeadLetter or RoleChangelog
	// Partitions is its partition count; 0: it does not exist.
	Partitions int
	// Created: CreateTopics created it.
	Created bool
}

// copartitioned reports whether the topic must have the input topics'
// partition count: the inputs and the changelog must (a partition's state
// is its number's records in each), the dead-letter topic need not.
func (t TopicStatus) copartitioned() bool { return t.Role != RoleDeadLetter && t.Role != RoleForgotten }

// TopicsOptions are CreateTopics' choices.
type TopicsOptions struct {
	// Partitions of the topics created: 0 takes the count of the existing
	// input (or changelog) topics, else DefaultTopicPartitions. A count
	// that differs from the existing topics' is refused.
	Partitions int
	// ReplicationFactor of the topics created; 0: the brokers' default
	// (default.replication.factor), as Run creates its topics.
	ReplicationFactor int
	// Timeout bounds each request to the brokers; 0: DefaultTopicsTimeout.
	Timeout time.Duration
}

// CoPartitionError is topics that must have the same partition count and
// do not, or a requested count the existing topics do not have.
type CoPartitionError struct {
	// Setting is what to change: kafka.topics or changelog.topic, or
	// "partitions" for a requested count.
	Setting string
	Reason  string
	// Topics are the ones that must be co-partitioned, with their counts.
	Topics []TopicStatus
}

func (e *CoPartitionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s:", e.Setting, e.Reason)
	w := 0
	for _, t := range e.Topics {
		w = max(w, len(t.Name))
	}
	for _, t := range e.Topics {
		n := "does not exist"
		if t.Partitions > 0 {
			n = strconv.Itoa(t.Partitions) + " partitions"
		}
		fmt.Fprintf(&b, "\n  %-*s  %-9s  %s", w, t.Name, t.Role, n)
	}
	return b.String()
}

// CheckTopics reports each topic cfg names and checks them as Run does:
// every input topic exists, the inputs (and the changelog, when it
// exists) have the same partition count, and an existing changelog is
// compacted. The statuses are returned with the error too. Each request
// to the brokers ends within timeout (0: cfg.DialTimeout, else
// DefaultTopicsTimeout); the brokers are probed first (CheckBrokers).
func CheckTopics(ctx context.Context, cfg Config, log *zap.Logger, timeout time.Duration) ([]TopicStatus, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := newTopicAdmin(cfg, log, timeout)
	defer a.Close()
	if err := CheckBrokersWith(ctx, cfg.Brokers, cfg.Dialer, a.timeout); err != nil {
		return nil, err
	}
	ts, err := a.describe(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, t := range ts {
		if t.Role == RoleInput && t.Partitions == 0 {
			missing = append(missing, strconv.Quote(t.Name))
		}
	}
	if len(missing) > 0 {
		return ts, fmt.Errorf("kafka.topics: %s: no such topic (journey topics create makes them)", strings.Join(missing, ", "))
	}
	if _, err := partitionCount(ts, 0); err != nil {
		return ts, err
	}
	clog := cfg.Changelog
	clog.setDefaults()
	return ts, a.checkChangelog(ctx, ts, clog)
}

// CreateTopics creates the topics cfg names that do not exist: the input
// topics, the dead-letter topic and the changelog topic (when enabled), the
// last two with the settings Run gives them (a compacted changelog sized
// for the rounds). It refuses, creating nothing, when existing topics are
// not co-partitioned or have another count than opts.Partitions. Running
// it again creates nothing. It returns every topic's status; log (nil:
// none) gets a line per topic created.
func CreateTopics(ctx context.Context, cfg Config, log *zap.Logger, opts TopicsOptions) ([]TopicStatus, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Partitions < 0 {
		return nil, fmt.Errorf("partitions: must be positive, got %d", opts.Partitions)
	}
	rf := opts.ReplicationFactor
	if rf == 0 {
		rf = -1
	}
	a := newTopicAdmin(cfg, log, opts.Timeout)
	defer a.Close()
	if err := CheckBrokersWith(ctx, cfg.Brokers, cfg.Dialer, a.timeout); err != nil {
		return nil, err
	}
	ts, err := a.describe(ctx, cfg)
	if err != nil {
		return nil, err
	}
	n, err := partitionCount(ts, opts.Partitions)
	if err != nil {
		return ts, err
	}
	clog := cfg.Changelog
	clog.setDefaults()
	var create []kafka.TopicConfig
	for _, t := range ts {
		if t.Partitions > 0 {
			continue
		}
		switch t.Role {
		case RoleInput:
			create = append(create, kafka.TopicConfig{Topic: t.Name, NumPartitions: n, ReplicationFactor: rf})
		case RoleDeadLetter:
			create = append(create, dlqTopicConfig(t.Name, n, rf))
		case RoleChangelog:
			create = append(create, changelogTopicConfig(clog, n, rf))
		case RoleRepartition:
			create = append(create, repartitionTopicConfig(t.Name, n, rf))
		case RoleForgotten:
			create = append(create, forgottenTopicConfig(t.Name, rf))
		}
	}
	if len(create) > 0 {
		cctx, cancel := context.WithTimeout(ctx, a.timeout)
		err := a.CreateTopics(cctx, create...)
		cancel()
		if err != nil {
			return ts, fmt.Errorf("create topics: %w", a.brokerError(ctx, err))
		}
	}
	// Read them back: another instance may have created some meanwhile,
	// with other counts.
	after, err := a.describe(ctx, cfg)
	if err != nil {
		return ts, err
	}
	for i := range after {
		after[i].Created = ts[i].Partitions == 0 && after[i].Partitions > 0
		if after[i].Created {
			log.Info("created topic", zap.String("topic", after[i].Name), zap.String("role", after[i].Role),
				zap.Int("partitions", after[i].Partitions))
		}
	}
	if _, err := partitionCount(after, n); err != nil {
		return after, err
	}
	return after, a.checkChangelog(ctx, after, clog)
}

// partitionCount is the partition count of the existing topics that must
// be co-partitioned, checking they agree with each other and with want
// (0: anything); with none existing, want or DefaultTopicPartitions.
func partitionCount(ts []TopicStatus, want int) (int, error) {
	var cop []TopicStatus
	n := 0
	for _, t := range ts {
		if !t.copartitioned() {
			continue
		}
		cop = append(cop, t)
		if t.Partitions > 0 && n == 0 {
			n = t.Partitions
		}
	}
	for _, t := range cop {
		if t.Partitions > 0 && t.Partitions != n {
			setting := "kafka.topics"
			switch t.Role {
			case RoleChangelog:
				setting = "changelog.topic"
			case RoleRepartition:
				setting = "identity.topic"
			}
			return 0, &CoPartitionError{Setting: setting, Topics: cop,
				Reason: "not co-partitioned: journey needs the same partition count on every input topic and on the changelog"}
		}
	}
	switch {
	case n == 0 && want > 0:
		return want, nil
	case n == 0:
		return DefaultTopicPartitions, nil
	case want > 0 && want != n:
		return 0, &CoPartitionError{Setting: "partitions", Topics: cop,
			Reason: fmt.Sprintf("%d asked for, but the existing topics have %d and new ones must match them (co-partitioned)", want, n)}
	}
	return n, nil
}

// topicAdmin is kafkaio.Admin with a deadline on each request.
type topicAdmin struct {
	*kafkaio.Admin
	brokers []string
	timeout time.Duration
}

func newTopicAdmin(cfg Config, log *zap.Logger, timeout time.Duration) *topicAdmin {
	if timeout <= 0 {
		timeout = cfg.DialTimeout // kafka.dial_timeout
	}
	if timeout <= 0 {
		timeout = DefaultTopicsTimeout
	}
	// The dialer serves only the Admin's connection-level calls, which
	// this file does not use; the calls it makes honour their context.
	d := kafkaio.WithTimeout(cfg.Dialer, timeout)
	return &topicAdmin{Admin: kafkaio.NewAdmin(cfg.Brokers, d, log), brokers: cfg.Brokers, timeout: timeout}
}

// describe returns the status of every topic cfg names: the inputs in
// order (each once), the dead-letter topic, the changelog topic if
// enabled.
func (a *topicAdmin) describe(ctx context.Context, cfg Config) ([]TopicStatus, error) {
	var ts []TopicStatus
	for _, t := range cfg.Topics {
		if !slices.ContainsFunc(ts, func(s TopicStatus) bool { return s.Name == t }) {
			ts = append(ts, TopicStatus{Name: t, Role: RoleInput})
		}
	}
	ts = append(ts, TopicStatus{Name: cfg.DLQTopic, Role: RoleDeadLetter})
	if cfg.Changelog.Topic != "" {
		ts = append(ts, TopicStatus{Name: cfg.Changelog.Topic, Role: RoleChangelog})
	}
	if cfg.Identity.Topic != "" {
		ts = append(ts, TopicStatus{Name: cfg.Identity.Topic, Role: RoleRepartition})
	}
	if cfg.Identity.ForgottenTopic != "" {
		ts = append(ts, TopicStatus{Name: cfg.Identity.ForgottenTopic, Role: RoleForgotten})
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	cctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	counts, err := a.Partitions(cctx, names)
	if err != nil {
		var te *kafkaio.TopicError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("topic %q: %w", te.Topic, te.Err)
		}
		return nil, a.brokerError(ctx, err)
	}
	for i := range ts {
		ts[i].Partitions = counts[ts[i].Name]
	}
	return ts, nil
}

// checkChangelog refuses an existing changelog that cannot work
// (checkChangelogTopic); cfg has its defaults set.
func (a *topicAdmin) checkChangelog(ctx context.Context, ts []TopicStatus, cfg ChangelogConfig) error {
	for _, t := range ts {
		if t.Role == RoleChangelog && t.Partitions > 0 {
			cctx, cancel := context.WithTimeout(ctx, a.timeout)
			defer cancel()
			return checkChangelogTopic(cctx, a.Admin, t.Name, cfg.MaxBatchBytes)
		}
	}
	return nil
}

// brokerError names the brokers in err when the brokers did not answer in
// time or could not be reached (ctx is the caller's: its end is a stop,
// not a timeout); another error is returned as it is.
func (a *topicAdmin) brokerError(ctx context.Context, err error) error {
	brokers := strings.Join(a.brokers, ",")
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return err
	case errors.Is(err, context.DeadlineExceeded):
		// kafka-go's own wrapping (its method names) says nothing more.
		return fmt.Errorf("kafka.brokers %s: not a Kafka broker, or not answering (no answer in %s): %w",
			brokers, a.timeout, context.DeadlineExceeded)
	case errors.As(err, &ne):
		return fmt.Errorf("kafka.brokers %s: %w", brokers, ne)
	}
	return err
}

// dlqTopicConfig is the dead-letter topic as Run creates it.
func dlqTopicConfig(topic string, partitions, replicationFactor int) kafka.TopicConfig {
	return kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: replicationFactor}
}

// changelogTopicConfig is the changelog topic as Run creates it: compacted,
// a round's batch fits in a record batch, tombstones kept for twice
// StaleAfter (cfg has its defaults set).
func changelogTopicConfig(cfg ChangelogConfig, partitions, replicationFactor int) kafka.TopicConfig {
	return kafka.TopicConfig{
		Topic: cfg.Topic, NumPartitions: partitions, ReplicationFactor: replicationFactor,
		ConfigEntries: []kafka.ConfigEntry{
			{ConfigName: "cleanup.policy", ConfigValue: "compact"},
			{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(cfg.MaxBatchBytes + changelogFraming)},
			{ConfigName: "delete.retention.ms", ConfigValue: strconv.FormatInt((2 * cfg.StaleAfter).Milliseconds(), 10)},
			{ConfigName: "segment.bytes", ConfigValue: strconv.Itoa(128 << 20)},
		},
	}
}

// changelogFraming is what the changelog topic's max.message.bytes must
// allow above changelog.max_batch_bytes: the appender bounds a round's
// keys and values, and the record batch adds its header and each record's
// varint framing (tens of bytes a record).
const changelogFraming = 1 << 20

// checkChangelogTopic refuses a changelog topic that cannot work: one that
// deletes old records (a partition restored from it would silently lose
// state), or whose max.message.bytes cannot carry a round of up to
// maxBatchBytes (every append of a big round would be refused).
func checkChangelogTopic(ctx context.Context, admin *kafkaio.Admin, topic string, maxBatchBytes int) error {
	policy, err := admin.TopicConfig(ctx, topic, "cleanup.policy")
	if err != nil {
		return fmt.Errorf("changelog.topic: describe %q: %w", topic, err)
	}
	if policy != "" && !slices.Contains(strings.Split(policy, ","), "compact") {
		return fmt.Errorf("changelog.topic: %q has cleanup.policy=%s; a changelog must be compacted: "+
			"kafka-configs --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact",
			topic, policy, topic)
	}
	limit, err := admin.MaxMessageBytes(ctx, topic)
	if err != nil {
		return fmt.Errorf("changelog.topic: describe %q: %w", topic, err)
	}
	if need := maxBatchBytes + changelogFraming; limit < need {
		return fmt.Errorf("changelog.topic: %q has max.message.bytes=%d, under the %d that changelog.max_batch_bytes=%d needs "+
			"(plus %d of record framing): raise it (kafka-configs --alter --entity-type topics --entity-name %s --add-config max.message.bytes=%d) "+
			"or lower changelog.max_batch_bytes to %d or less",
			topic, limit, need, maxBatchBytes, changelogFraming, topic, need, limit-changelogFraming)
	}
	return nil
}
