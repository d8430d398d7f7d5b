package pipeline

import (
	"context"
	"encoding"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/journey-dev/journey/internal/kafkaio"
	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/outbox"
	"github.com/journey-dev/journey/pkg/state"
)

// This file is one round: records folded (decode, de-duplicate, fold),
// then committed (dead letters, changelog append, Pebble commit), then the
// dispatcher notified; and the smaller commits of a tick or of the
// deliveries. See DESIGN.md, "Commit protocol".

// ReasonLate is the dead-letter reason of an event older than the
// watermark when timers.late_events is dead_letter.
const ReasonLate ingest.Reason = "late_violation"

// process folds batch, and the records that arrive meanwhile while fill
// keeps the round open (a backlog: up to batch.backlog_wait; see fill),
// and commits their effects in one Pebble batch. See DESIGN.md, "Commit
// protocol". Records are folded as they arrive, so waiting for a backlog's
// commit to fill costs no time. It returns the records of the commit (batch
// grown, for reuse). A round whose changelog form would exceed
// changelog.max_batch_bytes is abandoned before anything of it is written
// and folded again as two halves: batch.max_records and batch.max_bytes
// bound a round's input, this bounds its output. A round in which a
// processor fails is abandoned too: what was folded before the failure is
// committed on its own, and the rest folded again without it (poison.go).
func (w *worker) process(ctx context.Context, msgs <-chan kafka.Message, batch []kafka.Message) ([]kafka.Message, error) {
	rd := w.openRound()
	defer func() { rd.tx.abortUnlessCommitted() }()
	w.lag, w.batchBytes = w.lag[:0], 0
	w.note(batch)
	if len(batch) > 0 {
		w.took(&batch[len(batch)-1])
	}
	var waited time.Duration
	start, folded := 0, 0 // the round is batch[start:]
	for {
		err := w.fold(rd, batch[folded:])
		var pa *poisonAt
		if errors.As(err, &pa) {
			rd.tx.abortUnlessCommitted()
			end := folded + pa.index // the failing record, dead-lettered, ends the prefix; a timer's record does not
			if !pa.timer {
				end++
			} else if pa.again && end == start {
				return batch, pa.stuck()
			}
			if end > start {
				if _, err := w.process(ctx, nil, batch[start:end]); err != nil {
					return batch, err
				}
				w.lag, w.batchBytes = w.lag[:0], 0
				w.note(batch[end:])
			}
			start, folded, rd = end, end, w.openRound()
			continue
		}
		if err != nil {
			return batch, err
		}
		folded = len(batch)
		if msgs == nil {
			break
		}
		if batch = w.fill(ctx, msgs, batch, &waited); len(batch) == folded {
			break
		}
	}
	if rd.records == 0 {
		return batch, nil // the prefix committed everything
	}
	err := w.commitRound(ctx, rd)
	var big *kafkaio.BatchTooBigError
	if !errors.As(err, &big) || len(batch)-start < 2 {
		return batch, err
	}
	rd.tx.abortUnlessCommitted()
	w.log.Warn("round over changelog.max_batch_bytes: committing it in two (a larger changelog.max_batch_bytes, or a smaller batch.max_bytes, avoids folding it again)",
		zap.Int("records", len(batch)-start), zap.Int("changelog_bytes", big.Size))
	h := start + (len(batch)-start)/2
	if _, err := w.process(ctx, nil, batch[start:h]); err != nil {
		return batch, err
	}
	_, err = w.process(ctx, nil, batch[h:])
	return batch, err
}

// round is one group commit being folded: the records folded, then
// committed together in one Pebble batch (and one changelog batch).
type round struct {
	tx     *tx
	topics []roundTopic // per input topic, where the round ends
	// dead letters, written before the commit
	dlq        []kafka.Message
	dlqReasons []ingest.Reason
	records    int
}

// roundTopic is where a round ends in one input topic: the next offset to
// read, and the high watermark its last record was fetched with.
type roundTopic struct {
	topic string
	next  int64
	hwm   int64
}

