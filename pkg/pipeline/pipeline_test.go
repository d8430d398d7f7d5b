package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/metrics"
	"github.com/journey-dev/journey/pkg/pipeline"
	"github.com/journey-dev/journey/pkg/sink/redissink"
	"github.com/journey-dev/journey/pkg/state"
)

// counter is a test processor: it counts events per name, and emits a
// trigger on every Every-th event of a customer.
type counter struct{ every int }

type counts struct {
	Total  int            `json:"total"`
	ByName map[string]int `json:"by_name"`
}

func (c *counts) MarshalBinary() ([]byte, error) { return json.Marshal(c) }
func (c *counts) UnmarshalBinary(b []byte) error { return json.Unmarshal(b, c) }

func (counter) Name() string            { return "counter" }
func (counter) StateVersion() uint32    { return 1 }
func (counter) NewState() journey.State { return &counts{ByName: map[string]int{}} }
func (p counter) Fold(st journey.State, ev *journey.Event, out *journey.Output) (bool, error) {
	c := st.(*counts)
	c.Total++
	c.ByName[ev.Name]++
	if ev.Kind == journey.KindTrack && ev.Str("product_id") == "" {
		out.Ignore("no_product_id") // counted all the same: the report is what is tested
	}
	if c.Total%p.every == 0 {
		out.Emit(journey.Trigger{
			ID: journey.TriggerID("test.every", ev.CustomerID, ev.ID), Rule: "test.every", CustomerID: ev.CustomerID,
			Channel: "email", At: ev.Time, Reason: "nth_event", Causes: []string{ev.ID},
			Payload: map[string]any{"n": c.Total},
		})
	}
	return true, nil
}
func (counter) Context(st journey.State) map[string]string {
	return map[string]string{"counter.total": strconv.Itoa(st.(*counts).Total)}
}

// harness runs pipelines in-process against the rig's Kafka and a Redis.
type harness struct {
	// procs are the processors start runs (nil: one counter).
	procs   []journey.Processor
	t       *testing.T
	brokers []string
	topic   string
	dlq     string
	prefix  string
	rdb     *redis.Client
	dir     string
	fs      vfs.FS // the store's file system (nil: the OS's)
	sync    bool   // the store's commits wait for fsync
}

func newHarness(t *testing.T, partitions int, redisAddr string) *harness {
	brokers := testrig.KafkaBrokers(t)
	if redisAddr == "" {
		redisAddr = testrig.RedisAddr(t)
	}
	name := strings.ReplaceAll(t.Name(), "/", "-")
	h := &harness{
		t: t, brokers: brokers,
		topic:  fmt.Sprintf("%s-%d", name, time.Now().UnixNano()),
		prefix: fmt.Sprintf("jt:%s:%d:", name, time.Now().UnixNano()),
		rdb:    redis.NewClient(&redis.Options{Addr: redisAddr}),
		dir:    t.TempDir(),
	}
	h.dlq = h.topic + ".dlq"
	t.Cleanup(func() { _ = h.rdb.Close() })
	testrig.CreateTopic(t, brokers, h.topic, partitions)
	return h
}

type running struct {
	cancel context.CancelFunc
	done   chan error
	p      *pipeline.Pipeline
	store  *state.Store
	reg    *prometheus.Registry
	ended  bool // stop ran: a deferred stop after an explicit one does nothing
}

// counter sums a counter's samples (or a histogram's observation counts)
// whose labels include want.
func (r *running) counter(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			// A counter's value, or a histogram's number of observations.
			sum += m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// start runs a pipeline in a goroutine until stop.
func (h *harness) start(every int, redisAddr string, mod func(*pipeline.Config)) *running {
	h.t.Helper()
	p, store, reg, rdb := h.build(h.dir, every, redisAddr, mod)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), p: p, store: store, reg: reg}
	go func() {
		err := p.Run(ctx)
		_ = rdb.Close()
		r.done <- err
	}()
	return r
}

