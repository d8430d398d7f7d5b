package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/pipeline"
	"github.com/journey-dev/journey/pkg/sink/redissink"
	"github.com/journey-dev/journey/pkg/state"
)

// failing returns an error on the event with id "poison-err"; panicking
// panics on "poison-panic" with a value that must not reach the dead
// letter. Off, they do nothing there: the reference fold.
type failing struct{ off bool }
type panicking struct{ off bool }

// secret is in the panic's value: no dead letter may carry it.
const secret = "secret@example.com"

var errRefused = errors.New("failing: refused")

func (failing) Name() string            { return "failing" }
func (failing) StateVersion() uint32    { return 1 }
func (failing) NewState() journey.State { return &counts{} }
func (p failing) Fold(_ journey.State, ev *journey.Event, _ *journey.Output) (bool, error) {
	if ev.ID == "poison-err" && !p.off {
		return false, errRefused
	}
	return false, nil
}
func (panicking) Name() string            { return "panicking" }
func (panicking) StateVersion() uint32    { return 1 }
func (panicking) NewState() journey.State { return &counts{} }
func (p panicking) Fold(_ journey.State, ev *journey.Event, _ *journey.Output) (bool, error) {
	if ev.ID == "poison-panic" && !p.off {
		panic("cannot fold for " + secret)
	}
	return false, nil
}

// bomb arms a timer a minute after an "Arm" event; it fires a trigger on
// the sms channel, except for a customer named bomb-*, whose OnTimer fails
// (off: does nothing, as a dropped timer).
type bomb struct{ off bool }

func (bomb) Name() string            { return "bomb" }
func (bomb) StateVersion() uint32    { return 1 }
func (bomb) NewState() journey.State { return &counts{} }
func (bomb) Fold(st journey.State, ev *journey.Event, out *journey.Output) (bool, error) {
	if ev.Name != "Arm" {
		return false, nil
	}
	st.(*counts).Total++
	out.SetTimer("t", ev.Time.Add(time.Minute))
	return true, nil
}
func (b bomb) OnTimer(st journey.State, customer, key string, at time.Time, out *journey.Output) (bool, error) {
	if strings.HasPrefix(customer, "bomb-") {
		if b.off {
			return false, nil
		}
		return false, errors.New("bomb: went off")
	}
	st.(*counts).Total += 100
	out.Emit(journey.Trigger{ID: journey.TriggerID("test.timer", customer, key), Rule: "test.timer", CustomerID: customer,
		Channel: "sms", At: at, Reason: "timer"})
	return true, nil
}

