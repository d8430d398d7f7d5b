package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
)

// The dependency-fault scenarios of the chaos suite (issue 23): a broker
// that restarts or is away, a Redis that is away or forgets. Each runs
// `journey run` against a paced producer (chaosProducer), then reads the
// input log back and folds it in-process (refFold): what the log holds is
// what journey had to process, whatever the producer's retries made of it.

// chaosEvent is the i-th record of an endless, reproducible workload of
// crashWorkload's shape (views, purchases, page views on web and app; one
// record in 101 a producer retry of the one before it), one event minute
// per round of customers. Customers come in cohorts that each live for
// chaosCohortRounds rounds, so triggers keep coming at a steady rate: one
// customer's interest crossings are used up within a few event hours.
const chaosCohortRounds = 20

func chaosEvent(i, customers int, t0 time.Time) kafka.Message {
	if i%101 == 100 {
		i-- // the same messageId again
	}
	c, round := i%customers, i/customers
	cohort := round / chaosCohortRounds
	rng := rand.New(rand.NewPCG(uint64(i), 0x9e3779b97f4a7c15))
	cats := []string{"boots", "hats", "coats", "bags", "scarves"}
	cust := fmt.Sprintf("cust-%d-%04d", cohort, c)
	id := fmt.Sprintf("ev-%d", i)
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
	v["messageId"], v["userId"] = id, cust
	v["timestamp"] = t0.Add(time.Duration(round)*time.Minute + time.Duration(c)*time.Millisecond).UTC().Format(time.RFC3339Nano)
	v["context"] = map[string]any{"channel": []string{"web", "app"}[rng.IntN(2)], "consent": map[string]any{"email": c%7 != 0}}
	b, _ := json.Marshal(v)
	return kafka.Message{Key: []byte(cust), Value: b}
}

// chaosProducer offers chaosEvent records at a steady rate, as an upstream
// service would: while the broker cannot take them it keeps retrying what
// failed and lets the rest queue up (offered grows with the clock), then
// sends the backlog as fast as the broker takes it. Only acknowledged
// records count as produced.
type chaosProducer struct {
	brokers   []string
	topic     string
	rate      int // records per second offered
	customers int
	t0        time.Time

	start    time.Time
	produced atomic.Int64 // every record before this index is acknowledged
	failures atomic.Int64 // failed write calls
	stop     chan struct{}
	done     chan error
}

func startChaosProducer(brokers []string, topic string, rate, customers int) *chaosProducer {
	p := &chaosProducer{brokers: brokers, topic: topic, rate: rate, customers: customers, t0: workloadStart,
		start: time.Now(), stop: make(chan struct{}), done: make(chan error, 1)}
	go func() { p.done <- p.run() }()
	return p
}

// offered is how many records the producer has been asked to send by now.
func (p *chaosProducer) offered(at time.Time) int {
	return int(at.Sub(p.start).Seconds() * float64(p.rate))
}

func (p *chaosProducer) writer() *kafka.Writer {
	return &kafka.Writer{Addr: kafka.TCP(p.brokers...), Topic: p.topic, Balancer: &kafka.Murmur2Balancer{Consistent: true},
		RequiredAcks: kafka.RequireAll, BatchSize: 1000, BatchTimeout: time.Millisecond, MaxAttempts: 3,
		WriteBackoffMin: 50 * time.Millisecond, WriteBackoffMax: 500 * time.Millisecond, Transport: &kafka.Transport{}}
}

// run produces until stop is closed and every record offered before it is
// acknowledged.
func (p *chaosProducer) run() error {
	w := p.writer()
	defer func() { _ = w.Close() }()
	next := 0                // the next index to generate
	var pend []kafka.Message // generated, not acknowledged yet
	stopping := false
	for {
		select {
		case <-p.stop:
			stopping = true
		default:
		}
		if target := p.offered(time.Now()); !stopping && len(pend) < 1000 && next < target {
			for ; next < target && len(pend) < 1000; next++ {
				pend = append(pend, chaosEvent(next, p.customers, p.t0))
			}
		}
		if len(pend) == 0 {
			p.produced.Store(int64(next))
			if stopping {
				return nil
			}
			time.Sleep(5 * time.Millisecond) // pacing: the next records are not offered yet
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := w.WriteMessages(ctx, pend...)
		cancel()
		if err == nil {
			pend = pend[:0]
			p.produced.Store(int64(next))
			continue
		}
		p.failures.Add(1)
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) && len(werrs) == len(pend) {
			var failed []kafka.Message // retried in their order; the others are in the log
			for i, e := range werrs {
				if e != nil {
					failed = append(failed, pend[i])
				}
			}
			pend = failed
		} // else every one again: a copy that did reach the log is an event id journey skips
		_ = w.Close()
		w = p.writer()
		select {
		case <-time.After(200 * time.Millisecond): // back off before the retry
		case <-p.stop:
			stopping = true
		}
	}
}

// finish stops offering and waits until what was offered is acknowledged.
func (p *chaosProducer) finish(t *testing.T) int {
	t.Helper()
	close(p.stop)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testrig.Within(3 * time.Minute)):
		t.Fatalf("the producer did not get its last records acknowledged in 3m (%d acknowledged)", p.produced.Load())
	}
	return int(p.produced.Load())
}

