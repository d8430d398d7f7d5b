package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/outbox"
	"github.com/journey-dev/journey/pkg/state"
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

	runner         *journey.Runner
	roundCustomers int // this partition's share of Config.RoundCustomers (0: no bound)
	aheadRecords   int // the input buffer's records: its share of Config.FetchAhead
	out            journey.Output
	mout           journey.Output      // a merge's (identity.go), made while out holds an event's
	stateBuf       []byte              // scratch for encodeState
	ctxParts       []map[string]string // scratch for tx.prepare
	ctxEntries     [][]byte            // scratch for tx.prepare: the round's context entries
	stateOrder     []int               // processor indexes in state key order (tx.prepare)
	lastKafka      time.Time
	kafkaOffsets   map[string]int64 // processed, not yet committed to Kafka

	cur    *tx       // the commit in progress, or the last one
	forgot forgotten // the partition's forgotten ids (forget.go)
	poison poison    // what failed a fold in the round in progress (poison.go)

	// behind is, per input topic, how many records the partition is
	// behind: as of the last commit, or more once a round took newer
	// records (PartitionStatus.Lag).
	behind map[string]int64

	// topics holds the per-topic counters of this partition, resolved
	// once rather than by a label lookup per record (the hot path).
	topics map[string]*topicCounters

	// replay is set when the worker replays a bounded range (Replay)
	// instead of following a consumer group generation (gen is nil).
	replay *replayRange

	// deleteLimit bounds the delivered outbox entries a commit deletes:
	// in a replay's epochs, those its receivers have committed
	// (replayroute.go); else no bound. epochHead is the outbox head at the
	// last epoch's barrier.
	deleteLimit, epochHead uint64
}

// replayRange is one partition's part of a ReplayPlan.
type replayRange struct {
	starts map[string]int64 // topic -> first offset when the state has none
	ends   map[string]int64 // topic -> offset to stop before
	rate   float64          // records/s for each of this partition's fetchers; 0: unpaced
	// repartitionAt is the live repartition topic's end when the replay
	// began: the offset the replay's store resumes it from (replay.go).
	repartitionAt int64
	// advanceTo is ReplayPlan.AdvanceTo; lastTime the latest Kafka
	// timestamp of the records this replay folded here (the default),
	// kept by fold.
	advanceTo, lastTime time.Time
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
		w := &worker{
			p: p, id: id, gen: gen, committed: committed, sp: sp, log: log, label: strconv.Itoa(id), runner: runner,
			disp:         outbox.NewDispatcher(sp, p.sink, p.cfg.Dispatch, p.log, p.observer()), // it adds the partition itself
			kafkaOffsets: map[string]int64{}, deleteLimit: math.MaxUint64, roundCustomers: p.cfg.roundCustomers(owned), aheadRecords: p.cfg.aheadRecords(owned),
		}
		if p.router != nil {
			w.deleteLimit = 0
		}
		w.disp.SetSkip(w.skipForgotten)
		if p.routed() {
			// Now, so that the dispatcher skips from its start; on an error
			// the first record reads it again and fails the round with it.
			_ = w.loadForgotten()
		}
		switch {
		case p.router != nil:
			w.disp.SetForwarder(p.router.from(id))
		case p.fwd != nil:
			w.disp.SetForwarder(p.fwd.from(id))
		}
		runner.SkipTimer = w.skipTimer
		return w
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
	if r := w.p.router; r != nil {
		if err := r.queued(w.id, w.sp); err != nil {
			return err
		}
	}
	in, err := w.subscribe(stopCtx)
	if err != nil {
		if stopCtx.Err() != nil {
			return nil // stopped while subscribing: nothing was read
		}
		return err
	}
	defer func() {
		stop()
		in.fetchers.Wait()
	}()
	dispStop, dispDone := w.startDispatcher()
	defer w.handOff(dispStop, dispDone)
	w.commitKafka(true)
	w.p.setPartition(w.id, func(st *PartitionStatus) { st.State, st.Progress = StateReady, time.Now() })
	if w.p.router != nil {
		return w.consumeEpochs(stopCtx, in, dispDone)
	}
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
	in := &input{msgs: make(chan kafka.Message, w.aheadRecords)}
	for _, topic := range w.p.inputs() {
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
	f := w.p.fetch
	if topic == w.p.cfg.Identity.Topic && w.p.fetchRoute != nil {
		f = w.p.fetchRoute
	}
	stopped, err := f.Subscribe(ctx, topic, w.id, start, in.msgs)
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
// until dispStop; dispDone receives its error, then is closed, so both
// the round loop and handOff can wait on it (a dispatcher that fails
// ends the loop, which must not leave handOff waiting forever). It is
// told at once to deliver what a previous owner or run left behind.
func (w *worker) startDispatcher() (dispStop context.CancelFunc, dispDone chan error) {
	dispCtx, dispStop := context.WithCancel(context.Background())
	dispDone = make(chan error, 1)
	go func() { dispDone <- w.disp.Run(dispCtx); close(dispDone) }()
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
				// Every record up to the ends is committed: the watermark
				// goes where live processing's would be by then.
				return unlessStopped(w.endReplay(ctx))
			}
		}
		var err error
		batch, err = w.process(ctx, in.msgs, batch)
		w.poison.clear()
		if err != nil {
			return unlessStopped(err)
		}
		lastRecord = time.Now()
		w.commitKafka(false)
	}
}

