// Package config holds journey's configuration: the YAML file, JOURNEY_*
// environment variables and command-line flags, applied in that order over
// the defaults. The file is decoded strictly (Decode, which the processor
// registry uses for their sections too): an unknown field, an empty value
// or a value of the wrong type is a *FieldError naming the field by its
// YAML path and line, "kafka.brokerz (line 3): unknown field", and Load
// puts the file's name before each. Every validation error names the
// field by its YAML path (kafka.brokers, processors.interest.threshold...).
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
//
// Secrets (passwords, the admin token) are Secret values, which print and
// marshal as "[redacted]"; they come from files (…password_file,
// admin.token_file) or from $JOURNEY_KAFKA_PASSWORD,
// $JOURNEY_REDIS_PASSWORD and $JOURNEY_ADMIN_TOKEN, never from a flag
// (security.go).
package config

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"regexp"
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
	Identity   Identity             `yaml:"identity"`
	Privacy    Privacy              `yaml:"privacy"`
	Redis      Redis                `yaml:"redis"`
	Outbox     Outbox               `yaml:"outbox"`
	Admin      Admin                `yaml:"admin"`
	API        API                  `yaml:"api"`
	Log        Log                  `yaml:"log"`
	Processors map[string]yaml.Node `yaml:"processors"`
	// ProcessorsEnabled, when set, runs only these processors (in the
	// registry's order); empty runs every processor.
	ProcessorsEnabled []string `yaml:"processors_enabled"`
	// Rules are named rules, each a processor of a rule kind with filters
	// (the rules: list), decoded by the processor registry.
	Rules yaml.Node `yaml:"rules"`
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
	// TLS and SASL secure every connection to the brokers.
	TLS  TLS  `yaml:"tls"`
	SASL SASL `yaml:"sasl"`
}

// Ingest governs decoding and validation.
type Ingest struct {
	MaxBytes        int               `yaml:"max_bytes"`
	MaxFuture       time.Duration     `yaml:"max_future"`
	DedupWindow     time.Duration     `yaml:"dedup_window"`
	CloudEventTypes map[string]string `yaml:"cloudevent_types"`
	// DLQRedact dead-letters a record without its value (headers, reason,
	// offsets, the value's length and SHA-256), so personal data in a
	// rejected event does not outlive a forget in the dead-letter topic.
	DLQRedact bool `yaml:"dlq_redact"`
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
	Sync *bool `yaml:"sync"`
	// MemoryLimit is the instance's memory budget in bytes: Go's soft
	// memory limit, shared out by Budget between Pebble's block cache and
	// memtables, the dedup index, the outbox tail and decoded customers.
	MemoryLimit int64 `yaml:"memory_limit"`
	// CacheBytes is Pebble's block cache; 0 takes Budget's share.
	CacheBytes int64 `yaml:"cache_bytes"`
	// CustomerCache is how many customers stay decoded in memory between
	// batches (shared by the partitions this instance owns); 0 takes
	// Budget's share.
	CustomerCache int `yaml:"customer_cache"`
}

// Budget is how State.MemoryLimit is shared out (README "Tuning").
type Budget struct {
	Limit      int64 // Go's soft memory limit: everything below lives in it
	BlockCache int64 // Pebble's block cache
	MemTable   int64 // one Pebble memtable; at most MemTables of them queue
	// OutboxTail bounds the just-committed outbox entries kept in memory
	// for the dispatchers (past it they read Pebble).
	OutboxTail int64
	// FetchAhead bounds the bytes of the records fetched ahead of the
	// rounds, over the partitions an instance owns (each fetcher's
	// responses queued per partition and each worker's input buffer).
	FetchAhead int64
	// DedupHashes bounds the event-id hashes the dedup index keeps, over
	// the partitions an instance owns (past it lookups read Pebble).
	DedupHashes int
	// Customers is the customers' share counted in customers: a third
	// retained between rounds (CustomerCache, unless customer_cache
	// overrides it), two thirds touched by the rounds in flight
	// (RoundCustomers; a round stops at its partition's share).
	Customers      int
	CustomerCache  int
	RoundCustomers int
}

