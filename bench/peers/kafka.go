package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/bench/peers/workload"
)

// broker is the bench's own Kafka client.
type broker struct {
	addrs  []string
	client *kafka.Client
}

func newBroker(addrs []string) *broker {
	return &broker{addrs: addrs, client: &kafka.Client{Addr: kafka.TCP(addrs...), Timeout: 30 * time.Second,
		Transport: &kafka.Transport{}}}
}

// Topic configurations.
var (
	// appendTime makes the broker stamp each record as it appends it.
	appendTime = kafka.ConfigEntry{ConfigName: "message.timestamp.type", ConfigValue: "LogAppendTime"}
	compacted  = kafka.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"}
)

// createTopic creates a topic with partitions partitions and the given
// configuration, and waits until every partition has a leader.
func (b *broker) createTopic(ctx context.Context, topic string, partitions int, config ...kafka.ConfigEntry) error {
	tc := kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: config}
	resp, err := b.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
	if err == nil {
		err = resp.Errors[topic]
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		md, err := b.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		ready := err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil && len(md.Topics[0].Partitions) == partitions
		if ready {
			for _, p := range md.Topics[0].Partitions {
				ready = ready && p.Error == nil && p.Leader.Host != ""
			}
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %s: partitions without a leader after 30s (%v)", topic, err)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// endOffsets returns the next offset of every partition of topic.
func (b *broker) endOffsets(ctx context.Context, topic string, partitions int) ([]int64, error) {
	reqs := make([]kafka.OffsetRequest, partitions)
	for p := range partitions {
		reqs[p] = kafka.LastOffsetOf(p)
	}
	resp, err := b.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	ends := make([]int64, partitions)
	seen := 0
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		ends[po.Partition] = po.LastOffset
		seen++
	}
	if seen != partitions {
		return nil, fmt.Errorf("list offsets of %s: %d of %d partitions", topic, seen, partitions)
	}
	return ends, nil
}

// record is one event ready to send.
type record struct {
	key, value []byte
	partition  int
}

var murmur2 = &kafka.Murmur2Balancer{Consistent: true}

// partitionOf is the partition of key: Kafka's Java default partitioner.
func partitionOf(key []byte, partitions int) int {
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	return murmur2.Balance(kafka.Message{Key: key}, ids...)
}

// produce sends the bulk stream: one sender per partition, in generation
// order, requests of up to 1,000 records (acks=1). Every event is folded
// into model as it is generated. It returns the bytes sent.
func (b *broker) produce(ctx context.Context, topic string, partitions int, g *workload.Generator, events int,
	model *workload.Model, onTrigger func(workload.Trigger)) (int64, error) {
	const chunk = 1000 // about 0.5 MB: under the broker's message.max.bytes (1 MB)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queues := make([]chan []kafka.Record, partitions)
	errs := make(chan error, partitions)
	var wg sync.WaitGroup
	for p := range partitions {
		queues[p] = make(chan []kafka.Record, 4)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for recs := range queues[p] {
				if err := b.send(ctx, topic, p, recs); err != nil {
					errs <- err
					cancel()
					for range queues[p] {
					}
					return
				}
			}
		}()
	}
	pending := make([][]kafka.Record, partitions)
	var bytes int64
	var buf []byte
	for range events {
		e := g.Next()
		if t, ok := model.Fold(&e); ok {
			onTrigger(t)
		}
		key := []byte(e.Key())
		buf = workload.AppendJSON(buf[:0], &e)
		p := partitionOf(key, partitions)
		pending[p] = append(pending[p], kafka.Record{Key: kafka.NewBytes(key), Value: kafka.NewBytes(append([]byte(nil), buf...))})
		bytes += int64(len(key) + len(buf))
		if len(pending[p]) == chunk {
			queues[p] <- pending[p]
			pending[p] = make([]kafka.Record, 0, chunk)
		}
	}
	for p := range partitions {
		if len(pending[p]) > 0 {
			queues[p] <- pending[p]
		}
		close(queues[p])
	}
	wg.Wait()
	close(errs)
	return bytes, <-errs
}

