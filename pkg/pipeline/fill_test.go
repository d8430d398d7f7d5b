package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/pkg/journey"
)

// rec is a record of topic at offset, fetched when the partition's high
// watermark was hwm.
func rec(topic string, offset, hwm int64, size int) kafka.Message {
	return kafka.Message{Topic: topic, Offset: offset, HighWaterMark: hwm, Value: make([]byte, size)}
}

// fillWith gathers a round's records from batch and msgs as
// process does (fill until it returns nothing new) on a worker configured
// by cfg, and fails the test if that has not ended within a minute (a
// hang, not a timing check).
func fillWith(t *testing.T, cfg Config, msgs <-chan kafka.Message, batch []kafka.Message) []kafka.Message {
	t.Helper()
	w := &worker{p: &Pipeline{cfg: cfg}}
	done := make(chan []kafka.Message, 1)
	go func() {
		w.note(batch)
		var waited time.Duration
		for {
			n := len(batch)
			if batch = w.fill(context.Background(), msgs, batch, &waited); len(batch) == n {
				done <- batch
				return
			}
		}
	}()
	select {
	case b := <-done:
		return b
	case <-time.After(time.Minute):
		t.Fatal("fill did not return")
		return nil
	}
}

// A round of a partition that is behind its high watermark waits
// for more records (up to batch.backlog_wait) and stops waiting once the
// records caught up; one of a caught-up partition takes what is there.
func TestFillWaitsWhileBehind(t *testing.T) {
	cfg := Config{MaxBatchRecords: 100, MaxBatchBytes: 1 << 20, BacklogWait: time.Hour}

	// Behind: three records taken, five more sent one at a time on an
	// unbuffered channel (so none is waiting when fill looks), the last
	// one at the high watermark.
	msgs := make(chan kafka.Message)
	go func() {
		for off := int64(3); off < 8; off++ {
			msgs <- rec("a", off, 8, 10)
		}
	}()
	batch := []kafka.Message{rec("a", 0, 8, 10), rec("a", 1, 8, 10), rec("a", 2, 8, 10)}
	if got := fillWith(t, cfg, msgs, batch); len(got) != 8 || got[7].Offset != 7 {
		t.Fatalf("behind: fill returned %d records, want the 8 up to the high watermark", len(got))
	}

	// Caught up: nothing more is waited for, however long backlog_wait.
	if got := fillWith(t, cfg, make(chan kafka.Message), []kafka.Message{rec("a", 8, 9, 10)}); len(got) != 1 {
		t.Fatalf("caught up: fill returned %d records, want 1", len(got))
	}

	// Two topics: the newest record of b is caught up, a is still behind,
	// so the batch waits for a's next record (and stops there: a caught up).
	msgs = make(chan kafka.Message)
	go func() { msgs <- rec("a", 1, 2, 10) }()
	got := fillWith(t, cfg, msgs, []kafka.Message{rec("a", 0, 2, 10), rec("b", 0, 1, 10)})
	if len(got) != 3 {
		t.Fatalf("two topics: fill returned %d records, want 3", len(got))
	}

	// One call hands back what is waiting at once, behind or not, so the
	// worker folds it while more arrive.
	w := &worker{p: &Pipeline{cfg: cfg}}
	buf := make(chan kafka.Message, 2)
	buf <- rec("a", 1, 100, 10)
	buf <- rec("a", 2, 100, 10)
	first := []kafka.Message{rec("a", 0, 100, 10)}
	w.note(first)
	once := make(chan []kafka.Message, 1)
	go func() {
		var waited time.Duration
		once <- w.fill(context.Background(), buf, first, &waited)
	}()
	select {
	case got := <-once:
		if len(got) != 3 {
			t.Fatalf("one fill call: %d records, want the 3 there", len(got))
		}
	case <-time.After(time.Minute):
		t.Fatal("fill sat on the records it had while behind")
	}

	// backlog_wait bounds the wait when the records stop coming.
	short := cfg
	short.BacklogWait = 20 * time.Millisecond
	if got := fillWith(t, short, make(chan kafka.Message), []kafka.Message{rec("a", 0, 100, 10)}); len(got) != 1 {
		t.Fatalf("backlog_wait over: fill returned %d records, want 1", len(got))
	}
}

// The record and byte bounds end a batch even with more records waiting.
func TestFillStopsAtTheBounds(t *testing.T) {
	msgs := make(chan kafka.Message, 100)
	for off := int64(0); off < 100; off++ {
		msgs <- rec("a", off, 1000, 1024)
	}
	got := fillWith(t, Config{MaxBatchRecords: 10, MaxBatchBytes: 1 << 20, BacklogWait: time.Hour}, msgs, nil)
	if len(got) != 10 {
		t.Fatalf("max records 10: fill returned %d records", len(got))
	}
	got = fillWith(t, Config{MaxBatchRecords: 1000, MaxBatchBytes: 4 << 10, BacklogWait: time.Hour}, msgs, nil)
	if len(got) != 4 {
		t.Fatalf("max bytes 4 KiB of 1 KiB records: fill returned %d records", len(got))
	}
}

