// Package outbox moves committed triggers and customer-context updates from
// a partition's Pebble outbox to a sink.
//
// The partition worker appends entries (Encode*) in the same Pebble batch as
// the state and offsets that produced them. One Dispatcher per partition
// reads the outbox in sequence order, hands a batch to the sink, and deletes
// the entries only after the sink accepted all of them. A crash between the
// two steps redelivers; the sink is idempotent on trigger id, so nothing
// appears twice. While the sink is unavailable the dispatcher retries with
// exponential backoff and the entries stay in Pebble.
//
// # Delivery failures
//
// A retriable sink error (an outage, but also a denied command, a rotated
// password, a key of the wrong type: see the sink) never ends the
// dispatcher: it backs off (Config.MinBackoff to MaxBackoff), keeps every
// entry and reports each failure to the Observer, which counts it by
// reason and marks the partition not ready until a delivery succeeds. Only
// a fatal error (an invalid batch, a closed client) ends it.
//
// The outbox is deleted by sequence: the dispatcher advances one head, and
// an entry is deleted only when it and every entry before it are in the
// sink (state.Partition.MarkDelivered). It cannot delete around a held
// entry. So when the sink delivers part of a batch and holds some
// triggers for a reason of their own key (sink.Held: a WRONGTYPE on
// journey:triggers:email), the head stays at the batch and the dispatcher
// retries it with backoff — its delivered triggers again, which the sink
// drops as duplicates — and, between retries, delivers the triggers of
// the entries behind it ("ahead", without moving the head), so other
// channels keep flowing. Contexts are not delivered ahead: an update
// written before an older held one would be overwritten by it. The
// entries stay in the outbox until the held ones are delivered, so other
// channels flow only until the outbox reaches outbox.max_pending and the
// worker pauses; after a restart the head batch and everything ahead are
// delivered again, duplicates dropped by the sink. A channel's triggers
// keep their order as long as its failure lasts for all of them (a key of
// the wrong type does).
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink"
	"github.com/journey-dev/journey/pkg/state"
)

// Entry kinds stored in the outbox. Entries are in a compact binary
// encoding (encoding.go); the JSON kinds of earlier builds are still read,
// so an outbox left behind by one is delivered.
const (
	KindTrigger byte = 'T'
	KindContext byte = 'C'

	kindTriggerJSON byte = 't'
	kindContextJSON byte = 'c'
)

// trigger is the JSON outbox encoding of earlier builds.
type trigger struct {
	ID         string         `json:"id"`
	Rule       string         `json:"rule"`
	CustomerID string         `json:"customer_id"`
	Channel    string         `json:"channel"`
	At         time.Time      `json:"at"`
	Reason     string         `json:"reason,omitempty"`
	Causes     []string       `json:"causes,omitempty"`
	Payload    map[string]any `json:"payload,omitempty"`
	Enqueued   int64          `json:"enq,omitempty"` // unix ms
}

