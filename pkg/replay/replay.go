// Package replay rebuilds journey state from the history in Kafka into a
// state directory of its own, without touching the live processor: it reads
// the input topics directly (no consumer group), every partition at once,
// through exactly the pipeline `journey run` uses (pkg/pipeline, wired by
// internal/app), and either emits nothing or writes triggers and contexts
// under a shadow Redis prefix so a new rule can be backtested. A replay records its plan in the state
// directory (Manifest), so one interrupted is resumed by running it again.
package replay

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/metrics"
	"github.com/journey-dev/journey/pkg/pipeline"
	"github.com/journey-dev/journey/pkg/sink"
	"github.com/journey-dev/journey/pkg/sink/memsink"
	"github.com/journey-dev/journey/pkg/sink/redissink"
	"github.com/journey-dev/journey/pkg/state"
)

// Trigger modes.
const (
	TriggersOff    = "off"    // emit nothing
	TriggersShadow = "shadow" // triggers and contexts under ShadowPrefix
)

// DefaultShadowPrefix is the Redis prefix of shadow triggers and contexts.
const DefaultShadowPrefix = "journey-shadow:"

// Options is one `journey replay`.
type Options struct {
	// Config is the processing configuration (processors, decoding,
	// timers, Kafka, Redis); Config.State.Dir is the replay's state dir.
	Config config.Config
	// From is "earliest", an RFC 3339 time, or a comma-separated list of
	// topic:partition:offset (only the listed partitions are replayed).
	From string
	// To, when non-zero, stops each partition before its first record
	// stamped at or after it.
	To time.Time
	// Triggers is TriggersOff or TriggersShadow.
	Triggers     string
	ShadowPrefix string
	// Processors limits the processors to these names (nil: all), as
	// processors.Build's enabled.
	Processors []string
	// Batch bounds one commit round (default 20000 records).
	Batch int
	// MaxRate, when > 0, paces the replay to about this many records a
	// second, so a backfill does not starve the live processor's broker.
	MaxRate float64
	// Progress, when set, is called about every ProgressEvery while the
	// replay runs, and once at the end.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Progress is a snapshot of a running replay, over all partitions.
type Progress struct {
	Elapsed   time.Duration
	Done      int64   // records committed in this run
	Remaining int64   // records left before the ends
	Rate      float64 // records/s over the last interval
	Finished  bool
}

// Fraction is the share of the replay done, 0..1.
func (p Progress) Fraction() float64 {
	if p.Done+p.Remaining == 0 {
		return 1
	}
	return float64(p.Done) / float64(p.Done+p.Remaining)
}

// ETA is the time left at the current rate (0 when unknown).
func (p Progress) ETA() time.Duration {
	if p.Rate <= 0 {
		return 0
	}
	return time.Duration(float64(p.Remaining) / p.Rate * float64(time.Second))
}

// ErrInterrupted is returned when the replay was stopped before its end; the
// state directory holds everything committed, and running the same replay
// again resumes.
var ErrInterrupted = errors.New("replay interrupted; run the same command again to resume")

// Validate checks the options, naming the offending one.
func (o *Options) Validate() error {
	switch o.Triggers {
	case TriggersOff, TriggersShadow:
	default:
		return fmt.Errorf("--triggers: %q is not off or shadow", o.Triggers)
	}
	if o.Triggers == TriggersShadow {
		if o.ShadowPrefix == "" {
			o.ShadowPrefix = DefaultShadowPrefix
		}
		if o.ShadowPrefix == o.Config.Redis.Prefix {
			return fmt.Errorf("--shadow-prefix: %q is the live prefix (redis.prefix); shadow triggers must not reach live streams", o.ShadowPrefix)
		}
	}
	if o.Batch < 0 {
		return fmt.Errorf("--batch: %d is negative", o.Batch)
	}
	if o.MaxRate < 0 {
		return fmt.Errorf("--max-rate: %v is negative", o.MaxRate)
	}
	if o.From == "" {
		return errors.New("--from: required (earliest, an RFC 3339 time, or topic:partition:offset,...)")
	}
	if o.Config.State.Dir == "" {
		return errors.New("--state-dir: required (a new directory, or one an interrupted replay left)")
	}
	return nil
}

// Run replays into o.Config.State.Dir and returns the manifest as it left
// it. Its error wraps ErrInterrupted when ctx ended first.
func Run(ctx context.Context, o Options, log *zap.Logger) (Manifest, error) {
	if err := o.Validate(); err != nil {
		return Manifest{}, err
	}
	cfg := o.Config
	app.TuneRuntime(cfg, os.Getenv)
	store, err := openStore(cfg, log)
	if err != nil {
		return Manifest{}, err
	}
	defer store.Close()

	// Stopped while starting is an interruption, not a failure.
	starting := func(err error) error {
		if ctx.Err() != nil {
			return ErrInterrupted
		}
		return err
	}
	// A broker that is not Kafka, or does not answer, fails here within
	// kafka.dial_timeout instead of hanging the first lookup.
	dialer, err := app.KafkaDialer(cfg)
	if err != nil {
		return Manifest{}, err
	}
	if err := pipeline.CheckBrokersWith(ctx, cfg.Kafka.Brokers, dialer, cfg.Kafka.DialTimeout); err != nil {
		return Manifest{}, starting(err)
	}
	m, err := begin(ctx, store, &o, log)
	if err != nil {
		return m, starting(err)
	}
	plan, err := planFor(ctx, cfg.Kafka.Brokers, dialer, cfg.Kafka.Topics, m.From, m.Ends, cfg.Kafka.DialTimeout)
	if err != nil {
		return m, starting(err)
	}
	plan.AdvanceTo = o.To
	m.Runs++
	if err := m.Save(store); err != nil {
		return m, err
	}

	reg := prometheus.NewRegistry()
	p, closeSink, err := wire(ctx, o, log, store, reg)
	if err != nil {
		return m, starting(err)
	}
	defer closeSink()
	runErr := replayWatched(ctx, p, store, plan, o)
	addTotals(&m, reg)
	if runErr == nil {
		// Shadow output left in the outbox (Redis down at the end) would
		// otherwise be delivered under the live prefix by a journey run
		// on a promoted dir: the replay is finished only once it is out.
		if n := outboxDepth(store, plan); n > 0 {
			runErr = fmt.Errorf("%d shadow triggers and context updates not delivered (is Redis up?); "+
				"run the same command again to deliver them and finish", n)
		}
	}
	return m, finish(ctx, store, &m, runErr)
}

// openStore opens the replay's state directory without an fsync per
// commit: a crash loses at most the unflushed tail, which a resume re-reads.
func openStore(cfg config.Config, log *zap.Logger) (*state.Store, error) {
	so := app.StoreOptions(cfg, log.Named("pebble"))
	so.Sync = false
	return state.Open(cfg.State.Dir, so)
}

// begin returns the manifest of the replay in store to resume it (and
// takes its trigger mode into o), or starts a new one: it resolves the end
// offsets and refuses a directory holding state of another origin.
func begin(ctx context.Context, store *state.Store, o *Options, log *zap.Logger) (Manifest, error) {
	cfg := &o.Config
	m, found, err := LoadManifest(store)
	if err != nil {
		return m, err
	}
	switch {
	case found && m.Done():
		return m, fmt.Errorf("--state-dir %s: this replay already finished at %s; replay into a new directory",
			cfg.State.Dir, m.Completed.Format(time.RFC3339))
	case found:
		if !slices.Equal(m.Topics, cfg.Kafka.Topics) {
			return m, fmt.Errorf("--state-dir %s: an unfinished replay of topics %v is there; this configuration reads %v",
				cfg.State.Dir, m.Topics, cfg.Kafka.Topics)
		}
		if m.From != o.From || m.Triggers != o.Triggers {
			log.Warn("resuming the replay in the state dir with its own plan", zap.String("from", m.From),
				zap.String("triggers", m.Triggers))
		}
		o.Triggers, o.ShadowPrefix = m.Triggers, m.ShadowPrefix
		o.To = time.Time{}
		if m.To != "" {
			if o.To, err = time.Parse(time.RFC3339Nano, m.To); err != nil {
				return m, fmt.Errorf("--state-dir %s: the replay's manifest: to %q: %w", cfg.State.Dir, m.To, err)
			}
		}
		return m, nil
	}
	m = Manifest{Topics: cfg.Kafka.Topics, From: o.From, Triggers: o.Triggers, ShadowPrefix: o.ShadowPrefix,
		Started: time.Now().UTC(), Fired: map[string]int64{}, Suppressed: map[string]int64{}}
	if !o.To.IsZero() {
		m.To = o.To.Format(time.RFC3339Nano)
	}
	dialer, err := app.KafkaDialer(*cfg)
	if err != nil {
		return m, err
	}
	if m.Ends, err = ends(ctx, cfg.Kafka.Brokers, dialer, cfg.Kafka.Topics, o.To, cfg.Kafka.DialTimeout); err != nil {
		return m, err
	}
	return m, refuseForeign(store, m.Ends)
}

// replayWatched runs p over plan while a goroutine reports progress.
func replayWatched(ctx context.Context, p *pipeline.Pipeline, store *state.Store, plan pipeline.ReplayPlan, o Options) error {
	done := make(chan struct{})
	progressStopped := make(chan struct{})
	go func() {
		defer close(progressStopped)
		watchProgress(store, plan, o, done)
	}()
	err := p.Replay(ctx, plan)
	close(done)
	<-progressStopped
	return err
}

// finish records the run's end in m: completed (after a flush of the
// store) when runErr is nil. It returns ErrInterrupted when ctx ended the
// run, else runErr.
func finish(ctx context.Context, store *state.Store, m *Manifest, runErr error) error {
	if runErr == nil {
		if err := store.Flush(); err != nil {
			return err
		}
		m.Completed = time.Now().UTC()
	}
	if err := m.Save(store); err != nil {
		return err
	}
	switch {
	case runErr == nil:
		return nil
	case ctx.Err() != nil:
		return ErrInterrupted
	default:
		return runErr
	}
}

// outboxDepth is the number of undelivered outbox entries of the plan's
// partitions.
func outboxDepth(store *state.Store, plan pipeline.ReplayPlan) int64 {
	seen := map[int]bool{}
	var n int64
	for _, parts := range plan.Ends {
		for id := range parts {
			if seen[id] {
				continue
			}
			seen[id] = true
			if sp, err := store.Partition(id); err == nil {
				n += sp.OutboxDepth()
			}
		}
	}
	return n
}

// refuseForeign refuses a state dir that holds state journey replay did not
// write (a live processor's, say): replaying into it would mix histories.
func refuseForeign(store *state.Store, ends map[string]map[int]int64) error {
	ids := map[int]bool{}
	for _, parts := range ends {
		for id := range parts {
			ids[id] = true
		}
	}
	store.Share(len(ids)) // before the partitions open and load their dedup indexes
	for topic, parts := range ends {
		for id := range parts {
			sp, err := store.Partition(id)
			if err != nil {
				return err
			}
			offs, err := sp.Offsets()
			if err != nil {
				return err
			}
			if _, ok := offs[topic]; ok {
				return fmt.Errorf("--state-dir: it already holds state (partition %d of %q) that journey replay did not "+
					"write (a live processor's?); replay into a new directory", id, topic)
			}
		}
	}
	return nil
}

// ends resolves where each partition's replay stops, each topic's lookup
// bounded by timeout.
func ends(ctx context.Context, brokers []string, dialer *kafka.Dialer, topics []string, to time.Time, timeout time.Duration) (map[string]map[int]int64, error) {
	out := map[string]map[int]int64{}
	for _, topic := range topics {
		tctx, cancel := context.WithTimeout(ctx, timeout)
		e, err := pipeline.EndOffsets(tctx, brokers, dialer, topic, to)
		cancel()
		if err != nil {
			return nil, err
		}
		out[topic] = e
	}
	return out, nil
}

// planFor resolves --from into start offsets and limits ends to the
// partitions it names; each topic's lookup is bounded by timeout.
func planFor(ctx context.Context, brokers []string, dialer *kafka.Dialer, topics []string, from string, allEnds map[string]map[int]int64,
	timeout time.Duration) (pipeline.ReplayPlan, error) {
	plan := pipeline.ReplayPlan{Starts: map[string]map[int]int64{}, Ends: map[string]map[int]int64{}}
	switch {
	case from == "earliest":
		for _, topic := range topics {
			plan.Ends[topic] = allEnds[topic]
			plan.Starts[topic] = map[int]int64{}
			for id := range allEnds[topic] {
				plan.Starts[topic][id] = kafka.FirstOffset
			}
		}
	case strings.Count(from, ":") >= 2 && !looksLikeTime(from):
		for _, item := range strings.Split(from, ",") {
			topic, id, off, err := parsePosition(item)
			if err != nil {
				return plan, err
			}
			if !slices.Contains(topics, topic) {
				return plan, fmt.Errorf("--from %q: topic %q is not an input topic (kafka.topics: %v)", item, topic, topics)
			}
			end, ok := allEnds[topic][id]
			if !ok {
				return plan, fmt.Errorf("--from %q: topic %q has no partition %d", item, topic, id)
			}
			if plan.Starts[topic] == nil {
				plan.Starts[topic], plan.Ends[topic] = map[int]int64{}, map[int]int64{}
			}
			plan.Starts[topic][id], plan.Ends[topic][id] = off, end
		}
	default:
		t, err := time.Parse(time.RFC3339Nano, from)
		if err != nil {
			return plan, fmt.Errorf("--from %q: want earliest, an RFC 3339 time (2026-11-01T00:00:00Z) or a topic:partition:offset list", from)
		}
		for _, topic := range topics {
			tctx, cancel := context.WithTimeout(ctx, timeout)
			starts, err := pipeline.StartOffsets(tctx, brokers, dialer, topic, t)
			cancel()
			if err != nil {
				return plan, err
			}
			plan.Starts[topic], plan.Ends[topic] = starts, allEnds[topic]
		}
	}
	return plan, nil
}

func looksLikeTime(s string) bool {
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

func parsePosition(item string) (topic string, partition int, offset int64, err error) {
	i := strings.LastIndexByte(item, ':')
	j := strings.LastIndexByte(item[:max(i, 0)], ':')
	if i < 0 || j <= 0 {
		return "", 0, 0, fmt.Errorf("--from %q: want topic:partition:offset", item)
	}
	topic = item[:j]
	if partition, err = strconv.Atoi(item[j+1 : i]); err != nil || partition < 0 {
		return "", 0, 0, fmt.Errorf("--from %q: partition %q is not a number >= 0", item, item[j+1:i])
	}
	if offset, err = strconv.ParseInt(item[i+1:], 10, 64); err != nil || offset < 0 {
		return "", 0, 0, fmt.Errorf("--from %q: offset %q is not a number >= 0", item, item[i+1:])
	}
	return topic, partition, offset, nil
}

// wire builds the pipeline the way `journey run` does (internal/app), with
// the replay's differences: no consumer group, large batches, no dead
// letters written again, and output off or under the shadow prefix. Its
// metrics are registered with reg. Shadow output needs Redis: it is
// pinged first, within kafka.dial_timeout.
func wire(ctx context.Context, o Options, log *zap.Logger, store *state.Store, reg *prometheus.Registry) (*pipeline.Pipeline, func(), error) {
	cfg := o.Config
	if o.Processors != nil {
		cfg.ProcessorsEnabled = o.Processors
	}
	ms, err := metrics.New(reg)
	if err != nil {
		return nil, nil, err
	}
	engine, err := app.Engine(cfg)
	if err != nil {
		return nil, nil, err
	}
	dec, err := app.Decoder(cfg)
	if err != nil {
		return nil, nil, err
	}
	var snk sink.Sink = memsink.New() // receives nothing with --triggers off
	closeSink := func() {}
	if o.Triggers == TriggersShadow {
		rdb, err := app.RedisClient(cfg)
		if err != nil {
			return nil, nil, err
		}
		if err := app.PingRedisConfig(ctx, cfg, rdb, cfg.Kafka.DialTimeout); err != nil {
			rdb.Close()
			return nil, nil, err
		}
		sc := app.SinkConfig(cfg)
		sc.Prefix = o.ShadowPrefix
		if snk, err = redissink.New(rdb, sc); err != nil {
			rdb.Close()
			return nil, nil, fmt.Errorf("redis: %w", err)
		}
		closeSink = func() { _ = rdb.Close() }
	}
	pc, err := replayConfig(cfg, o)
	if err != nil {
		closeSink()
		return nil, nil, err
	}
	p, err := pipeline.New(pc, log, store, dec, engine, snk, ms)
	if err != nil {
		closeSink()
		return nil, nil, err
	}
	return p, closeSink, nil
}

// replayConfig is cfg's pipeline configuration as a replay runs it.
func replayConfig(cfg config.Config, o Options) (pipeline.Config, error) {
	pc, err := app.SecurePipelineConfig(cfg)
	pc.MaxBatchRecords = o.Batch
	if pc.MaxBatchRecords <= 0 {
		pc.MaxBatchRecords = 20_000
	}
	pc.MaxRate = o.MaxRate
	pc.FetchMaxBytes = max(pc.FetchMaxBytes, 16<<20)
	pc.IdleAdvance = 0 // event time only: the wall clock says nothing about history
	pc.DiscardOutput = o.Triggers == TriggersOff
	pc.ShutdownFlush = max(pc.ShutdownFlush, time.Minute) // shadow output is delivered before a replay finishes
	pc.SkipDeadLetters = true
	return pc, err
}

// watchProgress reports progress from the state store's committed offsets
// until done is closed, then once more.
func watchProgress(store *state.Store, plan pipeline.ReplayPlan, o Options, done <-chan struct{}) {
	if o.Progress == nil {
		return
	}
	every := o.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	start := time.Now()
	read := func() (committed, remaining int64) {
		for _, topic := range slices.Sorted(maps.Keys(plan.Ends)) {
			for id, end := range plan.Ends[topic] {
				sp, err := store.Partition(id)
				if err != nil {
					continue
				}
				offs, err := sp.Offsets()
				if err != nil {
					continue
				}
				off, ok := offs[topic]
				if !ok {
					off = max(plan.Starts[topic][id], 0)
				}
				committed += off
				remaining += max(end-off, 0)
			}
		}
		return committed, remaining
	}
	first, _ := read()
	last, lastAt := first, start
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		finished := false
		select {
		case <-t.C:
		case <-done:
			finished = true
		}
		now := time.Now()
		committed, remaining := read()
		rate := float64(committed-last) / now.Sub(lastAt).Seconds()
		if finished {
			rate = float64(committed-first) / now.Sub(start).Seconds()
		}
		o.Progress(Progress{Elapsed: now.Sub(start), Done: committed - first, Remaining: remaining, Rate: rate, Finished: finished})
		last, lastAt = committed, now
		if finished {
			return
		}
	}
}

// addTotals adds this run's counts from its metrics to m.
func addTotals(m *Manifest, reg *prometheus.Registry) {
	if m.Fired == nil {
		m.Fired = map[string]int64{}
	}
	if m.Suppressed == nil {
		m.Suppressed = map[string]int64{}
	}
	mfs, err := reg.Gather()
	if err != nil {
		return
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			v := int64(mt.GetCounter().GetValue())
			label := map[string]string{}
			for _, l := range mt.GetLabel() {
				label[l.GetName()] = l.GetValue()
			}
			switch mf.GetName() {
			case "journey_records_in_total":
				m.Records += v
			case "journey_events_folded_total":
				m.Folded += v
			case "journey_dlq_total":
				m.DeadLettered += v
			case "journey_triggers_emitted_total":
				m.Fired[label["rule"]+" "+label["channel"]] += v
			case "journey_triggers_suppressed_total":
				m.Suppressed[label["rule"]+" "+label["reason"]] += v
			}
		}
	}
}
