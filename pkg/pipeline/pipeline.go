// Package pipeline is journey's processing protocol over Kafka input:
//
//   - assign: a consumer group over the input topics whose balancer
//     (StateBalancer, balancer.go) gives each partition number to the
//     member with the freshest copy of its state, and standbys as changelog
//     partitions (pipeline.go);
//   - restore: before its worker starts, a partition's local copy is
//     brought to the end of its changelog, or republished to it; what a
//     changelog record means and how it is applied (changelog.go);
//   - fold: the worker (worker.go) gathers rounds of records — a round is
//     the records folded, then committed, together — and decodes,
//     de-duplicates and folds each into the customers' states (round.go);
//   - commit: per round, the dead letters, then the changelog append, then
//     ONE Pebble batch of state, offsets and outbox entries (round.go);
//   - dispatch: one outbox dispatcher per partition delivers what was
//     committed to the sink.
//
// Replay (replay.go) runs the same worker over bounded offset ranges with no
// consumer group. CreateTopics and CheckTopics (topics.go, `journey
// topics`) create and check, ahead of Run, the topics Run checks and
// creates. The Kafka client plumbing — the shared fetcher, the
// changelog appender, topic admin, offset lookups — is internal/kafkaio;
// this package decides what is read and written, and in which order.
//
// "Group" means only the Kafka consumer group. See DESIGN.md for the commit
// protocol, the crash analysis and the changelog protocol.
package pipeline

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/journey-dev/journey/internal/kafkaio"
	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/metrics"
	"github.com/journey-dev/journey/pkg/outbox"
	"github.com/journey-dev/journey/pkg/sink"
	"github.com/journey-dev/journey/pkg/state"
)

// Start positions for partitions with no offset in the state store.
const (
	StartEarliest  = "earliest"  // replay the whole retained topic
	StartLatest    = "latest"    // only new events
	StartCommitted = "committed" // the group's committed offset, else earliest
)

