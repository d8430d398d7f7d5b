package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/state"
)

const crashProcessors = `timers:
  idle_advance: 0s   # event time only: the expectation is an in-process fold of the same events
  lateness: 0s
processors:
  interest:
    threshold: 3
    window: 2h
    target: email
`

// workloadStart anchors the generated workloads at a fixed weekday morning
// (UTC), so what the contact policy's quiet hours hold does not depend on
// the time of day the test runs.
var workloadStart = time.Date(2026, 11, 16, 9, 0, 0, 0, time.UTC)

// crashWorkload is a reproducible omnichannel event sequence: product views
// across a few categories on web and app, some purchases, page views, and a
// few producer retries (the same messageId sent twice).
func crashWorkload(seed uint64, customers, perCustomer int, t0 time.Time) []kafka.Message {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	cats := []string{"boots", "hats", "coats", "bags", "scarves"}
	var msgs []kafka.Message
	for i := range perCustomer {
		for c := range customers {
			cust := fmt.Sprintf("cust-%04d", c)
			id := fmt.Sprintf("ev-%04d-%03d", c, i)
			at := t0.Add(time.Duration(i)*time.Minute + time.Duration(c)*time.Millisecond).UTC().Format(time.RFC3339Nano)
			channel := []string{"web", "app"}[rng.IntN(2)]
			cat := cats[rng.IntN(len(cats))]
			var v map[string]any
			switch r := rng.IntN(100); {
			case r < 70:
				v = map[string]any{"type": "track", "event": "Product Viewed",
					"properties": map[string]any{"product_id": fmt.Sprintf("%s-%d", cat, rng.IntN(20)), "category": cat}}
			case r < 78:
				v = map[string]any{"type": "track", "event": "Order Completed", "properties": map[string]any{
					"order_id": "o-" + id, "revenue": 42.5,
					"products": []any{map[string]any{"product_id": cat + "-1", "category": cat, "price": 42.5}}}}
			default:
				v = map[string]any{"type": "page", "name": "Home", "properties": map[string]any{"path": "/"}}
			}
			v["messageId"], v["userId"], v["timestamp"] = id, cust, at
			v["context"] = map[string]any{"channel": channel, "consent": map[string]any{"email": c%7 != 0}}
			b, _ := json.Marshal(v)
			m := kafka.Message{Key: []byte(cust), Value: b}
			msgs = append(msgs, m)
			if rng.IntN(50) == 0 {
				msgs = append(msgs, m) // a producer retry
			}
		}
	}
	return msgs
}

// expected folds the workload in-process with the same decoder and
// processors, per customer in produce order: the state every customer must
// end with, and every trigger id that must be in Redis exactly once.
func expected(t *testing.T, topic string, partitions int, msgs []kafka.Message) (map[string]map[string]string, map[string]bool) {
	t.Helper()
	return expectedFold(t, crashProcessors, topic, partitions, msgs)
}

// expectedFold is expected with the processors of procYAML.
func expectedFold(t *testing.T, procYAML, topic string, partitions int, msgs []kafka.Message) (map[string]map[string]string, map[string]bool) {
	t.Helper()
	f := newRefFold(t, topic, procYAML)
	bal := kafka.Murmur2Balancer{Consistent: true}
	for _, m := range msgs {
		f.add(bal.Balance(m, seq(partitions)...), m)
	}
	return f.states(), f.triggers
}

// refFold is the reference fold: the same decoder, processors and Runner
// semantics as the pipeline (timers fire in event time before the event
// that passes them, lateness 0), one runner per partition, fed one record
// at a time in each partition's order, so a long scenario's log need not
// be held in memory.
type refFold struct {
	t        *testing.T
	topic    string
	engine   *journey.Engine
	dec      *ingest.Decoder
	seen     map[string]bool
	triggers map[string]bool
	runners  map[int]*journey.Runner
	out      journey.Output
	records  int
}

func newRefFold(t *testing.T, topic, procYAML string) *refFold {
	t.Helper()
	engine, _ := crashEngine(t, procYAML)
	dec, err := ingest.NewDecoder(ingest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return &refFold{t: t, topic: topic, engine: engine, dec: dec, seen: map[string]bool{}, triggers: map[string]bool{},
		runners: map[int]*journey.Runner{}}
}

func (f *refFold) add(part int, m kafka.Message) {
	f.records++
	r := f.runners[part]
	if r == nil {
		r = journey.NewRunner(f.engine, func(string, journey.Processor, journey.State) (bool, error) { return false, nil })
		r.Timers = &journey.MemTimers{}
		f.runners[part] = r
	}
	ev, err := f.dec.Decode(ingest.Record{Topic: f.topic, Key: m.Key, Value: m.Value, Time: time.Now()})
	if err != nil {
		f.t.Fatalf("partition %d offset %d: %v", part, m.Offset, err)
	}
	if f.seen[ev.ID] {
		return
	}
	f.seen[ev.ID] = true
	f.out.Reset()
	if err := r.Apply(&ev, &f.out); err != nil {
		f.t.Fatal(err)
	}
	for _, tr := range f.out.Triggers {
		if f.triggers[tr.ID] {
			f.t.Fatalf("the workload itself emits trigger %s twice", tr.ID)
		}
		f.triggers[tr.ID] = true
	}
}

// states is every customer's state per processor as JSON (dumpStates'
// form).
func (f *refFold) states() map[string]map[string]string {
	states := map[string]map[string]string{}
	for _, r := range f.runners {
		for _, c := range r.Touched() {
			states[c.ID] = map[string]string{}
			for i, p := range f.engine.Processors() {
				b, err := json.Marshal(c.States[i])
				if err != nil {
					f.t.Fatal(err)
				}
				states[c.ID][p.Name()] = string(b)
			}
		}
	}
	return states
}

// freshClient is a Kafka client with a transport of its own, and what
// closes its connections. kafka-go's default transport answers metadata
// from a cache kept for seconds: a topic journey created a moment ago (the
// dead-letter, repartition or changelog topic) would look absent.
func freshClient(brokers []string, timeout time.Duration) (*kafka.Client, func()) {
	tr := &kafka.Transport{}
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: timeout, Transport: tr}, tr.CloseIdleConnections
}

