package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/journey-dev/journey/internal/kafkaio"
	"github.com/journey-dev/journey/pkg/metrics"
	"github.com/journey-dev/journey/pkg/state"
)

// ChangelogConfig configures the changelog topic that lets partitions move
// between instances with their state (DESIGN.md, "Scale-out").
type ChangelogConfig struct {
	// Topic is the compacted changelog topic; "" runs without one (a
	// partition's state then lives only in this instance's store).
	Topic string
	// Standbys is how many other instances keep a warm copy of each
	// partition (capped at the group's size minus one).
	Standbys int
	// Compression of the produced record batches (0: none, journey run's
	// default).
	Compression kafka.Compression
	// MaxBatchBytes bounds one round's changelog batch (default 32
	// MiB); the topic is created with max.message.bytes above it.
	MaxBatchBytes int
	// StaleAfter: a local copy whose position was last written longer ago
	// than this is restored from scratch, because the topic may have
	// dropped tombstones it never saw (delete.retention.ms, which journey
	// sets to twice this when it creates the topic). Default 12h.
	StaleAfter time.Duration
	// RestoreBatchBytes bounds one Pebble batch of restored records
	// (default 8 MiB).
	RestoreBatchBytes int
}

func (c *ChangelogConfig) setDefaults() {
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 32 << 20
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 12 * time.Hour
	}
	if c.RestoreBatchBytes <= 0 {
		c.RestoreBatchBytes = 8 << 20
	}
}

// opSet tags a changelog value that sets its key; a null value (Kafka's
// tombstone, which compaction understands) deletes it.
const opSet byte = 'S'

// Restore roles, as the metrics and the status report them.
const (
	roleActive  = "active"
	roleStandby = "standby"
)

// changelog produces a partition's rounds and restores partitions.
type changelog struct {
	cfg     ChangelogConfig
	brokers []string
	dialer  *kafka.Dialer
	admin   *kafkaio.Admin
	app     *kafkaio.Appender
	log     *zap.Logger
	m       *metrics.Set
}

func newChangelog(cfg ChangelogConfig, brokers []string, dialer *kafka.Dialer, log *zap.Logger, m *metrics.Set) *changelog {
	cfg.setDefaults()
	return &changelog{
		cfg: cfg, brokers: brokers, dialer: dialer, log: log, m: m,
		admin: kafkaio.NewAdmin(brokers, dialer, log),
		app: kafkaio.NewAppender(kafkaio.AppenderConfig{
			Brokers: brokers, Topic: cfg.Topic, Compression: cfg.Compression, MaxBatchBytes: cfg.MaxBatchBytes,
			ValuePrefix: []byte{opSet}, Log: log, Dialer: dialer,
			Appended: func(partition, records int, took time.Duration) {
				m.ChangelogAppend.Observe(took.Seconds())
				m.ChangelogRecords.WithLabelValues(strconv.Itoa(partition)).Add(float64(records))
			},
		}),
	}
}

// ensure creates the changelog topic (compacted, one partition per input
// partition) or checks the existing one.
func (c *changelog) ensure(ctx context.Context, partitions int) error {
	topic := c.cfg.Topic
	if n, ok := c.admin.Exists(ctx, topic); ok {
		if n != partitions {
			return fmt.Errorf("changelog.topic: %q has %d partitions and the input topics %d: a changelog must be co-partitioned with the input",
				topic, n, partitions)
		}
		return checkChangelogTopic(ctx, c.admin, topic, c.cfg.MaxBatchBytes)
	}
	err := c.admin.CreateTopic(ctx, changelogTopicConfig(c.cfg, partitions, -1))
	if err != nil {
		return fmt.Errorf("changelog.topic: %w", err)
	}
	c.log.Info("created changelog topic", zap.String("topic", topic), zap.Int("partitions", partitions))
	return nil
}

// logRecords is a round's changelog records as the appender takes
// them: the Pebble keys, and values the appender prefixes with opSet.
func logRecords(recs []state.LogRecord) []kafkaio.Record {
	out := make([]kafkaio.Record, len(recs))
	for i, r := range recs {
		out[i] = logRecord(r)
	}
	return out
}

func logRecord(r state.LogRecord) kafkaio.Record {
	return kafkaio.Record{Key: r.Key, Value: r.Value, Tombstone: r.Delete}
}

// check refuses a round over changelog.max_batch_bytes, which one
// produce request could not carry: a *kafkaio.BatchTooBigError, which the
// worker answers by folding the records again in two.
func (c *changelog) check(partition int, recs []kafkaio.Record) error {
	if err := c.app.Check(partition, recs); err != nil {
		return fmt.Errorf("changelog.max_batch_bytes: a round's changelog batch is too big: %w", err)
	}
	return nil
}