// Config configures a Pipeline. Zero values take the defaults noted.
type Config struct {
	Brokers []string
	GroupID string
	Topics  []string
	// DLQTopic receives records that cannot be decoded; created when
	// missing with as many partitions as the input.
	DLQTopic string
	// DLQRedact writes dead letters without their value: the original
	// headers and key, the reason, the source offsets and the value's
	// length and SHA-256 (ingest.dlq_redact).
	DLQRedact bool
	// StartOffset applies to partitions the state store has no offset for.
	StartOffset string // default earliest
	// MaxBatchRecords and MaxBatchBytes (keys and values) bound one round,
	// the records folded then committed together (defaults 100000 and 32
	// MiB).
	MaxBatchRecords int
	MaxBatchBytes   int
	// Linger: a round that is not full waits up to this long in all
	// for more records (default 0: commit what is there).
	Linger time.Duration
	// BacklogWait: while a partition is behind its high watermark, a round
	// waits up to this long in all for more records to fill it (0:
	// none; records are folded as they arrive, and folding does not count).
	// A backlog is then worked through in few large commits, each customer
	// written once per commit rather than once per small one; a caught-up
	// partition commits what it has at once.
	BacklogWait time.Duration
	// FetchMaxWait bounds how long the broker holds a fetch at the end of
	// a partition (default 500ms). A fetch still returns as soon as a
	// record arrives (min bytes 1); the bound matters because kafka-go
	// asks the broker to wait 3/4 of it and gives up on the connection
	// (a reconnect, logged as "i/o timeout") when the answer takes longer
	// than all of it: too small a bound leaves so little slack that a busy
	// machine misses it and stalls on reconnects. FetchMaxBytes bounds
	// what one partition returns in one fetch (default 4 MiB).
	FetchMaxWait  time.Duration
	FetchMaxBytes int
	// OutboxMax pauses a partition's consumption while its outbox holds
	// this many undelivered entries (default 100000).
	OutboxMax int64
	// CommitInterval is how often the processed offsets are committed to
	// Kafka for lag visibility (default 1s). The state store's offsets are
	// the ones resumed from.
	CommitInterval time.Duration
	// ShutdownFlush bounds the outbox flush on shutdown/revocation (default 5s).
	ShutdownFlush time.Duration
	// SessionTimeout of the consumer group (default 10s).
	SessionTimeout time.Duration
	// DialTimeout bounds each network call of the start-up (default 10s):
	// the brokers' probe, the topic checks and creations, each connection
	// to a broker, the consumer group's first connection. A start-up that
	// meets an endpoint that is not Kafka, or a broker that does not
	// answer, fails within it instead of hanging.
	DialTimeout time.Duration
	// Identity, with a Topic, routes every event to its canonical
	// customer's partition through that topic, links ids and merges
	// customers (identity.go); the engine must then hold journey.Identity.
	Identity IdentityConfig
	// Privacy configures `journey forget` (forget.go).
	Privacy PrivacyConfig
	// Dialer, when set, carries the TLS and SASL of every connection to
	// the brokers (kafkaio.Dialer); its Timeout is replaced by
	// DialTimeout. nil: plaintext, no authentication.
	Dialer   *kafka.Dialer
	Dispatch outbox.Config
	// Observer, when set, receives every partition dispatcher's delivery
	// figures in addition to the metrics set: counts, and the exact
	// record-to-sink latency of each trigger and context update (the
	// metrics set only keeps histogram buckets). It is called from the
	// dispatcher goroutines, so it must be safe for concurrent use and
	// quick. Optional; the end-to-end benchmark (bench/e2e) uses it.
	Observer outbox.Observer

	// Lateness is subtracted from the newest event time to get a
	// partition's watermark, which fires timers (default 0).
	Lateness time.Duration
	// IdleAdvance, when > 0 (live mode), lets a partition that received
	// nothing advance its watermark to wall clock - IdleAdvance - Lateness,
	// so absence timers fire on a quiet partition. 0 (replay mode): event
	// time only.
	IdleAdvance time.Duration
	// MaxSkew, when > 0, bounds how far an event dated in the future moves
	// a partition's watermark: never past the record's Kafka timestamp
	// (the wall clock if that is later or absent) + MaxSkew. The event is
	// still folded; its timers wait for the watermark like any other.
	// Bounding by the record's timestamp, which the log keeps, makes a
	// replay fire timers as the live run did.
	MaxSkew time.Duration
	// LateEvents says what to do with an event older than the watermark:
	// LateApply (fold it; timers that fired stay fired) or LateDeadLetter.
	LateEvents string
	// DiscardOutput folds and commits state but appends no trigger or
	// context update to the outbox (journey replay --triggers off).
	// Triggers are still counted in the metrics.
	DiscardOutput bool
	// MaxRate, when > 0, paces Replay's reading to about this many records
	// a second over all partitions (a backfill that must not starve the
	// live processor's broker). Run ignores it.
	MaxRate float64
	// SkipDeadLetters counts undecodable records without writing them to
	// the dead-letter topic (a replay re-reads records whose dead letters
	// the live processor already wrote).
	SkipDeadLetters bool
	// ContextRefresh: a context update carries only the fields of the
	// processors whose state changed, except the first after a customer
	// is loaded and then one at least every ContextRefresh, which carry
	// every field (the hash may have expired, or been deleted). 0: every
	// update carries every field.
	ContextRefresh time.Duration
	// CustomerCache is how many customers stay decoded between batches,
	// shared evenly by the partitions this instance owns (0: none).
	CustomerCache int
	// RoundCustomers bounds the customers a round touches, shared evenly
	// by the partitions this instance owns: a round that has touched its
	// share takes no more records (0: no bound). With CustomerCache it
	// bounds the customers decoded at once.
	RoundCustomers int
	// FetchAhead bounds the bytes of the records fetched ahead of the
	// rounds (0: FetchMaxBytes per partition, fetchAhead records per
	// worker). Each fetcher's queued responses get half, divided by the
	// partitions it serves (within FetchMaxBytes a response); each
	// worker's input buffer the other half, divided by the partitions
	// owned, at 1 KiB a record (within fetchAhead).
	FetchAhead int64
	// Changelog, when its Topic is set, logs every round to a
	// compacted topic so partitions can move between instances with their
	// state (Run only; Replay writes its own store and never logs).
	Changelog ChangelogConfig
	// StallAfter: a partition behind its input that committed no round
	// for this long is reported stalled, and the instance not ready
	// (Status.Ready; default 2 min).
	StallAfter time.Duration
}

// Late-event policies.
const (
	LateApply      = "apply"
	LateDeadLetter = "dead_letter"
)

func (c *Config) setDefaults() {
	if c.StartOffset == "" {
		c.StartOffset = StartEarliest
	}
	if c.MaxBatchRecords <= 0 {
		c.MaxBatchRecords = 100_000
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 32 << 20
	}
	if c.FetchMaxWait <= 0 {
		c.FetchMaxWait = 500 * time.Millisecond
	}
	if c.FetchMaxBytes <= 0 {
		c.FetchMaxBytes = 4 << 20
	}
	if c.OutboxMax <= 0 {
		c.OutboxMax = 100_000
	}
	if c.CommitInterval <= 0 {
		c.CommitInterval = time.Second
	}
	if c.ShutdownFlush <= 0 {
		c.ShutdownFlush = 5 * time.Second
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = kafkaio.DefaultTimeout
	}
	if c.StallAfter <= 0 {
		c.StallAfter = 2 * time.Minute
	}
}