// topic returns the index of topic in rd.topics, adding it.
func (rd *round) topic(topic string) int {
	for i := range rd.topics {
		if rd.topics[i].topic == topic {
			return i
		}
	}
	rd.topics = append(rd.topics, roundTopic{topic: topic})
	return len(rd.topics) - 1
}

func (w *worker) openRound() *round {
	return &round{tx: w.begin()}
}

// fold decodes, de-duplicates and folds msgs into rd.
func (w *worker) fold(rd *round, msgs []kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	p := w.p
	tx := rd.tx
	if rd.records == 0 {
		w.age("started", msgs[len(msgs)-1].Time)
	}
	rd.records += len(msgs)
	tx.lastRecord = msgs[len(msgs)-1].Time
	if r := w.replay; r != nil && tx.lastRecord.After(r.lastTime) {
		r.lastTime = tx.lastRecord
	}
	deadLetter := func(m *kafka.Message, e *ingest.Error) {
		rd.dlq = append(rd.dlq, deadLetter(m, e))
		rd.dlqReasons = append(rd.dlqReasons, e.Reason)
	}
	var (
		tc  *topicCounters
		rt  = -1
		now = time.Now()
	)
	for i := range msgs {
		m := &msgs[i]
		// Records come in runs of one topic: look it up when it changes.
		if rt < 0 || rd.topics[rt].topic != m.Topic {
			rt, tc = rd.topic(m.Topic), w.counters(m.Topic)
		}
		rd.topics[rt].next, rd.topics[rt].hwm = m.Offset+1, m.HighWaterMark
		tc.n.in++
		if msg, ok := w.poisonRecord(m); ok {
			deadLetter(m, &ingest.Error{Reason: ReasonFold, Msg: msg})
			continue
		}

		var route string
		if p.routed() {
			kind := headerOf(m, HeaderRoute)
			if kind != "" && kind != routeEvent {
				if err := w.control(tx, m, kind); err != nil {
					var fe *journey.FoldError
					if errors.As(err, &fe) {
						return w.poisoned(m, i, fe)
					}
					return err
				}
				continue
			}
		}
		ev, err := p.dec.Decode(w.record(m))
		if err != nil {
			var ie *ingest.Error
			if !errors.As(err, &ie) {
				ie = &ingest.Error{Reason: ingest.ReasonFormat, Msg: err.Error()}
			}
			deadLetter(m, ie)
			continue
		}
		if ps := p.cfg.Privacy.Pseudonyms; ps != nil && !w.pseudonymized(m) {
			ps.Event(&ev)
		}
		if p.routed() {
			to := headerOf(m, HeaderRouteTo)
			if to == "" {
				to = ev.CustomerID
			}
			if gone, err := w.dropForgotten(tx, to); gone || err != nil {
				if err != nil {
					return err
				}
				continue
			}
			canonical, here, dup, err := w.resolve(tx, m, &ev, to)
			if err != nil {
				return err
			}
			if dup {
				tc.n.dup++
				continue
			}
			if !here {
				continue
			}
			route, ev.CustomerID = ev.CustomerID, canonical
		}
		// Committed, or folded earlier in this round.
		dup, err := tx.b.Seen(ev.ID, ev.Time)
		if err != nil {
			return err
		}
		if dup {
			tc.n.dup++
			continue
		}
		w.out.Reset()
		if p.cfg.MaxSkew > 0 {
			w.runner.Ceiling = ceiling(m.Time, now, p.cfg.MaxSkew)
		}
		if w.runner.Late(&ev) {
			tc.n.late++
		}
		switch err := w.runner.Apply(&ev, &w.out); {
		case errors.Is(err, journey.ErrLate):
			deadLetter(m, &ingest.Error{Reason: ReasonLate, Msg: fmt.Sprintf(
				"event time is %s before the partition's watermark", w.runner.Watermark().Sub(ev.Time).Round(time.Millisecond))})
			continue
		case err != nil:
			var fe *journey.FoldError
			if errors.As(err, &fe) {
				return w.poisoned(m, i, fe)
			}
			return err
		}
		tx.b.MarkSeen(ev.ID, ev.Time)
		if err := tx.emit(&w.out, m.Time); err != nil {
			return err
		}
		if route != "" {
			if err := w.link(tx, &ev, route, ev.CustomerID); err != nil {
				var fe *journey.FoldError
				if errors.As(err, &fe) {
					return w.poisoned(m, i, fe)
				}
				return err
			}
		}
		tc.n.folded++
	}
	return nil
}

