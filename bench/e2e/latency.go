package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/bench/internal/promsum"
	"github.com/journey-dev/journey/pkg/config"
	"github.com/segmentio/kafka-go/protocol"
	produceapi "github.com/segmentio/kafka-go/protocol/produce"
)

// latencyResult is the live phase: a paced producer and the event-to-Redis
// latency of every trigger and context update it caused.
type latencyResult struct {
	TargetRate   int     `json:"target_events_per_second"`
	Events       int     `json:"events"`
	SendSeconds  float64 `json:"send_seconds"`
	AchievedRate float64 `json:"achieved_events_per_second"`
	// DrainSeconds is from the last send until every record was committed
	// and every outbox drained.
	DrainSeconds float64 `json:"drain_seconds"`
	Samples      int     `json:"samples"`
	// Unsampled are deliveries no record caused (a timer fired by the wall
	// clock's tick): they have no event-to-Redis time.
	Unsampled  int64     `json:"unsampled_deliveries"`
	Triggers   int64     `json:"triggers"`
	Contexts   int64     `json:"contexts"`
	Redis      quantiles `json:"event_to_redis_ms"`
	ProduceAck quantiles `json:"produce_ack_ms"`
	CPU        cpuUse    `json:"cpu"`
	Warnings   int64     `json:"warnings_logged"`
	// Rounds during the phase: how many, mean records and mean
	// Pebble commit time (journey_batch_commit_seconds).
	Batches      int64   `json:"batches"`
	MeanBatch    float64 `json:"mean_batch_records"`
	MeanCommitMs float64 `json:"mean_batch_commit_ms"`
	// Stages is the age of a round's last record as the batch
	// reached each stage (journey_record_age_seconds over the phase).
	Stages []stageAge `json:"stages"`

	acks []time.Duration // the producer's due → ack times
}

// stageAge is one stage of journey_record_age_seconds over the phase, in
// ms (quantiles interpolated within the histogram's buckets, ×1.25 apart).
type stageAge struct {
	Stage   string  `json:"stage"`
	Batches uint64  `json:"batches"`
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	P99     float64 `json:"p99"`
	Mean    float64 `json:"mean"`
}

// stages are journey_record_age_seconds's stages, in the order a batch
// passes them.
var stages = []string{"fetched", "started", "logged", "committed", "dispatched"}

// stageAges snapshots journey_record_age_seconds, per stage.
func (in *instance) stageAges() (map[string]promsum.Buckets, error) {
	out := map[string]promsum.Buckets{}
	for _, s := range stages {
		b, err := promsum.Histogram(in.reg, "journey_record_age_seconds", map[string]string{"stage": s})
		if err != nil {
			return nil, err
		}
		out[s] = b
	}
	return out, nil
}

type quantiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func quantilesOf(d []time.Duration) quantiles {
	if len(d) == 0 {
		return quantiles{}
	}
	slices.Sort(d)
	q := func(p float64) float64 {
		i := max(int(math.Ceil(p*float64(len(d))))-1, 0)
		return ms(d[i])
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return quantiles{P50: q(0.5), P90: q(0.9), P99: q(0.99), P999: q(0.999), Max: ms(d[len(d)-1]), Mean: ms(sum / time.Duration(len(d)))}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// runLatency produces rate events/s for dur to topic while in runs caught
// up (message ids idPrefix1, idPrefix2...: another run needs another
// prefix, or journey drops its events as duplicates), and reports the
// latency samples its observer recorded: from the Kafka record timestamp
// (the broker's append time: the topic is LogAppendTime) to Redis
// accepting the write, and the producer's due-to-ack times apart.
//
// The producer batches like a default Java client (linger.ms=5, the
// default from Kafka 4.0): every 5 ms, one produce request (acks=1, one in
// flight) carries every event that fell due meanwhile, a record batch per
// partition. Fewer, fuller requests keep the broker's CPU, which journey
// shares on this machine, from weighing on the latency measured.
func runLatency(ctx context.Context, brokers []string, topic string, partitions int, in *instance, seed uint64, idPrefix string,
	customers, rate int, dur time.Duration, zone string) (latencyResult, error) {
	res := latencyResult{TargetRate: rate, Events: int(float64(rate) * dur.Seconds())}
	// Dated as they are sent, in the bulk's zone (workloadClock): they
	// trigger at once, minutes after the bulk's last events.
	g := newGen(seed+1, customers, res.Events, idPrefix, zone, time.Time{}, time.Time{})
	g.arrived = g.customers // every customer is known: pick among all of them

	t0, c0, w0 := in.obs.triggers.Load(), in.obs.contexts.Load(), in.warnings.Load()
	folded0, err := in.metric("journey_events_folded_total")
	if err != nil {
		return res, err
	}
	batches := func() (n, records, commit float64, err error) {
		if n, err = in.metric("journey_batch_records_count"); err != nil {
			return
		}
		if records, err = in.metric("journey_batch_records_sum"); err != nil {
			return
		}
		commit, err = in.metric("journey_batch_commit_seconds_sum")
		return
	}
	n0, r0, s0, err := batches()
	if err != nil {
		return res, err
	}
	ages0, err := in.stageAges()
	if err != nil {
		return res, err
	}
	in.obs.record(true)
	cpu := startCPU()
	start := time.Now()
	if err := pace(ctx, brokers, topic, partitions, g, rate, res.Events, &res); err != nil {
		return res, err
	}
	acks := res.acks
	sendDone := start.Add(time.Duration(res.SendSeconds * float64(time.Second)))
	ends, err := endOffsets(ctx, brokers, topic, partitions)
	if err != nil {
		return res, err
	}
	done, err := in.waitDone(ctx, topic, ends)
	if err != nil {
		return res, err
	}
	res.DrainSeconds = done.Sub(sendDone).Seconds()
	// A worker adds to its counters (and batch metrics) just after the
	// commit that waitDone saw, and the dispatcher may have emptied the
	// outbox in between.
	deadline := time.Now().Add(10 * time.Second)
	for {
		folded, err := in.metric("journey_events_folded_total")
		if err != nil {
			return res, err
		}
		if int(folded-folded0) == res.Events {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("latency: journey folded %d events, %d were produced", int(folded-folded0), res.Events)
		}
		time.Sleep(time.Millisecond)
	}
	res.CPU = cpu.stop()
	// The dispatchers report a delivery before deleting it from the
	// outbox, so with every outbox empty every report is in.
	samples, unsampled := in.obs.record(false)
	res.Triggers, res.Contexts = in.obs.triggers.Load()-t0, in.obs.contexts.Load()-c0
	res.Warnings = in.warnings.Load() - w0
	n1, r1, s1, err := batches()
	if err != nil {
		return res, err
	}
	if res.Batches = int64(n1 - n0); res.Batches > 0 {
		res.MeanBatch = (r1 - r0) / (n1 - n0)
		res.MeanCommitMs = (s1 - s0) / (n1 - n0) * 1000
	}
	ages1, err := in.stageAges()
	if err != nil {
		return res, err
	}
	for _, st := range stages {
		d := ages1[st].Since(ages0[st])
		if d.Count == 0 {
			continue // no changelog: nothing logged
		}
		res.Stages = append(res.Stages, stageAge{Stage: st, Batches: d.Count, P50: d.Quantile(0.5) * 1000,
			P90: d.Quantile(0.9) * 1000, P99: d.Quantile(0.99) * 1000, Mean: d.Sum / float64(d.Count) * 1000})
	}
	res.Samples = len(samples)
	res.Redis = quantilesOf(samples)
	res.ProduceAck = quantilesOf(acks)
	res.Unsampled = unsampled
	if want := res.Triggers + res.Contexts; int64(res.Samples)+unsampled != want {
		return res, fmt.Errorf("latency: %d samples and %d unsampled deliveries for %d deliveries", res.Samples, unsampled, want)
	}
	if len(acks) != res.Events {
		return res, fmt.Errorf("latency producer: %d of %d events acknowledged", len(acks), res.Events)
	}
	return res, nil
}

// pace sends events of g at rate per second to topic through a
// pacedProducer and fills res's send figures and acks.
func pace(ctx context.Context, brokers []string, topic string, partitions int, g *gen, rate, events int, res *latencyResult) error {
	pp := newPacedProducer(brokers, topic, partitions, events)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	bal := &kafka.Murmur2Balancer{Consistent: true}
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	start := time.Now()
	for sent := 0; sent < events; {
		select {
		case <-ctx.Done():
			_, _ = pp.close()
			return ctx.Err()
		case <-tick.C:
		}
		for due := min(events, int(time.Since(start).Seconds()*float64(rate))); sent < due; sent++ {
			now := time.Now()
			k, v := g.next(now)
			m := kafka.Message{Key: []byte(k), Value: append([]byte(nil), v...), Time: now}
			pp.in[bal.Balance(m, ids...)] <- m
		}
	}
	res.SendSeconds = time.Since(start).Seconds()
	res.AchievedRate = float64(events) / res.SendSeconds
	acks, err := pp.close()
	if err != nil {
		return fmt.Errorf("latency producer: %w", err)
	}
	res.acks = acks
	return nil
}

// runFloor is the latency phase's baseline: the same paced producer into a
// topic of its own, read by a kafka-go Reader per partition configured as
// journey's fetchers are (what runRaw reads with), each record decoded
// with encoding/json. Its Kafka append → decoded times are what the broker
// and a plain consumer on this machine take before journey does anything.
// journey is idle meanwhile (it does not read that topic).
func runFloor(ctx context.Context, brokers []string, topic string, partitions int, seed uint64, customers, rate int,
	dur time.Duration, zone string) (latencyResult, error) {
	res := latencyResult{TargetRate: rate, Events: int(float64(rate) * dur.Seconds())}
	if err := createTopic(ctx, brokers, topic, partitions); err != nil {
		return res, err
	}
	def := config.Default().Kafka
	g := newGen(seed+2, customers, res.Events, "floor-", zone, time.Time{}, time.Time{})
	g.arrived = g.customers
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		samples = make([]time.Duration, 0, res.Events)
		errs    []error
		wg      sync.WaitGroup
		ready   sync.WaitGroup
		read    atomic.Int64
	)
	for p := range partitions {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{
				Brokers: brokers, Topic: topic, Partition: p,
				MinBytes: 1, MaxBytes: def.FetchMaxBytes, MaxWait: def.FetchMaxWait,
				ReadLagInterval: -1, QueueCapacity: 1024,
			})
			defer r.Close()
			err := r.SetOffset(kafka.FirstOffset)
			ready.Done()
			for err == nil {
				var m kafka.Message
				if m, err = r.FetchMessage(rctx); err != nil {
					break
				}
				var v map[string]any
				if err = json.Unmarshal(m.Value, &v); err != nil {
					break
				}
				d := time.Since(m.Time)
				mu.Lock()
				samples = append(samples, d)
				mu.Unlock()
				read.Add(1)
			}
			if rctx.Err() == nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("floor: partition %d: %w", p, err))
				mu.Unlock()
			}
		}()
	}
	ready.Wait()
	cpu := startCPU()
	start := time.Now()
	if err := pace(ctx, brokers, topic, partitions, g, rate, res.Events, &res); err != nil {
		return res, err
	}
	deadline := time.Now().Add(time.Minute)
	for read.Load() < int64(res.Events) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond) // polling the readers' count
	}
	res.DrainSeconds = time.Since(start).Seconds() - res.SendSeconds
	res.CPU = cpu.stop()
	cancel()
	wg.Wait()
	if len(errs) > 0 {
		return res, errs[0]
	}
	if n := read.Load(); n != int64(res.Events) {
		return res, fmt.Errorf("floor: read %d of %d events", n, res.Events)
	}
	res.Samples = len(samples)
	res.Redis = quantilesOf(samples)
	res.ProduceAck = quantilesOf(res.acks)
	return res, nil
}