// Validate checks c, naming the offending field.
func (c *Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("kafka.brokers: at least one broker is required")
	case c.GroupID == "":
		return errors.New("kafka.group_id: required")
	case len(c.Topics) == 0:
		return errors.New("kafka.topics: at least one input topic is required")
	case c.DLQTopic == "":
		return errors.New("kafka.dlq_topic: required")
	case slices.Contains(c.Topics, c.DLQTopic):
		return fmt.Errorf("kafka.dlq_topic: %q is also an input topic", c.DLQTopic)
	case c.Changelog.Topic != "" && (slices.Contains(c.Topics, c.Changelog.Topic) || c.Changelog.Topic == c.DLQTopic):
		return fmt.Errorf("changelog.topic: %q is also an input or dead-letter topic", c.Changelog.Topic)
	case c.Changelog.Standbys < 0:
		return errors.New("changelog.standbys: must not be negative")
	}
	switch c.StartOffset {
	case "", StartEarliest, StartLatest, StartCommitted:
	default:
		return fmt.Errorf("kafka.start_offset: %q is not earliest, latest or committed", c.StartOffset)
	}
	switch c.LateEvents {
	case "", LateApply, LateDeadLetter:
	default:
		return fmt.Errorf("timers.late_events: %q is not apply or dead_letter", c.LateEvents)
	}
	if c.Lateness < 0 || c.IdleAdvance < 0 || c.MaxSkew < 0 {
		return errors.New("timers: lateness, idle_advance and max_skew must not be negative")
	}
	return nil
}

// Pipeline is a running journey processor instance.
type Pipeline struct {
	cfg     Config
	log     *zap.Logger
	store   *state.Store
	dec     *ingest.Decoder
	engine  *journey.Engine
	sink    sink.Sink
	metrics *metrics.Set
	dlq     *kafka.Writer
	// dlqMax is the dead-letter topic's max.message.bytes, read at start
	// (ensureDLQ) before any worker writes.
	dlqMax int
	// ledger is the forget ledger read at start (loadLedger): partition ->
	// forgotten id's hash -> when forgotten; read-only once workers run.
	ledger map[int]map[[sha256.Size]byte]int64
	dialer *kafka.Dialer

	// parts is the input topics' partition count (prepareTopics, or a
	// replay's plan): identity routing hashes ids over it. fwd produces
	// the forwarded records (nil with identity off).
	parts  int
	fwd    *forwarder
	router *replayRouter // a replay's forwards, in memory (replayroute.go)

	clog  *changelog // nil: no changelog
	admin *kafkaio.Admin
	// fetch reads the input partitions (Run and Replay); fetchRoute the
	// repartition topic's, on connections of its own: its partitions are
	// usually caught up, so a fetch of them waits on the broker (up to
	// kafka.fetch_max_wait), and the input's backlog must not wait behind
	// it (a fetcher has one request in flight per broker).
	fetch      *kafkaio.Fetcher
	fetchRoute *kafkaio.Fetcher

	mu         sync.Mutex
	joined     bool
	partitions map[int]PartitionStatus
	standbys   map[int]PartitionStatus
	owned      []int // active partitions of the current (or last) generation
	// kept holds, between generations, the runners (with their decoded
	// customers) of the partitions this instance processed last, so a
	// rebalance that hands a partition back unchanged costs no re-reads.
	kept map[int]*journey.Runner
	// genRoutines counts the partition goroutines of the generations
	// (start): the next generation waits for them, since kafka-go runs
	// a function started after its generation closed untracked.
	genRoutines sync.WaitGroup

	// api is the customer API's address this member advertises in the
	// group (SetAdvertisedAPI), for other members to proxy to.
	api atomic.Pointer[string]
	// partsPub is parts, for readers outside Run (Partitions).
	partsPub atomic.Int32
}

// SetAdvertisedAPI sets the customer API address (host:port) this
// instance advertises to the group at its next join, where other
// instances find it (Directory). Call it before Run.
func (p *Pipeline) SetAdvertisedAPI(addr string) { p.api.Store(&addr) }

func (p *Pipeline) advertisedAPI() string {
	if a := p.api.Load(); a != nil {
		return *a
	}
	return ""
}

// Partitions is the input topics' partition count once Run has prepared
// the topics (0 before).
func (p *Pipeline) Partitions() int { return int(p.partsPub.Load()) }

// New wires a pipeline. It does no I/O; Run checks the topics.
func New(cfg Config, log *zap.Logger, store *state.Store, dec *ingest.Decoder, engine *journey.Engine,
	s sink.Sink, m *metrics.Set) (*Pipeline, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("pipeline: nil metrics")
	}
	dialer := kafkaio.WithTimeout(cfg.Dialer, cfg.DialTimeout)
	var clog *changelog
	if cfg.Changelog.Topic != "" {
		clog = newChangelog(cfg.Changelog, cfg.Brokers, dialer, log, m)
	}
	var fwd *forwarder
	if cfg.Identity.Topic != "" {
		if engine.Processor(journey.IdentityName) == nil {
			return nil, errNoRoute
		}
		fwd = newForwarder(cfg.Brokers, cfg.Identity.Topic, cfg.Identity.ForgottenTopic, kafkaio.TransportFor(dialer, cfg.DialTimeout))
	}
	return &Pipeline{
		fwd:  fwd,
		clog: clog, admin: kafkaio.NewAdmin(cfg.Brokers, dialer, log),
		cfg: cfg, log: log, store: store, dec: dec, engine: engine, metrics: m, dialer: dialer,
		// The partitions' dispatchers deliver through one round trip at a
		// time, whatever is waiting merged into it.
		sink: sink.Coalesce(s),
		dlq: &kafka.Writer{
			Addr:         kafka.TCP(cfg.Brokers...),
			Topic:        cfg.DLQTopic,
			Balancer:     &kafka.Murmur2Balancer{},
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: 2 * time.Millisecond,
			BatchSize:    1000,
			MaxAttempts:  3,
			Transport:    kafkaio.TransportFor(dialer, cfg.DialTimeout),
		},
		partitions: map[int]PartitionStatus{},
		standbys:   map[int]PartitionStatus{},
	}, nil
}

