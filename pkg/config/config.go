// Package config holds journey's configuration: the YAML file, JOURNEY_*
// environment variables and command-line flags, applied in that order over
// the defaults. Unknown YAML fields are errors, and every validation error
// names the field by its YAML path (kafka.brokers, interest.threshold...).
//
// It is a leaf: it loads, defaults and validates, and imports no other
// journey package. Turning a Config into the packages' objects (engine,
// decoder, store, sink, pipeline) is internal/app's job.
//
// Each rule is checked once, by the owner of the value's vocabulary.
// Validate checks what only the YAML defines: required fields, ranges,
// topics that must differ, and the names config itself owns
// (changelog.compression's codecs, log.level, log.format). A value passed
// through verbatim to a package that defines its words as constants is
// checked by that package: kafka.start_offset and timers.late_events are
// pkg/pipeline's (StartEarliest..., LateApply...), whose Config.Validate
// names them by their YAML paths; their defaults here are empty, which the
// pipeline reads as its default. The processors' sections are checked by
// the processor registry. internal/app.Validate runs all of them.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of `journey run`.
type Config struct {
	Kafka      Kafka                `yaml:"kafka"`
	Ingest     Ingest               `yaml:"ingest"`
	Batch      Batch                `yaml:"batch"`
	Timers     Timers               `yaml:"timers"`
	State      State                `yaml:"state"`
	Changelog  Changelog            `yaml:"changelog"`
	Redis      Redis                `yaml:"redis"`
	Outbox     Outbox               `yaml:"outbox"`
	Admin      Admin                `yaml:"admin"`
	Log        Log                  `yaml:"log"`
	Processors map[string]yaml.Node `yaml:"processors"`
	// ProcessorsEnabled, when set, runs only these processors (in the
	// registry's order); empty runs every processor.
	ProcessorsEnabled []string `yaml:"processors_enabled"`
}

// Kafka is where events come from.
type Kafka struct {
	Brokers  []string `yaml:"brokers"`
	GroupID  string   `yaml:"group_id"`
	Topics   []string `yaml:"topics"`
	DLQTopic string   `yaml:"dlq_topic"`
	// StartOffset is pipeline.Config.StartOffset: earliest, latest or
	// committed; empty is the pipeline's default, earliest.
	StartOffset    string            `yaml:"start_offset"`
	TopicChannels  map[string]string `yaml:"topic_channels"`
	FetchMaxWait   time.Duration     `yaml:"fetch_max_wait"`
	FetchMaxBytes  int               `yaml:"fetch_max_bytes"`
	SessionTimeout time.Duration     `yaml:"session_timeout"`
	// DialTimeout bounds each network call of the start-up: the brokers'
	// probe (an address that is not Kafka fails within it), the topic
	// checks, each connection to a broker, and the Redis ping.
	DialTimeout time.Duration `yaml:"dial_timeout"`
}

// Ingest governs decoding and validation.
type Ingest struct {
	MaxBytes        int               `yaml:"max_bytes"`
	MaxFuture       time.Duration     `yaml:"max_future"`
	DedupWindow     time.Duration     `yaml:"dedup_window"`
	CloudEventTypes map[string]string `yaml:"cloudevent_types"`
}

// Batch bounds a commit round: the records folded, then committed
// together.
type Batch struct {
	MaxRecords     int           `yaml:"max_records"`
	MaxBytes       int           `yaml:"max_bytes"`
	Linger         time.Duration `yaml:"linger"`
	BacklogWait    time.Duration `yaml:"backlog_wait"`
	CommitInterval time.Duration `yaml:"commit_interval"`
}

// Timers governs event time: the watermark that fires timers, and late events.
type Timers struct {
	Lateness    time.Duration `yaml:"lateness"`
	IdleAdvance time.Duration `yaml:"idle_advance"`
	// MaxSkew bounds how far past the wall clock (the record's Kafka
	// timestamp, if earlier) an event dated in the future moves a
	// partition's watermark (pipeline.Config.MaxSkew).
	MaxSkew time.Duration `yaml:"max_skew"`
	// LateEvents is pipeline.Config.LateEvents: apply or dead_letter;
	// empty is the pipeline's default, apply.
	LateEvents string `yaml:"late_events"`
}

// State is the Pebble store.
type State struct {
	Dir string `yaml:"dir"`
	// Sync makes every commit round wait for fsync. Unset, it is on only
	// without the changelog (StateSync).
	Sync       *bool `yaml:"sync"`
	CacheBytes int64 `yaml:"cache_bytes"`
	// CustomerCache is how many customers stay decoded in memory between
	// batches (shared by the partitions this instance owns).
	CustomerCache int `yaml:"customer_cache"`
}