// build makes a pipeline of h's processors (nil: one counter) on a store
// in dir; the caller closes the store and the Redis client.
func (h *harness) build(dir string, every int, redisAddr string, mod func(*pipeline.Config)) (*pipeline.Pipeline, *state.Store, *prometheus.Registry, *redis.Client) {
	h.t.Helper()
	store, err := state.Open(dir, state.Options{Sync: h.sync, DedupWindow: time.Hour, FS: h.fs})
	if err != nil {
		h.t.Fatal(err)
	}
	dec, err := ingest.NewDecoder(ingest.Config{TopicChannels: map[string]string{h.topic: "web"}, MaxBytes: 64 << 10})
	if err != nil {
		h.t.Fatal(err)
	}
	procs := h.procs
	if procs == nil {
		procs = []journey.Processor{counter{every: every}}
	}
	engine, err := journey.NewEngine(procs...)
	if err != nil {
		h.t.Fatal(err)
	}
	addr := redisAddr
	if addr == "" {
		addr = h.rdb.Options().Addr
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	snk, err := redissink.New(rdb, redissink.Config{Prefix: h.prefix})
	if err != nil {
		h.t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		h.t.Fatal(err)
	}
	cfg := pipeline.Config{
		Brokers: h.brokers, GroupID: h.topic + "-g", Topics: []string{h.topic}, DLQTopic: h.dlq,
		CommitInterval: 100 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	log := zaptest.NewLogger(h.t, zaptest.Level(zap.WarnLevel))
	p, err := pipeline.New(cfg, log, store, dec, engine, snk, m)
	if err != nil {
		h.t.Fatal(err)
	}
	return p, store, reg, rdb
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.ended {
		return
	}
	r.ended = true
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("pipeline: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("pipeline did not stop within 60s")
	}
	if err := r.store.Close(); err != nil {
		t.Fatal(err)
	}
}

func segment(id, customer, event string, at time.Time) []byte {
	b, _ := json.Marshal(map[string]any{
		"type": "track", "messageId": id, "userId": customer, "event": event,
		"timestamp":  at.UTC().Format(time.RFC3339Nano),
		"properties": map[string]any{"product_id": "p-" + id, "category": "boots"},
	})
	return b
}

func (h *harness) produce(msgs ...kafka.Message) {
	h.t.Helper()
	// Its own transport: the shared default one caches topic metadata and
	// may not know a topic created a moment ago.
	w := &kafka.Writer{Addr: kafka.TCP(h.brokers...), Topic: h.topic, Balancer: &kafka.Murmur2Balancer{Consistent: true},
		BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, Transport: &kafka.Transport{}}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		h.t.Fatal(err)
	}
}

// stream reads a whole trigger stream.
func (h *harness) stream(channel string) ([]redis.XMessage, error) {
	return h.rdb.XRange(context.Background(), h.prefix+"triggers:"+channel, "-", "+").Result()
}

func (h *harness) waitTriggers(channel string, n int, within time.Duration) []redis.XMessage {
	h.t.Helper()
	var got []redis.XMessage
	testrig.CheckFor(h.t, within, 20*time.Millisecond, func() error {
		var err error
		got, err = h.stream(channel)
		if err != nil {
			return err
		}
		if len(got) < n {
			return fmt.Errorf("%d of %d triggers in Redis", len(got), n)
		}
		return nil
	})
	return got
}

// events produces n events per customer for the given customers, in order.
func events(customers, perCustomer int, idPrefix string, t0 time.Time) []kafka.Message {
	var msgs []kafka.Message
	for i := range perCustomer {
		for c := range customers {
			id := fmt.Sprintf("%s-c%d-e%d", idPrefix, c, i)
			cust := fmt.Sprintf("cust-%d", c)
			msgs = append(msgs, kafka.Message{Key: []byte(cust), Value: segment(id, cust, "Product Viewed", t0.Add(time.Duration(i)*time.Second))})
		}
	}
	return msgs
}

func TestPipelineEndToEnd(t *testing.T) {
	h := newHarness(t, 4, "")
	r := h.start(3, "", nil)
	defer r.stop(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	h.produce(events(20, 6, "a", t0)...)
	h.waitTriggers("email", 40, time.Minute) // every 3rd event: 2 per customer
	testrig.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		v, err := h.rdb.HGet(context.Background(), h.prefix+"ctx:cust-7", "counter.total").Result()
		if err != nil {
			return err
		}
		if v != "6" {
			return fmt.Errorf("context counter.total=%s", v)
		}
		return nil
	})
	testrig.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if !r.p.Status().Ready() {
			return fmt.Errorf("not ready: %+v", r.p.Status())
		}
		return nil
	})
	// Live mode observes each batch's record age at every stage; without
	// a changelog there is no "logged".
	for stage, wantSome := range map[string]bool{"fetched": true, "started": true, "committed": true, "logged": false, "dispatched": true} {
		if n := r.counter(t, "journey_record_age_seconds", map[string]string{"stage": stage}); (n > 0) != wantSome {
			t.Errorf("record age observed %v times at %s", n, stage)
		}
	}
	if n := r.counter(t, "journey_sink_deliver_seconds", nil); n < 1 {
		t.Errorf("sink deliveries timed %v times", n)
	}
	// Read again after the stop: a late duplicate would show now.
	r.stop(t)
	got, err := h.stream("email")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 40 {
		t.Fatalf("%d triggers after the stop, want 40", len(got))
	}
	ids := map[string]bool{}
	for _, m := range got {
		tr, err := redissink.DecodeTrigger(m)
		if err != nil {
			t.Fatal(err)
		}
		if ids[tr.ID] {
			t.Fatalf("trigger %s twice", tr.ID)
		}
		ids[tr.ID] = true
		if tr.Rule != "test.every" || tr.Channel != "email" || tr.Reason != "nth_event" || len(tr.Causes) != 1 {
			t.Fatalf("trigger fields: %+v", tr)
		}
		if want := journey.TriggerID("test.every", tr.CustomerID, tr.Causes[0]); tr.ID != want {
			t.Fatalf("id %s is not deterministic (want %s)", tr.ID, want)
		}
	}
}