// Status is what /readyz reports.
type Status struct {
	Joined     bool                    `json:"joined"`
	Partitions map[int]PartitionStatus `json:"partitions"`
	Standbys   map[int]PartitionStatus `json:"standbys,omitempty"`
	// Reason says why the instance is not ready (empty when it is): the
	// first partition, by number, that is not.
	Reason string `json:"reason,omitempty"`
}

// PartitionStatus is one partition's state on this instance.
type PartitionStatus struct {
	// State is "restoring" (applying the changelog), "ready" (processing),
	// "stalled" (ready, but behind its input with no round committed for
	// Config.StallAfter), "failed" (its worker stopped on Error) or, for a
	// standby, "standby".
	State string `json:"state"`
	// Restored counts the changelog records applied since the partition
	// was assigned; Remaining those left before it is ready.
	Restored  int64 `json:"restored"`
	Remaining int64 `json:"remaining"`
	// Delivery is "delivery failing: <reason>" from a failed delivery to
	// the sink until the next success (package outbox), else empty.
	Delivery string `json:"delivery,omitempty"`
	// Lag is how many input records the partition is behind: as of its
	// last commit, or more once a round took newer records. Progress is
	// when it last committed a round (or its worker started).
	Lag      int64     `json:"lag"`
	Progress time.Time `json:"progress,omitzero"`
	Error    string    `json:"error,omitempty"`
}

// Partition states.
const (
	StateRestoring = "restoring"
	StateReady     = "ready"
	StateStalled   = "stalled"
	StateFailed    = "failed"
	StateStandby   = "standby"
)

// Ready reports whether the instance has joined the group and every
// partition it was assigned is open and progressing (standbys do not
// count); Reason says why not.
func (s Status) Ready() bool { return s.Joined && s.Reason == "" }

// stall marks st stalled when it has been behind its input with no
// progress for longer than after, at now.
func (st *PartitionStatus) stall(now time.Time, after time.Duration) {
	if st.State == StateReady && st.Lag > 0 && !st.Progress.IsZero() && now.Sub(st.Progress) > after {
		st.State = StateStalled
	}
}

// reason is why partition id in state st is not ready ("" when it is).
func (st PartitionStatus) reason(id int, now time.Time) string {
	switch st.State {
	case StateReady:
		if st.Delivery != "" {
			return fmt.Sprintf("partition %d %s", id, st.Delivery)
		}
		return ""
	case StateRestoring:
		return fmt.Sprintf("partition %d restoring: %d changelog records applied, %d left", id, st.Restored, st.Remaining)
	case StateStalled:
		return fmt.Sprintf("partition %d stalled: no progress for %s with lag %d", id, now.Sub(st.Progress).Round(time.Second), st.Lag)
	case StateFailed:
		return fmt.Sprintf("partition %d failed: %s", id, st.Error)
	}
	return fmt.Sprintf("partition %d %s", id, st.State)
}

// status builds a Status at now: stalled partitions marked, the reason set.
func status(joined bool, parts, standbys map[int]PartitionStatus, now time.Time, stallAfter time.Duration) Status {
	s := Status{Joined: joined, Partitions: parts, Standbys: standbys}
	if !joined {
		s.Reason = "not a member of the consumer group yet"
	}
	for _, id := range slices.Sorted(maps.Keys(parts)) {
		st := parts[id]
		st.stall(now, stallAfter)
		parts[id] = st
		if r := st.reason(id, now); r != "" && s.Reason == "" {
			s.Reason = r
		}
	}
	return s
}

// Status returns the current group and partition status.
func (p *Pipeline) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return status(p.joined, maps.Clone(p.partitions), maps.Clone(p.standbys), time.Now(), p.cfg.StallAfter)
}

// PartitionState is active partition id's State (StateRestoring,
// StateReady...), and whether this instance holds it: Status for one
// partition, without copying the tables (the API asks per request; the
// lock is held for a map read).
func (p *Pipeline) PartitionState(id int) (string, bool) {
	p.mu.Lock()
	st, ok := p.partitions[id]
	p.mu.Unlock()
	st.stall(time.Now(), p.cfg.StallAfter)
	return st.State, ok
}