// producerLinger is how long the paced producer collects due events
// before a produce request.
const producerLinger = 5 * time.Millisecond

// pacedProducer sends what it is given as a Java producer with
// linger.ms=5 and max.in.flight 1 does: every producerLinger, ONE produce
// request to the broker carrying a record batch for every partition with
// events due (not a request per partition: that would put eight times the
// requests on the broker journey shares the machine with), and records
// each event's time from due to acknowledged.
type pacedProducer struct {
	in   []chan kafka.Message
	wg   sync.WaitGroup
	acks []time.Duration
	err  error
}

func newPacedProducer(brokers []string, topic string, partitions, events int) *pacedProducer {
	pp := &pacedProducer{in: make([]chan kafka.Message, partitions), acks: make([]time.Duration, 0, events)}
	for p := range pp.in {
		pp.in[p] = make(chan kafka.Message, events)
	}
	transport := &kafka.Transport{}
	addr := kafka.TCP(brokers...)
	pp.wg.Add(1)
	go func() {
		defer pp.wg.Done()
		defer transport.CloseIdleConnections()
		tick := time.NewTicker(producerLinger)
		defer tick.Stop()
		chans := slices.Clone(pp.in) // closed ones become nil here, not in pp.in (the senders read it)
		recs := make([][]kafka.Record, partitions)
		due := make([][]kafka.Message, partitions)
		var times []time.Time
		for open := partitions; open > 0; {
			<-tick.C
			times = times[:0]
			req := &produceapi.Request{Acks: int16(kafka.RequireOne), Timeout: 30_000}
			parts := []produceapi.RequestPartition{}
			for p, c := range chans {
				if c == nil {
					continue
				}
				due[p] = due[p][:0]
			collect:
				for {
					select {
					case m, ok := <-c:
						if !ok {
							chans[p] = nil
							open--
							break collect
						}
						due[p] = append(due[p], m)
						times = append(times, m.Time)
					default:
						break collect
					}
				}
				if len(due[p]) > 0 {
					parts = append(parts, produceapi.RequestPartition{Partition: int32(p)})
				}
			}
			if len(parts) == 0 {
				continue
			}
			// A partition that answers with a retriable error (a topic
			// just created whose leader the broker does not know yet) is
			// sent again alone, as a producer does.
			var err error
			for attempt := 1; len(parts) > 0; attempt++ {
				for i := range parts {
					// A record's bytes are read once: fresh ones each attempt.
					p := parts[i].Partition
					recs[p] = recs[p][:0]
					for _, m := range due[p] {
						recs[p] = append(recs[p], kafka.Record{Key: kafka.NewBytes(m.Key), Value: kafka.NewBytes(m.Value), Time: m.Time})
					}
					parts[i].RecordSet = protocol.RecordSet{Records: kafka.NewRecordReader(recs[p]...)}
				}
				req.Topics = []produceapi.RequestTopic{{Topic: topic, Partitions: parts}}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				var resp protocol.Message
				resp, err = transport.RoundTrip(ctx, addr, req)
				cancel()
				if err != nil {
					break
				}
				var again []produceapi.RequestPartition
				if again, err = produceRetry(resp, parts); err != nil || len(again) == 0 {
					break
				}
				if attempt == 10 {
					err = fmt.Errorf("produce: partitions %v still failing after %d attempts", again, attempt)
					break
				}
				parts = again
				time.Sleep(100 * time.Millisecond)
			}
			now := time.Now()
			if err != nil {
				if pp.err == nil {
					pp.err = err
				}
				continue
			}
			for _, t := range times {
				pp.acks = append(pp.acks, now.Sub(t))
			}
		}
	}()
	return pp
}

// produceRetry reads a produce response: the partitions to send again (a
// retriable error), or the first other error.
func produceRetry(m protocol.Message, sent []produceapi.RequestPartition) ([]produceapi.RequestPartition, error) {
	resp, ok := m.(*produceapi.Response)
	if !ok {
		return nil, fmt.Errorf("produce: unexpected response %T", m)
	}
	var again []produceapi.RequestPartition
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode == 0 {
				continue
			}
			if err := kafka.Error(p.ErrorCode); !err.Temporary() {
				return nil, fmt.Errorf("produce: partition %d: %w", p.Partition, err)
			}
			for _, s := range sent {
				if s.Partition == p.Partition {
					again = append(again, produceapi.RequestPartition{Partition: p.Partition})
				}
			}
		}
	}
	return again, nil
}

// close waits for every event to be acknowledged and returns the
// due-to-acknowledged times.
func (pp *pacedProducer) close() ([]time.Duration, error) {
	for _, c := range pp.in {
		close(c)
	}
	pp.wg.Wait()
	return pp.acks, pp.err
}
