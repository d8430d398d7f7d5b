package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// ReplayPlan is where a replay reads each partition of the input topics.
type ReplayPlan struct {
	// Starts: topic -> partition -> the offset to start at when the state
	// store has none for it (kafka.FirstOffset for the earliest retained).
	Starts map[string]map[int]int64
	// Ends: topic -> partition -> the offset to stop before. A partition
	// missing from Ends is not read.
	Ends map[string]map[int]int64
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
	n, err := p.checkTopics(ctx)
	if err != nil {
		return err
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
	// One fetch request per broker for every replayed partition, as live.
	p.fetch = newFetcher(p.cfg.Brokers, p.cfg.FetchMaxBytes, p.cfg.FetchMaxWait, p.log.Named("fetch"))
	defer p.fetch.close()
	p.mu.Lock()
	p.joined = true
	for id := range ids {
		p.partitions[id] = PartitionStatus{State: StateRestoring}
	}
	p.mu.Unlock()
	g, gctx := errgroup.WithContext(ctx)
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		r := &replayRange{starts: map[string]int64{}, ends: map[string]int64{}}
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
// zero or later than every record.
func EndOffsets(ctx context.Context, brokers []string, topic string, to time.Time) (map[int]int64, error) {
	return offsetsAt(ctx, brokers, topic, to)
}

// StartOffsets returns, for each partition of topic, the first offset whose
// record timestamp is at or after from (the end of the partition when no
// record is that new).
func StartOffsets(ctx context.Context, brokers []string, topic string, from time.Time) (map[int]int64, error) {
	return offsetsAt(ctx, brokers, topic, from)
}

func offsetsAt(ctx context.Context, brokers []string, topic string, at time.Time) (map[int]int64, error) {
	last, err := listOffsets(ctx, brokers, topic, kafka.LastOffsetOf)
	if err != nil || at.IsZero() {
		return last, err
	}
	out, err := listOffsets(ctx, brokers, topic, func(id int) kafka.OffsetRequest { return kafka.TimeOffsetOf(id, at) })
	if err != nil {
		return nil, err
	}
	for id, off := range out {
		if off < 0 { // no record that new
			out[id] = last[id]
		}
	}
	return out, nil
}

func listOffsets(ctx context.Context, brokers []string, topic string, req func(int) kafka.OffsetRequest) (map[int]int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("topic %q: metadata: %w", topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) == 0 {
		var terr error
		if len(md.Topics) == 1 {
			terr = md.Topics[0].Error
		}
		return nil, fmt.Errorf("topic %q does not exist (%v)", topic, terr)
	}
	var reqs []kafka.OffsetRequest
	for _, pt := range md.Topics[0].Partitions {
		reqs = append(reqs, req(pt.ID))
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("topic %q: list offsets: %w", topic, err)
	}
	out := map[int]int64{}
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("topic %q partition %d: list offsets: %w", topic, po.Partition, po.Error)
		}
		out[po.Partition] = offsetOf(po)
	}
	if len(out) != len(reqs) {
		return nil, errors.New("list offsets: incomplete answer")
	}
	return out, nil
}

// offsetOf reads the one offset a ListOffsets answer holds for a partition
// (-1 when a timestamp is later than every record).
func offsetOf(po kafka.PartitionOffsets) int64 {
	for off := range po.Offsets {
		return off
	}
	if po.LastOffset >= 0 {
		return po.LastOffset
	}
	return po.FirstOffset
}
