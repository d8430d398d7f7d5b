package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
)

// TestDeterministicAcrossBatchingAndPacing feeds the same events to two
// independent `journey run`s — one committing every record on its own while
// the events trickle in, one consuming the finished topic in large batches —
// and requires of both the in-process fold's state for every customer, byte
// for byte, and its triggers, each delivered once, read after the run
// stopped. Wall-clock watermark advance is off (replay semantics), so only
// event time matters.
func TestDeterministicAcrossBatchingAndPacing(t *testing.T) {
	const partitions, customers, perCustomer = 3, 60, 25
	e := newRigEnv(t, partitions)
	msgs := crashWorkload(11, customers, perCustomer, workloadStart)
	wantStates, wantTriggers := expected(t, e.topic, partitions, msgs)
	if len(wantTriggers) == 0 {
		t.Fatal("the workload yields no triggers; not a meaningful test")
	}

	run := func(name, batchYAML string, produce func()) (map[string]map[string]string, []string) {
		sub := *e
		sub.group, sub.prefix, sub.dir = e.group+"-"+name, e.prefix+name+":", filepath.Join(e.dir, name)
		if err := os.MkdirAll(sub.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cfg := sub.config(t, crashProcessors)
		if err := writeFile(cfg, strings.Replace(readFile(t, cfg), "batch:\n  commit_interval: 100ms\n", batchYAML, 1)); err != nil {
			t.Fatal(err)
		}
		c := startChild(t, "run", "--config", cfg)
		c.waitReady(t, time.Minute)
		if produce != nil {
			produce()
		}
		settled(t, &sub, int64(len(msgs)), 2*time.Minute)
		// Delivery has finished once every expected trigger is in Redis;
		// the ids are read after the run stops, so a late duplicate counts.
		testrig.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
			got, err := sub.triggerIDs()
			if err != nil {
				return err
			}
			if len(got) < len(wantTriggers) {
				return fmt.Errorf("%s: %d of %d triggers delivered", name, len(got), len(wantTriggers))
			}
			return nil
		})
		if code := c.stop(t, 30*time.Second); code != 0 {
			t.Fatalf("%s: exit %d", name, code)
		}
		got, err := sub.triggerIDs()
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for id, n := range got {
			if !wantTriggers[id] {
				t.Errorf("%s: unexpected trigger %s", name, id)
			}
			if n != 1 {
				t.Errorf("%s: trigger %s delivered %d times, want once", name, id, n)
			}
			ids = append(ids, id)
		}
		if len(got) != len(wantTriggers) {
			t.Errorf("%s: %d distinct triggers, want %d", name, len(got), len(wantTriggers))
		}
		slices.Sort(ids)
		return dumpStates(t, filepath.Join(sub.dir, "state"), partitions, crashProcessors), ids
	}

	// Run A: one record per commit, while the producer trickles events in.
	statesA, trigA := run("a", "batch:\n  commit_interval: 100ms\n  max_records: 1\n", func() {
		w := &kafka.Writer{Addr: kafka.TCP(e.brokers...), Topic: e.topic, Balancer: &kafka.Murmur2Balancer{Consistent: true},
			BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, Transport: &kafka.Transport{}}
		defer w.Close()
		for i := 0; i < len(msgs); i += 25 {
			if err := w.WriteMessages(context.Background(), msgs[i:min(i+25, len(msgs))]...); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond) // pacing the producer, not waiting for a result
		}
	})
	// Run B: the whole topic at once, in batches of up to 5000 with a linger.
	statesB, trigB := run("b", "batch:\n  commit_interval: 100ms\n  max_records: 5000\n  linger: 50ms\n", nil)

	if len(statesA) != customers || len(statesB) != customers {
		t.Fatalf("customers: %d and %d, want %d", len(statesA), len(statesB), customers)
	}
	for cust, procs := range wantStates {
		for name, want := range procs {
			if a, b := statesA[cust][name], statesB[cust][name]; a != want || b != want {
				t.Fatalf("customer %s, processor %s:\n A %s\n B %s\n want %s", cust, name, a, b, want)
			}
		}
	}
	if !slices.Equal(trigA, trigB) {
		t.Fatalf("triggers differ: %d vs %d", len(trigA), len(trigB))
	}
	t.Logf("%d records, %d customers: identical state and %d identical triggers", len(msgs), customers, len(trigA))
}