// partitionOffsets returns topic's end offsets and the group's committed
// offsets, per partition.
func partitionOffsets(e *rigEnv, topic string) (end, committed []int64, err error) {
	client, closeClient := freshClient(e.brokers, 5*time.Second)
	defer closeClient()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reqs := make([]kafka.OffsetRequest, e.parts)
	for i := range e.parts {
		reqs[i] = kafka.LastOffsetOf(i)
	}
	lo, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, nil, err
	}
	end, committed = make([]int64, e.parts), make([]int64, e.parts)
	for _, p := range lo.Topics[topic] {
		if p.Error != nil {
			return nil, nil, p.Error
		}
		end[p.Partition] = p.LastOffset
	}
	res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: e.group, Topics: map[string][]int{topic: seq(e.parts)}})
	if err != nil {
		return nil, nil, err
	}
	if res.Error != nil {
		return nil, nil, res.Error
	}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, nil, p.Error
		}
		committed[p.Partition] = p.CommittedOffset
	}
	return end, committed, nil
}

// caughtUp waits until the group committed, on every partition, at least
// the offsets in upTo (the whole log as of now when upTo is nil).
func caughtUp(t *testing.T, e *rigEnv, c *child, upTo []int64, within time.Duration) {
	t.Helper()
	testrig.CheckFor(t, within, 50*time.Millisecond, func() error {
		select {
		case <-c.done:
			t.Fatalf("journey run exited:\n%s", c.tail(30))
		default:
		}
		end, committed, err := partitionOffsets(e, e.topic)
		if err != nil {
			return err
		}
		if upTo == nil {
			upTo = end
		}
		for i := range upTo {
			if committed[i] < upTo[i] {
				return fmt.Errorf("partition %d: group at %d, want %d", i, committed[i], upTo[i])
			}
		}
		return nil
	})
}

// recovered waits, after a fault ended at back, until the producer's
// backlog (everything offered before back) is acknowledged and the group
// has committed the log as it then was; with ready, until /readyz answers
// 200 too. It returns the time from back.
func recovered(t *testing.T, e *rigEnv, c *child, p *chaosProducer, back time.Time, ready bool) time.Duration {
	t.Helper()
	backlog := int64(p.offered(back))
	testrig.CheckFor(t, 3*time.Minute, 20*time.Millisecond, func() error {
		if n := p.produced.Load(); n < backlog {
			return fmt.Errorf("producer: %d of the %d records offered before the fault's end acknowledged", n, backlog)
		}
		return nil
	})
	var end []int64
	testrig.CheckFor(t, time.Minute, 20*time.Millisecond, func() (err error) {
		end, _, err = partitionOffsets(e, e.topic)
		return err
	})
	caughtUp(t, e, c, end, 3*time.Minute)
	if ready {
		c.waitReady(t, 3*time.Minute)
	}
	return time.Since(back)
}

// traffic waits until the producer got n more records acknowledged and the
// group committed more than before: journey is processing live traffic.
func traffic(t *testing.T, e *rigEnv, c *child, p *chaosProducer, n int) {
	t.Helper()
	want := p.produced.Load() + int64(n)
	var before int64 = -1
	testrig.CheckFor(t, 2*time.Minute, 20*time.Millisecond, func() error {
		select {
		case <-c.done:
			t.Fatalf("journey run exited:\n%s", c.tail(30))
		default:
		}
		_, committed, err := partitionOffsets(e, e.topic)
		if err != nil {
			return err
		}
		var sum int64
		for _, o := range committed {
			sum += max(o, 0)
		}
		if before < 0 {
			before = sum
		}
		switch got := p.produced.Load(); {
		case got < want:
			return fmt.Errorf("producer: %d of %d records acknowledged", got, want)
		case sum == before:
			return fmt.Errorf("the group committed nothing new (%d)", sum)
		}
		return nil
	})
}

// readyzFailing waits until /readyz answers 503 with a reason containing
// want, and journey is still running.
func readyzFailing(t *testing.T, c *child, want string, within time.Duration) string {
	t.Helper()
	var body string
	testrig.CheckFor(t, within, 50*time.Millisecond, func() error {
		select {
		case <-c.done:
			t.Fatalf("journey run exited:\n%s", c.tail(30))
		default:
		}
		code, b, err := c.adminGet("/readyz")
		if err != nil {
			return err
		}
		body = string(b)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, want) {
			return fmt.Errorf("/readyz %d: %s", code, b)
		}
		return nil
	})
	var r struct {
		Detail struct {
			Reason string `json:"reason"`
		} `json:"detail"`
	}
	if err := json.Unmarshal([]byte(body), &r); err == nil && r.Detail.Reason != "" {
		return r.Detail.Reason
	}
	return body
}

// foldLog reads every partition of e's input topic from the start to its
// end and folds it.
func foldLog(t *testing.T, e *rigEnv, procYAML string) *refFold {
	t.Helper()
	f := newRefFold(t, e.topic, procYAML)
	end, _, err := partitionOffsets(e, e.topic)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testrig.Within(3*time.Minute))
	defer cancel()
	for part := range e.parts {
		if end[part] == 0 {
			continue
		}
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: e.brokers, Topic: e.topic, Partition: part,
			MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 100 * time.Millisecond})
		for {
			m, err := rd.ReadMessage(ctx)
			if err != nil {
				_ = rd.Close()
				t.Fatalf("read back partition %d: %v", part, err)
			}
			f.add(part, kafka.Message{Key: m.Key, Value: m.Value, Offset: m.Offset})
			if m.Offset >= end[part]-1 {
				break
			}
		}
		_ = rd.Close()
	}
	return f
}

// faultOutcome compares what journey left (trigger ids seen, its stored
// state) with the reference fold of the log and fills row's counts.
func faultOutcome(t *testing.T, e *rigEnv, f *refFold, got map[string]int, procYAML string, row *chaosRow) []string {
	t.Helper()
	want := f.triggers
	row.Events = f.records
	row.Triggers = len(want)
	row.Lost, row.Duplicated, row.Unexpected = triggerOutcome(want, got)
	var bad []string
	row.Mismatches, bad = stateMismatches(f.states(), dumpStates(t, filepath.Join(e.dir, "state"), e.parts, procYAML))
	return bad
}