// TestRestartResumesFromStoredOffsets stops and restarts the pipeline
// between batches of input: the counts are exact and no trigger repeats.
func TestRestartResumesFromStoredOffsets(t *testing.T) {
	h := newHarness(t, 3, "")
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	const customers = 10
	for round := range 3 {
		r := h.start(2, "", nil)
		h.produce(events(customers, 4, fmt.Sprintf("r%d", round), t0.Add(time.Duration(round)*time.Minute))...)
		h.waitTriggers("email", (round+1)*customers*2, time.Minute)
		r.stop(t)
	}
	checkTotals(t, h.dir, 3, customers, 12)
	got, _ := h.stream("email")
	if len(got) != customers*6 {
		t.Fatalf("%d triggers, want %d", len(got), customers*6)
	}
}

// checkTotals checks that the state in dir holds exactly customers
// customers over partitions, each with a counter total of per.
func checkTotals(t *testing.T, dir string, partitions, customers, per int) {
	t.Helper()
	store, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	total := 0
	for id := range partitions {
		p, _ := store.Partition(id)
		err := p.Customers(func(c string, _ []string) error {
			data, _, err := p.State(c, "counter", 1)
			if err != nil {
				return err
			}
			var st counts
			if err := st.UnmarshalBinary(data); err != nil {
				return err
			}
			if st.Total != per {
				return fmt.Errorf("customer %s total %d, want %d", c, st.Total, per)
			}
			total++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if total != customers {
		t.Fatalf("%d customers in state, want %d", total, customers)
	}
}

func TestDeadLetters(t *testing.T) {
	h := newHarness(t, 2, "")
	r := h.start(1, "", nil)
	defer r.stop(t)
	now := time.Now().Truncate(time.Second)
	big := strings.Repeat("x", 100<<10) // over the decoder's 64 KiB bound, under the broker's
	bad := []struct {
		reason string
		msg    kafka.Message
	}{
		{"format_violation", kafka.Message{Key: []byte("k"), Value: []byte("not json {")}},
		{"format_violation", kafka.Message{Key: []byte("k"), Value: []byte(`["an","array"]`)}},
		{"schema_violation", kafka.Message{Key: []byte("k"), Value: []byte(`{"type":"track","messageId":"s1","userId":"u","event":"Product Viewed","properties":"free"}`)}},
		{"schema_violation", kafka.Message{Key: []byte("k"), Value: []byte(`{"type":"alias","messageId":"s2","userId":"u"}`)}},
		{"id_violation", kafka.Message{Key: []byte("k"), Value: []byte(`{"type":"track","userId":"u","event":"Thing"}`)}},
		{"key_violation", kafka.Message{Key: []byte("k"), Value: []byte(`{"type":"track","messageId":"k1","event":"Thing"}`)}},
		{"size_violation", kafka.Message{Key: []byte("k"), Value: []byte(`{"type":"track","messageId":"big","userId":"u","event":"Thing","properties":{"pad":"` + big + `"}}`)}},
		{"time_violation", kafka.Message{Key: []byte("k"), Value: segment("future", "u", "Thing", now.Add(72*time.Hour))}},
	}
	// Valid under Segment's spec, with properties missing or oddly typed:
	// folded, never dead-lettered; the processor reports them ignored.
	odd := []kafka.Message{
		{Key: []byte("odd"), Value: []byte(`{"type":"track","messageId":"o1","userId":"odd","event":"Product Viewed","properties":{"price":"free"}}`)},
		{Key: []byte("odd"), Value: []byte(`{"type":"track","messageId":"o2","userId":"odd","event":"Order Completed","properties":{}}`)},
	}
	var msgs []kafka.Message
	for i, b := range bad {
		b.msg.Headers = []kafka.Header{{Key: "trace", Value: []byte(strconv.Itoa(i))}}
		msgs = append(msgs, b.msg)
		good := fmt.Sprintf("good-%d", i)
		msgs = append(msgs, kafka.Message{Key: []byte("cust-" + good), Value: segment(good, "cust-"+good, "Product Viewed", now)})
	}
	h.produce(append(msgs, odd...)...)
	// Every good event is processed (each one triggers), the odd ones too.
	h.waitTriggers("email", len(bad)+len(odd), time.Minute)
	testrig.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		labels := map[string]string{"processor": "counter", "reason": "no_product_id"}
		if n := r.counter(t, "journey_events_ignored_total", labels); n != float64(len(odd)) {
			return fmt.Errorf("journey_events_ignored_total%v = %v, want %d", labels, n, len(odd))
		}
		return nil
	})

	// Every bad record is in the DLQ with its reason, original value and headers.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seen := map[string]string{} // trace header -> reason
	for p := range 2 {
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: h.brokers, Topic: h.dlq, Partition: p, MaxWait: 100 * time.Millisecond, MaxBytes: 4 << 20})
		hw := highWater(t, h.brokers[0], h.dlq, p)
		for off := int64(0); off < hw; off++ {
			m, err := rd.ReadMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			hs := map[string]string{}
			for _, hd := range m.Headers {
				hs[hd.Key] = string(hd.Value)
			}
			i, _ := strconv.Atoi(hs["trace"])
			if string(m.Value) != string(bad[i].msg.Value) {
				t.Errorf("dead letter %d: value changed", i)
			}
			if hs[pipeline.HeaderSourceTopic] != h.topic || hs[pipeline.HeaderSourceOffset] == "" || hs[pipeline.HeaderMessage] == "" {
				t.Errorf("dead letter %d: headers %v", i, hs)
			}
			seen[hs["trace"]] = hs[pipeline.HeaderReason]
		}
		_ = rd.Close()
	}
	for i, b := range bad {
		if got := seen[strconv.Itoa(i)]; got != b.reason {
			t.Errorf("bad record %d: reason %q, want %q", i, got, b.reason)
		}
	}
}

