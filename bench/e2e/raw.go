package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/pkg/config"
)

// runResult is one timed pass over the topic.
type runResult struct {
	Name    string  `json:"name"`
	Events  int64   `json:"events"`
	Startup float64 `json:"startup_seconds"` // start -> first record
	Seconds float64 `json:"seconds"`         // first record -> done
	Rate    float64 `json:"events_per_second"`
	// RateWithStartup counts from the start (group join included).
	RateWithStartup float64 `json:"events_per_second_with_startup"`
	CPU             cpuUse  `json:"cpu"`
	// Journey only.
	Triggers      int64   `json:"triggers,omitempty"`
	Contexts      int64   `json:"contexts,omitempty"`
	MeanBatch     float64 `json:"mean_batch_records,omitempty"`
	MeanCommitMs  float64 `json:"mean_batch_commit_ms,omitempty"`
	RedisTriggers int64   `json:"redis_trigger_entries,omitempty"`
	RedisContexts int64   `json:"redis_context_hashes,omitempty"`
	Warnings      int64   `json:"warnings_logged,omitempty"`
	StateBytes    int64   `json:"state_dir_bytes,omitempty"` // Pebble directory when done
}

func (r *runResult) finish(start, first, done time.Time) {
	r.Startup = first.Sub(start).Seconds()
	r.Seconds = done.Sub(first).Seconds()
	r.Rate = float64(r.Events) / r.Seconds
	r.RateWithStartup = float64(r.Events) / done.Sub(start).Seconds()
}

// runRaw is the baseline: a kafka-go consumer group with one goroutine per
// assigned partition, each a kafka.Reader configured as journey's fetchers
// are, decoding every value with encoding/json into a map. It reads the
// topic to the end offsets and checks it read exactly that many records.
func runRaw(ctx context.Context, brokers []string, topic, group string, ends map[int]int64) (runResult, error) {
	def := config.Default().Kafka // journey's fetch settings
	res := runResult{Name: "raw"}
	cpu := startCPU()
	start := time.Now()
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: group, Brokers: brokers, Topics: []string{topic},
		GroupBalancers:    []kafka.GroupBalancer{kafka.RangeGroupBalancer{}},
		HeartbeatInterval: def.SessionTimeout / 5, SessionTimeout: def.SessionTimeout,
		RebalanceTimeout: 30 * time.Second, JoinGroupBackoff: 500 * time.Millisecond,
		StartOffset: kafka.FirstOffset,
	})
	if err != nil {
		return res, err
	}
	defer cg.Close()
	var gen *kafka.Generation
	for gen == nil { // as journey does, retry until the group is joined
		if gen, err = cg.Next(ctx); err != nil {
			if ctx.Err() != nil {
				return res, fmt.Errorf("raw: join group: %w", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var (
		first   atomic.Int64 // unix nanos of the first record
		count   atomic.Int64
		mu      sync.Mutex
		last    time.Time
		errs    []error
		wg      sync.WaitGroup
		pending = len(ends)
		allDone = make(chan struct{})
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	assigned := 0
	for _, a := range gen.Assignments[topic] {
		assigned++
		end := ends[a.ID]
		wg.Add(1)
		gen.Start(func(gctx context.Context) {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{
				Brokers: brokers, Topic: topic, Partition: a.ID,
				MinBytes: 1, MaxBytes: def.FetchMaxBytes, MaxWait: def.FetchMaxWait,
				ReadLagInterval: -1, QueueCapacity: 1024,
			})
			defer r.Close()
			if err := r.SetOffset(kafka.FirstOffset); err != nil {
				fail(err)
				return
			}
			var n int64
			next := int64(0)
			for next < end {
				m, err := r.FetchMessage(gctx)
				if err != nil {
					fail(fmt.Errorf("raw: partition %d at offset %d: %w", a.ID, next, err))
					return
				}
				if n == 0 {
					first.CompareAndSwap(0, time.Now().UnixNano())
				}
				var v map[string]any
				if err := json.Unmarshal(m.Value, &v); err != nil {
					fail(fmt.Errorf("raw: partition %d offset %d: %w", a.ID, m.Offset, err))
					return
				}
				if _, ok := v["messageId"]; !ok {
					fail(fmt.Errorf("raw: partition %d offset %d: no messageId", a.ID, m.Offset))
					return
				}
				n++
				next = m.Offset + 1
			}
			now := time.Now()
			count.Add(n)
			mu.Lock()
			if now.After(last) {
				last = now
			}
			pending--
			if pending == 0 {
				close(allDone)
			}
			mu.Unlock()
			// The first function to return ends the generation (kafka-go):
			// stay until every partition is read.
			select {
			case <-allDone:
			case <-gctx.Done():
			}
		})
	}
	if assigned != len(ends) {
		return res, fmt.Errorf("raw: assigned %d partitions, want %d", assigned, len(ends))
	}
	wg.Wait()
	res.CPU = cpu.stop()
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	var want int64
	for _, e := range ends {
		want += e
	}
	res.Events = count.Load()
	if res.Events != want || pending != 0 {
		return res, fmt.Errorf("raw: read %d records, the topic holds %d", res.Events, want)
	}
	res.finish(start, time.Unix(0, first.Load()), last)
	return res, nil
}
