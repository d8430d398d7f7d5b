// Package metrics holds journey's Prometheus metrics: one Set, created
// against a registry and injected into the pipeline and the dispatchers.
// There are no package-level collectors.
package metrics

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/journey-dev/journey/pkg/sink"
)

// Set is every metric journey exports. The pipeline requires one (tests
// build it on a fresh prometheus.Registry); only its outbox.Observer
// methods accept a nil *Set.
type Set struct {
	RecordsIn    *prometheus.CounterVec // topic, partition
	EventsFolded *prometheus.CounterVec // topic, partition
	Duplicates   *prometheus.CounterVec // topic, partition
	DeadLettered *prometheus.CounterVec // reason
	// DeadLettersTruncated counts dead letters written without their value.
	DeadLettersTruncated prometheus.Counter
	TriggersEmitted      *prometheus.CounterVec // rule, channel
	TriggersOut          *prometheus.CounterVec // partition
	TriggersSuppressed   *prometheus.CounterVec // rule, reason
	LateEvents           *prometheus.CounterVec // topic, partition
	TimersDropped        *prometheus.CounterVec // processor, reason
	EventsIgnored        *prometheus.CounterVec // processor, reason; journey.Output.Ignored
	// Identity counts the identity table's work by what happened: routed
	// (an event forwarded to its canonical customer's partition), linked,
	// merged, limit (identity.max_ids_per_customer reached).
	Identity *prometheus.CounterVec // what
	// IdentityConflicts counts links refused because the id belongs to
	// another customer already (a shared device).
	IdentityConflicts prometheus.Counter
	ContextsOut       *prometheus.CounterVec   // partition
	SinkErrors        *prometheus.CounterVec   // partition, kind (retriable|fatal)
	DeliveryFailures  *prometheus.CounterVec   // reason (sink.Reason: noperm, wrongtype, unavailable...)
	DeliveryFailing   *prometheus.GaugeVec     // partition; 1 from a failed delivery to the next success
	BatchCommit       prometheus.Histogram     // seconds
	BatchSize         prometheus.Histogram     // records
	EventToSink       prometheus.Histogram     // seconds, record timestamp -> sink ack
	RecordAge         *prometheus.HistogramVec // stage; seconds, a round's last record timestamp -> the stage
	SinkDeliver       prometheus.Histogram     // seconds, one dispatcher batch handed to the sink -> accepted
	OutboxDepth       *prometheus.GaugeVec     // partition
	ConsumerLag       *prometheus.GaugeVec     // topic, partition
	PartitionsOwned   prometheus.Gauge         //
	BackpressureWait  *prometheus.CounterVec   // partition; seconds paused on a full outbox
	Rebalances        prometheus.Counter       //

	ChangelogRecords *prometheus.CounterVec // partition; records produced to the changelog
	ChangelogAppend  prometheus.Histogram   // seconds per changelog append (one per round)
	RestoredRecords  *prometheus.CounterVec // partition, role (active|standby); changelog records applied
	RestoreRemaining *prometheus.GaugeVec   // partition; records left to restore before the partition is ready
	StandbysOwned    prometheus.Gauge       //

	// Forgotten counts the ids `journey forget` erased; ForgottenEvents
	// the events (and links, merges) of forgotten ids dropped since.
	Forgotten       prometheus.Counter
	ForgottenEvents prometheus.Counter
	// ForgetsExpired counts the forgotten ids' hashes dropped after
	// privacy.forget_retention.
	ForgetsExpired prometheus.Counter
}