// append produces one round's records to the partition's changelog
// as ONE record batch, which Kafka appends all or nothing, and returns the
// offset after it. A failure is retried with the identical batch (applying
// a batch twice in a row equals applying it once) until it is acknowledged
// or ctx ends (errStopped: the batch must then be abandoned, and whoever
// opens the partition next restores whatever of it reached the log). The
// records are read until append returns, so the Pebble batch they come
// from commits or aborts after it.
func (c *changelog) append(ctx context.Context, partition int, recs []kafkaio.Record) (int64, error) {
	next, err := c.app.Append(ctx, partition, recs)
	if errors.Is(err, kafkaio.ErrStopped) {
		return 0, errStopped
	}
	if err != nil {
		return 0, fmt.Errorf("changelog: %w", err)
	}
	return next, nil
}

// close stops the appender; appends after it fail with errStopped.
func (c *changelog) close() { c.app.Close() }

// offsets returns the first and next offsets of the changelog partition.
// Errors are retried, with backoff, until ctx ends: right after the topic
// is created (or a leader moves) the broker answers "not leader" or
// "unknown" for a moment (those first retries are not logged), and a
// broker that is down for longer must not make the instance give the
// partition up, any more than the fetcher does.
func (c *changelog) offsets(ctx context.Context, partition int) (first, end int64, err error) {
	first, end, err = c.admin.Offsets(ctx, c.cfg.Topic, partition, 4)
	if err != nil {
		return 0, 0, fmt.Errorf("changelog: %w", err)
	}
	return first, end, nil
}

// restoreProgress receives a restore's figures as it goes.
type restoreProgress func(restored, remaining int64)

// restore brings sp's local copy up to the changelog's end as it is when
// the restore starts (follow false), or keeps applying the changelog until
// ctx ends (follow true: a standby). It returns how many records it
// applied. A local copy the log cannot continue (its position is before
// the log's start or after its end, or too old for the topic's tombstone
// retention) is dropped and rebuilt from the start. A partition holding
// state no changelog position covers must be republished first.
func (c *changelog) restore(ctx context.Context, sp *state.Partition, role string, follow bool, progress restoreProgress) (int64, error) {
	id := sp.ID()
	from, end, err := c.restoreRange(ctx, sp)
	if err != nil {
		return 0, err
	}
	r := &restorer{c: c, sp: sp, id: id, label: strconv.Itoa(id), role: role, follow: follow, progress: progress,
		from: from, next: from, end: end}
	remaining := max(end-from, 0)
	if role == roleActive {
		c.m.RestoreRemaining.WithLabelValues(r.label).Set(float64(remaining))
		defer c.m.RestoreRemaining.WithLabelValues(r.label).Set(0)
	}
	if progress != nil {
		progress(0, remaining)
	}
	if from >= end && !follow {
		return 0, nil
	}
	started := time.Now()
	c.log.Info("restoring from the changelog", zap.Int("partition", id), zap.String("role", role),
		zap.Int64("from", from), zap.Int64("to", end), zap.Int64("records", remaining))
	until := end
	if follow {
		until = -1
	}
	msgs, stop, err := kafkaio.Tail(ctx, c.brokers, c.dialer, c.log, c.cfg.Topic, id, from, until)
	if err != nil {
		return 0, err
	}
	defer stop()
	r.b = sp.NewRestoreBatch()
	r.counter = c.m.RestoredRecords.WithLabelValues(r.label, role)
	defer func() { r.b.Abort() }()
	if finished, err := r.apply(ctx, msgs); err != nil || !finished {
		return r.restored, err
	}
	secs := time.Since(started).Seconds()
	c.log.Info("partition restored", zap.Int("partition", id), zap.String("role", role), zap.Int64("records", r.restored),
		zap.Int64("to", r.next), zap.Float64("seconds", secs), zap.Float64("records_per_second", float64(r.restored)/max(secs, 1e-9)))
	return r.restored, nil
}