// commitRound commits rd (DESIGN.md, "Commit protocol", steps 4-7): the
// offsets, states and contexts into the batch, then the dead letters, then
// the changelog append and the Pebble commit (finish), then the counters
// and the offsets to publish to the consumer group.
func (w *worker) commitRound(ctx context.Context, rd *round) error {
	p := w.p
	tx := rd.tx
	slices.SortFunc(rd.topics, func(a, b roundTopic) int { return strings.Compare(a.topic, b.topic) })
	for _, t := range rd.topics {
		if w.replay != nil && t.topic == p.cfg.Identity.Topic {
			continue // a replay's forwards are in memory (replayroute.go)
		}
		tx.b.SetOffset(t.topic, t.next)
	}
	if w.replay != nil && p.routed() {
		tx.b.SetOffset(p.cfg.Identity.Topic, w.replay.repartitionAt)
	}
	recs, err := tx.prepare()
	if err != nil {
		return err
	}
	// Dead letters are written (and acknowledged) before the batch commits,
	// so a record's offset is never durable without its dead letter.
	truncated := 0
	if len(rd.dlq) > 0 && !p.cfg.SkipDeadLetters {
		if truncated, err = w.writeDLQ(ctx, rd.dlq); err != nil {
			return err
		}
	}
	if err := tx.finish(ctx, recs); err != nil {
		return err
	}
	for _, tc := range w.topics {
		tc.flush()
	}
	for _, r := range rd.dlqReasons {
		p.metrics.DeadLettered.WithLabelValues(string(r)).Inc()
	}
	p.metrics.DeadLettersTruncated.Add(float64(truncated))
	p.metrics.BatchSize.Observe(float64(rd.records))
	for _, t := range rd.topics {
		w.kafkaOffsets[t.topic] = t.next
		if t.hwm > 0 {
			p.metrics.ConsumerLag.WithLabelValues(t.topic, w.label).Set(float64(t.hwm - t.next))
			if w.behind != nil {
				w.behind[t.topic] = max(t.hwm-t.next, 0)
			}
		}
	}
	w.progress(true)
	return nil
}

// ceiling is the time a record's event may move the watermark to at most
// (DESIGN.md, "Event time, timers and the contact policy"): the record's
// Kafka timestamp, or now if that is absent or later, + maxSkew. The
// timestamp is in the log, so a replay computes the same bound.
func ceiling(recordTime, now time.Time, maxSkew time.Duration) time.Time {
	if recordTime.IsZero() || recordTime.After(now) {
		recordTime = now
	}
	return recordTime.Add(maxSkew)
}

// tick advances an idle partition's watermark with the wall clock (live
// mode).
func (w *worker) tick(ctx context.Context, now time.Time) error {
	return w.advanceTo(ctx, now.Add(-w.p.cfg.IdleAdvance-w.p.cfg.Lateness))
}

// advanceTo moves the watermark to to when it is later, firing the timers
// that makes due, and commits what they produced. A timer whose OnTimer
// fails is dropped, and the advance done again.
func (w *worker) advanceTo(ctx context.Context, to time.Time) error {
	if !to.After(w.runner.Watermark()) {
		return nil
	}
	defer w.poison.clear()
	for {
		err := w.advance(ctx, to)
		var pa *poisonAt
		if !errors.As(err, &pa) {
			return err
		}
		if pa.again {
			return pa.stuck()
		}
	}
}