// setPartition updates an active partition's status (nil removes it).
func (p *Pipeline) setPartition(id int, f func(*PartitionStatus)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f == nil {
		delete(p.partitions, id)
		return
	}
	st := p.partitions[id]
	f(&st)
	p.partitions[id] = st
}

func (p *Pipeline) setStandby(id int, f func(*PartitionStatus)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f == nil {
		delete(p.standbys, id)
		return
	}
	st := p.standbys[id]
	f(&st)
	p.standbys[id] = st
}

// Run consumes until ctx is done (returning nil after a clean shutdown) or
// a fatal error occurs: check the topics → join the consumer group → per
// generation: assign → (per partition) restore → run the worker, which
// folds, commits and dispatches; per standby partition, follow the
// changelog.
//
// A state store write failure (disk full) stops the instance cleanly: it
// stops fetching, its workers stop (their commits fail at once), it leaves
// the group and returns the store's error (state.ErrWriteFailed), so the
// process exits instead of retrying on a disk that takes no writes.
func (p *Pipeline) Run(ctx context.Context) (err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.store.Failed():
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() {
		if serr := p.store.Err(); serr != nil {
			err = serr
		}
	}()
	defer p.dlq.Close()
	defer p.fwd.Close()
	// Closed after the consumer group (defers run last first), which
	// waits for the generation's workers.
	fetchers := 1
	if p.routed() {
		fetchers = 2 // the input's and the repartition topic's
	}
	p.fetch = p.newFetcher(p.metrics.RecordAge.WithLabelValues("fetched"), fetchers)
	defer p.fetch.Close()
	if p.routed() {
		p.fetchRoute = p.newFetcher(nil, fetchers)
		defer p.fetchRoute.Close()
	}
	if p.clog != nil {
		defer p.clog.close() // its appender; after the group too
	}
	if err := p.prepareTopics(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	dialer, cut := kafkaio.CuttableDialer(p.dialer)
	group, changelogTopic, err := p.joinGroup(dialer)
	if err != nil {
		return err
	}
	// Close leaves the group, so partitions move at once instead of after
	// the session timeout; it waits for the current generation's workers.
	// Stopped before the first generation, there is nothing to hand over:
	// the group's connections are cut, which ends a join the broker is
	// holding at once instead of after its rebalance delay.
	defer func() {
		if !p.Status().Joined {
			cut()
		}
		p.closeGroup(group)
		p.mu.Lock()
		p.joined = false
		p.mu.Unlock()
	}()

	fatal := make(chan error, 1)
	for {
		gen, err := group.Next(ctx)
		switch {
		case ctx.Err() != nil:
			return p.fatalOr(fatal, nil)
		case errors.Is(err, kafka.ErrGroupClosed):
			return p.fatalOr(fatal, nil)
		case err != nil:
			select {
			case ferr := <-fatal:
				return ferr
			default:
			}
			p.log.Warn("consumer group: joining", zap.Error(err))
			continue
		}
		select {
		case ferr := <-fatal:
			return ferr
		default:
		}
		p.metrics.Rebalances.Inc()
		p.start(ctx, gen, p.assign(gen, changelogTopic), fatal)
	}
}

// start runs gen's partitions, each on a goroutine of the generation:
// every active partition is restored, then processed by its worker (a
// failure is sent to fatal, which stops the instance); every standby
// partition follows its changelog.
func (p *Pipeline) start(ctx context.Context, gen *kafka.Generation, a assignment, fatal chan<- error) {
	// Before any partition opens (and loads its dedup index): once no
	// goroutine of the last generation uses them, the ones no longer held
	// give their memory back, and each held one gets its share of the
	// store's bounds.
	p.genRoutines.Wait()
	p.store.Release(func(id int) bool { return a.active[id] != nil || slices.Contains(a.standbys, id) })
	p.store.Share(len(a.ids) + len(a.standbys))
	for _, id := range a.ids {
		committed := a.active[id]
		p.genRoutines.Add(1)
		gen.Start(func(genCtx context.Context) {
			defer p.genRoutines.Done()
			err := p.runPartition(ctx, genCtx, gen, id, committed, len(a.ids))
			if err == nil {
				p.setPartition(id, nil)
				return
			}
			// Still assigned until the next generation: /readyz says why
			// it does not progress.
			p.setPartition(id, func(st *PartitionStatus) { st.State, st.Error = StateFailed, err.Error() })
			p.log.Error("partition failed", zap.Int("partition", id), zap.Error(err))
			select {
			case fatal <- fmt.Errorf("partition %d: %w", id, err):
			default:
			}
		})
	}
	for _, id := range a.standbys {
		p.genRoutines.Add(1)
		gen.Start(func(genCtx context.Context) {
			defer p.genRoutines.Done()
			defer p.setStandby(id, nil)
			octx, cancel := either(ctx, genCtx)
			defer cancel()
			if err := p.runStandby(octx, id); err != nil && !errors.Is(err, errStopped) && octx.Err() == nil {
				// A standby is an optimisation: log, do not stop the instance.
				p.log.Warn("standby stopped", zap.Int("partition", id), zap.Error(err))
			}
		})
	}
}

// prepareTopics checks that a bootstrap broker is a Kafka broker, that the
// input topics exist and are co-partitioned, and creates the dead-letter
// topic and the changelog topic (or checks the existing changelog), both
// with the input's partition count. Each network call is bounded by
// DialTimeout and ends when ctx does.
func (p *Pipeline) prepareTopics(ctx context.Context) error {
	if err := CheckBrokersWith(ctx, p.cfg.Brokers, p.cfg.Dialer, p.cfg.DialTimeout); err != nil {
		return err
	}
	n, err := p.checkTopics(ctx)
	if err == nil {
		p.resolveForgetRetention(ctx)
		err = p.ensureDLQ(ctx, n)
	}
	if err == nil && p.clog != nil {
		err = p.clog.ensure(ctx, n)
	}
	if err == nil && p.routed() {
		err = p.ensureRepartition(ctx, n)
	}
	if err == nil && p.routed() {
		err = p.ensureLedger(ctx)
	}
	if err == nil && p.routed() {
		err = p.loadLedger(ctx)
	}
	p.parts = n
	p.partsPub.Store(int32(n))
	return err
}

// joinGroup creates the consumer group over the input topics (and the
// changelog topic, whose partitions carry the standby assignments), with
// the StateBalancer, connecting with dialer; it joins when Next is first
// called.
func (p *Pipeline) joinGroup(dialer *kafka.Dialer) (group *kafka.ConsumerGroup, changelogTopic string, err error) {
	topics := p.inputs()
	if p.clog != nil {
		// Standby tasks are assigned as changelog partitions (kafka-go's
		// SyncGroup carries no assignment user data), so the group
		// subscribes to the changelog too; it never commits offsets there.
		changelogTopic = p.clog.cfg.Topic
		topics = append(slices.Clone(topics), changelogTopic)
	}
	balancer := &StateBalancer{Inputs: p.inputs(), Changelog: changelogTopic, Local: p.memberState}
	v2 := *balancer
	v2.V2 = true
	group, err = kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                p.cfg.GroupID,
		Brokers:           p.cfg.Brokers,
		Dialer:            dialer,
		Topics:            topics,
		GroupBalancers:    []kafka.GroupBalancer{&v2, balancer},
		HeartbeatInterval: p.cfg.SessionTimeout / 5,
		SessionTimeout:    p.cfg.SessionTimeout,
		RebalanceTimeout:  30 * time.Second,
		JoinGroupBackoff:  500 * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
		ErrorLogger:       kafkaio.ErrorLogger(p.log),
	})
	if err != nil {
		return nil, "", fmt.Errorf("pipeline: consumer group: %w", err)
	}
	return group, changelogTopic, nil
}