// TestPoisonEvents folds, on one partition, events among which a
// processor errs on one and another panics on one, and timers whose
// OnTimer fails (one fired by a later event, one by the idle tick): the
// partition goes on; the two records are dead-lettered (fold_violation,
// naming the processor, never the panic's value), the two timers dropped;
// states and triggers are exactly those of an in-process fold of the
// other events in which the failing timers do nothing.
func TestPoisonEvents(t *testing.T) {
	h := newHarness(t, 1, "")
	h.procs = []journey.Processor{counter{every: 2}, failing{}, panicking{}, bomb{}}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	track := func(id, customer, event string, at time.Time) kafka.Message {
		return kafka.Message{Key: []byte(customer), Value: segment(id, customer, event, at)}
	}
	var msgs []kafka.Message
	for i := range 6 {
		for c := range 5 {
			cust := fmt.Sprintf("cust-%d", c)
			msgs = append(msgs, track(fmt.Sprintf("e-%d-%d", c, i), cust, "Product Viewed", t0.Add(time.Duration(i)*20*time.Second)))
		}
		switch i {
		case 0:
			msgs = append(msgs, track("arm-1", "cust-arm", "Arm", t0), track("arm-b1", "bomb-1", "Arm", t0))
		case 2: // the counter folds them before the failing processor: that must be undone
			msgs = append(msgs, track("poison-err", "cust-3", "Product Viewed", t0.Add(50*time.Second)))
		case 4:
			msgs = append(msgs, track("poison-panic", "cust-4", "Product Viewed", t0.Add(90*time.Second)))
		}
	}
	// Only the idle tick passes this one's timer.
	msgs = append(msgs, track("arm-b2", "bomb-2", "Arm", t0.Add(5*time.Minute)))
	h.produce(msgs...)

	r := h.start(0, "", func(c *pipeline.Config) { c.IdleAdvance = time.Second })
	defer r.stop(t)
	dropped := map[string]string{"processor": "bomb", "reason": "fold_violation"}
	testrig.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		folded := r.counter(t, "journey_events_folded_total", nil)
		if d := r.counter(t, "journey_timers_dropped_total", dropped); folded != float64(len(msgs)-2) || d != 2 {
			return fmt.Errorf("%v of %d events folded, %v of 2 timers dropped", folded, len(msgs)-2, d)
		}
		return nil
	})
	if n := r.counter(t, "journey_dlq_total", map[string]string{"reason": "fold_violation"}); n != 2 {
		t.Errorf("journey_dlq_total{reason=fold_violation} = %v, want 2", n)
	}
	r.stop(t) // commits and flushes the outbox

	// The dead letters: the two records, naming the processor and the
	// error, or the panic's type only.
	want := map[string]string{
		"poison-err":   "journey: fold failed: processor failing: failing: refused",
		"poison-panic": "journey: fold failed: panic in panicking (string)",
	}
	got := map[string]string{}
	for _, m := range readAll(t, h.brokers, h.dlq) {
		hs := map[string]string{}
		for _, hd := range m.Headers {
			hs[hd.Key] = string(hd.Value)
			if strings.Contains(string(hd.Value), secret) {
				t.Errorf("dead letter header %s carries the panic's value: %q", hd.Key, hd.Value)
			}
		}
		var v struct {
			MessageID string `json:"messageId"`
		}
		_ = json.Unmarshal(m.Value, &v)
		if hs[pipeline.HeaderReason] != "fold_violation" {
			t.Errorf("dead letter %s: reason %q", v.MessageID, hs[pipeline.HeaderReason])
		}
		got[v.MessageID] = hs[pipeline.HeaderMessage]
	}
	if !maps.Equal(got, want) {
		t.Errorf("dead letters (id -> message) %v, want %v", got, want)
	}

	// The reference: the other events folded in-process, failing timers doing nothing.
	var poison = map[string]bool{"poison-err": true, "poison-panic": true}
	wantStates, wantTriggers := referenceFold(t, []journey.Processor{counter{every: 2}, failing{true}, panicking{true}, bomb{true}},
		msgs, poison, time.Now())
	if gotStates := storedStates(t, h.dir); !maps.EqualFunc(gotStates, wantStates, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Errorf("states differ from the reference fold:\n got %s\nwant %s", show(gotStates), show(wantStates))
	}
	var gotTriggers []string
	for _, ch := range []string{"email", "sms"} {
		stream, err := h.stream(ch)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range stream {
			tr, err := redissink.DecodeTrigger(m)
			if err != nil {
				t.Fatal(err)
			}
			gotTriggers = append(gotTriggers, tr.ID)
		}
	}
	slices.Sort(gotTriggers)
	if !slices.Equal(gotTriggers, wantTriggers) {
		t.Errorf("triggers %v, want %v", gotTriggers, wantTriggers)
	}
	if !slices.ContainsFunc(wantTriggers, func(id string) bool { return id == journey.TriggerID("test.timer", "cust-arm", "t") }) {
		t.Error("the reference fired no timer: the test checks nothing of timers")
	}

	// A replay, in rounds of 4 records, skips the same: the same states,
	// and, as its end advances the watermark to the last record's Kafka
	// timestamp, the idle tick's timer fails and is dropped there too.
	dir := t.TempDir()
	p, store, reg, rdb := h.build(dir, 0, "", func(c *pipeline.Config) {
		c.MaxBatchRecords, c.SkipDeadLetters, c.DiscardOutput = 4, true, true
	})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	end := int64(len(msgs))
	err := p.Replay(ctx, pipeline.ReplayPlan{Ends: map[string]map[int]int64{h.topic: {0: end}}})
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	replayed := &running{reg: reg}
	if n := replayed.counter(t, "journey_dlq_total", map[string]string{"reason": "fold_violation"}); n != 2 {
		t.Errorf("the replay dead-lettered %v records, want 2", n)
	}
	if n := replayed.counter(t, "journey_timers_dropped_total", dropped); n != 2 {
		t.Errorf("the replay dropped %v timers, want 2 (as live: bomb-1's and the idle tick's)", n)
	}
	if gotStates := storedStates(t, dir); !maps.EqualFunc(gotStates, wantStates, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Errorf("replayed states differ from the reference fold:\n got %s\nwant %s", show(gotStates), show(wantStates))
	}
}