// restoreRange returns the changelog offsets a restore of sp applies: from
// the local copy's position (the log's start without one) to the log's end
// now. A local copy the log cannot continue is dropped first.
func (c *changelog) restoreRange(ctx context.Context, sp *state.Partition) (from, end int64, _ error) {
	id := sp.ID()
	first, end, err := c.offsets(ctx, id)
	if err != nil {
		return 0, 0, err
	}
	pos, err := sp.LogPosition()
	if err != nil {
		return 0, 0, err
	}
	if !pos.Found {
		return first, end, nil
	}
	reason := ""
	switch {
	case pos.Next < first:
		reason = "the changelog no longer holds its position"
	case pos.Next > end:
		reason = "its position is past the changelog's end (the topic was recreated?)"
	case pos.Next < end && time.Since(pos.At) > c.cfg.StaleAfter:
		reason = "it is older than changelog tombstones are kept"
	}
	if reason == "" {
		return pos.Next, end, nil
	}
	c.log.Warn("local copy cannot be continued from the changelog; restoring from scratch", zap.Int("partition", id),
		zap.String("reason", reason), zap.Int64("local", pos.Next), zap.Int64("log_start", first), zap.Int64("log_end", end))
	if err := sp.Drop(); err != nil {
		return 0, 0, err
	}
	return first, end, nil
}

// restorer applies changelog records to a partition in Pebble batches of
// changelog.restore_batch_bytes, each recording the position it reached.
type restorer struct {
	c        *changelog
	sp       *state.Partition
	id       int
	label    string
	role     string
	follow   bool
	progress restoreProgress
	counter  prometheus.Counter

	b        *state.RestoreBatch // records applied, not yet committed
	from     int64               // the position committed last
	next     int64               // the position after the last record applied
	end      int64               // the log's end: fixed, or (follow) its high watermark
	restored int64               // records committed
}

// apply applies the records of msgs until the log's end (follow false) or
// until ctx ends (follow true). What was applied is committed whenever no
// record is waiting, so a restore that catches up is durable and visible
// at once. It reports finished false when ctx ended while it waited for a
// record, and errStopped when msgs ended, with ctx, before the log's end.
func (r *restorer) apply(ctx context.Context, msgs <-chan kafka.Message) (finished bool, _ error) {
	lastLog := time.Now()
	for {
		var m kafka.Message
		var ok bool
		select {
		case m, ok = <-msgs:
		default:
			// Nothing waiting: make what was applied durable and visible.
			if err := r.flush(); err != nil {
				return false, err
			}
			select {
			case m, ok = <-msgs:
			case <-ctx.Done():
				return false, nil
			}
		}
		if !ok {
			if err := r.flush(); err != nil {
				return false, err
			}
			if ctx.Err() != nil && !r.follow && r.next < r.end {
				return false, errStopped
			}
			return true, nil
		}
		if err := r.record(m); err != nil {
			return false, err
		}
		if r.b.Len() >= r.c.cfg.RestoreBatchBytes {
			if err := r.flush(); err != nil {
				return false, err
			}
		}
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			r.c.log.Info("restoring", zap.Int("partition", r.id), zap.String("role", r.role), zap.Int64("restored", r.restored),
				zap.Int64("remaining", max(r.end-r.next, 0)))
		}
		if !r.follow && r.next >= r.end {
			return true, r.flush()
		}
	}
}

// record applies one changelog record: opSet and a value sets its key, a
// null value (tombstone) deletes it.
func (r *restorer) record(m kafka.Message) error {
	var value []byte
	if m.Value != nil {
		if len(m.Value) == 0 || m.Value[0] != opSet {
			return fmt.Errorf("changelog: partition %d offset %d: unknown record format", r.id, m.Offset)
		}
		value = m.Value[1:]
	}
	if err := r.b.Apply(m.Key, value, m.Value == nil); err != nil {
		return err
	}
	r.next = m.Offset + 1
	if r.follow && m.HighWaterMark > r.end {
		r.end = m.HighWaterMark // a standby's "remaining" is its lag behind the log
	}
	return nil
}

// flush commits the records applied with the position they reach, and
// reports the progress.
func (r *restorer) flush() error {
	if r.b.Count() == 0 && r.next == r.from {
		return nil
	}
	n := int64(r.b.Count())
	if err := r.b.Commit(r.next); err != nil {
		return err
	}
	r.restored += n
	r.counter.Add(float64(n))
	r.from = r.next
	r.b = r.sp.NewRestoreBatch()
	if r.progress != nil {
		r.progress(r.restored, max(r.end-r.next, 0))
	}
	if r.role == roleActive {
		r.c.m.RestoreRemaining.WithLabelValues(r.label).Set(float64(max(r.end-r.next, 0)))
	}
	return nil
}