// Changelog is the compacted topic that lets partitions move between
// instances with their state.
type Changelog struct {
	// Enabled logs every commit round to the changelog topic (default
	// true). Without it a partition's state lives only in one store.
	Enabled bool `yaml:"enabled"`
	// Topic defaults to "<kafka.group_id>.changelog".
	Topic string `yaml:"topic"`
	// Standbys is how many other instances keep a warm copy of each
	// partition (capped at the group's size minus one).
	Standbys int `yaml:"standbys"`
	// Compression of the changelog record batches: none (the default),
	// gzip, snappy, lz4, zstd (the Compression* constants). Compressing
	// costs journey CPU per record; it pays where the link to the brokers
	// is slow or billed.
	Compression string `yaml:"compression"`
	// MaxBatchBytes bounds one commit round in the changelog.
	MaxBatchBytes int `yaml:"max_batch_bytes"`
	// StaleAfter: a local copy not updated for this long is restored from
	// scratch (the topic keeps tombstones for twice this).
	StaleAfter time.Duration `yaml:"stale_after"`
}

// StateSync reports whether commit rounds wait for fsync: state.sync, or
// when it is unset, whether the changelog is off. With the changelog a
// crash that loses the last commits locally loses nothing: they are in the
// log, and the next start applies them again (DESIGN.md, "Commit
// protocol"); the fsync would only add its latency to every commit.
// Without it they are re-read from Kafka, but the consumer group's offsets
// (committed after each commit) could run ahead of the store meanwhile.
func (c *Config) StateSync() bool {
	if c.State.Sync != nil {
		return *c.State.Sync
	}
	return !c.Changelog.Enabled
}

// ChangelogTopic is the changelog topic's name ("" when disabled).
func (c *Config) ChangelogTopic() string {
	switch {
	case !c.Changelog.Enabled:
		return ""
	case c.Changelog.Topic != "":
		return c.Changelog.Topic
	default:
		return c.Kafka.GroupID + ".changelog"
	}
}

// Redis is where triggers go.
type Redis struct {
	Addr         string        `yaml:"addr"`
	Username     string        `yaml:"username"`
	Password     string        `yaml:"password"`
	DB           int           `yaml:"db"`
	Prefix       string        `yaml:"prefix"`
	StreamMaxLen int64         `yaml:"stream_max_len"`
	ContextTTL   time.Duration `yaml:"context_ttl"`
	DedupTTL     time.Duration `yaml:"dedup_ttl"`
	// WaitAtStart lets journey start while Redis does not answer its
	// start-up ping (/readyz answers 503 with the reason until it does);
	// false (the default) makes an unreachable Redis a start-up error.
	WaitAtStart bool `yaml:"wait_at_start"`
}

// Outbox governs delivery to Redis.
type Outbox struct {
	MaxPending    int64         `yaml:"max_pending"`
	MaxBatch      int           `yaml:"max_batch"`
	ShutdownFlush time.Duration `yaml:"shutdown_flush"`
}

// Admin is the HTTP port for /healthz, /readyz and /metrics.
type Admin struct {
	Addr string `yaml:"addr"`
}

// Log configures zap.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Default returns the configuration used where nothing else is said.
func Default() Config {
	return Config{
		Kafka: Kafka{
			Brokers:        []string{"127.0.0.1:9092"},
			GroupID:        "journey",
			Topics:         []string{"journey.events"},
			DLQTopic:       "journey.dlq",
			FetchMaxWait:   500 * time.Millisecond,
			FetchMaxBytes:  4 << 20,
			SessionTimeout: 10 * time.Second,
			DialTimeout:    10 * time.Second,
		},
		Ingest: Ingest{MaxBytes: 1 << 20, MaxFuture: 24 * time.Hour, DedupWindow: 24 * time.Hour},
		Batch:  Batch{MaxRecords: 100_000, MaxBytes: 32 << 20, BacklogWait: time.Second, CommitInterval: time.Second},
		Timers: Timers{Lateness: 5 * time.Second, IdleAdvance: 10 * time.Second, MaxSkew: time.Minute},
		State:  State{Dir: "journey-data", CacheBytes: 512 << 20, CustomerCache: 100_000},
		Changelog: Changelog{
			Enabled: true, Compression: CompressionNone, MaxBatchBytes: 32 << 20, StaleAfter: 12 * time.Hour,
		},
		Redis: Redis{
			Addr: "127.0.0.1:6379", Prefix: "journey:", StreamMaxLen: 100_000,
			ContextTTL: 30 * 24 * time.Hour, DedupTTL: 7 * 24 * time.Hour,
		},
		Outbox: Outbox{MaxPending: 100_000, MaxBatch: 512, ShutdownFlush: 5 * time.Second},
		Admin:  Admin{Addr: "127.0.0.1:9464"},
		Log:    Log{Level: "info", Format: "json"},
	}
}

