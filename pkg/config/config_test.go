package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	c := Default()
	if err := c.Load(filepath.Join("..", "..", "journey.example.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParseNamesUnknownField(t *testing.T) {
	c := Default()
	err := c.Parse([]byte("kafka:\n  brokers: [a:1]\n  grup_id: x\n"))
	if err == nil || !strings.Contains(err.Error(), "grup_id") {
		t.Fatalf("want an error naming grup_id, got %v", err)
	}
}

func TestParseDurations(t *testing.T) {
	c := Default()
	if err := c.Parse([]byte("batch:\n  linger: 5ms\nredis:\n  context_ttl: 48h\n")); err != nil {
		t.Fatal(err)
	}
	if c.Batch.Linger != 5*time.Millisecond || c.Redis.ContextTTL != 48*time.Hour {
		t.Fatalf("durations: %v %v", c.Batch.Linger, c.Redis.ContextTTL)
	}
	if c.Timers.MaxSkew != time.Minute {
		t.Fatalf("timers.max_skew defaults to %v, want 1m", c.Timers.MaxSkew)
	}
	if err := c.Parse([]byte("batch:\n  linger: soon\n")); err == nil {
		t.Fatal("bad duration accepted")
	}
}

func TestValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		field string
		mut   func(c *Config)
	}{
		{"kafka.brokers", func(c *Config) { c.Kafka.Brokers = nil }},
		{"kafka.brokers", func(c *Config) { c.Kafka.Brokers = []string{"nohostport"} }},
		{"kafka.group_id", func(c *Config) { c.Kafka.GroupID = "" }},
		{"kafka.topics", func(c *Config) { c.Kafka.Topics = nil }},
		{"kafka.topics", func(c *Config) { c.Kafka.Topics = []string{"a", "a"} }},
		{"kafka.dlq_topic", func(c *Config) { c.Kafka.DLQTopic = c.Kafka.Topics[0] }},
		{"kafka.fetch_max_wait", func(c *Config) { c.Kafka.FetchMaxWait = 0 }},
		{"kafka.dial_timeout", func(c *Config) { c.Kafka.DialTimeout = 0 }},
		{"ingest.dedup_window", func(c *Config) { c.Ingest.DedupWindow = 0 }},
		{"batch.max_records", func(c *Config) { c.Batch.MaxRecords = 0 }},
		{"batch.max_bytes", func(c *Config) { c.Batch.MaxBytes = 100 }},
		{"batch.backlog_wait", func(c *Config) { c.Batch.BacklogWait = -time.Second }},
		{"privacy.pseudonymize_ids", func(c *Config) { c.Privacy.PseudonymizeIDs = true }},
		{"timers.max_skew", func(c *Config) { c.Timers.MaxSkew = 0 }},
		{"timers.max_skew", func(c *Config) { c.Timers.MaxSkew = -time.Minute }},
		{"changelog.compression", func(c *Config) { c.Changelog.Compression = "brotli" }},
		{"state.dir", func(c *Config) { c.State.Dir = "" }},
		{"state.memory_limit", func(c *Config) { c.State.MemoryLimit = 32 << 20 }},
		{"state.cache_bytes", func(c *Config) { c.State.CacheBytes = c.State.MemoryLimit }},
		{"state.cache_bytes", func(c *Config) { c.State.CacheBytes = 1024 }},
		{"state.customer_cache", func(c *Config) { c.State.CustomerCache = -1 }},
		{"redis.addr", func(c *Config) { c.Redis.Addr = "" }},
		{"redis.prefix", func(c *Config) { c.Redis.Prefix = "" }},
		{"redis.dedup_ttl", func(c *Config) { c.Redis.DedupTTL = time.Millisecond }},
		{"outbox.max_pending", func(c *Config) { c.Outbox.MaxPending = 0 }},
		{"log.level", func(c *Config) { c.Log.Level = "loud" }},
		{"log.format", func(c *Config) { c.Log.Format = "xml" }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			c := Default()
			tc.mut(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
				t.Fatalf("want an error starting %q, got %v", tc.field, err)
			}
		})
	}
}