// assignment is what this instance got in one generation.
type assignment struct {
	ids      []int                    // active partitions, ascending
	active   map[int]map[string]int64 // partition -> topic -> the group's committed offset
	standbys []int                    // standby partitions, ascending
}

// assign reads gen's assignment and makes it the instance's status: the
// active partitions restoring, the standbys standing by. Runners kept for
// partitions that moved away are dropped: their copies will change.
func (p *Pipeline) assign(gen *kafka.Generation, changelogTopic string) assignment {
	a := assignment{active: map[int]map[string]int64{}}
	for topic, as := range gen.Assignments {
		for _, pa := range as {
			if topic == changelogTopic {
				a.standbys = append(a.standbys, pa.ID)
				continue
			}
			if a.active[pa.ID] == nil {
				a.active[pa.ID] = map[string]int64{}
			}
			a.active[pa.ID][topic] = pa.Offset
		}
	}
	a.ids = slices.Sorted(maps.Keys(a.active))
	slices.Sort(a.standbys)
	p.log.Info("generation joined", zap.Int32("generation", gen.ID), zap.String("member", gen.MemberID),
		zap.Ints("partitions", a.ids), zap.Ints("standbys", a.standbys))
	p.mu.Lock()
	p.joined = true
	p.owned = a.ids
	p.partitions = map[int]PartitionStatus{}
	for _, id := range a.ids {
		p.partitions[id] = PartitionStatus{State: StateRestoring}
	}
	for id := range p.kept {
		if _, ok := a.active[id]; !ok {
			delete(p.kept, id)
		}
	}
	p.standbys = map[int]PartitionStatus{}
	for _, id := range a.standbys {
		p.standbys[id] = PartitionStatus{State: StateStandby}
	}
	p.mu.Unlock()
	p.metrics.PartitionsOwned.Set(float64(len(a.ids)))
	p.metrics.StandbysOwned.Set(float64(len(a.standbys)))
	return a
}