type contextUpdate struct {
	CustomerID string            `json:"customer_id"`
	Fields     map[string]string `json:"fields,omitempty"`
	Delete     bool              `json:"delete,omitempty"`
	Enqueued   int64             `json:"enq,omitempty"`
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// decoded is one outbox entry ready for the sink.
type decoded struct {
	batch    sink.Batch
	forwards []Forward
	after    []Forward // KindForwardAfter: produced once batch is delivered
	enqueued []int64   // record times, one per item, for latency
}

func decode(es []state.OutboxEntry) (decoded, error) {
	var d decoded
	for _, e := range es {
		var (
			enq int64
			err error
		)
		switch e.Kind {
		case KindTrigger:
			var t journey.Trigger
			if t, enq, err = decodeTrigger(e.Data); err == nil {
				d.batch.Triggers = append(d.batch.Triggers, t)
			}
		case KindContext:
			var c sink.Context
			if c, enq, err = decodeContext(e.Data); err == nil {
				d.batch.Contexts = append(d.batch.Contexts, c)
			}
		case KindForward, KindForwardAfter:
			var f Forward
			switch f, err = decodeForward(e.Data); {
			case err != nil:
			case e.Kind == KindForward:
				d.forwards = append(d.forwards, f)
			default:
				d.after = append(d.after, f)
			}
			if err != nil {
				return d, fmt.Errorf("outbox: entry %d: %w", e.Seq, err)
			}
			continue // no latency: not a delivery
		case kindTriggerJSON:
			var t trigger
			if err = json.Unmarshal(e.Data, &t); err == nil {
				d.batch.Triggers = append(d.batch.Triggers, journey.Trigger{
					ID: t.ID, Rule: t.Rule, CustomerID: t.CustomerID, Channel: t.Channel, At: t.At,
					Reason: t.Reason, Causes: t.Causes, Payload: t.Payload,
				})
				enq = t.Enqueued
			}
		case kindContextJSON:
			var c contextUpdate
			if err = json.Unmarshal(e.Data, &c); err == nil {
				d.batch.Contexts = append(d.batch.Contexts, sink.Context{CustomerID: c.CustomerID, Fields: c.Fields, Delete: c.Delete})
				enq = c.Enqueued
			}
		default:
			return d, fmt.Errorf("outbox: entry %d has unknown kind %q", e.Seq, e.Kind)
		}
		if err != nil {
			return d, fmt.Errorf("outbox: entry %d: %w", e.Seq, err)
		}
		d.enqueued = append(d.enqueued, enq)
	}
	return d, nil
}

// Observer receives delivery figures (metrics); a Dispatcher with a nil
// Observer reports nothing. It is called from the dispatcher goroutines, so
// it must be safe for concurrent use. Delivered's latencies hold one entry per delivered trigger and
// context update that carries its record time: from the Kafka timestamp of
// the record that caused it to the sink accepting the batch.
//
// DeliveryFailed follows each failed delivery of the head batch (not one
// ended by ctx); Delivered follows each success, so a partition is failing
// from the one to the other. sink.Reason(err) is the failure's reason code.
type Observer interface {
	Delivered(partition int, triggers, contexts int, latencies []time.Duration)
	DeliveryFailed(partition int, err error)
	Depth(partition int, depth int64)
	// Handed follows a successful delivery: age is how old the newest
	// record behind the batch was when the dispatcher handed it to the
	// sink (zero when no entry carries a record time), took how long the
	// sink took to accept it.
	Handed(partition int, age, took time.Duration)
}

// Config tunes a Dispatcher.
type Config struct {
	// MaxBatch is the most entries handed to the sink at once.
	MaxBatch int
	// MinBackoff and MaxBackoff bound the retry delay after a retriable
	// sink error.
	MinBackoff, MaxBackoff time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxBatch <= 0 {
		c.MaxBatch = 512
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 50 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
}

// Dispatcher delivers one partition's outbox. Run it in its own goroutine;
// call Notify after each commit that appended entries.
type Dispatcher struct {
	p        *state.Partition
	sink     sink.Sink
	cfg      Config
	log      *zap.Logger
	obs      Observer
	notify   chan struct{}
	progress chan struct{}
	now      func() time.Time
	fwd      Forwarder
	skip     func(customerID string) bool // see SetSkip

	// ahead is the sequence the next delivery ahead of a held head batch
	// reads from (dispatcher goroutine only).
	ahead uint64
	// forwarded is the sequence below which every KindForward entry was
	// produced ahead of the sink's deliveries (forwardAhead; dispatcher
	// goroutine only).
	forwarded uint64
}

// NewDispatcher returns a dispatcher for partition p.
func NewDispatcher(p *state.Partition, s sink.Sink, cfg Config, log *zap.Logger, obs Observer) *Dispatcher {
	cfg.setDefaults()
	return &Dispatcher{
		p: p, sink: s, cfg: cfg, log: log.With(zap.Int("partition", p.ID())), obs: obs,
		notify: make(chan struct{}, 1), progress: make(chan struct{}, 1), now: time.Now,
	}
}

// SetForwarder sets what produces the outbox's forwarded records
// (KindForward); call it before Run. Without one, such an entry is a fatal
// error.
func (d *Dispatcher) SetForwarder(f Forwarder) { d.fwd = f }

// SetSkip sets a test of the customers whose triggers and context updates
// are dropped instead of delivered: customers forgotten while their
// entries waited (`journey forget`). A context deletion is always
// delivered. Call it before Run; skip is called from the dispatcher's
// goroutine. The dropped entries count as delivered: they leave the
// outbox.
func (d *Dispatcher) SetSkip(skip func(customerID string) bool) { d.skip = skip }

// dropSkipped removes from b what SetSkip's test drops.
func (d *Dispatcher) dropSkipped(b *sink.Batch) {
	if d.skip == nil {
		return
	}
	b.Triggers = slices.DeleteFunc(b.Triggers, func(t journey.Trigger) bool { return d.skip(t.CustomerID) })
	b.Contexts = slices.DeleteFunc(b.Contexts, func(c sink.Context) bool { return !c.Delete && d.skip(c.CustomerID) })
}

// Notify wakes the dispatcher: new entries were committed. It never blocks.
func (d *Dispatcher) Notify() {
	select {
	case d.notify <- struct{}{}:
	default:
	}
}

// Progress is signalled (without blocking) after each successful delivery,
// so a worker paused on a full outbox can re-check the depth.
func (d *Dispatcher) Progress() <-chan struct{} { return d.progress }

// Run delivers until ctx is done or the sink returns a fatal error. It
// returns nil when ctx ended it.
func (d *Dispatcher) Run(ctx context.Context) error {
	backoff := time.Duration(0)
	for {
		var (
			n    int
			last uint64
		)
		err := d.forwardAhead(ctx)
		if err == nil {
			n, last, err = d.deliverOnce(ctx)
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !errors.Is(err, sink.ErrRetriable):
			return err
		case err != nil:
			var held *sink.Held
			if errors.As(err, &held) {
				d.deliverAhead(ctx, last+1)
			}
			backoff = nextBackoff(backoff, d.cfg.MinBackoff, d.cfg.MaxBackoff)
			d.log.Warn("delivery failing; outbox kept, retrying", zap.String("reason", sink.Reason(err)), zap.Error(err),
				zap.Duration("backoff", backoff), zap.Int64("outbox_depth", d.p.OutboxDepth()))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		if n > 0 {
			continue // there may be more
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.notify:
		}
	}
}

// deliverAhead hands the sink the triggers of the entries from seq from
// (or from where the last call stopped, if later) on, while the head batch
// is held: see Delivery failures in the package comment. It neither marks
// them delivered nor reports them; it stops at the end of the outbox or at
// the first error that is not a sink.Held.
func (d *Dispatcher) deliverAhead(ctx context.Context, from uint64) {
	d.ahead = max(d.ahead, from)
	for ctx.Err() == nil {
		es, err := d.p.ReadOutboxFrom(d.ahead, d.cfg.MaxBatch)
		if err != nil || len(es) == 0 {
			return
		}
		dec, err := decode(es)
		if err != nil {
			return // the head batch will meet it
		}
		dec.batch.Contexts = nil
		d.dropSkipped(&dec.batch)
		var held *sink.Held
		if err := d.sink.Deliver(ctx, dec.batch); err != nil && !errors.As(err, &held) {
			return
		}
		d.ahead = es[len(es)-1].Seq + 1
	}
}

// Flush delivers everything in the outbox, giving up when ctx ends or the
// sink fails. Used at shutdown and on partition revocation.
func (d *Dispatcher) Flush(ctx context.Context) error {
	for {
		n, _, err := d.deliverOnce(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// Forwards ahead: bounds of one forwardAhead call.
const (
	aheadRead     = 4096    // entries read at a time
	aheadForwards = 8192    // forwards produced at once
	aheadBytes    = 8 << 20 // and their keys and values
)

// forwardAhead produces the KindForward entries committed since the last
// call, up to aheadForwards of them, before the sink's deliveries reach
// them: another partition's records never wait behind this one's Redis
// traffic (a round that folded a backlog leaves thousands of entries,
// delivered MaxBatch at a time), nor are they produced again when a
// sink delivery is retried. Their order among themselves is the
// outbox's. deliverOnce skips the forwards below d.forwarded; after a
// restart they are produced again, which receivers drop (see
// KindForward). A KindForwardAfter entry stays where it is.
func (d *Dispatcher) forwardAhead(ctx context.Context) error {
	if d.fwd == nil {
		return nil
	}
	from := max(d.forwarded, d.p.HeadSeq())
	var (
		fs    []Forward
		bytes int
		next  = from
	)
	for len(fs) < aheadForwards && bytes < aheadBytes {
		es, err := d.p.ReadOutboxFrom(next, aheadRead)
		if err != nil {
			return fmt.Errorf("outbox: read: %w", err)
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			if len(fs) >= aheadForwards || bytes >= aheadBytes {
				break
			}
			next = e.Seq + 1
			if e.Kind != KindForward {
				continue
			}
			f, err := decodeForward(e.Data)
			if err != nil {
				return fmt.Errorf("outbox: entry %d: %w", e.Seq, err)
			}
			fs = append(fs, f)
			bytes += len(f.Key) + len(f.Value)
		}
		if len(es) < aheadRead {
			break // the end: another read would seek Pebble for nothing
		}
	}
	if err := d.forward(ctx, fs, next-1); err != nil {
		return err
	}
	d.forwarded = next
	return nil
}

// deliverOnce hands up to MaxBatch entries to the sink and deletes them on
// success. It returns how many entries were delivered and the sequence of
// the last entry it handed.
func (d *Dispatcher) deliverOnce(ctx context.Context) (int, uint64, error) {
	es, err := d.p.ReadOutbox(d.cfg.MaxBatch)
	if err != nil {
		return 0, 0, fmt.Errorf("outbox: read: %w", err)
	}
	if len(es) == 0 {
		return 0, 0, nil
	}
	last := es[len(es)-1].Seq
	dec, err := decode(d.notForwarded(es))
	if err != nil {
		return 0, last, err
	}
	if err := d.forward(ctx, dec.forwards, last); err != nil {
		return 0, last, err
	}
	// Committed after forwardAhead's read, they went out here: a retry of
	// the sink does not produce them again.
	d.forwarded = max(d.forwarded, last+1)
	d.dropSkipped(&dec.batch)
	handed := d.now()
	if err := d.deliver(ctx, dec.batch); err != nil {
		if d.obs != nil && ctx.Err() == nil {
			d.obs.DeliveryFailed(d.p.ID(), err)
		}
		return 0, last, err
	}
	// A failure here redelivers the whole batch: forwards are dropped as
	// copies by their receivers, and the sink's delivery is idempotent.
	if err := d.forward(ctx, dec.after, last); err != nil {
		return 0, last, err
	}
	// Report first: the entries are in the sink now (the latency ends
	// here), and whoever waits for an empty outbox then sees the counts.
	if d.obs != nil {
		now := d.now()
		lat := make([]time.Duration, 0, len(dec.enqueued))
		var newest int64
		for _, ms := range dec.enqueued {
			if ms > 0 {
				lat = append(lat, now.Sub(time.UnixMilli(ms)))
				newest = max(newest, ms)
			}
		}
		d.obs.Delivered(d.p.ID(), len(dec.batch.Triggers), len(dec.batch.Contexts), lat)
		var age time.Duration
		if newest > 0 {
			age = handed.Sub(time.UnixMilli(newest))
		}
		d.obs.Handed(d.p.ID(), age, now.Sub(handed))
	}
	// The worker's next batch deletes them from the store.
	d.p.MarkDelivered(last, len(es))
	if d.obs != nil {
		d.obs.Depth(d.p.ID(), d.p.OutboxDepth())
	}
	select {
	case d.progress <- struct{}{}:
	default:
	}
	return len(es), last, nil
}

// notForwarded is es without the KindForward entries forwardAhead
// produced.
func (d *Dispatcher) notForwarded(es []state.OutboxEntry) []state.OutboxEntry {
	if len(es) == 0 || es[0].Seq >= d.forwarded {
		return es
	}
	out := make([]state.OutboxEntry, 0, len(es))
	for _, e := range es {
		if e.Kind != KindForward || e.Seq >= d.forwarded {
			out = append(out, e)
		}
	}
	return out
}

// forward produces fs through the forwarder (nothing when fs is empty).
func (d *Dispatcher) forward(ctx context.Context, fs []Forward, last uint64) error {
	if len(fs) == 0 {
		return nil
	}
	if d.fwd == nil {
		return fmt.Errorf("outbox: entry before %d is a forwarded record, and the dispatcher has no forwarder", last)
	}
	if err := d.fwd.Forward(ctx, fs); err != nil {
		if d.obs != nil && ctx.Err() == nil {
			d.obs.DeliveryFailed(d.p.ID(), err)
		}
		return err
	}
	return nil
}

// deliver hands b to the sink unless it is empty (the entries were
// forwards only).
func (d *Dispatcher) deliver(ctx context.Context, b sink.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return d.sink.Deliver(ctx, b)
}

func nextBackoff(cur, lo, hi time.Duration) time.Duration {
	if cur == 0 {
		cur = lo
	} else {
		cur *= 2
	}
	if cur > hi {
		cur = hi
	}
	// ±20% jitter so many partitions don't retry in lockstep.
	return cur - cur/5 + time.Duration(rand.Int64N(int64(cur/5*2)+1))
}
