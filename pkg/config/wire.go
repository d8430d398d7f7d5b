package config

import (
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors"

	"runtime/debug"

	"github.com/redis/go-redis/v9"

	"go.uber.org/zap"

	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/outbox"
	"github.com/journey-dev/journey/pkg/pipeline"
	"github.com/journey-dev/journey/pkg/sink/redissink"
	"github.com/journey-dev/journey/pkg/state"
)

// The methods below are the one mapping from a validated Config to the
// packages' own configurations, so `journey run` and every other command
// or tool that runs the pipeline wire it the same way.

// Engine builds the configured processors (every processor, or those of
// processors_enabled) into a fold engine.
func (c *Config) Engine() (*journey.Engine, error) {
	var enabled []string
	if len(c.ProcessorsEnabled) > 0 {
		enabled = c.ProcessorsEnabled
	}
	procs, err := processors.Build(c.Processors, enabled)
	if err != nil {
		return nil, err
	}
	return journey.NewEngine(procs...)
}

// Decoder is the ingest configuration.
func (c *Config) Decoder() ingest.Config {
	return ingest.Config{
		TopicChannels:   c.Kafka.TopicChannels,
		CloudEventTypes: c.Ingest.CloudEventTypes,
		MaxBytes:        c.Ingest.MaxBytes,
		MaxFuture:       c.Ingest.MaxFuture,
	}
}

// Store is the state store's options.
func (c *Config) Store(log *zap.Logger) state.Options {
	return state.Options{
		Sync: c.StateSync(), DedupWindow: c.Ingest.DedupWindow, CacheBytes: c.State.CacheBytes, Logger: log,
	}
}

// Sink is the Redis sink's configuration.
func (c *Config) Sink() redissink.Config {
	return redissink.Config{
		Prefix: c.Redis.Prefix, StreamMaxLen: c.Redis.StreamMaxLen,
		ContextTTL: c.Redis.ContextTTL, DedupTTL: c.Redis.DedupTTL,
	}
}

// RedisOptions are the Redis client's options for the sink. go-redis's own
// retries are off: the outbox dispatcher retries with its own backoff.
func (c *Config) RedisOptions() *redis.Options {
	return &redis.Options{
		Addr: c.Redis.Addr, Username: c.Redis.Username, Password: c.Redis.Password, DB: c.Redis.DB,
		MaxRetries: -1, DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
	}
}

// Pipeline is the pipeline's configuration (without an Observer).
func (c *Config) Pipeline() pipeline.Config {
	return pipeline.Config{
		Brokers: c.Kafka.Brokers, GroupID: c.Kafka.GroupID, Topics: c.Kafka.Topics, DLQTopic: c.Kafka.DLQTopic,
		StartOffset: c.Kafka.StartOffset, FetchMaxWait: c.Kafka.FetchMaxWait, FetchMaxBytes: c.Kafka.FetchMaxBytes,
		SessionTimeout:  c.Kafka.SessionTimeout,
		MaxBatchRecords: c.Batch.MaxRecords, MaxBatchBytes: c.Batch.MaxBytes, Linger: c.Batch.Linger, BacklogWait: c.Batch.BacklogWait, CommitInterval: c.Batch.CommitInterval,
		OutboxMax: c.Outbox.MaxPending, ShutdownFlush: c.Outbox.ShutdownFlush,
		Dispatch: outbox.Config{MaxBatch: c.Outbox.MaxBatch},
		Lateness: c.Timers.Lateness, IdleAdvance: c.Timers.IdleAdvance, LateEvents: c.Timers.LateEvents,
		CustomerCache: c.State.CustomerCache,
		// Full context updates at least hourly (and at most every half
		// TTL): a hash that expired or was deleted is whole again soon.
		ContextRefresh: min(c.Redis.ContextTTL/2, time.Hour),
		Changelog:      c.changelog(),
	}
}

func (c *Config) changelog() pipeline.ChangelogConfig {
	topic := c.ChangelogTopic()
	if topic == "" {
		return pipeline.ChangelogConfig{}
	}
	comp, _ := ParseCompression(c.Changelog.Compression) // Validate checked it
	return pipeline.ChangelogConfig{
		Topic: topic, Standbys: c.Changelog.Standbys, Compression: comp,
		MaxBatchBytes: c.Changelog.MaxBatchBytes, StaleAfter: c.Changelog.StaleAfter,
	}
}

// ParseCompression maps a compression name to kafka-go's codec (0: none).
func ParseCompression(name string) (kafka.Compression, error) {
	switch name {
	case "", "none":
		return 0, nil
	case "lz4":
		return kafka.Lz4, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("%q is not none, gzip, snappy, lz4 or zstd", name)
}

// DefaultGCPercent is the Go garbage collector's target journey runs with
// unless GOGC is set: folding allocates many short-lived objects, so the
// default 100 spends a fifth of the CPU collecting (make bench profiles);
// 400 trades memory for that, within the soft limit below.
const DefaultGCPercent = 400

// memoryHeadroom is what the soft memory limit allows beyond Pebble's
// block cache (which lives on the Go heap in a static build).
const memoryHeadroom = 2 << 30

// TuneRuntime sets the garbage collector for journey unless the
// environment does (getenv is os.Getenv; a parameter for tests): GC
// percent DefaultGCPercent, and a soft memory limit of the block cache
// plus 2 GiB (GOMEMLIMIT overrides it), so the higher GC target cannot let
// the heap grow to five times a large live heap.
func (c *Config) TuneRuntime(getenv func(string) string) {
	if getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(DefaultGCPercent)
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(c.State.CacheBytes + memoryHeadroom)
	}
}