// runPartition opens partition id (restore or republish), then runs its
// worker until the generation ends or the pipeline stops. committed is
// the group's committed offset of each topic, owned how many partitions
// this instance was assigned. Being stopped while opening is no failure
// (nil); an error returned is fatal to the instance.
func (p *Pipeline) runPartition(ctx, genCtx context.Context, gen *kafka.Generation, id int, committed map[string]int64, owned int) error {
	octx, cancel := either(ctx, genCtx)
	changed, err := p.openPartition(octx, id)
	// Stopping or a new generation in the middle of opening (a lookup
	// cancelled, the broker answering a cancelled request with an error)
	// is not a failure.
	ended := octx.Err() != nil
	cancel()
	if errors.Is(err, errStopped) || err != nil && ended {
		return nil
	}
	kept := p.takeRunner(id)
	if changed {
		kept = nil // the changelog brought changes the runner's customers lack
	}
	var w *worker
	if err == nil {
		w, err = p.newWorker(id, gen, committed, owned, kept)
	}
	if err == nil {
		err = w.run(ctx, genCtx)
	}
	if err != nil {
		return err
	}
	p.keepRunner(id, w.runner)
	return nil
}

// either returns a context that ends when a or b does.
func either(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(a)
	stop := context.AfterFunc(b, cancel)
	return ctx, func() { stop(); cancel() }
}

// memberState is what this instance advertises when it joins the group:
// the partitions it processed in the last generation and the changelog
// position of every local copy it holds.
func (p *Pipeline) memberState() MemberState {
	p.mu.Lock()
	owned := slices.Clone(p.owned)
	p.mu.Unlock()
	ms := MemberState{Owned: owned, API: p.advertisedAPI()}
	if p.clog == nil {
		return ms
	}
	ms.Standbys = p.clog.cfg.Standbys
	offs, err := p.store.LogPositions()
	if err != nil {
		p.log.Warn("reading local changelog positions; advertising none", zap.Error(err))
		return ms
	}
	ms.Offsets = offs
	return ms
}

func (p *Pipeline) takeRunner(id int) *journey.Runner {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.kept[id]
	delete(p.kept, id)
	return r
}

func (p *Pipeline) keepRunner(id int, r *journey.Runner) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.kept == nil {
		p.kept = map[int]*journey.Runner{}
	}
	p.kept[id] = r
}

// openPartition makes the local copy of partition id current before its
// worker starts: a republish when the store holds state no changelog
// position covers, otherwise a restore of the changelog's tail (nothing
// when this instance wrote it last). changed reports whether the local
// copy changed since this instance last processed the partition.
func (p *Pipeline) openPartition(ctx context.Context, id int) (changed bool, err error) {
	if p.clog == nil {
		return false, nil
	}
	sp, err := p.store.Partition(id)
	if err != nil {
		return false, err
	}
	changed = sp.Stale()
	defer func() {
		if err == nil {
			err = sp.ReloadIfStale()
		}
	}()
	sp.EnableLog()
	unlogged, err := sp.HasUnloggedState()
	if err != nil {
		return false, err
	}
	if unlogged {
		if err := p.clog.republish(ctx, sp); err != nil {
			return true, fmt.Errorf("republish to the changelog: %w", err)
		}
		return true, nil
	}
	n, err := p.clog.restore(ctx, sp, roleActive, false, func(restored, remaining int64) {
		p.setPartition(id, func(st *PartitionStatus) { st.Restored, st.Remaining = restored, remaining })
	})
	changed = changed || n > 0 || sp.Stale()
	if err != nil {
		return changed, err
	}
	if ctx.Err() != nil {
		return changed, errStopped
	}
	if rep, err := sp.Republishing(); err != nil || rep {
		if err == nil {
			err = fmt.Errorf("changelog.topic: partition %d's changelog ends inside an unfinished republish by another instance "+
				"(its store holds the state no changelog has): restart that instance so it finishes", id)
		}
		return changed, err
	}
	return changed, nil
}

// runStandby keeps the local copy of partition id warm by applying its
// changelog until the generation ends.
func (p *Pipeline) runStandby(ctx context.Context, id int) error {
	sp, err := p.store.Partition(id)
	if err != nil {
		return err
	}
	if unlogged, err := sp.HasUnloggedState(); err != nil || unlogged {
		if err == nil {
			p.log.Warn("not a standby for a partition whose local state is not logged", zap.Int("partition", id))
		}
		return err
	}
	_, err = p.clog.restore(ctx, sp, roleStandby, true, func(restored, remaining int64) {
		p.setStandby(id, func(st *PartitionStatus) { st.Restored, st.Remaining = restored, remaining })
	})
	return err
}

// closeGroup leaves the group once the generation's workers returned.
// After a store write failure a worker may be held inside Pebble for good:
// the wait is then bounded, and the group's session timeout moves the
// partitions if it runs out.
func (p *Pipeline) closeGroup(group *kafka.ConsumerGroup) {
	if p.store.Err() == nil {
		_ = group.Close()
		return
	}
	closed := make(chan struct{})
	go func() { _ = group.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(p.cfg.ShutdownFlush + p.cfg.SessionTimeout):
		p.log.Error("consumer group not left: a worker did not return after the state store failed")
	}
}

