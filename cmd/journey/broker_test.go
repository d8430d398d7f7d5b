package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/journey-dev/journey/internal/testrig"
)

// TestChaosBrokerRestartsAndOutage runs journey run against a Kafka broker
// of the test's own — the only one, so while it is down nothing can be
// produced, fetched or committed — which is killed (SIGKILL) and started
// again on its data 3 times, once after an 8 s outage (make chaos: 5
// times, once after 60 s), while a producer keeps offering events (50/s;
// make chaos: 5,000/s), retrying what the broker did not acknowledge.
// journey rides it out without restarting; at the end every customer's
// state equals the fold of the log and every trigger that fold yields is
// in Redis once. Recovery: from the broker's return until the producer's
// backlog is in the log and the group has committed all of it (lag 0 on
// what was produced by then), and /readyz answers 200.
func TestChaosBrokerRestartsAndOutage(t *testing.T) {
	began := time.Now()
	const parts = 4
	var (
		rate      = chaosSize(100, 5000)
		customers = chaosSize(100, 1000)
		outages   = chaosSize([]time.Duration{0, 8 * time.Second, 0}, []time.Duration{0, 0, 60 * time.Second, 0, 0})
		between   = chaosSize(time.Second, 10*time.Second) // of traffic before each fault
	)
	cluster := testrig.NewCluster(t, 1)
	addr := testrig.RedisAddr(t)
	id := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	e := &rigEnv{brokers: cluster.Brokers, redis: addr, topic: id, dlq: id + ".dlq", group: id + "-g",
		prefix: "jt:" + id + ":", dir: t.TempDir(), parts: parts, rdb: redis.NewClient(&redis.Options{Addr: addr})}
	t.Cleanup(func() { _ = e.rdb.Close() })
	testrig.CreateTopic(t, e.brokers, e.topic, parts)
	cfg := e.config(t, crashProcessors)
	c := startChild(t, "run", "--config", cfg)
	c.waitReady(t, time.Minute)

	p := startChaosProducer(e.brokers, e.topic, rate, customers)
	var recovery []time.Duration
	for i, outage := range outages {
		traffic(t, e, c, p, int(between.Seconds()*float64(rate)))
		cluster.Stop(t, 1)
		time.Sleep(outage) // the outage itself: nothing to poll for
		cluster.Start(t, 1)
		back := time.Now()
		recovery = append(recovery, recovered(t, e, c, p, back, true))
		t.Logf("restart %d (outage %s): recovered in %s; %d records acknowledged, %d failed writes",
			i+1, outage, recovery[i].Round(time.Millisecond), p.produced.Load(), p.failures.Load())
	}
	traffic(t, e, c, p, int(between.Seconds()*float64(rate)))
	acked := p.finish(t)
	if p.failures.Load() == 0 {
		t.Fatal("the producer never failed a write: the broker was not away while it produced")
	}

	// The log is final: fold it, then wait for journey to have processed
	// and delivered all of it before stopping it.
	f := foldLog(t, e, crashProcessors)
	if f.records < acked {
		t.Fatalf("the log holds %d records, fewer than the %d acknowledged", f.records, acked)
	}
	if len(f.triggers) < 20 {
		t.Fatalf("the log yields only %d triggers: not a meaningful test", len(f.triggers))
	}
	caughtUp(t, e, c, nil, 3*time.Minute)
	testrig.CheckFor(t, 2*time.Minute, 100*time.Millisecond, func() error {
		got, err := e.triggerIDs()
		if err != nil {
			return err
		}
		if len(got) < len(f.triggers) {
			return fmt.Errorf("%d of %d triggers in Redis", len(got), len(f.triggers))
		}
		return nil
	})
	c.waitReady(t, time.Minute)
	if code := c.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("journey run exit %d", code)
	}
	if n := strings.Count(c.output(), `"msg":"journey running"`); n != 1 {
		t.Errorf("journey started %d times, want once", n)
	}
	got, err := e.triggerIDs()
	if err != nil {
		t.Fatal(err)
	}
	faults := fmt.Sprintf("broker SIGKILLed and restarted on its data ×%d, one after a %s outage, under %d events/s offered",
		len(outages), slices.Max(outages), rate)
	row := chaosRow{Scenario: "broker restarts and outage", Faults: faults, Recovery: recovery,
		RecoveredWhen: "broker back → the producer's backlog acknowledged, the group's committed offsets at the log's end as of then (lag 0), /readyz 200"}
	bad := faultOutcome(t, e, f, got, crashProcessors, &row)
	row.Took = time.Since(began)
	recordChaos(t, row)
	t.Logf("%d records in the log (%d acknowledged, %d failed writes retried), %d triggers", f.records, acked, p.failures.Load(), len(f.triggers))
	if row.Lost+row.Duplicated+row.Unexpected+row.Mismatches != 0 {
		t.Errorf("%d lost, %d duplicated, %d unexpected triggers; %d customers' state differs from the fold (e.g. %v)",
			row.Lost, row.Duplicated, row.Unexpected, row.Mismatches, bad)
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