// Parse decodes YAML over c strictly: an unknown field is an error that
// names it.
func (c *Config) Parse(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) { // an empty document
			return nil
		}
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// Load reads the YAML file at path over c. An empty path is a no-op.
func (c *Config) Load(path string) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.Parse(data); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// envVar is one JOURNEY_* variable or flag and the field it sets.
type envVar struct {
	name  string // flag name; the variable is JOURNEY_ + upper(name with - as _)
	usage string
	set   func(c *Config, v string) error
}

// List splits a comma-separated flag or variable value, dropping blanks.
func List(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func vars() []envVar {
	return []envVar{
		{"brokers", "Kafka bootstrap brokers, comma-separated (kafka.brokers)", func(c *Config, v string) error { c.Kafka.Brokers = List(v); return nil }},
		{"group-id", "consumer group id (kafka.group_id)", func(c *Config, v string) error { c.Kafka.GroupID = v; return nil }},
		{"topics", "input topics, comma-separated (kafka.topics)", func(c *Config, v string) error { c.Kafka.Topics = List(v); return nil }},
		{"dlq-topic", "dead-letter topic (kafka.dlq_topic)", func(c *Config, v string) error { c.Kafka.DLQTopic = v; return nil }},
		{"dial-timeout", "bound on each network call at start-up, e.g. 10s (kafka.dial_timeout)", func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("dial-timeout: %q is not a duration (10s, 500ms)", v)
			}
			c.Kafka.DialTimeout = d
			return nil
		}},
		{"redis-addr", "Redis host:port (redis.addr)", func(c *Config, v string) error { c.Redis.Addr = v; return nil }},
		{"redis-password", "Redis password (redis.password); prefer the environment variable", func(c *Config, v string) error { c.Redis.Password = v; return nil }},
		{"redis-prefix", "prefix of every Redis key (redis.prefix)", func(c *Config, v string) error { c.Redis.Prefix = v; return nil }},
		{"redis-wait-at-start", "start even when Redis does not answer, /readyz 503 until it does: true or false (redis.wait_at_start)", func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("redis-wait-at-start: %q is not true or false", v)
			}
			c.Redis.WaitAtStart = b
			return nil
		}},
		{"processors", "run only these processors, comma-separated (processors_enabled); default all", func(c *Config, v string) error { c.ProcessorsEnabled = List(v); return nil }},
		{"standbys", "warm standby copies of each partition on other instances (changelog.standbys)", func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("standbys: %q is not a number", v)
			}
			c.Changelog.Standbys = n
			return nil
		}},
		{"changelog", "log state changes to the changelog topic: true or false (changelog.enabled)", func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("changelog: %q is not true or false", v)
			}
			c.Changelog.Enabled = b
			return nil
		}},
		{"state-dir", "Pebble state directory (state.dir)", func(c *Config, v string) error { c.State.Dir = v; return nil }},
		{"admin-addr", "admin HTTP address for /healthz, /readyz, /metrics; empty disables (admin.addr)", func(c *Config, v string) error { c.Admin.Addr = v; return nil }},
		{"log-level", "debug, info, warn or error (log.level)", func(c *Config, v string) error { c.Log.Level = v; return nil }},
		{"log-format", "json or console (log.format)", func(c *Config, v string) error { c.Log.Format = v; return nil }},
	}
}

// EnvName is the environment variable for a flag name.
func EnvName(flagName string) string {
	return "JOURNEY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Flags registers the overridable settings on fs and returns a function
// that applies, over c, first the JOURNEY_* variables found in getenv, then
// the flags actually set on the command line.
func Flags(fs *flag.FlagSet) func(c *Config, getenv func(string) string) error {
	vs := vars()
	vals := make([]*string, len(vs))
	for i, v := range vs {
		vals[i] = fs.String(v.name, "", v.usage+" [$"+EnvName(v.name)+"]")
	}
	return func(c *Config, getenv func(string) string) error {
		for _, v := range vs {
			if e := getenv(EnvName(v.name)); e != "" {
				if err := v.set(c, e); err != nil {
					return fmt.Errorf("%s: %w", EnvName(v.name), err)
				}
			}
		}
		var err error
		fs.Visit(func(f *flag.Flag) {
			for i, v := range vs {
				if v.name == f.Name && err == nil {
					err = v.set(c, *vals[i])
				}
			}
		})
		return err
	}
}
