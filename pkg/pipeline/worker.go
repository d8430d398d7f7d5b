package pipeline

import (
	"context"
	"encoding"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// Dead-letter headers added to the original record's headers.
const (
	HeaderReason          = "journey_dlq_reason"
	HeaderMessage         = "journey_dlq_message"
	HeaderSourceTopic     = "journey_dlq_topic"
	HeaderSourcePartition = "journey_dlq_partition"
	HeaderSourceOffset    = "journey_dlq_offset"
)

// worker owns one input partition number for one generation: it is the
// only writer of the partition's key space.
type worker struct {
	p          *Pipeline
	id         int
	gen        *kafka.Generation
	committed  map[string]int64 // topic -> the consumer group's committed offset at assignment
	sp         *state.Partition
	lag        []topicLag // fill: per topic, whether the round so far is behind
	batchBytes int        // the round's keys and values so far
	disp       *outbox.Dispatcher
	log        *zap.Logger
	label      string

	runner       *journey.Runner
	out          journey.Output
	stateBuf     []byte              // scratch for encodeState
	ctxParts     []map[string]string // scratch for tx.prepare
	ctxEntries   [][]byte            // scratch for tx.prepare: the round's context entries
	stateOrder   []int               // processor indexes in state key order (tx.prepare)
	lastKafka    time.Time
	kafkaOffsets map[string]int64 // processed, not yet committed to Kafka

	// topics holds the per-topic counters of this partition, resolved
	// once (a label lookup per record showed in the profiles).
	topics map[string]*topicCounters

	// replay is set when the worker replays a bounded range (Replay)
	// instead of following a consumer group generation (gen is nil).
	replay *replayRange
}

// replayRange is one partition's part of a ReplayPlan.
type replayRange struct {
	starts map[string]int64 // topic -> first offset when the state has none
	ends   map[string]int64 // topic -> offset to stop before
	rate   float64          // records/s for each of this partition's fetchers; 0: unpaced
}

// newWorker prepares the worker of partition id, one of owned partitions
// this member was assigned in gen. kept, when not nil, is the runner this
// instance used for the partition in an earlier generation, whose
// retained customers are still what the store holds.
func (p *Pipeline) newWorker(id int, gen *kafka.Generation, committed map[string]int64, owned int, kept *journey.Runner) (*worker, error) {
	sp, err := p.store.Partition(id)
	if err != nil {
		return nil, err
	}
	if err := sp.Register(p.engine.Versions()); err != nil {
		return nil, err
	}
	log := p.log.With(zap.Int("partition", id))
	if p.clog != nil {
		sp.EnableLog()
	}
	newW := func(runner *journey.Runner) *worker {
		runner.Lateness = p.cfg.Lateness
		runner.DropLate = p.cfg.LateEvents == LateDeadLetter
		runner.Retain = p.cfg.CustomerCache / max(owned, 1)
		runner.SetWatermark(sp.Watermark())
		return &worker{
			p: p, id: id, gen: gen, committed: committed, sp: sp, log: log, label: strconv.Itoa(id), runner: runner,
			disp:         outbox.NewDispatcher(sp, p.sink, p.cfg.Dispatch, p.log, p.observer()), // it adds the partition itself
			kafkaOffsets: map[string]int64{},
		}
	}
	if kept != nil {
		return newW(kept), nil
	}
	// Engine.Load asks for a fresh customer's processors in order, starting
	// with the first: that request reads all of the customer's states in
	// one prefix scan, and the others are served from it.
	first := p.engine.Processors()[0].Name()
	var (
		preCustomer string
		pre         map[string]state.StoredState
	)
	runner := journey.NewRunner(p.engine, func(customer string, proc journey.Processor, st journey.State) (bool, error) {
		if customer != preCustomer || proc.Name() == first {
			all, err := sp.States(customer)
			if err != nil {
				return false, err
			}
			preCustomer, pre = customer, all
		}
		stored, found := pre[proc.Name()]
		if !found {
			return false, nil
		}
		if stored.Version != proc.StateVersion() {
			return false, fmt.Errorf("%w: processor %q state is version %d, this build reads version %d",
				state.ErrVersion, proc.Name(), stored.Version, proc.StateVersion())
		}
		if err := st.UnmarshalBinary(stored.Data); err != nil {
			return false, fmt.Errorf("decode %s state: %w", proc.Name(), err)
		}
		return true, nil
	})
	return newW(runner), nil
}

// run processes the partition until the generation ends (genCtx) or the
// pipeline stops (ctx): subscribe to the input → start the dispatcher →
// fold and commit rounds (consume) → hand off. The round in progress is
// finished and committed either way; a fatal error is returned.
func (w *worker) run(ctx, genCtx context.Context) error {
	stopCtx, stop := either(ctx, genCtx)
	defer stop()
	in, err := w.subscribe(stopCtx)
	if err != nil {
		return err
	}
	defer func() {
		stop()
		in.fetchers.Wait()
	}()
	dispStop, dispDone := w.startDispatcher()
	defer w.handOff(dispStop, dispDone)
	w.commitKafka(true)
	w.p.setPartition(w.id, func(st *PartitionStatus) { st.State = StateReady })
	return w.consume(stopCtx, in, dispDone)
}

// input is what feeds a worker: the instance's shared fetcher (one request
// per broker for every partition) sends the records of every input topic
// to msgs, live and in a replay, until the worker's context ends.
type input struct {
	// msgs holds the records fetched ahead of the worker: a bounded
	// buffer (the fetcher also holds up to two responses per partition);
	// a backlog fills a round beyond it by waiting (fill).
	msgs     chan kafka.Message
	fetchers sync.WaitGroup // one per subscription, done once it sends nothing more
	// replayDone, in a replay, is closed once every topic reached its end
	// offset (nil live): the replay ends when the records fetched are
	// committed too.
	replayDone <-chan struct{}
}

// subscribe subscribes to every input topic of the partition from the
// offsets in the store (or the start position), until ctx ends. A replay's
// records pass through a goroutine per topic that paces them and stops at
// the end offset.
func (w *worker) subscribe(ctx context.Context) (*input, error) {
	offsets, err := w.sp.Offsets()
	if err != nil {
		return nil, err
	}
	in := &input{msgs: make(chan kafka.Message, min(w.p.cfg.MaxBatchRecords, fetchAhead))}
	for _, topic := range w.p.cfg.Topics {
		start, from := w.startOffset(topic, offsets)
		end := int64(-1)
		if w.replay != nil {
			end = w.replay.ends[topic]
			if start >= end && start >= 0 || end <= 0 {
				continue // nothing (left) to replay in this topic
			}
		}
		w.log.Info("partition assigned", zap.String("topic", topic), zap.Int64("offset", start), zap.String("from", from))
		if from == "state" && start != w.committed[topic] {
			// The consumer group's committed offset lags the state (a
			// crash between the Pebble commit and the Kafka commit):
			// publish the real position so lag is right even if nothing
			// new arrives.
			w.kafkaOffsets[topic] = start
		}
		if w.replay == nil {
			err = w.subscribeLive(ctx, in, topic, start)
		} else {
			err = w.subscribeReplay(ctx, in, topic, start, end)
		}
		if err != nil {
			return nil, err
		}
	}
	fetched := make(chan struct{})
	go func() {
		in.fetchers.Wait()
		close(fetched)
	}()
	if w.replay != nil {
		in.replayDone = fetched
	}
	return in, nil
}

// subscribeLive has the fetcher send topic's records to in.msgs.
func (w *worker) subscribeLive(ctx context.Context, in *input, topic string, start int64) error {
	stopped, err := w.p.fetch.Subscribe(ctx, topic, w.id, start, in.msgs)
	if err != nil {
		return err
	}
	in.fetchers.Go(func() { <-stopped })
	return nil
}

// subscribeReplay has the fetcher send topic's records to a subscription
// of its own, which replayTopic paces into in.msgs and ends at end.
func (w *worker) subscribeReplay(ctx context.Context, in *input, topic string, start, end int64) error {
	subCtx, endSub := context.WithCancel(ctx)
	recs := make(chan kafka.Message, 1024)
	stopped, err := w.p.fetch.Subscribe(subCtx, topic, w.id, start, recs)
	if err != nil {
		endSub()
		return err
	}
	in.fetchers.Go(func() {
		w.replayTopic(subCtx, recs, in.msgs, end, w.replay.rate)
		endSub()
		<-stopped
	})
	return nil
}

// startDispatcher starts the partition's outbox dispatcher, which delivers
// until dispStop; dispDone receives its error. It is told at once to
// deliver what a previous owner or run left behind.
func (w *worker) startDispatcher() (dispStop context.CancelFunc, dispDone chan error) {
	dispCtx, dispStop := context.WithCancel(context.Background())
	dispDone = make(chan error, 1)
	go func() { dispDone <- w.disp.Run(dispCtx) }()
	w.disp.Notify()
	return dispStop, dispDone
}

// handOff ends the worker's ownership of the partition: the dispatcher
// stops, then gets a bounded flush (outbox.shutdown_flush) so a clean
// handoff leaves the outbox empty; the deliveries are deleted (and logged)
// so the next owner does not deliver them again (it would be harmless:
// Redis drops a known trigger id); the Kafka offset is committed.
func (w *worker) handOff(dispStop context.CancelFunc, dispDone <-chan error) {
	dispStop()
	<-dispDone
	fctx, cancel := context.WithTimeout(context.Background(), w.p.cfg.ShutdownFlush)
	defer cancel()
	if err := w.disp.Flush(fctx); err != nil {
		w.log.Warn("outbox not fully delivered at handoff; the next owner delivers it", zap.Error(err),
			zap.Int64("outbox_depth", w.sp.OutboxDepth()))
	}
	if err := w.logDeliveries(fctx); err != nil {
		w.log.Warn("delivered outbox entries not logged at handoff; the next owner re-delivers them", zap.Error(err))
	}
	w.commitKafka(true)
}

// consume folds and commits rounds of the records that arrive until ctx
// ends (nil), the dispatcher fails, or, in a replay, everything up to the
// end offsets is committed (nil). Between rounds it pauses while the
// outbox is full, advances an idle partition's watermark with the wall
// clock (live mode) and, on the commit interval, publishes the offsets and
// commits the deliveries of a quiet partition.
func (w *worker) consume(ctx context.Context, in *input, dispDone <-chan error) error {
	// In live mode an idle partition's watermark follows the wall clock,
	// so absence timers fire without waiting for more traffic.
	var idle <-chan time.Time
	if w.p.cfg.IdleAdvance > 0 {
		t := time.NewTicker(w.p.cfg.IdleAdvance / 2)
		defer t.Stop()
		idle = t.C
	}
	lastRecord := time.Now() // a partition just opened waits IdleAdvance before the wall clock moves it
	commitTick := time.NewTicker(w.p.cfg.CommitInterval)
	defer commitTick.Stop()
	batch := make([]kafka.Message, 0, min(w.p.cfg.MaxBatchRecords, fetchAhead))
	for {
		if err := w.waitForOutbox(ctx, dispDone); err != nil {
			return err
		}
		batch = reuse(batch, w.roundBehind())
		select {
		case <-ctx.Done():
			return nil
		case err := <-dispDone:
			return fmt.Errorf("outbox dispatcher: %w", err)
		case <-idle:
			// Idle means nothing read for IdleAdvance: a partition
			// working through a backlog is not (its events move the
			// watermark; the wall clock would fire every armed timer
			// before the events that cancel them are read).
			if time.Since(lastRecord) < w.p.cfg.IdleAdvance {
				continue
			}
			if err := w.tick(ctx, time.Now()); err != nil {
				return unlessStopped(err)
			}
			continue
		case <-commitTick.C:
			// A quiet partition still publishes its last position, and
			// deletes (and logs) the deliveries its dispatcher made.
			w.commitKafka(false)
			if err := w.logDeliveries(ctx); err != nil {
				return unlessStopped(err)
			}
			continue
		case m := <-in.msgs:
			batch = append(batch, m)
		case <-in.replayDone:
			select {
			case m := <-in.msgs:
				batch = append(batch, m)
			default:
				return nil // every record up to the ends is committed
			}
		}
		var err error
		if batch, err = w.process(ctx, in.msgs, batch); err != nil {
			return unlessStopped(err)
		}
		lastRecord = time.Now()
		w.commitKafka(false)
	}
}

// unlessStopped is err, or nil when the worker was stopped before its
// round was committed (the next owner reads it again).
func unlessStopped(err error) error {
	if errors.Is(err, errStopped) {
		return nil
	}
	return err
}

// startOffset picks where to start reading topic: the state store's offset
// when it has one, else the configured start position.
func (w *worker) startOffset(topic string, offsets map[string]int64) (int64, string) {
	if off, ok := offsets[topic]; ok {
		return off, "state"
	}
	if w.replay != nil {
		return w.replay.starts[topic], "replay plan"
	}
	switch w.p.cfg.StartOffset {
	case StartLatest:
		return kafka.LastOffset, "latest"
	case StartCommitted:
		if off, ok := w.committed[topic]; ok && off >= 0 {
			return off, "committed"
		}
	}
	return kafka.FirstOffset, "earliest"
}

// replayTopic passes a replayed topic's records from in to msgs, at most
// rate per second (0: unpaced), until the one before end.
func (w *worker) replayTopic(ctx context.Context, in <-chan kafka.Message, msgs chan<- kafka.Message, end int64, rate float64) {
	start, n := time.Now(), 0
	for {
		if rate > 0 {
			if wait := time.Until(start.Add(time.Duration(float64(n) / rate * float64(time.Second)))); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
			n++
		}
		var m kafka.Message
		select {
		case m = <-in:
		case <-ctx.Done():
			return
		}
		if m.Offset >= end {
			return
		}
		select {
		case msgs <- m:
		case <-ctx.Done():
			return
		}
		if m.Offset+1 >= end {
			return
		}
	}
}

// fetchAhead bounds the records a partition's worker has fetched but not
// taken yet.
const fetchAhead = 8192

// reuse empties a round's record slice for the next round. The records
// are cleared — each holds a reference to its fetch response's slab, which
// would otherwise stay reachable, and be scanned by every collection, for
// as long as the slice lives — and a slice grown by a backlog is dropped
// once the round it served was small and caught up (behind false): live
// traffic does not keep a backlog-sized array per partition, and a backlog
// does not grow a new one (copying itself several times) for every round.
func reuse(batch []kafka.Message, behind bool) []kafka.Message {
	if !behind && cap(batch) > fetchAhead && len(batch) <= fetchAhead {
		return make([]kafka.Message, 0, fetchAhead)
	}
	clear(batch)
	return batch[:0]
}

// roundBehind reports whether the last round's newest record of some topic
// was behind its partition's high watermark.
func (w *worker) roundBehind() bool {
	for i := range w.lag {
		if w.lag[i].behind {
			return true
		}
	}
	return false
}

// fill adds the records that are waiting to batch, within the round's
// bounds (records and bytes), and returns as soon as it took any
// (process folds them and calls it again). When none are waiting it waits
// for one, the round's waits (*waited, which it adds to) adding up to
// batch.linger — or, while the partition was behind its high watermark in
// some topic when the round's newest record of it was fetched, to
// batch.backlog_wait: a backlog is worked through in large rounds
// (the time spent folding does not count), and live traffic is committed
// as it comes.
func (w *worker) fill(ctx context.Context, msgs <-chan kafka.Message, batch []kafka.Message, waited *time.Duration) []kafka.Message {
	cfg := &w.p.cfg
	n0 := len(batch)
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for len(batch) < cfg.MaxBatchRecords && w.batchBytes < cfg.MaxBatchBytes {
		select {
		case m := <-msgs:
			batch = append(batch, m)
			w.note(batch[len(batch)-1:])
			continue
		default:
		}
		if len(batch) > n0 {
			return batch
		}
		d := cfg.Linger
		if w.roundBehind() {
			d = max(d, cfg.BacklogWait)
		}
		if d -= *waited; d <= 0 {
			return batch
		}
		if t == nil {
			t = time.NewTimer(d)
		} else {
			t.Reset(d)
		}
		t0 := time.Now()
		select {
		case m := <-msgs:
			*waited += time.Since(t0)
			batch = append(batch, m)
			w.note(batch[len(batch)-1:])
		case <-t.C:
			*waited += time.Since(t0)
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

// note adds msgs, joining the round, to its size and to whether each
// topic is behind.
func (w *worker) note(msgs []kafka.Message) {
	for i := range msgs {
		m := &msgs[i]
		w.batchBytes += len(m.Key) + len(m.Value)
		b := moreAfter(m)
		found := false
		for j := range w.lag {
			if w.lag[j].topic == m.Topic {
				w.lag[j].behind, found = b, true
				break
			}
		}
		if !found {
			w.lag = append(w.lag, topicLag{m.Topic, b})
		}
	}
}

// moreAfter reports whether m's partition had records after m when m was
// fetched (the fetcher marks a record caught up when only markers follow).
func moreAfter(m *kafka.Message) bool { return m.HighWaterMark > m.Offset+1 }

// topicLag is whether a topic's newest record in a batch was behind the
// partition's high watermark when fetched.
type topicLag struct {
	topic  string
	behind bool
}

// waitForOutbox pauses consumption while the outbox is over its bound
// (the sink is down or slow), so it never grows without limit.
func (w *worker) waitForOutbox(ctx context.Context, dispDone <-chan error) error {
	if w.sp.OutboxDepth() < w.p.cfg.OutboxMax {
		return nil
	}
	start := time.Now()
	w.log.Warn("outbox full: pausing consumption", zap.Int64("outbox_depth", w.sp.OutboxDepth()))
	defer func() {
		w.p.metrics.BackpressureWait.WithLabelValues(w.label).Add(time.Since(start).Seconds())
	}()
	for w.sp.OutboxDepth() >= w.p.cfg.OutboxMax {
		select {
		case <-ctx.Done():
			return nil
		case err := <-dispDone:
			return fmt.Errorf("outbox dispatcher: %w", err)
		case <-w.disp.Progress():
		case <-time.After(time.Second):
		}
	}
	return nil
}

var errStopped = errors.New("pipeline: stopped before the batch was committed")

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
// bound a round's input, this bounds its output.
func (w *worker) process(ctx context.Context, msgs <-chan kafka.Message, batch []kafka.Message) ([]kafka.Message, error) {
	rd := w.openRound()
	defer rd.tx.abortUnlessCommitted()
	w.lag, w.batchBytes = w.lag[:0], 0
	w.note(batch)
	var waited time.Duration
	folded := 0
	for {
		if err := w.fold(rd, batch[folded:]); err != nil {
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
	err := w.commitRound(ctx, rd)
	var big *kafkaio.BatchTooBigError
	if !errors.As(err, &big) || len(batch) < 2 {
		return batch, err
	}
	rd.tx.abortUnlessCommitted()
	w.log.Warn("round over changelog.max_batch_bytes: committing it in two (a larger changelog.max_batch_bytes, or a smaller batch.max_bytes, avoids folding it again)",
		zap.Int("records", len(batch)), zap.Int("changelog_bytes", big.Size))
	h := len(batch) / 2
	if _, err := w.process(ctx, nil, batch[:h]); err != nil {
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
	deadLetter := func(m *kafka.Message, e *ingest.Error) {
		rd.dlq = append(rd.dlq, deadLetter(m, e))
		rd.dlqReasons = append(rd.dlqReasons, e.Reason)
	}
	var (
		tc *topicCounters
		rt = -1
	)
	for i := range msgs {
		m := &msgs[i]
		// Records come in runs of one topic: look it up when it changes.
		if rt < 0 || rd.topics[rt].topic != m.Topic {
			rt, tc = rd.topic(m.Topic), w.counters(m.Topic)
		}
		rd.topics[rt].next, rd.topics[rt].hwm = m.Offset+1, m.HighWaterMark
		tc.n.in++

		ev, err := p.dec.Decode(record(m))
		if err != nil {
			var ie *ingest.Error
			if !errors.As(err, &ie) {
				ie = &ingest.Error{Reason: ingest.ReasonFormat, Msg: err.Error()}
			}
			deadLetter(m, ie)
			continue
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
		if w.runner.Late(&ev) {
			tc.n.late++
		}
		switch err := w.runner.Apply(&ev, &w.out); {
		case errors.Is(err, journey.ErrLate):
			deadLetter(m, &ingest.Error{Reason: ReasonLate, Msg: fmt.Sprintf(
				"event time is %s before the partition's watermark", w.runner.Watermark().Sub(ev.Time).Round(time.Millisecond))})
			continue
		case err != nil:
			return err
		}
		tx.b.MarkSeen(ev.ID, ev.Time)
		if err := tx.emit(&w.out, m.Time); err != nil {
			return err
		}
		tc.n.folded++
	}
	return nil
}

// commitRound commits rd: offsets, states and contexts, dead letters first, then
// the changelog and the Pebble batch.
func (w *worker) commitRound(ctx context.Context, rd *round) error {
	p := w.p
	tx := rd.tx
	slices.SortFunc(rd.topics, func(a, b roundTopic) int { return strings.Compare(a.topic, b.topic) })
	for _, t := range rd.topics {
		tx.b.SetOffset(t.topic, t.next)
	}
	recs, err := tx.prepare()
	if err != nil {
		return err
	}
	// Dead letters are written (and acknowledged) before the batch commits,
	// so a record's offset is never durable without its dead letter.
	if len(rd.dlq) > 0 && !p.cfg.SkipDeadLetters {
		if err := w.writeDLQ(ctx, rd.dlq); err != nil {
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
	p.metrics.BatchSize.Observe(float64(rd.records))
	for _, t := range rd.topics {
		w.kafkaOffsets[t.topic] = t.next
		if t.hwm > 0 {
			p.metrics.ConsumerLag.WithLabelValues(t.topic, w.label).Set(float64(t.hwm - t.next))
		}
	}
	return nil
}

// tick advances an idle partition's watermark with the wall clock (live
// mode), firing the timers that makes due, and commits what they produced.
func (w *worker) tick(ctx context.Context, now time.Time) error {
	to := now.Add(-w.p.cfg.IdleAdvance - w.p.cfg.Lateness)
	if !to.After(w.runner.Watermark()) {
		return nil
	}
	tx := w.begin()
	defer tx.abortUnlessCommitted()
	w.out.Reset()
	if err := w.runner.Advance(to, &w.out); err != nil {
		return err
	}
	if err := tx.emit(&w.out, time.Time{}); err != nil {
		return err
	}
	return tx.commit(ctx)
}

// logDeliveries deletes the outbox entries delivered since the last round (and logs the deletions to the changelog) when the partition is
// quiet: a busy partition's next commit carries them.
func (w *worker) logDeliveries(ctx context.Context) error {
	if head := w.sp.HeadSeq(); head <= w.sp.OutboxDeleted() && (w.p.clog == nil || head <= w.sp.OutboxLogged()) {
		return nil
	}
	tx := w.begin()
	defer tx.abortUnlessCommitted()
	return tx.commit(ctx)
}

// tx is one round in progress: the Pebble batch, with the runner's
// watermark to restore if it is abandoned.
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
	// label pairs to count once the batch is committed.
	emitted, suppressed [][2]string
}

func (w *worker) begin() *tx {
	b := w.sp.NewBatch()
	w.runner.Timers = b
	return &tx{w: w, b: b, wm0: w.runner.Watermark()}
}

// abortUnlessCommitted drops an abandoned batch and everything the runner
// cached for it, so the next batch starts from what is durable.
func (t *tx) abortUnlessCommitted() {
	if t.committed || t.aborted {
		return
	}
	t.aborted = true
	t.b.Abort()
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
		if p.cfg.DiscardOutput {
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
	// The entries the dispatcher delivered since the last batch.
	t.b.DeleteDelivered()
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

// writeDLQ writes dead letters, retrying until they are acknowledged or the
// worker is stopped (then the batch is not committed and is re-read later).
func (w *worker) writeDLQ(ctx context.Context, msgs []kafka.Message) error {
	backoff := 100 * time.Millisecond
	for {
		wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := w.p.dlq.WriteMessages(wctx, msgs...)
		cancel()
		if err == nil {
			return nil
		}
		w.log.Warn("dead-letter write failed; retrying", zap.Error(err), zap.Int("records", len(msgs)))
		select {
		case <-ctx.Done():
			return errStopped
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// commitKafka commits processed offsets to the consumer group (for lag visibility
// only) at most once per CommitInterval, or now when force is set.
func (w *worker) commitKafka(force bool) {
	if w.gen == nil || len(w.kafkaOffsets) == 0 || (!force && time.Since(w.lastKafka) < w.p.cfg.CommitInterval) {
		return
	}
	offs := map[string]map[int]int64{}
	for topic, off := range w.kafkaOffsets {
		offs[topic] = map[int]int64{w.id: off}
	}
	if err := w.gen.CommitOffsets(offs); err != nil {
		w.log.Debug("kafka offset commit (lag visibility only)", zap.Error(err))
		return
	}
	w.lastKafka = time.Now()
	clear(w.kafkaOffsets)
}

func record(m *kafka.Message) ingest.Record {
	hs := make([]ingest.Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = ingest.Header{Key: h.Key, Value: h.Value}
	}
	return ingest.Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: hs, Time: m.Time}
}

// deadLetter is the original record (key, value, headers) plus headers
// naming the failure and the source.
func deadLetter(m *kafka.Message, e *ingest.Error) kafka.Message {
	hs := make([]kafka.Header, 0, len(m.Headers)+5)
	hs = append(hs, m.Headers...)
	hs = append(hs,
		kafka.Header{Key: HeaderReason, Value: []byte(e.Reason)},
		kafka.Header{Key: HeaderMessage, Value: []byte(e.Msg)},
		kafka.Header{Key: HeaderSourceTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
	)
	return kafka.Message{Key: m.Key, Value: m.Value, Headers: hs, Time: m.Time}
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
