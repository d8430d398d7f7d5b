package pipeline

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/journey-dev/journey/internal/kafkaio"
)

// ReplayPlan is where a replay reads each partition of the input topics.
type ReplayPlan struct {
	// Starts: topic -> partition -> the offset to start at when the state
	// store has none for it (kafka.FirstOffset for the earliest retained).
	Starts map[string]map[int]int64
	// Ends: topic -> partition -> the offset to stop before. A partition
	// missing from Ends is not read.
	Ends map[string]map[int]int64
	// AdvanceTo is where each partition's watermark goes once its records
	// up to Ends are committed (journey replay --to); zero: its last
	// record's Kafka timestamp. The timers due by then fire, so absence
	// triggers live processing would have fired by that time (an
	// abandoned cart) fire in the backtest too.
	AdvanceTo time.Time
}

// Replay reads the input topics directly — no consumer group, so a live
// processor on the same topics is not disturbed — every partition at once,
// from the state store's offsets (else plan.Starts) up to plan.Ends, through
// the same decode, de-duplication, fold and commit as Run. It returns nil
// when every partition reached its end, ctx's error when ctx ended first
// (each partition committed the batch it was folding, so a later Replay
// with the same store resumes there), or the first fatal error.
func (p *Pipeline) Replay(ctx context.Context, plan ReplayPlan) error {
	defer p.dlq.Close()
	p.clog = nil // a replay writes its own store, which the live changelog must not see
	if err := CheckBrokersWith(ctx, p.cfg.Brokers, p.cfg.Dialer, p.cfg.DialTimeout); err != nil {
		return err
	}
	n, err := p.checkTopics(ctx)
	if err != nil {
		return err
	}
	p.parts = n
	p.resolveForgetRetention(ctx)
	if p.routed() {
		// The forgotten ids: a replay into a fresh directory must not
		// bring a forgotten customer back.
		if err := p.loadLedger(ctx); err != nil {
			return err
		}
	}
	if !p.cfg.SkipDeadLetters {
		if err := p.ensureDLQ(ctx, n); err != nil {
			return err
		}
	}
	ids := map[int]bool{}
	for _, topic := range p.cfg.Topics {
		for id := range plan.Ends[topic] {
			if id < 0 || id >= n {
				return fmt.Errorf("replay: topic %q has no partition %d", topic, id)
			}
			ids[id] = true
		}
	}
	p.store.Share(len(ids))
	var repartitionAt map[int]int64
	if p.routed() {
		p.router = newReplayRouter(p.cfg.Identity.Topic, slices.Sorted(maps.Keys(ids)))
		// The replay forwards in memory. Its store resumes the live
		// repartition topic where it ended when the plan was made: what
		// the live run forwards later comes from input past the plan's
		// ends, which a promoted replay reads itself (the copies are
		// dropped as duplicates).
		if repartitionAt, err = kafkaio.OffsetsAt(ctx, p.cfg.Brokers, p.dialer, p.cfg.Identity.Topic, time.Time{}); err != nil {
			repartitionAt = nil // not created yet: from its start
		}
	}
	// One fetch request per broker for every replayed partition, as live.
	p.fetch = p.newFetcher(nil, 1)
	defer p.fetch.Close()
	p.mu.Lock()
	p.joined = true
	for id := range ids {
		p.partitions[id] = PartitionStatus{State: StateRestoring}
	}
	p.mu.Unlock()
	g, gctx := errgroup.WithContext(ctx)
	if p.router != nil {
		defer context.AfterFunc(ctx, p.router.stop)()
	}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		r := &replayRange{starts: map[string]int64{}, ends: map[string]int64{}, repartitionAt: repartitionAt[id], advanceTo: plan.AdvanceTo}
		if p.cfg.MaxRate > 0 {
			r.rate = p.cfg.MaxRate / float64(len(ids)*len(p.cfg.Topics))
		}
		for _, topic := range p.cfg.Topics {
			if end, ok := plan.Ends[topic][id]; ok {
				r.ends[topic] = end
				start, ok := plan.Starts[topic][id]
				if !ok {
					start = kafka.FirstOffset
				}
				r.starts[topic] = start
			}
		}
		g.Go(func() error {
			defer p.setPartition(id, nil)
			w, err := p.newWorker(id, nil, nil, len(ids), nil)
			if err != nil {
				return fmt.Errorf("partition %d: %w", id, err)
			}
			w.replay = r
			if err := w.run(gctx, gctx); err != nil {
				return fmt.Errorf("partition %d: %w", id, err)
			}
			return nil
		})
	}
	err = g.Wait()
	switch {
	case err != nil && ctx.Err() == nil:
		return err
	case ctx.Err() != nil:
		return ctx.Err()
	}
	p.log.Info("replay reached its end offsets", zap.Int("partitions", len(ids)))
	return nil
}

// EndOffsets returns, for each partition of topic, the offset a replay
// bounded by to stops before: the first offset whose record timestamp is at
// or after to, or the end of the partition (its high watermark) when to is
// zero or later than every record. dialer carries TLS and SASL (nil:
// plaintext).
func EndOffsets(ctx context.Context, brokers []string, dialer *kafka.Dialer, topic string, to time.Time) (map[int]int64, error) {
	return kafkaio.OffsetsAt(ctx, brokers, dialer, topic, to)
}

// StartOffsets returns, for each partition of topic, the first offset whose
// record timestamp is at or after from (the end of the partition when no
// record is that new).
func StartOffsets(ctx context.Context, brokers []string, dialer *kafka.Dialer, topic string, from time.Time) (map[int]int64, error) {
	return kafkaio.OffsetsAt(ctx, brokers, dialer, topic, from)
}
