package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Changelog compression codecs (changelog.compression). config owns these
// names; internal/app maps them to the Kafka client's codecs.
const (
	CompressionNone   = "none"
	CompressionGzip   = "gzip"
	CompressionSnappy = "snappy"
	CompressionLz4    = "lz4"
	CompressionZstd   = "zstd"
)

// Validate checks the rules config owns, section by section, and reports
// every problem at once, each naming its field by YAML path. The
// processors' sections and the values other packages own are checked by
// their owners (see the package doc); internal/app.Validate runs both.
func (c *Config) Validate() error {
	var p problems
	inputs := c.Kafka.check(&p)
	c.checkChangelog(&p, inputs)
	c.checkIdentity(&p, inputs)
	c.Ingest.check(&p)
	c.Batch.check(&p)
	c.Timers.check(&p)
	c.State.check(&p)
	c.Redis.check(&p)
	c.Outbox.check(&p)
	c.Admin.check(&p)
	c.API.check(&p)
	c.Log.check(&p)
	c.checkSecurity(&p)
	if r := c.Privacy.ForgetRetention; r != 0 && r < 24*time.Hour {
		p.add("privacy.forget_retention", "%v: at least 24h, or 0 for the input topics' retention (at least 30 days)", r)
	}
	if c.Privacy.PseudonymizeIDs && c.Privacy.SecretFile == "" {
		p.add("privacy.pseudonymize_ids", "needs privacy.secret_file: the pseudonyms are keyed by its secret")
	}
	return errors.Join(p...)
}

// problems collects validation errors, each prefixed with its field's YAML
// path.
type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

// check checks kafka.* and returns the set of input topics (which the
// changelog's and the dead-letter topic must not be).
func (k *Kafka) check(p *problems) map[string]bool {
	if len(k.Brokers) == 0 {
		p.add("kafka.brokers", "at least one broker is required")
	}
	for _, b := range k.Brokers {
		if !strings.Contains(b, ":") {
			p.add("kafka.brokers", "%q is not host:port", b)
		}
	}
	if k.GroupID == "" {
		p.add("kafka.group_id", "required")
	}
	if len(k.Topics) == 0 {
		p.add("kafka.topics", "at least one input topic is required")
	}
	inputs := map[string]bool{}
	for _, t := range k.Topics {
		if t == "" || inputs[t] {
			p.add("kafka.topics", "empty or repeated topic %q", t)
		}
		inputs[t] = true
	}
	if k.DLQTopic == "" {
		p.add("kafka.dlq_topic", "required")
	} else if inputs[k.DLQTopic] {
		p.add("kafka.dlq_topic", "%q is also an input topic", k.DLQTopic)
	}
	if k.FetchMaxWait < time.Millisecond {
		p.add("kafka.fetch_max_wait", "must be at least 1ms")
	}
	if k.FetchMaxBytes < 1024 {
		p.add("kafka.fetch_max_bytes", "must be at least 1024")
	}
	if k.SessionTimeout < time.Second {
		p.add("kafka.session_timeout", "must be at least 1s")
	}
	if k.DialTimeout < 100*time.Millisecond {
		p.add("kafka.dial_timeout", "must be at least 100ms")
	}
	return inputs
}

// checkIdentity checks identity.* when identity is on; its topic must be
// none of the other topics.
func (c *Config) checkIdentity(p *problems, inputs map[string]bool) {
	if !c.Identity.Enabled {
		return
	}
	if t := c.IdentityTopic(); inputs[t] || t == c.Kafka.DLQTopic || t == c.ChangelogTopic() {
		p.add("identity.topic", "%q is also an input, dead-letter or changelog topic", t)
	}
	if t := c.ForgottenTopic(); inputs[t] || t == c.Kafka.DLQTopic || t == c.ChangelogTopic() || t == c.IdentityTopic() {
		p.add("privacy.forgotten_topic", "%q is also an input, dead-letter, changelog or repartition topic", t)
	}
	if c.Identity.MaxIDsPerCustomer < 1 {
		p.add("identity.max_ids_per_customer", "must be at least 1")
	}
}

