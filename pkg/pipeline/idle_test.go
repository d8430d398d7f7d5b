package pipeline_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/pipeline"
	"github.com/journey-dev/journey/pkg/state"
	"github.com/journey-dev/journey/processors/cart"
)

// A partition working through a backlog of old events is not idle: the
// wall clock must not move its watermark (that would fire every armed
// timer at once, before the events that cancel them are read). A cart
// closed 25 minutes after it was filled, in a backlog three hours old, is
// never abandoned; an open one is, by event time.
func TestBacklogIsNotIdle(t *testing.T) {
	h := newHarness(t, 1, "")
	cfg := cart.DefaultConfig()
	cfg.Timeout = time.Hour
	cfg.Target = "web"
	cp, err := cart.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.procs = []journey.Processor{cp}

	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	track := func(id, customer, event string, at time.Time, props map[string]any) kafka.Message {
		b, _ := json.Marshal(map[string]any{"type": "track", "messageId": id, "userId": customer, "event": event,
			"timestamp": at.UTC().Format(time.RFC3339Nano), "properties": props})
		return kafka.Message{Key: []byte(customer), Value: b}
	}
	page := func(i int, at time.Time) kafka.Message {
		b, _ := json.Marshal(map[string]any{"type": "page", "messageId": fmt.Sprintf("pg-%d", i), "userId": fmt.Sprintf("other-%d", i%500),
			"name": "Home", "timestamp": at.UTC().Format(time.RFC3339Nano)})
		return kafka.Message{Key: []byte("other"), Value: b}
	}
	const fillers = 30000
	msgs := []kafka.Message{
		track("add-closed", "u-closed", "Product Added", t0, map[string]any{"cart_id": "c1", "product_id": "p1", "price": 10}),
		track("add-open", "u-open", "Product Added", t0, map[string]any{"cart_id": "c2", "product_id": "p2", "price": 10}),
	}
	// 25 minutes of other traffic, the checkout, then two more hours.
	for i := range fillers {
		if i == fillers/2 {
			msgs = append(msgs, track("order", "u-closed", "Order Completed", t0.Add(25*time.Minute),
				map[string]any{"order_id": "o1", "cart_id": "c1"}))
		}
		var at time.Time
		if i < fillers/2 {
			at = t0.Add(time.Duration(i) * 25 * time.Minute / (fillers / 2))
		} else {
			at = t0.Add(25*time.Minute + time.Duration(i-fillers/2)*2*time.Hour/(fillers/2))
		}
		msgs = append(msgs, page(i, at))
	}
	h.produce(msgs...)
	r := h.start(0, "", func(c *pipeline.Config) {
		c.IdleAdvance = 100 * time.Millisecond // a tick every 50 ms while the backlog is read
		c.MaxBatchRecords = 500
	})
	testrig.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		if got := r.counter(t, "journey_events_folded_total", nil); got != float64(len(msgs)) {
			return fmt.Errorf("%v of %d events folded", got, len(msgs))
		}
		return nil
	})
	h.waitTriggers("web", 1, time.Minute)
	r.stop(t) // flushes the outbox
	got, err := h.stream("web")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Values["customer_id"] != "u-open" {
		var who []any
		for _, m := range got {
			who = append(who, m.Values["customer_id"])
		}
		t.Fatalf("cart.abandoned for %v, want only u-open (the closed cart fired early: the backlog was taken for idleness)", who)
	}
}

// One event dated 23 hours ahead, behind two armed carts on its partition:
// it is folded, but the watermark stops at the record's timestamp +
// MaxSkew, so neither cart is abandoned early (DESIGN.md, "Event time,
// timers and the contact policy").
func TestFutureEventFiresNoTimer(t *testing.T) {
	h := newHarness(t, 1, "")
	cfg := cart.DefaultConfig()
	cfg.Timeout = time.Hour
	cfg.Target = "web"
	cp, err := cart.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.procs = []journey.Processor{cp}
	const maxSkew = time.Minute

	now := time.Now().Truncate(time.Second)
	add := func(id, customer string, at time.Time) kafka.Message {
		b, _ := json.Marshal(map[string]any{"type": "track", "messageId": id, "userId": customer, "event": "Product Added",
			"timestamp": at.UTC().Format(time.RFC3339Nano), "properties": map[string]any{"cart_id": "c-" + id, "product_id": "p1", "price": 10}})
		return kafka.Message{Key: []byte(customer), Value: b}
	}
	msgs := []kafka.Message{
		add("a", "u-a", now.Add(-10*time.Minute)), // abandoned at now+50m, not before
		add("b", "u-b", now.Add(-5*time.Minute)),  // at now+55m
		add("f", "u-future", now.Add(23*time.Hour)),
	}
	h.produce(msgs...)
	r := h.start(0, "", func(c *pipeline.Config) { c.MaxSkew = maxSkew })
	defer r.stop(t)
	testrig.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		if got := r.counter(t, "journey_events_folded_total", nil); got != float64(len(msgs)) {
			return fmt.Errorf("%v of %d events folded", got, len(msgs))
		}
		return nil
	})
	r.stop(t) // commits and flushes the outbox
	if got, err := h.stream("web"); err != nil || len(got) != 0 {
		t.Fatalf("%d cart triggers (%v), want none: the future-dated event moved the watermark", len(got), err)
	}

	store, err := state.Open(h.dir, state.Options{DedupWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sp, err := store.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	if wm, limit := sp.Watermark(), time.Now().Add(maxSkew); wm.After(limit) {
		t.Errorf("watermark %v is past the wall clock + max skew (%v)", wm, limit)
	}
	pending := map[string]time.Time{}
	if err := sp.Timers(func(tm journey.Timer) error { pending[tm.Customer] = tm.At; return nil }); err != nil {
		t.Fatal(err)
	}
	// The future event was folded: its own cart's timer is armed too.
	for _, c := range []string{"u-a", "u-b", "u-future"} {
		if _, ok := pending[c]; !ok {
			t.Errorf("no cart timer pending for %s (pending: %v)", c, pending)
		}
	}
}
