package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/bench/internal/procstat"
	"github.com/journey-dev/journey/bench/peers/workload"
)

// cluster is the bench's own view of the broker: topic creation, offsets,
// the group's committed offsets.
type cluster struct {
	addrs  []string
	client *kafka.Client
}

func newCluster(addrs []string) *cluster {
	return &cluster{addrs: addrs, client: &kafka.Client{Addr: kafka.TCP(addrs...), Timeout: 20 * time.Second, Transport: &kafka.Transport{}}}
}

// create makes a topic of n partitions and returns once every partition
// answers a ListOffsets request (so it has a leader).
func (c *cluster) create(ctx context.Context, topic string, n int) error {
	resp, err := c.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: n, ReplicationFactor: 1}},
	})
	if err == nil {
		err = resp.Errors[topic]
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return poll(ctx, 30*time.Second, 25*time.Millisecond, func() (bool, error) {
		_, _, err := c.span(ctx, topic, n)
		return err == nil, nil
	})
}

// span returns, per partition of topic, the first offset the log holds and
// the next offset (its high watermark).
func (c *cluster) span(ctx context.Context, topic string, n int) (first, end []int64, err error) {
	reqs := make([]kafka.OffsetRequest, 0, 2*n)
	for p := range n {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	resp, err := c.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, nil, fmt.Errorf("offsets of %s: %w", topic, err)
	}
	first, end = make([]int64, n), make([]int64, n)
	got := map[int]bool{}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, nil, fmt.Errorf("offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		if po.Partition < 0 || po.Partition >= n {
			continue
		}
		first[po.Partition], end[po.Partition] = po.FirstOffset, po.LastOffset
		got[po.Partition] = true
	}
	if len(got) != n {
		return nil, nil, fmt.Errorf("offsets of %s: %d of %d partitions answered", topic, len(got), n)
	}
	return first, end, nil
}

// caughtUp reports whether group has committed, on every partition of
// topic, at least the offsets in want. journey commits its processed
// offsets to the group at most once a second (batch.commit_interval), for
// lag tools only; it resumes from Pebble.
func (c *cluster) caughtUp(ctx context.Context, group, topic string, want []int64) (bool, error) {
	parts := make([]int, len(want))
	for i := range parts {
		parts[i] = i
	}
	resp, err := c.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return false, nil // the coordinator may not be there yet
	}
	if resp.Error != nil {
		return false, nil
	}
	done := 0
	for _, p := range resp.Topics[topic] {
		if p.Error == nil && p.Partition < len(want) && p.CommittedOffset >= want[p.Partition] {
			done++
		}
	}
	return done == len(want), nil
}

// coordinator waits until the broker names a coordinator for group: on a
// fresh broker the first group request creates the offsets topic, which a
// timed phase should not include.
func (c *cluster) coordinator(ctx context.Context, group string) error {
	return poll(ctx, time.Minute, 100*time.Millisecond, func() (bool, error) {
		resp, err := c.client.FindCoordinator(ctx, &kafka.FindCoordinatorRequest{Key: group, KeyType: kafka.CoordinatorKeyTypeConsumer})
		return err == nil && resp.Error == nil, nil
	})
}

// poll calls f every interval until it reports done, fails, or timeout
// passes.
func poll(ctx context.Context, timeout, interval time.Duration, f func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := f()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// produced is what the bulk producer did.
type produced struct {
	Events  int     `json:"events"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"events_per_second"`
}

// produceBulk writes the bench/peers workload's bulk stream (event times
// over the last four hours, in workload.AfternoonZone: the customers'
// afternoon whatever the hour, so the contact policy holds no trigger for
// its quiet hours and the state restored does not depend on the hour) to
// topic with one kafka.Writer, partitioned as
// Java clients do (murmur2), acks=1, in calls of 20,000 events: each call
// returns once all of it is acknowledged, so every partition receives its
// events in generation order.
func produceBulk(ctx context.Context, addrs []string, topic string, seed uint64, customers, events int) (produced, error) {
	w := &kafka.Writer{
		Addr: kafka.TCP(addrs...), Topic: topic, Balancer: &kafka.Murmur2Balancer{Consistent: true},
		RequiredAcks: kafka.RequireOne, BatchSize: 2000, BatchBytes: 1 << 20, BatchTimeout: 5 * time.Millisecond,
		Transport: &kafka.Transport{},
	}
	defer w.Close()
	now := time.Now()
	to := now.UnixMilli()
	g := workload.NewBulk(seed, customers, events, to-4*3_600_000, to)
	g.Zone = workload.AfternoonZone(now)
	res := produced{Events: events}
	start := time.Now()
	chunk := make([]kafka.Message, 0, 20_000)
	for i := 0; i < events; {
		chunk = chunk[:0]
		for ; i < events && len(chunk) < cap(chunk); i++ {
			e := g.Next()
			v := workload.AppendJSON(nil, &e)
			chunk = append(chunk, kafka.Message{Key: []byte(e.Key()), Value: v})
			res.Bytes += int64(len(e.Key()) + len(v))
		}
		if err := w.WriteMessages(ctx, chunk...); err != nil {
			return res, fmt.Errorf("produce to %s: %w", topic, err)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	res.Rate = float64(events) / res.Seconds
	return res, nil
}

// logRead is one plain read of a whole changelog topic.
type logRead struct {
	Records int64   `json:"records"`
	Bytes   int64   `json:"bytes"` // keys and values, decompressed
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"records_per_second"`
	Cores   cores   `json:"cores"`
}

// readLog is the baseline of a restore: every partition of the changelog
// at once, each with a kafka.Reader configured as journey's restore
// configures its own (16 MiB fetches, 500 ms max wait, a queue of 4,096),
// from the log's start to its end as listed when the read starts. Each
// record's value is checked as restore checks it (a set or a tombstone);
// nothing is applied anywhere. The time runs from the ListOffsets request
// to the last record, as `journey state restore` times its own.
func readLog(ctx context.Context, c *cluster, topic string, n int, svc []int) (logRead, error) {
	watch := watchCPU(svc)
	start := time.Now()
	first, end, err := c.span(ctx, topic, n)
	if err != nil {
		return logRead{}, err
	}
	var (
		mu    sync.Mutex
		res   logRead
		errs  []error
		wg    sync.WaitGroup
		rctx  context.Context
		abort context.CancelFunc
	)
	rctx, abort = context.WithCancel(ctx)
	defer abort()
	for p := range n {
		if first[p] >= end[p] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{
				Brokers: c.addrs, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 16 << 20,
				MaxWait: 500 * time.Millisecond, QueueCapacity: 4096, ReadLagInterval: -1,
			})
			defer r.Close()
			var recs, bytes int64
			err := r.SetOffset(first[p])
			for err == nil {
				var m kafka.Message
				if m, err = r.FetchMessage(rctx); err != nil {
					break
				}
				if m.Value != nil && (len(m.Value) == 0 || m.Value[0] != 'S') {
					err = fmt.Errorf("offset %d: not a changelog record", m.Offset)
					break
				}
				recs++
				bytes += int64(len(m.Key) + len(m.Value))
				if m.Offset+1 >= end[p] {
					break
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.Records += recs
			res.Bytes += bytes
			if err != nil {
				errs = append(errs, fmt.Errorf("read %s/%d: %w", topic, p, err))
				abort()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	res.Seconds = time.Since(start).Seconds()
	res.Rate = float64(res.Records) / res.Seconds
	res.Cores = watch.cores(procstat.SelfCPU().Seconds() - watch.self)
	return res, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