// checkChangelog checks changelog.* when the changelog is on; its topic
// must be none of inputs nor the dead-letter topic.
func (c *Config) checkChangelog(p *problems, inputs map[string]bool) {
	cl := &c.Changelog
	if !cl.Enabled {
		return
	}
	if t := c.ChangelogTopic(); inputs[t] || t == c.Kafka.DLQTopic {
		p.add("changelog.topic", "%q is also an input or dead-letter topic", t)
	}
	if cl.Standbys < 0 {
		p.add("changelog.standbys", "must not be negative")
	}
	switch cl.Compression {
	case "", CompressionNone, CompressionGzip, CompressionSnappy, CompressionLz4, CompressionZstd:
	default:
		p.add("changelog.compression", "%q is not none, gzip, snappy, lz4 or zstd", cl.Compression)
	}
	if cl.MaxBatchBytes < 1<<20 {
		p.add("changelog.max_batch_bytes", "must be at least 1 MiB")
	}
	if cl.StaleAfter < time.Minute {
		p.add("changelog.stale_after", "must be at least 1m")
	}
}

func (in *Ingest) check(p *problems) {
	if in.MaxBytes < 1 {
		p.add("ingest.max_bytes", "must be positive")
	}
	if in.MaxFuture <= 0 {
		p.add("ingest.max_future", "must be positive")
	}
	if in.DedupWindow < time.Second {
		p.add("ingest.dedup_window", "must be at least 1s")
	}
}

func (b *Batch) check(p *problems) {
	if b.MaxRecords < 1 {
		p.add("batch.max_records", "must be at least 1")
	}
	if b.MaxBytes < 1<<10 {
		p.add("batch.max_bytes", "must be at least 1 KiB")
	}
	if b.Linger < 0 {
		p.add("batch.linger", "must not be negative")
	}
	if b.BacklogWait < 0 {
		p.add("batch.backlog_wait", "must not be negative")
	}
	if b.CommitInterval <= 0 {
		p.add("batch.commit_interval", "must be positive")
	}
}

// check checks timers.*; late_events is the pipeline's to check.
func (t *Timers) check(p *problems) {
	if t.Lateness < 0 {
		p.add("timers.lateness", "must not be negative")
	}
	if t.IdleAdvance < 0 {
		p.add("timers.idle_advance", "must not be negative (0 disables wall-clock advance)")
	}
	if t.MaxSkew <= 0 {
		p.add("timers.max_skew", "must be positive: it bounds how far a future-dated event moves the watermark")
	}
}

func (s *State) check(p *problems) {
	if s.Dir == "" {
		p.add("state.dir", "required")
	}
	if s.MemoryLimit < 64<<20 {
		p.add("state.memory_limit", "must be at least 67108864 (64 MiB)")
	}
	if s.CacheBytes != 0 && (s.CacheBytes < 1<<20 || s.CacheBytes > s.MemoryLimit/2) {
		p.add("state.cache_bytes", "must be 0 (a fifth of state.memory_limit) or from 1048576 to half of state.memory_limit")
	}
	if s.CustomerCache < 0 {
		p.add("state.customer_cache", "must not be negative (0 takes its share of state.memory_limit)")
	}
}

func (r *Redis) check(p *problems) {
	if r.Addr == "" || !strings.Contains(r.Addr, ":") {
		p.add("redis.addr", "%q is not host:port", r.Addr)
	}
	if r.Prefix == "" {
		p.add("redis.prefix", "required (e.g. \"journey:\")")
	}
	if r.StreamMaxLen < 1 {
		p.add("redis.stream_max_len", "must be at least 1")
	}
	if r.ContextTTL < time.Second {
		p.add("redis.context_ttl", "must be at least 1s")
	}
	if r.DedupTTL < time.Second {
		p.add("redis.dedup_ttl", "must be at least 1s")
	}
}

func (o *Outbox) check(p *problems) {
	if o.MaxPending < 1 {
		p.add("outbox.max_pending", "must be at least 1")
	}
	if o.MaxBatch < 1 {
		p.add("outbox.max_batch", "must be at least 1")
	}
	if o.ShutdownFlush < 0 {
		p.add("outbox.shutdown_flush", "must not be negative")
	}
}

// check refuses the API off loopback without a token: it shows every
// customer's journey.
func (a *API) check(p *problems) {
	if a.Addr == "" || a.TokenFile != "" {
		return
	}
	host, _, err := net.SplitHostPort(a.Addr)
	if err != nil {
		p.add("api.addr", "%q is not host:port", a.Addr)
		return
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		p.add("api.token_file", "required when api.addr (%s) is not on loopback: the API shows every customer's journey", a.Addr)
	}
}

func (a *Admin) check(p *problems) {
	if a.StallAfter < time.Second {
		p.add("admin.stall_after", "must be at least 1s")
	}
}

// check checks log.*, whose names are zap's level names and encoders.
func (l *Log) check(p *problems) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "%q is not debug, info, warn or error", l.Level)
	}
	switch l.Format {
	case "json", "console":
	default:
		p.add("log.format", "%q is not json or console", l.Format)
	}
}