// advance is one attempt of advanceTo.
func (w *worker) advance(ctx context.Context, to time.Time) error {
	tx := w.begin()
	defer tx.abortUnlessCommitted()
	w.out.Reset()
	if err := w.runner.Advance(to, &w.out); err != nil {
		var fe *journey.FoldError
		if errors.As(err, &fe) {
			return w.poisoned(nil, 0, fe)
		}
		return err
	}
	if err := tx.emit(&w.out, time.Time{}); err != nil {
		return err
	}
	return tx.commit(ctx)
}

// logDeliveries deletes the outbox entries delivered since the last round
// (and logs the deletions to the changelog) when the partition is quiet: a
// busy partition's next round carries them.
func (w *worker) logDeliveries(ctx context.Context) error {
	if head := w.sp.HeadSeq(); head <= w.sp.OutboxDeleted() && (w.p.clog == nil || head <= w.sp.OutboxLogged()) {
		return nil
	}
	tx := w.begin()
	defer tx.abortUnlessCommitted()
	return tx.commit(ctx)
}

// tx is one commit in progress (a round's, a tick's or the deliveries'):
// the Pebble batch, with the runner's watermark to restore if it is
// abandoned.
type tx struct {
	w         *worker
	b         *state.Batch
	wm0       time.Time
	committed bool
	aborted   bool
	// lastRecord is the timestamp of the batch's last record (zero for a
	// tick's batch): the time its context entries and stage ages count
	// from.
	lastRecord time.Time
	// emitted and suppressed are the (rule, channel) and (rule, reason)
	// label pairs to count once the batch is committed; dropped, the
	// timers skipped (skipTimer).
	emitted, suppressed [][2]string
	// ignored are the (processor, reason) pairs of journey.Output.Ignored,
	// counted once the batch is committed like emitted and suppressed.
	ignored [][2]string
	dropped []timerKey
	ids     identityCounts
	// fwdOut counts the forwards the commit sends (a replay's router
	// waits for them).
	fwdOut int
	// erased are the customers forgotten in the batch (forget.go): their
	// identity entries are deleted with their states.
	erased map[string]bool
	// forgotPruned is set once the round pruned the forgotten set.
	forgotPruned bool
}

func (w *worker) begin() *tx {
	b := w.sp.NewBatch()
	w.runner.Timers = b
	w.cur = &tx{w: w, b: b, wm0: w.runner.Watermark()}
	return w.cur
}

// abortUnlessCommitted drops an abandoned batch and everything the runner
// cached for it, so the next batch starts from what is durable.
func (t *tx) abortUnlessCommitted() {
	if t.committed || t.aborted {
		return
	}
	t.aborted = true
	t.b.Abort()
	if t.erased != nil {
		t.w.forgot.unload() // reloaded from the store: its ids were not committed
	}
	t.w.runner.Reset()
	t.w.runner.SetWatermark(t.wm0)
	for _, tc := range t.w.topics {
		tc.n = topicCounts{}
	}
}

// emit appends what one event (or tick) produced to the outbox.
func (t *tx) emit(out *journey.Output, recordTime time.Time) error {
	for j := range out.Triggers {
		tr := &out.Triggers[j]
		t.emitted = append(t.emitted, [2]string{tr.Rule, tr.Channel})
		if t.w.p.cfg.DiscardOutput {
			continue
		}
		data, err := outbox.EncodeTrigger(tr, recordTime)
		if err != nil {
			return fmt.Errorf("encode trigger %s: %w", tr.ID, err)
		}
		t.b.Append(outbox.KindTrigger, data)
	}
	for _, s := range out.Suppressed {
		t.suppressed = append(t.suppressed, [2]string{s.Trigger.Rule, s.Reason})
	}
	for _, ig := range out.Ignored {
		t.ignored = append(t.ignored, [2]string{ig.Processor, ig.Reason})
	}
	return nil
}

// commit writes the changed states, the customers' new context, the
// watermark and the batch.
func (t *tx) commit(ctx context.Context) error {
	recs, err := t.prepare()
	if err != nil {
		return err
	}
	return t.finish(ctx, recs)
}

