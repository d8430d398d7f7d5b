package app

import (
	"flag"
	"math"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/journey"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Validate(config.Default()); err != nil {
		t.Fatal(err)
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	c := config.Default()
	if err := c.Load(filepath.Join("..", "..", "journey.example.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := Validate(c); err != nil {
		t.Fatal(err)
	}
}

// The values pkg/pipeline owns are checked by it, named by YAML path.
func TestValidateNamesThePipelinesFields(t *testing.T) {
	for _, tc := range []struct {
		field string
		mut   func(c *config.Config)
	}{
		{"kafka.start_offset", func(c *config.Config) { c.Kafka.StartOffset = "beginning" }},
		{"timers.late_events", func(c *config.Config) { c.Timers.LateEvents = "drop" }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			c := config.Default()
			tc.mut(&c)
			err := Validate(c)
			if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
				t.Fatalf("want an error starting %q, got %v", tc.field, err)
			}
		})
	}
	c := config.Default()
	c.Kafka.StartOffset, c.Kafka.Brokers = "beginning", nil
	if err := Validate(c); err == nil || !strings.HasPrefix(err.Error(), "kafka.brokers:") {
		t.Fatalf("config's own errors come first: got %v", err)
	}
}

// processors_enabled (and --processors) select processors; an unknown
// name is refused by name.
func TestProcessorsEnabled(t *testing.T) {
	c := config.Default()
	e, err := Engine(c)
	if err != nil {
		t.Fatal(err)
	}
	all := len(e.Processors())
	c.ProcessorsEnabled = []string{"interest", "profile"}
	// The identity table's slot (identity.enabled) comes with any selection.
	if e, err = Engine(c); err != nil || len(e.Processors()) != 3 || all <= 3 || e.Processor(journey.IdentityName) == nil {
		t.Fatalf("enabled interest,profile: %v processors (of %d), err %v", e, all, err)
	}
	c.Identity.Enabled = false
	if e, err = Engine(c); err != nil || len(e.Processors()) != 2 {
		t.Fatalf("enabled interest,profile without identity: %v processors, err %v", e, err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	apply := config.Flags(fs)
	if err := fs.Parse([]string{"--processors", "nope"}); err != nil {
		t.Fatal(err)
	}
	c = config.Default()
	if err := apply(&c, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if _, err := Engine(c); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("--processors nope: err %v, want one naming it", err)
	}
}

// The store's Sync is state.sync, or without it whether the changelog is off.
func TestStoreSyncFollowsTheConfig(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want bool
	}{
		{"", false},
		{"changelog: {enabled: false}", true},
		{"state: {sync: false}\nchangelog: {enabled: false}", false},
	} {
		c := config.Default()
		if err := c.Parse([]byte(tc.yaml)); err != nil {
			t.Fatal(err)
		}
		if got := StoreOptions(c, nil).Sync; got != tc.want {
			t.Errorf("%q: the store's Sync %v, want %v", tc.yaml, got, tc.want)
		}
	}
}

// Every compression name config accepts reaches the changelog as its codec.
func TestChangelogCompression(t *testing.T) {
	for name, want := range map[string]kafka.Compression{
		"": 0, config.CompressionNone: 0, config.CompressionGzip: kafka.Gzip, config.CompressionSnappy: kafka.Snappy,
		config.CompressionLz4: kafka.Lz4, config.CompressionZstd: kafka.Zstd,
	} {
		c := config.Default()
		c.Changelog.Compression = name
		if err := Validate(c); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if got := PipelineConfig(c).Changelog.Compression; got != want {
			t.Errorf("%q: codec %v, want %v", name, got, want)
		}
	}
	c := config.Default()
	c.Changelog.Enabled = false
	if pc := PipelineConfig(c); pc.Changelog.Topic != "" {
		t.Errorf("changelog off: topic %q", pc.Changelog.Topic)
	}
}

// timers.max_skew reaches the pipeline.
func TestMaxSkewReachesThePipeline(t *testing.T) {
	c := config.Default()
	c.Timers.MaxSkew = 3 * time.Minute
	if got := PipelineConfig(c).MaxSkew; got != 3*time.Minute {
		t.Fatalf("pipeline MaxSkew %v, want 3m", got)
	}
}

// TestMemoryLimitIsShared: state.memory_limit reaches the store (block
// cache, memtables, dedup bound, outbox tail), the pipeline (customer cache, round
// bound) and Go's soft memory limit, unless GOGC or GOMEMLIMIT is set.
func TestMemoryLimitIsShared(t *testing.T) {
	c := config.Default()
	c.State.MemoryLimit = 768 << 20
	b := c.State.Budget()
	so, pc := StoreOptions(c, nil), PipelineConfig(c)
	if so.CacheBytes != b.BlockCache || so.MemTableSize != b.MemTable || so.DedupIndexMax != b.DedupHashes || int64(so.TailBytes) != b.OutboxTail {
		t.Fatalf("store options %+v, budget %+v", so, b)
	}
	if pc.CustomerCache != b.CustomerCache || pc.RoundCustomers != b.RoundCustomers || pc.RoundCustomers == 0 ||
		pc.FetchAhead != b.FetchAhead || pc.FetchAhead == 0 {
		t.Fatalf("pipeline customer cache %d, round %d, fetch-ahead %d; budget %+v", pc.CustomerCache, pc.RoundCustomers, pc.FetchAhead, b)
	}
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	debug.SetMemoryLimit(math.MaxInt64)
	TuneRuntime(c, getenv)
	if got := debug.SetMemoryLimit(-1); got != 768<<20 {
		t.Fatalf("soft memory limit %d, want state.memory_limit %d", got, 768<<20)
	}
	debug.SetMemoryLimit(math.MaxInt64)
	env["GOMEMLIMIT"] = "1GiB"
	TuneRuntime(c, getenv)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("GOMEMLIMIT set: soft memory limit changed to %d", got)
	}
}