// New registers the metrics with reg.
func New(reg prometheus.Registerer) (*Set, error) {
	f := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "journey", Name: name, Help: help}, labels)
	}
	s := &Set{
		RecordsIn:          f("records_in_total", "Kafka records read from input topics.", "topic", "partition"),
		EventsFolded:       f("events_folded_total", "Valid, new events folded into state.", "topic", "partition"),
		Duplicates:         f("events_duplicate_total", "Events skipped because their id was seen within the dedup window.", "topic", "partition"),
		DeadLettered:       f("dlq_total", "Records written to the dead-letter topic, by failure type.", "reason"),
		TriggersEmitted:    f("triggers_emitted_total", "Triggers committed to the outbox.", "rule", "channel"),
		TriggersOut:        f("triggers_delivered_total", "Triggers the sink accepted (including idempotent redeliveries).", "partition"),
		TriggersSuppressed: f("triggers_suppressed_total", "Triggers the contact policy stopped, by rule and reason.", "rule", "reason"),
		LateEvents:         f("events_late_total", "Events older than their partition's watermark.", "topic", "partition"),
		TimersDropped:      f("timers_dropped_total", "Timers disarmed unfired: their processor's OnTimer failed.", "processor", "reason"),
		EventsIgnored:      f("events_ignored_total", "Events a processor ignored for lacking a property it needs (the others still folded them).", "processor", "reason"),
		Identity:           f("identity_total", "Identity routing: events routed to their canonical customer's partition, ids linked, customers merged, links refused at identity.max_ids_per_customer (limit).", "what"),
		IdentityConflicts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "journey", Name: "identity_conflicts_total",
			Help: "Links refused because the id belongs to another customer already (a shared device): it stays with the first."}),
		ContextsOut:      f("contexts_delivered_total", "Customer context updates the sink accepted.", "partition"),
		SinkErrors:       f("sink_errors_total", "Failed sink deliveries.", "partition", "kind"),
		DeliveryFailures: f("delivery_failures_total", "Failed sink deliveries, by reason (noperm, noauth, wrongtype, unavailable...).", "reason"),
		DeliveryFailing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "journey", Name: "delivery_failing",
			Help: "1 while a partition's deliveries fail (its outbox kept, retried with backoff), else 0."}, []string{"partition"}),
		BackpressureWait: f("backpressure_seconds_total",
			"Seconds a partition paused consumption because its outbox was full.", "partition"),
		BatchCommit: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "journey", Name: "batch_commit_seconds",
			Help: "Time to commit one Pebble batch (state + offsets + outbox).", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "journey", Name: "batch_records",
			Help: "Records per round.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		EventToSink: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "journey", Name: "event_to_sink_seconds",
			Help: "From the causing record's Kafka timestamp to the sink accepting the trigger or context update.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18)}),
		RecordAge: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "journey", Name: "record_age_seconds",
			Help: "Live mode: the age of a round's last record (from its Kafka timestamp) as the batch reaches each stage: " +
				"fetched (the fetcher decoded it), started (its worker began folding the group: the age of the newest record it had then), logged (the changelog acknowledged the batch), " +
				"committed (the Pebble batch is committed), dispatched (its partition's dispatcher handed the entries to the sink: the age of the newest record behind them). " +
				"With event_to_sink_seconds, where the latency goes.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 1.25, 48)}, []string{"stage"}),
		SinkDeliver: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "journey", Name: "sink_deliver_seconds",
			Help: "Time the sink (Redis) took to accept one dispatcher's batch, waiting for a shared round included.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}),
		OutboxDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "journey", Name: "outbox_depth",
			Help: "Outbox entries waiting for delivery."}, []string{"partition"}),
		ConsumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "journey", Name: "consumer_lag",
			Help: "Records between the last one processed and the partition's high watermark."}, []string{"topic", "partition"}),
		PartitionsOwned: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "journey", Name: "partitions_owned",
			Help: "Input partitions this instance currently processes."}),
		Rebalances: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "journey", Name: "generations_total",
			Help: "Consumer-group generations joined."}),
		ChangelogRecords: f("changelog_records_total", "Records produced to the changelog topic.", "partition"),
		ChangelogAppend: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "journey", Name: "changelog_append_seconds",
			Help: "Time to append one round to the changelog (acks=all).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		RestoredRecords: f("changelog_restored_records_total", "Changelog records applied to the local state (role: active restore or standby).", "partition", "role"),
		RestoreRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "journey", Name: "changelog_restore_remaining_records",
			Help: "Changelog records a restoring partition still has to apply."}, []string{"partition"}),
		DeadLettersTruncated: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "journey", Name: "dlq_truncated_total",
			Help: "Dead letters written without their value (its length and SHA-256 in headers): the dead-letter topic's max.message.bytes could not carry them."}),
		StandbysOwned: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "journey", Name: "standbys_owned",
			Help: "Partitions this instance keeps warm as a standby."}),
		Forgotten: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "journey", Name: "forgotten_total",
			Help: "Customer ids erased by journey forget (each linked id counts)."}),
		ForgottenEvents: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "journey", Name: "forgotten_events_total",
			Help: "Events, links and merges of forgotten ids dropped before the fold."}),
		ForgetsExpired: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "journey", Name: "forgets_expired_total",
			Help: "Forgotten ids whose hash was dropped after privacy.forget_retention (their later events are folded again)."}),
	}
	for _, c := range []prometheus.Collector{s.RecordsIn, s.EventsFolded, s.TriggersSuppressed, s.LateEvents, s.TimersDropped, s.EventsIgnored, s.Identity, s.IdentityConflicts, s.Duplicates, s.DeadLettered, s.DeadLettersTruncated, s.TriggersEmitted,
		s.TriggersOut, s.ContextsOut, s.SinkErrors, s.DeliveryFailures, s.DeliveryFailing, s.BackpressureWait, s.BatchCommit, s.BatchSize, s.EventToSink, s.RecordAge, s.SinkDeliver,
		s.OutboxDepth, s.ConsumerLag, s.PartitionsOwned, s.Rebalances,
		s.ChangelogRecords, s.ChangelogAppend, s.RestoredRecords, s.RestoreRemaining, s.StandbysOwned, s.Forgotten, s.ForgottenEvents, s.ForgetsExpired} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Delivered implements outbox.Observer.
func (s *Set) Delivered(partition int, triggers, contexts int, latencies []time.Duration) {
	if s == nil {
		return
	}
	p := strconv.Itoa(partition)
	s.TriggersOut.WithLabelValues(p).Add(float64(triggers))
	s.ContextsOut.WithLabelValues(p).Add(float64(contexts))
	s.DeliveryFailing.WithLabelValues(p).Set(0)
	for _, l := range latencies {
		s.EventToSink.Observe(l.Seconds())
	}
}

// DeliveryFailed implements outbox.Observer.
func (s *Set) DeliveryFailed(partition int, err error) {
	if s == nil {
		return
	}
	kind := "fatal"
	if errors.Is(err, sink.ErrRetriable) {
		kind = "retriable"
	}
	s.SinkErrors.WithLabelValues(strconv.Itoa(partition), kind).Inc()
	s.DeliveryFailures.WithLabelValues(sink.Reason(err)).Inc()
	s.DeliveryFailing.WithLabelValues(strconv.Itoa(partition)).Set(1)
}

// Handed implements outbox.Observer.
func (s *Set) Handed(partition int, age, took time.Duration) {
	if s == nil {
		return
	}
	if age > 0 {
		s.RecordAge.WithLabelValues("dispatched").Observe(age.Seconds())
	}
	s.SinkDeliver.Observe(took.Seconds())
}

// Depth implements outbox.Observer.
func (s *Set) Depth(partition int, depth int64) {
	if s == nil {
		return
	}
	s.OutboxDepth.WithLabelValues(strconv.Itoa(partition)).Set(float64(depth))
}