// prepare writes the changed states, the customers' new context and the
// watermark into the batch and returns the batch's changelog records (none
// when there is no changelog): a *batchTooBigError when they are over
// changelog.max_batch_bytes, before anything was written anywhere.
func (t *tx) prepare() ([]kafkaio.Record, error) {
	w := t.w
	p := w.p
	procs := p.engine.Processors()
	if w.stateOrder == nil {
		names := make([]string, len(procs))
		for i, pr := range procs {
			names[i] = pr.Name()
		}
		w.stateOrder = state.StateKeyOrder(names)
	}
	now := time.Now()
	// Each customer's states in key order, then every context entry (their
	// keys ascend too): Pebble inserts a batch's keys in its order, and an
	// insert just after the previous one costs far less than one elsewhere.
	ctxs := w.ctxEntries[:0]
	for _, c := range w.runner.Touched() {
		if !c.IsDirty() {
			continue
		}
		if c.Detached {
			// Merged into another customer (identity.go): its states left.
			for _, i := range w.stateOrder {
				if procs[i].Name() == journey.IdentityName && !t.eraseIdentity(c) {
					data, err := w.encodeState(c.States[i])
					if err != nil {
						return nil, fmt.Errorf("encode %s state: %w", procs[i].Name(), err)
					}
					t.b.PutState(c.ID, procs[i].Name(), procs[i].StateVersion(), data)
					continue
				}
				t.b.DeleteState(c.ID, procs[i].Name())
			}
			continue
		}
		for _, i := range w.stateOrder {
			if !c.Dirty[i] {
				continue
			}
			data, err := w.encodeState(c.States[i])
			if err != nil {
				return nil, fmt.Errorf("encode %s state: %w", procs[i].Name(), err)
			}
			t.b.PutState(c.ID, procs[i].Name(), procs[i].StateVersion(), data) // copies data
		}
		if p.cfg.DiscardOutput || p.routed() && !w.anyDirtyState(c) {
			// Only its identity entry changed (an id linked, claimed or
			// merged with nothing to move): its context is as it was, and a
			// merged id's hash must keep only merged_into.
			continue
		}
		w.ctxParts = p.engine.ContextChanges(w.ctxParts, c, now, p.cfg.ContextRefresh)
		if hasFields(w.ctxParts) {
			ctxs = append(ctxs, outbox.EncodeContextParts(c.ID, w.ctxParts, t.lastRecord))
		}
	}
	for i, e := range ctxs {
		t.b.Append(outbox.KindContext, e)
		ctxs[i] = nil
	}
	w.ctxEntries = ctxs[:0]
	if wm := w.runner.Watermark(); !wm.Equal(w.sp.Watermark()) {
		t.b.SetWatermark(wm)
	}
	// The entries the dispatcher delivered since the last batch (in a
	// replay's epochs, those its receivers have committed).
	t.b.DeleteDeliveredTo(w.deleteLimit)
	if p.clog == nil {
		return nil, nil
	}
	stateRecs, err := t.b.LogRecords()
	if err != nil {
		return nil, err
	}
	recs := logRecords(stateRecs)
	if err := p.clog.check(w.id, recs); err != nil {
		return nil, err
	}
	return recs, nil
}

// encodeState encodes st, into the worker's reused buffer when st can
// append itself (encoding.BinaryAppender): the bytes are valid until the
// next call.
func (w *worker) encodeState(st journey.State) ([]byte, error) {
	a, ok := st.(encoding.BinaryAppender)
	if !ok {
		return st.MarshalBinary()
	}
	b, err := a.AppendBinary(w.stateBuf[:0])
	if cap(b) <= 64<<10 { // one huge state does not pin its buffer
		w.stateBuf = b
	}
	return b, err
}

