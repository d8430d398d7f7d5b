package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/journey-dev/journey/bench/internal/promsum"
	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/metrics"
	"github.com/journey-dev/journey/pkg/outbox"
	"github.com/journey-dev/journey/pkg/pipeline"
	"github.com/journey-dev/journey/pkg/sink/redissink"
	"github.com/journey-dev/journey/pkg/state"
)

// observer is the pipeline's extra outbox.Observer: it counts deliveries
// and, while recording, keeps every latency sample.
type observer struct {
	triggers, contexts, failures atomic.Int64

	mu        sync.Mutex
	recording bool
	samples   []time.Duration
	// unsampled counts, while recording, the deliveries without a latency
	// sample: entries a timer made on the wall clock's tick, which no
	// record caused (they carry no record time).
	unsampled int64
}

var _ outbox.Observer = (*observer)(nil)

func (o *observer) Delivered(_ int, triggers, contexts int, latencies []time.Duration) {
	o.triggers.Add(int64(triggers))
	o.contexts.Add(int64(contexts))
	o.mu.Lock()
	if o.recording {
		o.samples = append(o.samples, latencies...)
		o.unsampled += int64(triggers + contexts - len(latencies))
	}
	o.mu.Unlock()
}

func (o *observer) DeliveryFailed(int, error)                { o.failures.Add(1) }
func (o *observer) Depth(int, int64)                         {}
func (o *observer) Handed(int, time.Duration, time.Duration) {}

// record starts (true) or stops (false) keeping samples; starting drops
// what was kept. It returns the samples and the unsampled deliveries.
func (o *observer) record(on bool) ([]time.Duration, int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.recording = on
	s, u := o.samples, o.unsampled
	if on {
		o.samples, o.unsampled = make([]time.Duration, 0, 1<<18), 0
	}
	return s, u
}

// instance is one in-process journey, wired as `journey run` wires it
// (cmd/journey/run.go, serve): production defaults from config.Default,
// every processor with its default section, the real decoder, Pebble as
// configured (state.sync off while the changelog is on), and the Redis sink. Only the admin server is left out.
type instance struct {
	cfg   config.Config
	reg   *prometheus.Registry
	store *state.Store
	rdb   *redis.Client
	obs   *observer
	p     *pipeline.Pipeline
	// engine is the processors' engine; stopAPI stops serveAPI's server.
	engine  *journey.Engine
	stopAPI func()
	// warnings counts what journey logged at warn level or above (all is
	// printed to stderr as it happens).
	warnings atomic.Int64
	cancel   context.CancelFunc
	done     chan error
	start    time.Time
	dir      string
}

// enabledProcessors limits the processors (nil: all), from -processors.
var enabledProcessors []string

// changelogEnabled is -changelog: journey logs every round to its
// changelog topic, as journey run does by default.
var changelogEnabled = true

// batchRecords is -max-records: batch.max_records, 0 for the default.
var batchRecords int

// overlay is -set: YAML read over config.Default, as journey run reads
// --config, e.g. 'state: {sync: false}'.
var overlay string

// besideOverlay is -beside: YAML read over -set for the second journey
// run of each throughput pair; besideActive is set while that run starts.
var (
	besideOverlay string
	besideActive  bool
)

// benchConfig is config.Default with -set (and, for a -beside run,
// -beside) and -max-records applied.
func benchConfig() (config.Config, error) {
	cfg := config.Default()
	if err := cfg.Parse([]byte(overlay)); err != nil {
		return cfg, fmt.Errorf("-set: %w", err)
	}
	if besideActive {
		if err := cfg.Parse([]byte(besideOverlay)); err != nil {
			return cfg, fmt.Errorf("-beside: %w", err)
		}
	}
	if batchRecords > 0 {
		cfg.Batch.MaxRecords = batchRecords
	}
	cfg.Changelog.Enabled = changelogEnabled
	return cfg, nil
}

func startJourney(brokers []string, redisAddr, topic, dlq, group, prefix string) (*instance, error) {
	cfg, err := benchConfig()
	if err != nil {
		return nil, err
	}
	cfg.Kafka.Brokers = brokers
	cfg.Kafka.Topics = []string{topic}
	cfg.Kafka.DLQTopic = dlq
	cfg.Kafka.GroupID = group
	cfg.Redis.Addr = redisAddr
	cfg.Redis.Prefix = prefix
	cfg.Admin.Addr = ""
	cfg.API.Addr = ""
	dir, err := os.MkdirTemp("", "journey-bench-state-")
	if err != nil {
		return nil, err
	}
	cfg.State.Dir = dir
	if err := app.Validate(cfg); err != nil {
		return nil, err
	}
	in := &instance{cfg: cfg, dir: dir, obs: &observer{}, done: make(chan error, 1)}
	if err := in.wire(); err != nil {
		in.close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	in.start = time.Now()
	go func() { in.done <- in.p.Run(ctx) }()
	return in, nil
}

// wire follows serve() in cmd/journey/run.go step by step.
func (in *instance) wire() error {
	cfg := in.cfg
	cfg.ProcessorsEnabled = enabledProcessors
	app.TuneRuntime(cfg, os.Getenv) // as serve does
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(os.Stderr), zap.WarnLevel),
		zap.Hooks(func(zapcore.Entry) error { in.warnings.Add(1); return nil }))
	engine, err := app.Engine(cfg)
	if err != nil {
		return err
	}
	in.engine = engine
	dec, err := app.Decoder(cfg)
	if err != nil {
		return err
	}
	in.rdb = redis.NewClient(app.RedisOptions(cfg))
	snk, err := redissink.New(in.rdb, app.SinkConfig(cfg))
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	in.reg = prometheus.NewRegistry()
	m, err := metrics.New(in.reg)
	if err != nil {
		return err
	}
	in.store, err = state.Open(cfg.State.Dir, app.StoreOptions(cfg, log.Named("pebble")))
	if err != nil {
		return err
	}
	pc := app.PipelineConfig(cfg)
	pc.Observer = in.obs
	in.p, err = pipeline.New(pc, log, in.store, dec, engine, snk, m)
	return err
}

