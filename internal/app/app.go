// Package app wires journey: it turns a validated config.Config into the
// packages' own objects and options, so `journey run`, `journey dev`,
// `journey replay`, `journey state restore` and the benchmark programs run
// the pipeline wired the same way.
//
// A function named for a thing builds it (Engine, Decoder); one named
// ...Options or ...Config returns what a caller passes to the package's
// constructor (state.Open, redis.NewClient, redissink.New, pipeline.New),
// so a caller that needs a variant (a replay's shadow prefix, a
// benchmark's observer) changes a field before building.
//
// Validate is the whole check of a configuration: config.Validate's rules
// on the YAML, then the rules of the packages that own a value's
// vocabulary (pkg/pipeline: kafka.start_offset, timers.late_events).
package app

import (
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/outbox"
	"github.com/journey-dev/journey/pkg/pipeline"
	"github.com/journey-dev/journey/pkg/sink/redissink"
	"github.com/journey-dev/journey/pkg/state"
	"github.com/journey-dev/journey/processors"
)

// Validate checks cfg: first config.Validate (every YAML rule it owns, all
// reported at once), then, when those pass, pipeline.Config.Validate on the
// wired pipeline configuration, which owns the vocabulary of
// kafka.start_offset and timers.late_events and names them by YAML path.
// The pipeline's checks run only on a configuration that passed the first
// ones because they repeat its required-field rules.
func Validate(cfg config.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	pc := PipelineConfig(cfg)
	return pc.Validate()
}

// Engine builds the configured processors (every processor, or those of
// processors_enabled) into a fold engine.
func Engine(cfg config.Config) (*journey.Engine, error) {
	var enabled []string
	if len(cfg.ProcessorsEnabled) > 0 {
		enabled = cfg.ProcessorsEnabled
	}
	procs, err := processors.BuildWithRules(cfg.Processors, &cfg.Rules, enabled)
	if err != nil {
		return nil, err
	}
	if cfg.Identity.Enabled {
		procs = append(procs, journey.Identity{})
	}
	return journey.NewEngine(procs...)
}

// Decoder builds the event decoder.
func Decoder(cfg config.Config) (*ingest.Decoder, error) {
	return ingest.NewDecoder(ingest.Config{
		TopicChannels:   cfg.Kafka.TopicChannels,
		CloudEventTypes: cfg.Ingest.CloudEventTypes,
		MaxBytes:        cfg.Ingest.MaxBytes,
		MaxFuture:       cfg.Ingest.MaxFuture,
	})
}

// StoreOptions are the state store's options; log receives Pebble's events.
func StoreOptions(cfg config.Config, log *zap.Logger) state.Options {
	b := cfg.State.Budget()
	return state.Options{
		Sync: cfg.StateSync(), DedupWindow: cfg.Ingest.DedupWindow, Logger: log,
		CacheBytes: b.BlockCache, MemTableSize: b.MemTable, DedupIndexMax: b.DedupHashes, TailBytes: int(b.OutboxTail),
	}
}

// RedisOptions are the Redis client's options for the sink. go-redis's own
// retries are off: the outbox dispatcher retries with its own backoff.
func RedisOptions(cfg config.Config) *redis.Options {
	return &redis.Options{
		Addr: cfg.Redis.Addr, Username: cfg.Redis.Username, Password: cfg.Redis.Password.Reveal(), DB: cfg.Redis.DB,
		MaxRetries: -1, DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
	}
}

// SinkConfig is the Redis sink's configuration.
func SinkConfig(cfg config.Config) redissink.Config {
	return redissink.Config{
		Prefix: cfg.Redis.Prefix, StreamMaxLen: cfg.Redis.StreamMaxLen,
		ContextTTL: cfg.Redis.ContextTTL, DedupTTL: cfg.Redis.DedupTTL,
	}
}

// PipelineConfig is the pipeline's configuration (without an Observer).
func PipelineConfig(cfg config.Config) pipeline.Config {
	k, b, t := &cfg.Kafka, &cfg.Batch, &cfg.Timers
	mem := cfg.State.Budget()
	return pipeline.Config{
		Brokers: k.Brokers, GroupID: k.GroupID, Topics: k.Topics, DLQTopic: k.DLQTopic, DLQRedact: cfg.Ingest.DLQRedact, StartOffset: k.StartOffset,
		FetchMaxWait: k.FetchMaxWait, FetchMaxBytes: k.FetchMaxBytes, SessionTimeout: k.SessionTimeout, DialTimeout: k.DialTimeout,
		MaxBatchRecords: b.MaxRecords, MaxBatchBytes: b.MaxBytes, Linger: b.Linger, BacklogWait: b.BacklogWait,
		CommitInterval: b.CommitInterval,
		OutboxMax:      cfg.Outbox.MaxPending, ShutdownFlush: cfg.Outbox.ShutdownFlush,
		Dispatch: outbox.Config{MaxBatch: cfg.Outbox.MaxBatch},
		Lateness: t.Lateness, IdleAdvance: t.IdleAdvance, MaxSkew: t.MaxSkew, LateEvents: t.LateEvents,
		CustomerCache: mem.CustomerCache, RoundCustomers: mem.RoundCustomers, FetchAhead: mem.FetchAhead,
		// Full context updates at least hourly (and at most every half
		// TTL): a hash that expired or was deleted is whole again soon.
		ContextRefresh: min(cfg.Redis.ContextTTL/2, time.Hour),
		Changelog:      changelogConfig(cfg),
		Identity: pipeline.IdentityConfig{Topic: cfg.IdentityTopic(), MaxIDs: cfg.Identity.MaxIDsPerCustomer,
			ForgottenTopic: cfg.ForgottenTopic()},
		StallAfter: cfg.Admin.StallAfter,
	}
}

// changelogConfig is the changelog's part of the pipeline configuration
// (no topic when the changelog is off).
func changelogConfig(cfg config.Config) pipeline.ChangelogConfig {
	topic := cfg.ChangelogTopic()
	if topic == "" {
		return pipeline.ChangelogConfig{}
	}
	return pipeline.ChangelogConfig{
		Topic: topic, Standbys: cfg.Changelog.Standbys, Compression: codecs[cfg.Changelog.Compression],
		MaxBatchBytes: cfg.Changelog.MaxBatchBytes, StaleAfter: cfg.Changelog.StaleAfter,
	}
}

// codecs maps changelog.compression's names (config owns them and checks
// them) to kafka-go's codecs; a missing name, "" or none, is 0: none.
var codecs = map[string]kafka.Compression{
	config.CompressionGzip:   kafka.Gzip,
	config.CompressionSnappy: kafka.Snappy,
	config.CompressionLz4:    kafka.Lz4,
	config.CompressionZstd:   kafka.Zstd,
}