// send produces recs to one partition (acks=1) and returns the broker's
// append time of the batch.
func (b *broker) sendAt(ctx context.Context, topic string, partition int, recs []kafka.Record) (time.Time, error) {
	resp, err := b.client.Produce(ctx, &kafka.ProduceRequest{
		Topic: topic, Partition: partition, RequiredAcks: kafka.RequireOne, Records: kafka.NewRecordReader(recs...),
	})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("produce to %s/%d: %w", topic, partition, err)
	}
	return resp.LogAppendTime, nil
}

func (b *broker) send(ctx context.Context, topic string, partition int, recs []kafka.Record) error {
	_, err := b.sendAt(ctx, topic, partition, recs)
	return err
}

// pacedSend sends recs at rate records/s: every 5 ms (a default Java
// producer's linger) one request per partition carrying the records that
// fell due, with at most one request in flight per partition. It returns,
// for each record, the broker's append time (the topic is LogAppendTime),
// and the rate achieved.
func (b *broker) pacedSend(ctx context.Context, topic string, partitions int, recs []record, rate int) ([]time.Time, float64, error) {
	const linger = 5 * time.Millisecond
	appended := make([]time.Time, len(recs))
	queues := make([]chan int, partitions)
	errs := make(chan error, partitions)
	var wg sync.WaitGroup
	for p := range partitions {
		queues[p] = make(chan int, len(recs))
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(linger)
			defer tick.Stop()
			var batch []kafka.Record
			var idx []int
			for open := true; open; {
				<-tick.C
				batch, idx = batch[:0], idx[:0]
			collect:
				for {
					select {
					case i, ok := <-queues[p]:
						if !ok {
							open = false
							break collect
						}
						batch = append(batch, kafka.Record{Key: kafka.NewBytes(recs[i].key), Value: kafka.NewBytes(recs[i].value)})
						idx = append(idx, i)
					default:
						break collect
					}
				}
				if len(batch) == 0 {
					continue
				}
				at, err := b.sendAt(ctx, topic, p, batch)
				if err == nil && at.IsZero() {
					err = errors.New("the broker returned no LogAppendTime")
				}
				if err != nil {
					errs <- err
					for range queues[p] {
					}
					return
				}
				for _, i := range idx {
					appended[i] = at
				}
			}
		}()
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	sent := 0
	for sent < len(recs) && ctx.Err() == nil {
		<-tick.C
		for due := min(len(recs), int(time.Since(start).Seconds()*float64(rate))); sent < due; sent++ {
			queues[recs[sent].partition] <- sent
		}
	}
	achieved := float64(sent) / time.Since(start).Seconds()
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, 0, err
	}
	return appended, achieved, ctx.Err()
}

// output is one trigger record read back from a trigger topic.
type output struct {
	value []byte
	seen  time.Time // when the bench's consumer received it
}

// readTopic reads every partition of topic from the offsets from, and
// sends each record to out as it arrives, until ctx ends.
func (b *broker) readTopic(ctx context.Context, topic string, from []int64, out chan<- output) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(from))
	var wg sync.WaitGroup
	for p, off := range from {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{
				Brokers: b.addrs, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 200 * time.Millisecond,
				ReadLagInterval: -1,
			})
			defer r.Close()
			if err := r.SetOffset(off); err != nil {
				errs <- err
				return
			}
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					if ctx.Err() == nil {
						errs <- fmt.Errorf("read %s/%d: %w", topic, p, err)
						cancel()
					}
					return
				}
				select {
				case out <- output{value: m.Value, seen: time.Now()}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// waitCoordinators waits until the broker names a coordinator for every
// group: on a fresh broker the first group request creates the offsets
// topic, which no timed run should wait for.
func (b *broker) waitCoordinators(ctx context.Context, groups []string) error {
	deadline := time.Now().Add(60 * time.Second)
	for _, g := range groups {
		for {
			resp, err := b.client.FindCoordinator(ctx, &kafka.FindCoordinatorRequest{Key: g, KeyType: kafka.CoordinatorKeyTypeConsumer})
			if err == nil {
				err = resp.Error
			}
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no group coordinator for %s after 60s: %w", g, err)
			}
			if err := sleep(ctx, 100*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