// waitFirst waits until the pipeline's fetcher has decoded its first
// records (journey_record_age_seconds is observed at every stage, fetched
// first). Not journey_records_in_total: that counts a round's
// records once it is committed, so a first commit of 100,000 records would
// count its whole fold as start-up.
func (in *instance) waitFirst(ctx context.Context) (time.Time, error) {
	for {
		if n, err := in.metric("journey_record_age_seconds_count"); err != nil {
			return time.Time{}, err
		} else if n > 0 {
			return time.Now(), nil
		}
		if err := in.alive(ctx); err != nil {
			return time.Time{}, err
		}
		time.Sleep(time.Millisecond)
	}
}

// waitDone waits until every partition's offset in the state store has
// reached ends (every record committed), every event is folded (identity
// routing forwards some to another partition) and every outbox is empty
// (every trigger and context update is in Redis).
func (in *instance) waitDone(ctx context.Context, topic string, ends map[int]int64) (time.Time, error) {
	var want float64
	for _, e := range ends {
		want += float64(e)
	}
	for {
		folded, err := in.metric("journey_events_folded_total")
		if err != nil {
			return time.Time{}, err
		}
		// Every link sent was merged (or refused as a conflict).
		ids, err := promsum.ByLabel(in.reg, "journey_identity_total", "what")
		if err != nil {
			return time.Time{}, err
		}
		conflicts, err := in.metric("journey_identity_conflicts_total")
		if err != nil {
			return time.Time{}, err
		}
		done := folded >= want && ids["merged"]+conflicts >= ids["linked"]
		for id, end := range ends {
			if end == 0 {
				continue
			}
			sp, err := in.store.Partition(id)
			if err != nil {
				return time.Time{}, err
			}
			offs, err := sp.Offsets()
			if err != nil {
				return time.Time{}, err
			}
			if offs[topic] < end || sp.OutboxDepth() > 0 {
				done = false
				break
			}
		}
		if done {
			return time.Now(), nil
		}
		if err := in.alive(ctx); err != nil {
			return time.Time{}, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (in *instance) alive(ctx context.Context) error {
	select {
	case err := <-in.done:
		in.done <- err
		return fmt.Errorf("journey stopped: %v", err)
	case <-ctx.Done():
		return ctx.Err()
	default:
		return nil
	}
}

// stop shuts the pipeline down as SIGTERM does and closes the store.
func (in *instance) stop() error {
	in.cancel()
	var err error
	select {
	case err = <-in.done:
	case <-time.After(60 * time.Second):
		err = errors.New("journey did not stop within 60s")
	}
	in.close()
	return err
}

func (in *instance) close() {
	if in.stopAPI != nil {
		in.stopAPI()
	}
	if in.store != nil {
		_ = in.store.Close()
	}
	if in.rdb != nil {
		_ = in.rdb.Close()
	}
	_ = os.RemoveAll(in.dir)
}

// metric sums a metric of the instance's registry (promsum.Sum).
func (in *instance) metric(name string) (float64, error) { return promsum.Sum(in.reg, name) }

// runJourney times one journey pass over the whole topic with a fresh
// group, state directory and Redis prefix, then checks the work: every
// record folded once, nothing dead-lettered or skipped, every trigger in
// its Redis stream and every customer's context hash present. The instance
// is returned running (caught up) when keep is set.
func runJourney(ctx context.Context, brokers []string, redisAddr, topic, dlq, group, prefix string,
	ends map[int]int64, customers int, profile func() func(), keep bool) (runResult, *instance, error) {
	res := runResult{Name: "journey"}
	var want int64
	for _, e := range ends {
		want += e
	}
	cpu := startCPU()
	stopProfile := profile()
	in, err := startJourney(brokers, redisAddr, topic, dlq, group, prefix)
	if err != nil {
		stopProfile()
		return res, nil, err
	}
	fail := func(err error) (runResult, *instance, error) {
		stopProfile()
		_ = in.stop()
		return res, nil, err
	}
	first, err := in.waitFirst(ctx)
	if err != nil {
		return fail(err)
	}
	done, err := in.waitDone(ctx, topic, ends)
	stopProfile()
	res.CPU = cpu.stop()
	if err != nil {
		return fail(err)
	}
	res.Events = want
	res.finish(in.start, first, done)

	// The counters are added just after a batch's Pebble commit, and the
	// dispatchers report just after their outbox delete: the checks are
	// polled until they hold, or for 10 s.
	var problems []string
	for deadline := time.Now().Add(10 * time.Second); ; {
		if problems, err = in.check(ctx, &res, prefix, want, customers); err != nil {
			return fail(err)
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	res.Warnings = in.warnings.Load()
	res.StateBytes = dirSize(in.dir)
	if len(problems) > 0 {
		return fail(fmt.Errorf("journey did not do the work:\n  %s", strings.Join(problems, "\n  ")))
	}
	if keep {
		return res, in, nil
	}
	return res, nil, in.stop()
}

// check reads the instance's counters and Redis into res and returns what
// does not add up: every record folded once, nothing dead-lettered or
// skipped, every trigger delivered once, a context hash per customer.
func (in *instance) check(ctx context.Context, res *runResult, prefix string, want int64, customers int) ([]string, error) {
	res.Triggers, res.Contexts = in.obs.triggers.Load(), in.obs.contexts.Load()
	checks := map[string]float64{}
	var err error
	for _, name := range []string{"journey_records_in_total", "journey_events_folded_total", "journey_events_duplicate_total",
		"journey_dlq_total", "journey_sink_errors_total", "journey_triggers_emitted_total", "journey_batch_records_count",
		"journey_batch_records_sum", "journey_batch_commit_seconds_sum"} {
		if checks[name], err = in.metric(name); err != nil {
			return nil, err
		}
	}
	if n := checks["journey_batch_records_count"]; n > 0 {
		res.MeanBatch = checks["journey_batch_records_sum"] / n
		res.MeanCommitMs = checks["journey_batch_commit_seconds_sum"] / n * 1000
	}
	var problems []string
	// Identity routing reads forwarded records too (events routed to their
	// customer's partition, links, merges): at least the topic's.
	if got := int64(checks["journey_records_in_total"]); got < want {
		problems = append(problems, fmt.Sprintf("%d records read, the topic holds %d", got, want))
	}
	if got := int64(checks["journey_events_folded_total"]); got != want {
		problems = append(problems, fmt.Sprintf("%d events folded, want %d", got, want))
	}
	for _, name := range []string{"journey_events_duplicate_total", "journey_dlq_total", "journey_sink_errors_total"} {
		if checks[name] != 0 {
			problems = append(problems, fmt.Sprintf("%s is %v, want 0", name, checks[name]))
		}
	}
	if got := int64(checks["journey_triggers_emitted_total"]); got != res.Triggers {
		problems = append(problems, fmt.Sprintf("%d triggers emitted but %d delivered", got, res.Triggers))
	}
	res.RedisTriggers, res.RedisContexts, err = redisCounts(ctx, in.rdb, prefix)
	if err != nil {
		return nil, err
	}
	if res.RedisTriggers != res.Triggers {
		problems = append(problems, fmt.Sprintf("%d triggers delivered but %d added to the Redis streams", res.Triggers, res.RedisTriggers))
	}
	// The profile processor writes context for every customer; without it
	// (-processors), a customer may have no context at all.
	// With identity routing, an anonymous id has a hash of its own too
	// (merged_into, or its journey while it stays anonymous).
	if wantAll := len(enabledProcessors) == 0 || slices.Contains(enabledProcessors, "profile"); res.RedisContexts > 2*int64(customers) ||
		wantAll && res.RedisContexts < int64(customers) {
		problems = append(problems, fmt.Sprintf("%d context hashes in Redis, want one per customer (%d) and per anonymous id", res.RedisContexts, customers))
	}
	return problems, nil
}

// redisCounts returns the entries ever added to the trigger streams under
// prefix (XINFO STREAM entries-added: trimming does not lower it) and the
// number of context hashes.
func redisCounts(ctx context.Context, rdb *redis.Client, prefix string) (triggers, contexts int64, err error) {
	var streams []string
	var cursor uint64
	for {
		var keys []string
		keys, cursor, err = rdb.Scan(ctx, cursor, prefix+"*", 10_000).Result()
		if err != nil {
			return 0, 0, err
		}
		for _, k := range keys {
			switch {
			case strings.HasPrefix(k, prefix+"ctx:"):
				contexts++
			case strings.HasPrefix(k, prefix+"triggers:"):
				streams = append(streams, k)
			}
		}
		if cursor == 0 {
			break
		}
	}
	slices.Sort(streams)
	for _, s := range streams {
		info, err := rdb.XInfoStream(ctx, s).Result()
		if err != nil {
			return 0, 0, fmt.Errorf("XINFO STREAM %s: %w", s, err)
		}
		triggers += info.EntriesAdded
	}
	return triggers, contexts, nil
}

// dirSize is the total size of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