func highWater(t *testing.T, broker, topic string, partition int) int64 {
	t.Helper()
	conn, err := kafka.DialLeader(context.Background(), "tcp", broker, topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	last, err := conn.ReadLastOffset()
	if err != nil {
		t.Fatal(err)
	}
	return last
}

func TestRefusesTopicsNotCoPartitioned(t *testing.T) {
	h := newHarness(t, 2, "")
	other := h.topic + "-other"
	testrig.CreateTopic(t, h.brokers, other, 3)
	r := h.start(1, "", func(c *pipeline.Config) { c.Topics = []string{h.topic, other} })
	select {
	case err := <-r.done:
		if err == nil || !strings.Contains(err.Error(), "co-partitioned") {
			t.Fatalf("want a co-partitioning error, got %v", err)
		}
	case <-time.After(30 * time.Second):
		r.cancel()
		t.Fatal("pipeline started with topics of different partition counts")
	}
	_ = r.store.Close()
}

// TestRedisOutage stops Redis under load and starts it again: every
// trigger arrives, none twice, and consumption never stops for good.
func TestRedisOutage(t *testing.T) {
	rs := testrig.NewRedis(t, t.TempDir()) // with AOF: a restart keeps the dedup keys
	h := newHarness(t, 4, rs.Addr)
	r := h.start(1, rs.Addr, func(c *pipeline.Config) {
		c.OutboxMax = 50 // small, so backpressure is exercised too
		c.Dispatch.MinBackoff = 10 * time.Millisecond
		c.Dispatch.MaxBackoff = 200 * time.Millisecond
	})
	defer r.stop(t)

	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	const customers, rounds = 25, 8
	var wg sync.WaitGroup
	wg.Add(1)
	round := func(i int) {
		h.produce(events(customers, 5, fmt.Sprintf("o%d", i), t0.Add(time.Duration(i)*time.Minute))...)
	}
	go func() {
		defer wg.Done()
		for i := range rounds - 1 {
			round(i)
		}
	}()
	// Let some triggers through, then take Redis away mid-stream. The last
	// round is produced only then, so there is always something to deliver
	// while Redis is down (a fast run could otherwise deliver everything
	// before the kill and see no error at all).
	h.waitTriggers("email", 50, time.Minute)
	rs.Stop()
	round(rounds - 1)
	// Keep Redis down until the dispatchers have failed against it a few
	// times (the outbox holds the triggers and they back off and retry).
	testrig.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		if n := r.counter(t, "journey_sink_errors_total", map[string]string{"kind": "retriable"}); n < 5 {
			return fmt.Errorf("%v retriable sink errors so far", n)
		}
		return nil
	})
	rs.Start()
	wg.Wait()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	h.rdb = rdb
	want := customers * 5 * rounds
	h.waitTriggers("email", want, 2*time.Minute)
	// Read again after the stop: a late duplicate would show now.
	r.stop(t)
	got, err := h.stream("email")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, m := range got {
		ids[m.Values["id"].(string)]++
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("trigger %s appears %d times", id, n)
		}
	}
	if len(got) != want || len(ids) != want {
		t.Fatalf("%d entries, %d distinct ids; want %d", len(got), len(ids), want)
	}
}

// TestStopLeavesNoDeliveredEntries: the dispatcher only marks entries
// delivered; the worker's batches delete them, and a stop deletes the last
// ones, so a restart delivers nothing again.
func TestStopLeavesNoDeliveredEntries(t *testing.T) {
	h := newHarness(t, 4, "")
	r := h.start(3, "", nil)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	h.produce(events(20, 6, "a", t0)...)
	h.waitTriggers("email", 40, time.Minute)
	r.stop(t)
	if got, err := h.stream("email"); err != nil || len(got) != 40 {
		t.Fatalf("%d triggers after the stop (%v), want 40", len(got), err)
	}
	store, err := state.Open(h.dir, state.Options{DedupWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for id := range 4 {
		p, err := store.Partition(id)
		if err != nil {
			t.Fatal(err)
		}
		if d := p.OutboxDepth(); d != 0 {
			t.Errorf("partition %d: %d outbox entries left after a clean stop", id, d)
		}
	}
}