// Per-item sizes Budget divides by, measured (bench/README.md, "One memory budget"):
// a customer decoded with every processor's state after a few events, and
// a dedup hash in its map.
const (
	CustomerBytes  = 3 << 10
	DedupHashBytes = 48
	// MemTables is how many memtables Pebble lets queue before it stalls
	// writes.
	MemTables = 4
)

// Budget shares MemoryLimit out: a fifth to the block cache, a tenth to
// memtables (each within 8 MiB and 1 GiB), a thirty-second each to the
// dedup index and the outbox tail, a sixteenth to records fetched ahead,
// three eighths to decoded customers (a third of them retained between
// rounds, two thirds for the rounds in flight). The rest, about a fifth,
// is for rounds' records and writes and the garbage the collector has
// not reclaimed yet: with less room it collects back to back. cache_bytes
// and customer_cache, when set, override their shares.
func (s State) Budget() Budget {
	m := s.MemoryLimit
	b := Budget{Limit: m, BlockCache: m / 5, DedupHashes: int(m / 32 / DedupHashBytes), OutboxTail: m / 32, FetchAhead: m / 16}
	// Pebble wants a memtable under 4 GiB; a tiny one makes every round's
	// batch a flush of its own.
	b.MemTable = min(max(m/10/MemTables, 8<<20), 1<<30)
	customers := m * 3 / 8
	if s.CacheBytes > 0 {
		// A larger block cache is taken from the customers' share (a
		// block cache of at most half the limit leaves them some).
		customers -= max(s.CacheBytes-b.BlockCache, 0)
		b.BlockCache = s.CacheBytes
	}
	b.Customers = int(customers / CustomerBytes)
	b.CustomerCache, b.RoundCustomers = b.Customers/3, b.Customers*2/3
	if s.CustomerCache > 0 {
		b.CustomerCache = s.CustomerCache
	}
	return b
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

// Identity is identity resolution: every event folded under its canonical
// customer (README, "Identity").
type Identity struct {
	// Enabled routes events to their canonical customer through the
	// repartition topic, links ids and merges journeys (default true).
	// Off, state is folded per event customer id (user id, else
	// anonymous id) on the partition the record is in.
	Enabled bool `yaml:"enabled"`
	// Topic defaults to "<kafka.group_id>.repartition".
	Topic string `yaml:"topic"`
	// MaxIDsPerCustomer bounds the ids linked to one customer; a link
	// past it is refused (counted).
	MaxIDsPerCustomer int `yaml:"max_ids_per_customer"`
}

// Privacy configures `journey forget` and pseudonymous ids (README,
// "Privacy").
type Privacy struct {
	// SecretFile holds the secret keying the hashes of forgotten ids and
	// the pseudonyms (HMAC-SHA256). Unset, forgotten ids' hashes are
	// unkeyed.
	SecretFile string `yaml:"secret_file"`
	// PseudonymizeIDs replaces every customer id by a keyed hash at
	// ingest: state, the changelog, Redis keys and triggers hold only
	// pseudonyms. It needs SecretFile, and must not change on a running
	// group's state (its ids would no longer match).
	PseudonymizeIDs bool `yaml:"pseudonymize_ids"`
	// ForgetRetention is how long the hash of a forgotten id is kept, so
	// its later (or replayed) events are dropped. 0: the input topics'
	// longest retention.ms, at least 30 days; for good when a topic keeps
	// records for good.
	ForgetRetention time.Duration `yaml:"forget_retention"`
	// ForgottenTopic is the forget ledger: a compacted topic with a record
	// per forgotten id (its keyed hash, never the id), which replays and
	// fresh state directories read, and `journey forget --wait` follows.
	// Defaults to "<kafka.group_id>.forgotten" when identity is on.
	ForgottenTopic string `yaml:"forgotten_topic"`
}

// ForgottenTopic is the forget ledger's name ("" when identity is off:
// forgets need identity routing).
func (c *Config) ForgottenTopic() string {
	switch {
	case !c.Identity.Enabled:
		return ""
	case c.Privacy.ForgottenTopic != "":
		return c.Privacy.ForgottenTopic
	default:
		return c.Kafka.GroupID + ".forgotten"
	}
}

// IdentityTopic is the repartition topic's name ("" when identity is off).
func (c *Config) IdentityTopic() string {
	switch {
	case !c.Identity.Enabled:
		return ""
	case c.Identity.Topic != "":
		return c.Identity.Topic
	default:
		return c.Kafka.GroupID + ".repartition"
	}
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
	Password     Secret        `yaml:"password"` // or $JOURNEY_REDIS_PASSWORD (no flag); prefer PasswordFile
	DB           int           `yaml:"db"`
	Prefix       string        `yaml:"prefix"`
	StreamMaxLen int64         `yaml:"stream_max_len"`
	ContextTTL   time.Duration `yaml:"context_ttl"`
	DedupTTL     time.Duration `yaml:"dedup_ttl"`
	// WaitAtStart lets journey start while Redis does not answer its
	// start-up ping (/readyz answers 503 with the reason until it does);
	// false (the default) makes an unreachable Redis a start-up error.
	WaitAtStart bool `yaml:"wait_at_start"`
	// RequirePersistence makes journey refuse to start when Redis has no
	// persistence or an evicting maxmemory-policy (or they cannot be
	// read); false (the default) logs a warning naming the risk.
	RequirePersistence bool `yaml:"require_persistence"`
	// PasswordFile holds the password of redis.username (or of the
	// default user); $JOURNEY_REDIS_PASSWORD wins over it.
	PasswordFile string   `yaml:"password_file"`
	TLS          TLS      `yaml:"tls"`
	Sentinel     Sentinel `yaml:"sentinel"`
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
	// StallAfter: /readyz answers 503 for a partition that made no
	// progress (committed no round) for this long while behind its input
	// (pipeline.Config.StallAfter).
	StallAfter time.Duration `yaml:"stall_after"`
	// TLS serves the admin port over HTTPS.
	TLS AdminTLS `yaml:"tls"`
	// TokenFile holds a bearer token every request but /healthz must
	// carry ("Authorization: Bearer <token>"); $JOURNEY_ADMIN_TOKEN wins
	// over it. Token is that variable's value.
	TokenFile string `yaml:"token_file"`
	Token     Secret `yaml:"-"`
}

// API is the read-side HTTP API (pkg/api): GET /v1/customers/{id} and
// the web page at /.
type API struct {
	// Addr is where it listens; empty disables it. Off loopback it needs
	// TokenFile.
	Addr string `yaml:"addr"`
	// TokenFile holds a bearer token every request must carry
	// ("Authorization: Bearer <token>"); 401 otherwise.
	TokenFile string `yaml:"token_file"`
	// TLS serves the API over HTTPS (the fields of admin.tls).
	TLS AdminTLS `yaml:"tls"`
	// AdvertiseAddr is the host:port other instances reach this API at,
	// advertised in the consumer group for proxying. Empty: the bound
	// address, with the machine's host name for a wildcard host.
	AdvertiseAddr string `yaml:"advertise_addr"`
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
		State:  State{Dir: "journey-data", MemoryLimit: 5 << 29},
		Changelog: Changelog{
			Enabled: true, Compression: CompressionNone, MaxBatchBytes: 32 << 20, StaleAfter: 12 * time.Hour,
		},
		Identity: Identity{Enabled: true, MaxIDsPerCustomer: 100},
		Redis: Redis{
			Addr: "127.0.0.1:6379", Prefix: "journey:", StreamMaxLen: 100_000,
			ContextTTL: 30 * 24 * time.Hour, DedupTTL: 7 * 24 * time.Hour,
		},
		Outbox: Outbox{MaxPending: 100_000, MaxBatch: 512, ShutdownFlush: 5 * time.Second},
		Admin:  Admin{Addr: "127.0.0.1:9464", StallAfter: 2 * time.Minute},
		API:    API{Addr: "127.0.0.1:9465"},
		Log:    Log{Level: "info", Format: "json"},
	}
}