// A round takes no more records than the customers it may still touch
// (its share of Config.RoundCustomers less those touched): one that has
// touched its share folds and commits what it has, behind or not, and the
// next round takes the rest.
func TestFillStopsAtTheRoundsCustomers(t *testing.T) {
	engine, err := journey.NewEngine(journey.Identity{})
	if err != nil {
		t.Fatal(err)
	}
	runner := journey.NewRunner(engine, func(string, journey.Processor, journey.State) (bool, error) { return false, nil })
	w := &worker{p: &Pipeline{cfg: Config{MaxBatchRecords: 100, MaxBatchBytes: 1 << 20, BacklogWait: time.Hour}}, runner: runner, roundCustomers: 3}
	msgs := make(chan kafka.Message, 10)
	for off := int64(1); off < 10; off++ {
		msgs <- rec("a", off, 1000, 10)
	}
	take := func() int {
		t.Helper()
		batch := []kafka.Message{rec("a", 0, 1000, 10)}
		w.lag, w.batchBytes = w.lag[:0], 0
		w.note(batch)
		var waited time.Duration
		return len(w.fill(context.Background(), msgs, batch, &waited))
	}
	if _, err := runner.Customer("c1"); err != nil {
		t.Fatal(err)
	}
	if n := take(); n != 3 {
		t.Fatalf("1 customer of 3 touched: fill returned %d records, want the 1 it had and 2 of the 9 waiting", n)
	}
	for _, c := range []string{"c2", "c3"} {
		if _, err := runner.Customer(c); err != nil {
			t.Fatal(err)
		}
	}
	if n := take(); n != 1 {
		t.Fatalf("3 customers of 3 touched: fill returned %d records, want none added to the 1 it had", n)
	}
	runner.Committed()
	if n := take(); n != 4 {
		t.Fatalf("after the commit: fill returned %d records, want 3 of the 7 waiting added", n)
	}
}

// A round's slice is handed back empty without references to its records
// (their slabs), and a backlog-sized one is dropped after a small round
// that caught up.
func TestReuseDropsTheRecords(t *testing.T) {
	b := make([]kafka.Message, 0, 16)
	b = append(b, rec("a", 0, 1, 10), rec("a", 1, 2, 10))
	b = reuse(b, false)
	if len(b) != 0 || cap(b) != 16 {
		t.Fatalf("len %d cap %d, want 0 and 16", len(b), cap(b))
	}
	if full := b[:2]; full[0].Value != nil || full[1].Value != nil {
		t.Fatal("the reused slice still references the last round's values")
	}
	big := append(make([]kafka.Message, 0, 4*fetchAhead), rec("a", 0, 1, 10))
	if b = reuse(big, false); cap(b) != fetchAhead {
		t.Fatalf("after a small caught-up round the backlog-sized slice (cap %d) was kept: cap %d", cap(big), cap(b))
	}
	if b = reuse(big[:1], true); cap(b) != 4*fetchAhead {
		t.Fatalf("after a small round still behind the slice was dropped: cap %d", cap(b))
	}
	big = big[:2*fetchAhead]
	if b = reuse(big, false); cap(b) != 4*fetchAhead {
		t.Fatalf("after a large round the slice was dropped: cap %d", cap(b))
	}
}

// The watermark's ceiling is the record's Kafka timestamp + max skew, but
// never later than the wall clock + max skew.
func TestCeiling(t *testing.T) {
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		record time.Time
		want   time.Time
	}{
		{"record timestamp earlier (a replay, a backlog)", now.Add(-48 * time.Hour), now.Add(-48*time.Hour + time.Minute)},
		{"record timestamp later than the wall clock", now.Add(time.Hour), now.Add(time.Minute)},
		{"no record timestamp", time.Time{}, now.Add(time.Minute)},
	} {
		if got := ceiling(tc.record, now, time.Minute); !got.Equal(tc.want) {
			t.Errorf("%s: ceiling %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestAheadRecords: a worker's input buffer is fetchAhead records, fewer
// when a round holds fewer, and its share of half of FetchAhead (at 1 KiB
// a record, at least minAhead) when that is set.
func TestAheadRecords(t *testing.T) {
	for _, c := range []struct {
		cfg   Config
		owned int
		want  int
	}{
		{Config{MaxBatchRecords: 100_000}, 8, fetchAhead},
		{Config{MaxBatchRecords: 1000}, 8, 1000},
		{Config{MaxBatchRecords: 100_000, FetchAhead: 160 << 20}, 8, fetchAhead},
		{Config{MaxBatchRecords: 100_000, FetchAhead: 32 << 20}, 8, 2048},
		{Config{MaxBatchRecords: 100_000, FetchAhead: 32 << 20}, 0, fetchAhead},
		{Config{MaxBatchRecords: 100_000, FetchAhead: 4 << 20}, 64, minAhead},
	} {
		if got := c.cfg.aheadRecords(c.owned); got != c.want {
			t.Errorf("FetchAhead %d, %d owned: %d records, want %d", c.cfg.FetchAhead, c.owned, got, c.want)
		}
	}
}
