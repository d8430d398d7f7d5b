package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// offsetsRetrying is partitionOffsets retried with backoff (up to 5 s)
// until it succeeds or ctx ends; failures after the first quiet ones are
// logged.
func offsetsRetrying(ctx context.Context, c *kafka.Client, log *zap.Logger, topic string, partition, quiet int) (first, last int64, _ error) {
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		first, last, err := partitionOffsets(ctx, c, topic, partition)
		if err == nil {
			return first, last, nil
		}
		if ctx.Err() != nil {
			// Stopped meanwhile: the broker's error (an answer cut short)
			// is not the caller's failure.
			return 0, 0, ctx.Err()
		}
		if attempt > quiet {
			log.Warn("list offsets failed; retrying", zap.String("topic", topic), zap.Int("partition", partition),
				zap.Duration("backoff", backoff), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// partitionOffsets returns the first and the next offset of one partition
// (a fetched input, a changelog).
func partitionOffsets(ctx context.Context, c *kafka.Client, topic string, partition int) (first, last int64, _ error) {
	res, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.FirstOffsetOf(partition), kafka.LastOffsetOf(partition)},
	}})
	if err != nil {
		return 0, 0, fmt.Errorf("list offsets of %s/%d: %w", topic, partition, err)
	}
	for _, p := range res.Topics[topic] {
		if p.Partition == partition {
			if p.Error != nil {
				return 0, 0, fmt.Errorf("list offsets of %s/%d: %w", topic, partition, p.Error)
			}
			return p.FirstOffset, p.LastOffset, nil
		}
	}
	return 0, 0, fmt.Errorf("list offsets of %s/%d: no answer for the partition", topic, partition)
}

// partitionLeaders returns the leader broker id of each of topic's
// partitions that has one.
func partitionLeaders(ctx context.Context, c *kafka.Client, topic string) (map[int]int, error) {
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	leaders := map[int]int{}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			if p.Error == nil && p.Leader.Host != "" {
				leaders[p.ID] = p.Leader.ID
			}
		}
	}
	return leaders, nil
}

// OffsetsAt returns, for each partition of topic, the first offset whose
// record timestamp is at or after at, or the end of the partition (its high
// watermark) when at is zero or later than every record. dialer carries
// the TLS and SASL of the connections (nil: plaintext).
func OffsetsAt(ctx context.Context, brokers []string, dialer *kafka.Dialer, topic string, at time.Time) (map[int]int64, error) {
	last, err := listOffsets(ctx, brokers, dialer, topic, kafka.LastOffsetOf)
	if err != nil || at.IsZero() {
		return last, err
	}
	out, err := listOffsets(ctx, brokers, dialer, topic, func(id int) kafka.OffsetRequest { return kafka.TimeOffsetOf(id, at) })
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

// listOffsets asks for one offset (req) of every partition of topic.
func listOffsets(ctx context.Context, brokers []string, dialer *kafka.Dialer, topic string, req func(int) kafka.OffsetRequest) (map[int]int64, error) {
	t := TransportFor(dialer, DefaultTimeout)
	defer t.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second, Transport: t}
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