// Parse decodes YAML over c strictly (see Decode): an unknown field, an
// empty value or a value of the wrong type is an error naming the field by
// its YAML path and line, "kafka.brokerz (line 3): unknown field"; every
// such problem is reported.
func (c *Config) Parse(data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return syntaxError(err)
	}
	return Decode("", &doc, c)
}

// Load reads the YAML file at path over c. An empty path is a no-op. Each
// problem is one line, "config journey.yaml: kafka.brokerz (line 3):
// unknown field".
func (c *Config) Load(path string) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			err = pe.Err // the path is in the prefix
		}
		return fmt.Errorf("config %s: %w", path, err)
	}
	return InFile(path, c.Parse(data))
}

// yamlLine is the start of yaml.v3's syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError says yaml.v3's "yaml: line 3: could not find expected ':'"
// as "(line 3): not YAML: could not find expected ':'".
func syntaxError(err error) error {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	line, _ := strconv.Atoi(m[1])
	return &syntaxErr{line: line, msg: m[2], err: err}
}

type syntaxErr struct {
	line int
	msg  string
	err  error
}

func (e *syntaxErr) Error() string {
	return fmt.Sprintf("(line %d): not valid YAML: %s", e.line, e.msg)
}
func (e *syntaxErr) Unwrap() error { return e.err }