// consumeEpochs is consume for a replay that routes in memory
// (replayroute.go): epoch by epoch, one round of the records forwarded
// here in the last epoch then the next ReplayPlan batch of input records,
// until no partition has input left and nothing was forwarded; then
// endReplay.
func (w *worker) consumeEpochs(ctx context.Context, in *input, dispDone <-chan error) error {
	r := w.p.router
	size := max(w.p.cfg.MaxBatchRecords, 1)
	fetched := in.replayDone
	for {
		batch := r.take(w.id)
		n := 0
		for n < size && fetched != nil {
			select {
			case m := <-in.msgs:
				batch = append(batch, m)
				n++
				continue
			case <-ctx.Done():
				return nil
			case err := <-dispDone:
				return fmt.Errorf("outbox dispatcher: %w", err)
			case <-fetched:
			}
			select { // every fetcher is done: what is left is buffered
			case m := <-in.msgs:
				batch = append(batch, m)
				n++
			default:
				fetched = nil
			}
		}
		if len(batch) > 0 {
			_, err := w.process(ctx, nil, batch)
			w.poison.clear()
			if err != nil {
				return unlessStopped(err)
			}
		}
		if err := r.handedAll(ctx, w.id, dispDone); err != nil {
			return unlessStopped(err)
		}
		// What was delivered by the last barrier, every receiver has
		// committed by this one.
		w.deleteLimit, w.epochHead = w.epochHead, w.sp.HeadSeq()
		done, err := r.barrier(ctx, fetched != nil)
		if err != nil {
			return unlessStopped(err)
		}
		if done {
			w.deleteLimit = math.MaxUint64
			return unlessStopped(w.endReplay(ctx))
		}
	}
}

// endReplay advances the watermark of a replayed partition to
// ReplayPlan.AdvanceTo (else its last record's Kafka timestamp), firing
// the timers due by then, and commits what they produced.
func (w *worker) endReplay(ctx context.Context) error {
	to := w.replay.advanceTo
	if to.IsZero() {
		to = w.replay.lastTime
	}
	if to.IsZero() {
		return nil
	}
	return w.advanceTo(ctx, to)
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
	if topic == w.p.cfg.Identity.Topic {
		// Every forwarded record is journey's own, addressed here.
		return kafka.FirstOffset, "earliest"
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

// aheadRecordBytes is what Config.FetchAhead counts a buffered record as;
// minAhead is the fewest records a worker's input buffer holds.
const (
	aheadRecordBytes = 1 << 10
	minAhead         = 256
)

// roundCustomers is a partition's share of RoundCustomers when the
// instance owns owned partitions (0: no bound).
func (c *Config) roundCustomers(owned int) int {
	if c.RoundCustomers <= 0 {
		return 0
	}
	return max(c.RoundCustomers/max(owned, 1), 1)
}

// aheadRecords is the records a worker's input buffer holds when the
// instance owns owned partitions: fetchAhead, within a round's records,
// and within the worker's share of half of FetchAhead when it is set.
func (c *Config) aheadRecords(owned int) int {
	n := min(c.MaxBatchRecords, fetchAhead)
	if c.FetchAhead > 0 {
		n = min(n, max(int(c.FetchAhead/2/int64(max(owned, 1))/aheadRecordBytes), minAhead))
	}
	return n
}

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
	limit := cfg.MaxBatchRecords
	if w.roundCustomers > 0 {
		// Most records touch a customer the round has not: take no more
		// than the customers the round may still touch, and look again
		// once they are folded.
		limit = min(limit, n0+w.roundCustomers-len(w.runner.Touched()))
	}
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for len(batch) < limit && w.batchBytes < cfg.MaxBatchBytes {
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
	if w.sp.OutboxDepth() < w.p.cfg.OutboxMax || w.p.router != nil {
		// A replay that routes in memory never pauses: a dispatcher
		// waits for the partitions it forwards to (replayroute.go), and
		// two paused partitions forwarding to each other would wait forever.
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

// progress publishes the partition's lag (PartitionStatus), and, when
// committed, that it made progress: a stall counts from the last commit or
// from when the partition fell behind, whichever is later.
func (w *worker) progress(committed bool) {
	if w.replay != nil {
		return
	}
	var lag int64
	for _, n := range w.behind {
		lag += n
	}
	now := time.Now()
	w.p.setPartition(w.id, func(st *PartitionStatus) {
		if committed || st.Lag == 0 {
			st.Progress = now
		}
		st.Lag = lag
	})
}

// took notes that a round took m, the newest record of its topic so far:
// the partition is at least as far behind as m's high watermark says.
func (w *worker) took(m *kafka.Message) {
	if w.replay != nil {
		return
	}
	if w.behind == nil {
		w.behind = map[string]int64{}
	}
	if n := m.HighWaterMark - m.Offset; n > w.behind[m.Topic] {
		w.behind[m.Topic] = n
		w.progress(false)
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