func (p *Pipeline) fatalOr(fatal chan error, err error) error {
	select {
	case ferr := <-fatal:
		return ferr
	default:
		return err
	}
}

// newFetcher returns a fetcher of input partitions; fetched, when set,
// observes the age of each partition's last fetched record. Its queued
// responses get the fetchers' half of FetchAhead, divided by shared (the
// fetchers that share it).
func (p *Pipeline) newFetcher(fetched prometheus.Observer, shared int) *kafkaio.Fetcher {
	queued := p.cfg.FetchAhead / 2 / int64(shared)
	return kafkaio.NewFetcher(kafkaio.FetcherConfig{Brokers: p.cfg.Brokers, MaxBytes: p.cfg.FetchMaxBytes,
		MaxQueued: queued, MaxWait: p.cfg.FetchMaxWait, Log: p.log.Named("fetch"), Fetched: fetched, Dialer: p.dialer})
}

// CheckBrokers asks the bootstrap brokers, all at once, for their
// ApiVersions (kafkaio.ProbeBrokers) and fails unless one answers as a
// Kafka broker within timeout: the first that answers is enough. The error
// names kafka.brokers and each address with what it did instead
// ("kafka.brokers 127.0.0.1:1: connection refused", "kafka.brokers
// 127.0.0.1:8080: not a Kafka broker (no ApiVersions answer in 10s)"), or
// is ctx's error when ctx ended first.
func CheckBrokers(ctx context.Context, brokers []string, timeout time.Duration) error {
	return CheckBrokersWith(ctx, brokers, nil, timeout)
}

// CheckBrokersWith is CheckBrokers connecting with dialer's TLS and SASL
// (nil: plaintext): a TLS handshake or SASL exchange that fails is an
// error naming the kafka.tls or kafka.sasl setting to fix.
func CheckBrokersWith(ctx context.Context, brokers []string, dialer *kafka.Dialer, timeout time.Duration) error {
	_, err := kafkaio.ProbeBrokers(ctx, "kafka.brokers", brokers, kafkaio.WithTimeout(dialer, timeout), timeout)
	return err
}

// checkTopics verifies every input topic exists and that they are
// co-partitioned, returning the partition count.
func (p *Pipeline) checkTopics(ctx context.Context) (int, error) {
	counts, err := p.admin.PartitionCounts(ctx, p.cfg.Topics)
	var te *kafkaio.TopicError
	switch {
	case errors.As(err, &te):
		return 0, fmt.Errorf("kafka.topics: %w", err)
	case err != nil:
		return 0, fmt.Errorf("pipeline: %w", err)
	}
	for _, t := range p.cfg.Topics {
		if counts[t] == 0 {
			return 0, fmt.Errorf("kafka.topics: topic %q does not exist (journey topics create makes the configuration's topics)", t)
		}
	}
	n := counts[p.cfg.Topics[0]]
	for _, t := range p.cfg.Topics[1:] {
		if counts[t] != n {
			return 0, fmt.Errorf("kafka.topics: input topics must be co-partitioned (same partition count): %q has %d, %q has %d",
				p.cfg.Topics[0], n, t, counts[t])
		}
	}
	return n, nil
}

// observers fans delivery figures out to several observers.
type observers []outbox.Observer

func (obs observers) Delivered(partition int, triggers, contexts int, latencies []time.Duration) {
	for _, o := range obs {
		o.Delivered(partition, triggers, contexts, latencies)
	}
}

func (obs observers) DeliveryFailed(partition int, err error) {
	for _, o := range obs {
		o.DeliveryFailed(partition, err)
	}
}

func (obs observers) Handed(partition int, age, took time.Duration) {
	for _, o := range obs {
		o.Handed(partition, age, took)
	}
}

func (obs observers) Depth(partition int, depth int64) {
	for _, o := range obs {
		o.Depth(partition, depth)
	}
}

// observer is what the dispatchers report to: the metrics set, the
// partitions' status, plus Config.Observer when set.
func (p *Pipeline) observer() outbox.Observer {
	obs := observers{p.metrics, deliveryStatus{p}}
	if p.cfg.Observer != nil {
		obs = append(obs, p.cfg.Observer)
	}
	return obs
}

// deliveryStatus keeps PartitionStatus.Delivery (so /readyz) from the
// dispatchers' reports.
type deliveryStatus struct{ p *Pipeline }

func (d deliveryStatus) set(partition int, v string) {
	d.p.mu.Lock()
	defer d.p.mu.Unlock()
	if st, ok := d.p.partitions[partition]; ok && st.Delivery != v {
		st.Delivery = v
		d.p.partitions[partition] = st
	}
}

func (d deliveryStatus) Delivered(partition int, _, _ int, _ []time.Duration) { d.set(partition, "") }
func (d deliveryStatus) DeliveryFailed(partition int, err error) {
	d.set(partition, "delivery failing: "+sink.Reason(err))
}
func (deliveryStatus) Handed(int, time.Duration, time.Duration) {}
func (deliveryStatus) Depth(int, int64)                         {}