// referenceFold folds msgs but those whose id is in skip through procs
// in-process, then advances the watermark to end; it returns every
// changed state (customer/processor -> encoding) and the sorted trigger ids.
func referenceFold(t *testing.T, procs []journey.Processor, msgs []kafka.Message, skip map[string]bool, end time.Time) (map[string][]byte, []string) {
	t.Helper()
	engine, err := journey.NewEngine(procs...)
	if err != nil {
		t.Fatal(err)
	}
	r := journey.NewRunner(engine, func(string, journey.Processor, journey.State) (bool, error) { return false, nil })
	r.Timers = &journey.MemTimers{}
	var out journey.Output
	for _, m := range msgs {
		var v struct {
			MessageID, UserID, Event, Timestamp string
		}
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatal(err)
		}
		if skip[v.MessageID] {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, v.Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		ev := journey.Event{ID: v.MessageID, CustomerID: v.UserID, Name: v.Event, Kind: journey.KindTrack, Time: at}
		if err := r.Apply(&ev, &out); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Advance(end, &out); err != nil {
		t.Fatal(err)
	}
	states := map[string][]byte{}
	for _, c := range r.Touched() {
		for i, p := range engine.Processors() {
			if c.Dirty[i] {
				b, err := c.States[i].MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				states[c.ID+"/"+p.Name()] = b
			}
		}
	}
	var ids []string
	for _, tr := range out.Triggers {
		ids = append(ids, tr.ID)
	}
	slices.Sort(ids)
	return states, ids
}

// storedStates reads partition 0's states from the store in dir.
func storedStates(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	store, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sp, err := store.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	err = sp.Customers(func(c string, _ []string) error {
		all, err := sp.States(c)
		for name, st := range all {
			got[c+"/"+name] = st.Data
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func show(states map[string][]byte) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(states)) {
		fmt.Fprintf(&b, "\n  %s: %s", k, states[k])
	}
	return b.String()
}

// readAll reads every record of topic (all its partitions).
func readAll(t *testing.T, brokers []string, topic string) []kafka.Message {
	t.Helper()
	conn, err := kafka.Dial("tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	_ = conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var all []kafka.Message
	for _, p := range parts {
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
		for off, hw := int64(0), highWater(t, brokers[0], topic, p.ID); off < hw; off++ {
			m, err := rd.ReadMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, m)
		}
		_ = rd.Close()
	}
	return all
}

// A replay's end moves the watermark to its last record's Kafka
// timestamp: a timer due between the last event's time and that record's
// timestamp fires (live processing's wall clock would have fired it by
// then). The two records are written in one batch, so the replay reads
// them in one round and the timestamp must be the round's last record's.
func TestReplayEndFiresTimersDueByTheLastRecord(t *testing.T) {
	h := newHarness(t, 1, "")
	h.procs = []journey.Processor{bomb{}}
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	h.produce(
		kafka.Message{Key: []byte("cust-a"), Value: segment("a-1", "cust-a", "Arm", t0), Time: t0},
		kafka.Message{Key: []byte("cust-b"), Value: segment("b-1", "cust-b", "Product Viewed", t0), Time: t0.Add(10 * time.Minute)},
	)
	dir := t.TempDir()
	p, store, _, rdb := h.build(dir, 0, "", func(c *pipeline.Config) { c.SkipDeadLetters, c.DiscardOutput = true, true })
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := p.Replay(ctx, pipeline.ReplayPlan{Ends: map[string]map[int]int64{h.topic: {0: 2}}})
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	var c counts
	if err := json.Unmarshal(storedStates(t, dir)["cust-a/bomb"], &c); err != nil || c.Total != 101 {
		t.Errorf("cust-a's bomb state total %d (%v), want 101: armed, and its timer (event time + 1 min) fired by the end's advance to the last record's timestamp (+10 min)", c.Total, err)
	}
}