func TestPrecedenceFileEnvFlag(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j.yaml")
	if err := os.WriteFile(path, []byte("kafka:\n  group_id: from-file\n  topics: [file-topic]\nstate:\n  dir: /file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	apply := Flags(fs)
	if err := fs.Parse([]string{"--state-dir", "/flag"}); err != nil {
		t.Fatal(err)
	}
	c := Default()
	if err := c.Load(path); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"JOURNEY_GROUP_ID": "from-env", "JOURNEY_STATE_DIR": "/env", "JOURNEY_BROKERS": "h1:1, h2:2"}
	if err := apply(&c, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Kafka.GroupID != "from-env" || c.State.Dir != "/flag" || c.Kafka.Topics[0] != "file-topic" ||
		strings.Join(c.Kafka.Brokers, ",") != "h1:1,h2:2" {
		t.Fatalf("precedence: %+v %+v", c.Kafka, c.State)
	}
}

// The start-up settings: kafka.dial_timeout and redis.wait_at_start, from
// the file, the environment and flags.
func TestStartupSettings(t *testing.T) {
	c := Default()
	if c.Kafka.DialTimeout != 10*time.Second || c.Redis.WaitAtStart {
		t.Fatalf("defaults: dial_timeout %v, wait_at_start %v", c.Kafka.DialTimeout, c.Redis.WaitAtStart)
	}
	if err := c.Parse([]byte("kafka: {dial_timeout: 3s}\nredis: {wait_at_start: true}\n")); err != nil {
		t.Fatal(err)
	}
	if c.Kafka.DialTimeout != 3*time.Second || !c.Redis.WaitAtStart {
		t.Fatalf("file: dial_timeout %v, wait_at_start %v", c.Kafka.DialTimeout, c.Redis.WaitAtStart)
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	apply := Flags(fs)
	if err := fs.Parse([]string{"--redis-wait-at-start=false"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"JOURNEY_DIAL_TIMEOUT": "2s", "JOURNEY_REDIS_WAIT_AT_START": "true"}
	if err := apply(&c, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Kafka.DialTimeout != 2*time.Second || c.Redis.WaitAtStart {
		t.Fatalf("env and flag: dial_timeout %v, wait_at_start %v", c.Kafka.DialTimeout, c.Redis.WaitAtStart)
	}
	env["JOURNEY_DIAL_TIMEOUT"] = "2"
	if err := apply(&c, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "JOURNEY_DIAL_TIMEOUT") {
		t.Fatalf("a duration without unit: %v", err)
	}
}

// state.sync follows the changelog unless it is set.
func TestStateSyncFollowsTheChangelog(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want bool
	}{
		{"", false},
		{"changelog: {enabled: false}", true},
		{"state: {sync: true}", true},
		{"state: {sync: false}\nchangelog: {enabled: false}", false},
		{"state: {sync: true}\nchangelog: {enabled: false}", true},
	} {
		c := Default()
		if err := c.Parse([]byte(tc.yaml)); err != nil {
			t.Fatal(err)
		}
		if got := c.StateSync(); got != tc.want {
			t.Errorf("%q: StateSync %v, want %v", tc.yaml, got, tc.want)
		}
	}
}

// TestRulesKeptForTheRegistry: the rules: list is kept as a node, for the
// processor registry to decode (processors.BuildWithRules); without it the
// node is empty.
func TestRulesKeptForTheRegistry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.yaml")
	if err := os.WriteFile(path, []byte("rules:\n  - {name: a, kind: interest}\n  - {name: b, kind: cart}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := Default()
	if c.Rules.Kind != 0 {
		t.Fatalf("default rules = %v, want none", c.Rules)
	}
	if err := c.Load(path); err != nil {
		t.Fatal(err)
	}
	if c.Rules.Kind != yaml.SequenceNode || len(c.Rules.Content) != 2 || c.Rules.Content[1].Content[1].Value != "b" {
		t.Fatalf("rules = %+v, want the list of two", c.Rules)
	}
}

// TestBudgetSharesTheLimit: state.memory_limit is shared out by fixed
// fractions, the parts fit inside it with room for the rest of the heap,
// and cache_bytes and customer_cache override only their own share.
func TestBudgetSharesTheLimit(t *testing.T) {
	for _, m := range []int64{64 << 20, 512 << 20, Default().State.MemoryLimit, 16 << 30} {
		b := State{MemoryLimit: m}.Budget()
		if b.Limit != m || b.BlockCache != m/5 || b.MemTable != min(max(m/10/MemTables, 8<<20), 1<<30) {
			t.Fatalf("limit %d: %+v", m, b)
		}
		if b.FetchAhead != m/16 {
			t.Fatalf("limit %d: fetch-ahead %d, want a sixteenth", m, b.FetchAhead)
		}
		parts := b.BlockCache + b.MemTable*MemTables + int64(b.DedupHashes)*DedupHashBytes + b.OutboxTail + int64(b.Customers)*CustomerBytes + b.FetchAhead
		if m >= 256<<20 && (parts > m*4/5 || parts < m/2) {
			t.Fatalf("limit %d: the parts take %d bytes, want between a half and four fifths", m, parts)
		}
		if b.CustomerCache+b.RoundCustomers > b.Customers || b.CustomerCache == 0 || b.RoundCustomers == 0 {
			t.Fatalf("limit %d: customers %d split %d + %d", m, b.Customers, b.CustomerCache, b.RoundCustomers)
		}
	}
	def := State{MemoryLimit: 1 << 30}.Budget()
	b := State{MemoryLimit: 1 << 30, CacheBytes: 8 << 20, CustomerCache: 7}.Budget()
	if b.BlockCache != 8<<20 || b.CustomerCache != 7 {
		t.Fatalf("overrides ignored: %+v", b)
	}
	if b.RoundCustomers != def.RoundCustomers || b.DedupHashes != def.DedupHashes || b.MemTable != def.MemTable {
		t.Fatalf("an override moved another share: %+v, defaults %+v", b, def)
	}
	// A block cache above its share is taken from the customers'.
	big := State{MemoryLimit: 1 << 30, CacheBytes: 512 << 20}.Budget()
	if want := int((1<<30*3/8 - (512<<20 - (1<<30)/5)) / CustomerBytes); big.Customers != want || big.Customers <= 0 {
		t.Fatalf("customers %d with a half-limit block cache, want %d", big.Customers, want)
	}
	if huge := (State{MemoryLimit: 1 << 40}).Budget(); huge.MemTable != 1<<30 {
		t.Fatalf("memtable %d for a 1 TiB limit, want 1 GiB (Pebble refuses 4 GiB)", huge.MemTable)
	}
}