// committedTotal sums the group's committed offsets over the topic.
func committedTotal(t *testing.T, e *rigEnv) int64 {
	t.Helper()
	client, closeClient := freshClient(e.brokers, 5*time.Second)
	defer closeClient()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	parts := make([]int, 0, e.parts)
	for i := range e.parts {
		parts = append(parts, i)
	}
	res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: e.group, Topics: map[string][]int{e.topic: parts}})
	if err != nil {
		return 0 // the group may not exist yet
	}
	var n int64
	for _, p := range res.Topics[e.topic] {
		if p.CommittedOffset > 0 {
			n += p.CommittedOffset
		}
	}
	return n
}

// settled waits until the group committed want records of the input topic
// and every record of the repartition topic (identity routing forwards
// records, links and merges there), and the repartition topic has stopped
// growing for longer than a commit interval: a forward still in a
// partition's outbox is produced within it.
func settled(t *testing.T, e *rigEnv, want int64, within time.Duration) {
	t.Helper()
	var lastEnd int64 = -1
	var since time.Time
	testrig.CheckFor(t, within, 100*time.Millisecond, func() error {
		// A producer's retry may have written a record twice (journey
		// drops the copy by its event id): what must be committed is
		// everything the input holds, at least want.
		in, inCommitted := topicProgress(t, e, e.topic)
		switch {
		case in < want:
			return fmt.Errorf("%d records in the input, %d produced", in, want)
		case inCommitted != in:
			return fmt.Errorf("%d of %d records committed", inCommitted, in)
		}
		end, committed := topicProgress(t, e, e.group+".repartition")
		if end != lastEnd {
			lastEnd, since = end, time.Now()
		}
		switch {
		case committed != end:
			return fmt.Errorf("repartition topic: %d of %d records committed", committed, end)
		case time.Since(since) < 2500*time.Millisecond:
			return fmt.Errorf("repartition topic: %d records, quiet for %s", end, time.Since(since).Round(time.Millisecond))
		}
		return nil
	})
}

// topicProgress returns the sum of topic's end offsets and of the group's
// committed offsets there (zeros when it does not exist yet).
func topicProgress(t *testing.T, e *rigEnv, topic string) (end, committed int64) {
	t.Helper()
	client, closeClient := freshClient(e.brokers, 5*time.Second)
	defer closeClient()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var reqs []kafka.OffsetRequest
	parts := make([]int, 0, e.parts)
	for i := range e.parts {
		reqs = append(reqs, kafka.LastOffsetOf(i))
		parts = append(parts, i)
	}
	lo, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return 0, 0
	}
	for _, p := range lo.Topics[topic] {
		if p.Error == nil && p.LastOffset > 0 {
			end += p.LastOffset
		}
	}
	res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: e.group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return end, 0
	}
	for _, p := range res.Topics[topic] {
		if p.CommittedOffset > 0 {
			committed += p.CommittedOffset
		}
	}
	return end, committed
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := readFileBytes(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dumpStates opens a (closed) state dir and returns every customer's state
// per processor as JSON.
func dumpStates(t *testing.T, dir string, partitions int, procYAML string) map[string]map[string]string {
	t.Helper()
	store, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	procs := buildProcessors(t, procYAML)
	out := map[string]map[string]string{}
	for pid := range partitions {
		p, err := store.Partition(pid)
		if err != nil {
			t.Fatal(err)
		}
		err = p.Customers(func(cust string, _ []string) error {
			out[cust] = map[string]string{}
			for _, proc := range procs {
				data, found, err := p.State(cust, proc.Name(), proc.StateVersion())
				if err != nil {
					return err
				}
				st := proc.NewState()
				if found {
					if err := st.UnmarshalBinary(data); err != nil {
						return err
					}
				}
				b, _ := json.Marshal(st)
				out[cust][proc.Name()] = string(b)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// triggerIDs counts the trigger ids in every trigger stream of the env.
func (e *rigEnv) triggerIDs() (map[string]int, error) {
	ctx := context.Background()
	keys, err := e.rdb.Keys(ctx, e.prefix+"triggers:*").Result()
	if err != nil {
		return nil, err
	}
	ids := map[string]int{}
	for _, k := range keys {
		es, err := e.rdb.XRange(ctx, k, "-", "+").Result()
		if err != nil {
			return nil, err
		}
		for _, m := range es {
			ids[m.Values["id"].(string)]++
		}
	}
	return ids, nil
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// restoredRecords sums the records the `journey run` whose log is out
// restored from the changelog at start-up.
func restoredRecords(t *testing.T, out string) int64 {
	t.Helper()
	var n int64
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `"partition restored"`) {
			continue
		}
		var l struct {
			Records int64 `json:"records"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		n += l.Records
	}
	return n
}