// InFile prefixes every problem joined in err with "config <path>: ", so
// each line of the message names the file. It returns nil for nil.
func InFile(path string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range Split(err) {
		if se := (*syntaxErr)(nil); errors.As(e, &se) {
			out = append(out, fmt.Errorf("config %s %w", path, e)) // config j.yaml (line 3): ...
			continue
		}
		out = append(out, fmt.Errorf("config %s: %w", path, e))
	}
	return errors.Join(out...)
}

// Split returns the errors joined in err, recursively, or err alone.
func Split(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, Split(e)...)
	}
	return out
}

// setting is one JOURNEY_* variable and flag, and the field it sets.
type setting struct {
	name  string // flag name; the variable is JOURNEY_ + upper(name with - as _)
	path  string // the field's YAML path; its first part is the help's heading
	usage string
	// define registers the flag on fs with the field's value in def as
	// its default, typed like the field.
	define func(fs *flag.FlagSet, def *Config, usage string)
	// set parses a flag or variable value into the field.
	set func(c *Config, v string) error
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

// The typed settings. A list is a string flag whose usage names its type
// `list` (flag.UnquoteUsage).

func stringSetting(name, path, usage string, field func(*Config) *string) setting {
	return setting{name, path, usage,
		func(fs *flag.FlagSet, def *Config, u string) { fs.String(name, *field(def), u) },
		func(c *Config, v string) error { *field(c) = v; return nil }}
}

func listSetting(name, path, usage string, field func(*Config) *[]string) setting {
	return setting{name, path, usage,
		func(fs *flag.FlagSet, def *Config, u string) { fs.String(name, strings.Join(*field(def), ","), u) },
		func(c *Config, v string) error { *field(c) = List(v); return nil }}
}

func intSetting(name, path, usage string, field func(*Config) *int) setting {
	return setting{name, path, usage,
		func(fs *flag.FlagSet, def *Config, u string) { fs.Int(name, *field(def), u) },
		func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%q is not an integer", v)
			}
			*field(c) = n
			return nil
		}}
}

func boolSetting(name, path, usage string, field func(*Config) *bool) setting {
	return setting{name, path, usage,
		func(fs *flag.FlagSet, def *Config, u string) { fs.Bool(name, *field(def), u) },
		func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q is not true or false", v)
			}
			*field(c) = b
			return nil
		}}
}

func durationSetting(name, path, usage string, field func(*Config) *time.Duration) setting {
	return setting{name, path, usage,
		func(fs *flag.FlagSet, def *Config, u string) { fs.Duration(name, *field(def), u) },
		func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%q is not a duration (want e.g. 10s, 1m)", v)
			}
			*field(c) = d
			return nil
		}}
}

