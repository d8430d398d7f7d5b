package pipeline_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/pipeline"
)

// A changelog topic that cannot hold the input's partitions' state stops
// journey at start-up, naming the field.
func TestRefusesUnfitChangelog(t *testing.T) {
	for _, tc := range []struct {
		name       string
		partitions int
		configs    []kafka.ConfigEntry
		want       []string
	}{
		{"not co-partitioned", 3, []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
			[]string{"changelog.topic", "3 partitions", "co-partitioned"}},
		{"not compacted", 2, []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "delete"}},
			[]string{"changelog.topic", "cleanup.policy=delete", "compact", "kafka-configs --alter"}},
		{"max.message.bytes under max_batch_bytes", 2, []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"},
			{ConfigName: "max.message.bytes", ConfigValue: "2000000"}},
			[]string{"changelog.topic", "max.message.bytes=2000000", "changelog.max_batch_bytes=33554432",
				"kafka-configs --alter", "max.message.bytes=34603008", "lower changelog.max_batch_bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 2, "")
			clog := h.topic + ".changelog"
			testrig.CreateTopic(t, h.brokers, clog, tc.partitions, tc.configs...)
			r := h.start(1, "", func(c *pipeline.Config) { c.Changelog = pipeline.ChangelogConfig{Topic: clog} })
			select {
			case err := <-r.done:
				for _, w := range tc.want {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Fatalf("want an error containing %q, got %v", w, err)
					}
				}
			case <-time.After(30 * time.Second):
				r.cancel()
				t.Fatal("pipeline started with an unfit changelog topic")
			}
			_ = r.store.Close()
		})
	}
}

// A round whose changelog form would be over
// changelog.max_batch_bytes is folded again as smaller commits: nothing is
// lost or doubled, each dead letter is written once, and the counters
// count each record once.
func TestSplitsOversizedRound(t *testing.T) {
	h := newHarness(t, 1, "")
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	const customers, per = 60, 5
	msgs := events(customers, per, "s", t0)
	const bad = 6
	for i := range bad { // dead letters spread through the batch
		at := (i + 1) * len(msgs) / (bad + 1)
		m := kafka.Message{Key: []byte("k"), Value: []byte("not json " + strconv.Itoa(i))}
		msgs = append(msgs[:at], append([]kafka.Message{m}, msgs[at:]...)...)
	}
	// Everything is in the topic before journey starts, so its first
	// fetch holds far more than one commit may carry.
	h.produce(msgs...)
	r := h.start(2, "", func(c *pipeline.Config) {
		c.Changelog = pipeline.ChangelogConfig{Topic: h.topic + ".changelog", MaxBatchBytes: 6 << 10}
	})
	h.waitTriggers("email", customers*(per/2), time.Minute)
	testrig.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if got := r.counter(t, "journey_events_folded_total", nil); got != customers*per {
			return fmt.Errorf("%v events folded, want %d", got, customers*per)
		}
		return nil
	})
	if got := r.counter(t, "journey_records_in_total", nil); got != float64(len(msgs)) {
		t.Errorf("%v records counted in, want %d", got, len(msgs))
	}
	if got := r.counter(t, "journey_dlq_total", nil); got != bad {
		t.Errorf("%v dead letters counted, want %d", got, bad)
	}
	if got := highWater(t, h.brokers[0], h.dlq, 0); got != bad {
		t.Errorf("%d records in the dead-letter topic, want %d (each once)", got, bad)
	}
	batches := r.counter(t, "journey_batch_records", nil)
	// Every round's age is observed as it is logged and committed
	// (a batch folded again in halves starts more than once).
	for _, stage := range []string{"logged", "committed"} {
		if got := r.counter(t, "journey_record_age_seconds", map[string]string{"stage": stage}); got != batches {
			t.Errorf("record age observed %v times at %s, want once per round (%v)", got, stage, batches)
		}
	}
	for _, stage := range []string{"fetched", "started"} {
		if got := r.counter(t, "journey_record_age_seconds", map[string]string{"stage": stage}); got < 1 {
			t.Errorf("no record age observed at %s", stage)
		}
	}
	r.stop(t)
	if batches < 4 {
		t.Errorf("%v rounds: the 6 KiB bound should have split the batch", batches)
	}
	checkTotals(t, h.dir, 1, customers, per)
	got, _ := h.stream("email")
	if len(got) != customers*(per/2) {
		t.Fatalf("%d triggers, want %d", len(got), customers*(per/2))
	}
}