// republish makes the changelog equal to the partition's local state,
// which no changelog position covers (a store written without the
// changelog, or promoted from a replay): a marker record, a tombstone for
// every logged key the local state lacks, every local key, and the
// marker's removal. Until the marker is removed, a restore of the
// partition elsewhere fails loudly instead of using half of it; an
// interrupted republish is started again by the next run of this store.
func (c *changelog) republish(ctx context.Context, sp *state.Partition) error {
	id := sp.ID()
	first, end, err := c.offsets(ctx, id)
	if err != nil {
		return err
	}
	c.log.Info("republishing local state to the changelog", zap.Int("partition", id), zap.Int64("log_records", end-first))
	var (
		chunk []kafkaio.Record
		size  int
		next  int64
		total int
	)
	send := func(force bool) error {
		if len(chunk) == 0 || (!force && size < c.cfg.MaxBatchBytes/4) {
			return nil
		}
		n, err := c.append(ctx, id, chunk)
		if err != nil {
			return err
		}
		total += len(chunk)
		next, chunk, size = n, nil, 0
		return nil
	}
	add := func(r kafkaio.Record) error {
		r.Key = slices.Clone(r.Key)
		r.Value = slices.Clone(r.Value)
		chunk = append(chunk, r)
		size += len(r.Key) + len(r.Value) + 16
		return send(false)
	}
	if err := add(logRecord(sp.RepublishMarker(false))); err != nil {
		return err
	}
	if err := send(true); err != nil {
		return err
	}
	if end > first {
		r := kafkaio.NewPartitionReader(c.brokers, c.dialer, c.cfg.Topic, id, nil)
		defer r.Close()
		if err := r.SetOffset(first); err != nil {
			return err
		}
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				return err
			}
			if m.Value != nil {
				has, err := sp.Has(m.Key)
				if err != nil {
					return err
				}
				if !has {
					if err := add(kafkaio.Record{Key: m.Key, Tombstone: true}); err != nil {
						return err
					}
				}
			}
			if m.Offset+1 >= end {
				break
			}
		}
	}
	if err := sp.ScanLocal(func(k, v []byte) error { return add(kafkaio.Record{Key: k, Value: v}) }); err != nil {
		return err
	}
	chunk = append(chunk, logRecord(sp.RepublishMarker(true)))
	if err := send(true); err != nil {
		return err
	}
	if err := sp.CommitRepublished(next); err != nil {
		return err
	}
	c.log.Info("republished", zap.Int("partition", id), zap.Int("records", total), zap.Int64("position", next))
	return nil
}

// RestoreResult is what RestoreStore did for one partition.
type RestoreResult struct {
	Partition int
	Restored  int64 // records applied
	Position  int64 // changelog offset the local copy reached
}

// RestoreStore brings the given partitions of store (every partition of
// the changelog when ids is empty) up to the end of cfg.Changelog.Topic,
// all at once: what `journey state restore` does to dump or pre-warm a
// state directory without joining the group.
func RestoreStore(ctx context.Context, cfg Config, log *zap.Logger, store *state.Store, m *metrics.Set, ids []int) ([]RestoreResult, error) {
	if cfg.Changelog.Topic == "" {
		return nil, errors.New("changelog.enabled: the configuration has no changelog")
	}
	cfg.setDefaults()
	if err := CheckBrokersWith(ctx, cfg.Brokers, cfg.Dialer, cfg.DialTimeout); err != nil {
		return nil, err
	}
	dialer := kafkaio.WithTimeout(cfg.Dialer, cfg.DialTimeout)
	c := newChangelog(cfg.Changelog, cfg.Brokers, dialer, log, m)
	if len(ids) == 0 {
		all, err := c.admin.PartitionIDs(ctx, c.cfg.Topic)
		if err != nil {
			return nil, fmt.Errorf("changelog.topic: %q: %w", c.cfg.Topic, err)
		}
		if len(all) == 0 {
			return nil, fmt.Errorf("changelog.topic: %q does not exist", c.cfg.Topic)
		}
		ids = all
	}
	out := make([]RestoreResult, len(ids))
	store.Share(len(ids)) // before the partitions open and load their dedup indexes
	g, gctx := errgroup.WithContext(ctx)
	for i, id := range ids {
		g.Go(func() error {
			sp, err := store.Partition(id)
			if err != nil {
				return err
			}
			if unlogged, err := sp.HasUnloggedState(); err != nil || unlogged {
				if err == nil {
					err = fmt.Errorf("partition %d holds state no changelog position covers (journey run republishes it)", id)
				}
				return err
			}
			n, err := c.restore(gctx, sp, roleActive, false, nil)
			if err != nil {
				return fmt.Errorf("partition %d: %w", id, err)
			}
			pos, err := sp.LogPosition()
			if err != nil {
				return err
			}
			out[i] = RestoreResult{Partition: id, Restored: n, Position: pos.Next}
			return nil
		})
	}
	return out, g.Wait()
}