// settings lists the flags and variables, grouped by the section of their
// field in the order of the file (the order journey run -h shows them in).
func settings() []setting {
	return []setting{
		listSetting("brokers", "kafka.brokers", "Kafka bootstrap brokers, a comma-separated `list` of host:port", func(c *Config) *[]string { return &c.Kafka.Brokers }),
		stringSetting("group-id", "kafka.group_id", "consumer group id", func(c *Config) *string { return &c.Kafka.GroupID }),
		listSetting("topics", "kafka.topics", "input topics, a comma-separated `list`", func(c *Config) *[]string { return &c.Kafka.Topics }),
		stringSetting("dlq-topic", "kafka.dlq_topic", "dead-letter topic", func(c *Config) *string { return &c.Kafka.DLQTopic }),
		durationSetting("dial-timeout", "kafka.dial_timeout", "bound on each network call at start-up", func(c *Config) *time.Duration { return &c.Kafka.DialTimeout }),
		stringSetting("state-dir", "state.dir", "Pebble state directory", func(c *Config) *string { return &c.State.Dir }),
		boolSetting("changelog", "changelog.enabled", "log state changes to the changelog topic (--changelog=false turns it off)", func(c *Config) *bool { return &c.Changelog.Enabled }),
		boolSetting("identity", "identity.enabled", "route events to their canonical customer and merge linked ids (--identity=false folds per event customer id)", func(c *Config) *bool { return &c.Identity.Enabled }),
		intSetting("standbys", "changelog.standbys", "warm standby copies of each partition on other instances", func(c *Config) *int { return &c.Changelog.Standbys }),
		stringSetting("redis-addr", "redis.addr", "Redis host:port", func(c *Config) *string { return &c.Redis.Addr }),
		stringSetting("redis-prefix", "redis.prefix", "prefix of every Redis key", func(c *Config) *string { return &c.Redis.Prefix }),
		boolSetting("redis-wait-at-start", "redis.wait_at_start", "start even when Redis does not answer; /readyz 503 until it does", func(c *Config) *bool { return &c.Redis.WaitAtStart }),
		stringSetting("admin-addr", "admin.addr", "admin HTTP address for /healthz, /readyz, /metrics; empty disables", func(c *Config) *string { return &c.Admin.Addr }),
		stringSetting("api-addr", "api.addr", "journey API and web page address (GET /v1/customers/{id}, /); empty disables", func(c *Config) *string { return &c.API.Addr }),
		stringSetting("log-level", "log.level", "debug, info, warn or error", func(c *Config) *string { return &c.Log.Level }),
		stringSetting("log-format", "log.format", "json or console", func(c *Config) *string { return &c.Log.Format }),
		listSetting("processors", "processors_enabled", "run only these processors, a comma-separated `list` (default: all)", func(c *Config) *[]string { return &c.ProcessorsEnabled }),
	}
}

// EnvName is the environment variable for a flag name.
func EnvName(flagName string) string {
	return "JOURNEY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// FlagGroup is the flags Flags registers for one section of the file.
type FlagGroup struct {
	Section string   // the YAML section: kafka, state, changelog, ... processors_enabled
	Flags   []string // flag names, in the order of the section's fields
}

// FlagGroups returns the flags Flags registers by section, in the order
// settings lists them: the headings of journey run -h.
func FlagGroups() []FlagGroup {
	var gs []FlagGroup
	at := map[string]int{}
	for _, s := range settings() {
		sec, _, _ := strings.Cut(s.path, ".")
		i, ok := at[sec]
		if !ok {
			i, at[sec] = len(gs), len(gs)
			gs = append(gs, FlagGroup{Section: sec})
		}
		gs[i].Flags = append(gs[i].Flags, s.name)
	}
	return gs
}

// Flags registers the overridable settings on fs, typed like their fields
// with the built-in defaults as their defaults, and returns a function
// that applies, over c, first the JOURNEY_* variables found in getenv,
// then the flags actually set on the command line. A flag left out does
// not override the file.
func Flags(fs *flag.FlagSet) func(c *Config, getenv func(string) string) error {
	ss := settings()
	def := Default()
	for _, s := range ss {
		s.define(fs, &def, fmt.Sprintf("%s (%s) [$%s]", s.usage, s.path, EnvName(s.name)))
	}
	return func(c *Config, getenv func(string) string) error {
		SecretsFromEnv(c, getenv)
		for _, s := range ss {
			if e := getenv(EnvName(s.name)); e != "" {
				if err := s.set(c, e); err != nil {
					return fmt.Errorf("%s: %w", EnvName(s.name), err)
				}
			}
		}
		var errs []error
		fs.Visit(func(f *flag.Flag) {
			for _, s := range ss {
				if s.name == f.Name {
					if err := s.set(c, f.Value.String()); err != nil {
						errs = append(errs, fmt.Errorf("--%s: %w", f.Name, err))
					}
				}
			}
		})
		return errors.Join(errs...)
	}
}
