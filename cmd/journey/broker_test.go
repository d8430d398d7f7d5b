package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
)

// TestBrokerRestartAndOutage runs journey run against a Kafka broker of the
// test's own, which is killed (SIGKILL) and started again on its data
// three times — once after an 8 s outage — while events arrive between
// them. journey run rides it out without restarting: every event is
// folded once, every customer's interest trigger is in Redis once, and
// /readyz is 200 again at the end.
func TestBrokerRestartAndOutage(t *testing.T) {
	cluster := testrig.NewCluster(t, 1)
	addr := testrig.RedisAddr(t)
	id := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	const parts = 2
	e := &rigEnv{brokers: cluster.Brokers, redis: addr, topic: id, dlq: id + ".dlq", group: id + "-g",
		prefix: "jt:" + id + ":", dir: t.TempDir(), parts: parts, rdb: redis.NewClient(&redis.Options{Addr: addr})}
	t.Cleanup(func() { _ = e.rdb.Close() })
	testrig.CreateTopic(t, e.brokers, e.topic, parts)
	cfg := e.config(t, `timers:
  idle_advance: 0s
  lateness: 0s
processors:
  interest:
    threshold: 3
    target: email
  engagement:
    target: web
`)
	c := startChild(t, "run", "--config", cfg)
	c.waitReady(t, time.Minute)

	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC) // 10:00 in Paris
	const customers = 40
	// One customer's three boots views, with ids of that phase: each
	// customer crosses the interest threshold once.
	views := func(phase, first, n int) []kafka.Message {
		var msgs []kafka.Message
		for c := first; c < first+n; c++ {
			u := fmt.Sprintf("u-%03d", c)
			for v := range 3 {
				line := segmentLine(u, fmt.Sprintf("p%d-%s-%d", phase, u, v), "Product Viewed", "web",
					t0.Add(time.Duration(phase*10+v)*time.Minute), map[string]any{"product_id": "boots-1", "category": "boots"})
				msgs = append(msgs, kafka.Message{Key: []byte(u), Value: []byte(line[len(u)+1:])})
			}
		}
		return msgs
	}
	produce := func(msgs []kafka.Message) {
		t.Helper()
		w := &kafka.Writer{Addr: kafka.TCP(e.brokers...), Topic: e.topic, Balancer: &kafka.Murmur2Balancer{},
			RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, MaxAttempts: 20, Transport: &kafka.Transport{}}
		defer w.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	folded := func(want int) {
		t.Helper()
		testrig.CheckFor(t, 2*time.Minute, 100*time.Millisecond, func() error {
			m := c.get(t, "/metrics")
			if got := sumMetric(m, "journey_events_folded_total"); got != float64(want) {
				return fmt.Errorf("%v events folded, want %d", got, want)
			}
			return nil
		})
	}
	per := customers / 4
	produce(views(0, 0, per))
	folded(3 * per)
	for round, outage := range []time.Duration{0, 8 * time.Second, 0} {
		cluster.Stop(t, 1)
		time.Sleep(outage) // the outage itself: nothing to poll for
		cluster.Start(t, 1)
		produce(views(round+1, (round+1)*per, per))
		folded(3 * (round + 2) * per)
		select {
		case <-c.done:
			t.Fatalf("journey run exited at restart %d:\n%s", round+1, c.tail(30))
		default:
		}
	}
	c.waitReady(t, time.Minute)
	ids, err := e.triggerIDs()
	if err != nil {
		t.Fatal(err)
	}
	interest := 0
	for tid, n := range ids {
		if n != 1 {
			t.Errorf("trigger %s in Redis %d times", tid, n)
		}
		interest++
	}
	if interest < customers {
		t.Errorf("%d triggers in Redis, want one interest email per customer (%d)", interest, customers)
	}
	if code := c.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("journey run exit %d", code)
	}
}

// sumMetric adds up every series of a counter in a /metrics text.
func sumMetric(text, name string) float64 {
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}