// finish appends recs to the changelog, then commits the batch locally
// with the changelog position it reached: the local copy is never ahead of
// the log (DESIGN.md, "Scale-out").
func (t *tx) finish(ctx context.Context, recs []kafkaio.Record) error {
	w := t.w
	p := w.p
	if p.clog != nil {
		next, err := p.clog.append(ctx, w.id, recs)
		if err != nil {
			return err
		}
		t.b.SetLogPosition(next)
		w.age("logged", t.lastRecord)
	}
	start := time.Now()
	if r := p.router; r != nil && t.fwdOut > 0 {
		r.sending(w.id, t.fwdOut) // a failed commit ends the replay anyway
	}
	if err := t.b.Commit(); err != nil {
		return err
	}
	t.committed = true
	w.age("committed", t.lastRecord)
	w.runner.Committed()
	p.metrics.BatchCommit.Observe(time.Since(start).Seconds())
	p.metrics.OutboxDepth.WithLabelValues(w.label).Set(float64(w.sp.OutboxDepth()))
	for _, l := range t.emitted {
		p.metrics.TriggersEmitted.WithLabelValues(l[0], l[1]).Inc()
	}
	for _, l := range t.suppressed {
		p.metrics.TriggersSuppressed.WithLabelValues(l[0], l[1]).Inc()
	}
	for _, l := range t.ignored {
		p.metrics.EventsIgnored.WithLabelValues(l[0], l[1]).Inc()
	}
	t.countDropped()
	t.countIdentity()
	w.disp.Notify()
	return nil
}

// age observes, in live mode, how old a batch's last record is when the
// batch reaches stage (metrics.RecordAge).
func (w *worker) age(stage string, recordTime time.Time) {
	if w.replay != nil || recordTime.IsZero() {
		return
	}
	w.p.metrics.RecordAge.WithLabelValues(stage).Observe(time.Since(recordTime).Seconds())
}

// record is m for the decoder; a forwarded event is decoded as the input
// topic it was read from (its channel may come from the topic).
func (w *worker) record(m *kafka.Message) ingest.Record {
	r := record(m)
	if m.Topic == w.p.cfg.Identity.Topic && m.Topic != "" {
		if t := headerOf(m, HeaderRouteTopic); t != "" {
			r.Topic = t
		}
	}
	return r
}

// pseudonymized reports whether m is a forwarded record whose ids are
// pseudonyms already: a header only journey writes on the repartition
// topic, and honoured only there.
func (w *worker) pseudonymized(m *kafka.Message) bool {
	return m.Topic == w.p.cfg.Identity.Topic && m.Topic != "" && headerOf(m, ingest.HeaderPseudonymized) == "1"
}

func record(m *kafka.Message) ingest.Record {
	hs := make([]ingest.Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = ingest.Header{Key: h.Key, Value: h.Value}
	}
	return ingest.Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: hs, Time: m.Time}
}

func hasFields(parts []map[string]string) bool {
	for _, p := range parts {
		if len(p) > 0 {
			return true
		}
	}
	return false
}

// topicCounters are a partition's counters for one input topic, and the
// counts of the batch in progress, added to them once it is committed (a
// batch folded again after an abandoned attempt counts once).
type topicCounters struct {
	in, dup, late, folded prometheus.Counter
	n                     topicCounts
}

type topicCounts struct{ in, dup, late, folded int }

func (tc *topicCounters) flush() {
	tc.in.Add(float64(tc.n.in))
	tc.dup.Add(float64(tc.n.dup))
	tc.late.Add(float64(tc.n.late))
	tc.folded.Add(float64(tc.n.folded))
	tc.n = topicCounts{}
}

func (w *worker) counters(topic string) *topicCounters {
	if tc := w.topics[topic]; tc != nil {
		return tc
	}
	m := w.p.metrics
	tc := &topicCounters{
		in: m.RecordsIn.WithLabelValues(topic, w.label), dup: m.Duplicates.WithLabelValues(topic, w.label),
		late: m.LateEvents.WithLabelValues(topic, w.label), folded: m.EventsFolded.WithLabelValues(topic, w.label),
	}
	if w.topics == nil {
		w.topics = map[string]*topicCounters{}
	}
	w.topics[topic] = tc
	return tc
}
