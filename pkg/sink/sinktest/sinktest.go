// Package sinktest is the contract suite every sink.Sink implementation
// must pass. An implementation's test calls Run with a constructor that
// returns a fresh, empty sink and an Inspector that reads back what it
// delivered:
//
//	func TestContract(t *testing.T) {
//		sinktest.Run(t, func(t *testing.T) (sink.Sink, sinktest.Inspector) {
//			s := memsink.New()
//			return s, inspector{s} // adds Reopen(*testing.T) sink.Sink
//		})
//	}
package sinktest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink"
)

// Inspector reads back what a Sink delivered, as a downstream service would.
type Inspector interface {
	// Triggers returns the triggers on channel's stream, in stream order,
	// with At in UTC and Payload decoded from JSON.
	Triggers(ctx context.Context, channel string) ([]journey.Trigger, error)
	// Context returns the customer's context fields; empty (not an error)
	// when there are none.
	Context(ctx context.Context, customerID string) (map[string]string, error)
	// Reopen returns a new Sink over the same store, as a restarted process
	// would build: nothing may be shared with the first Sink but the store.
	Reopen(t *testing.T) sink.Sink
}

// Run runs the contract suite. newSink is called once per subtest and must
// return a Sink over a store no other subtest sees.
func Run(t *testing.T, newSink func(t *testing.T) (sink.Sink, Inspector)) {
	cases := []struct {
		name string
		fn   func(*testing.T, sink.Sink, Inspector)
	}{
		{"RoundTrip", testRoundTrip},
		{"MinimalTrigger", testMinimalTrigger},
		{"PayloadJSON", testPayloadJSON},
		{"DuplicateInOneBatch", testDuplicateInOneBatch},
		{"DuplicateAcrossBatches", testDuplicateAcrossBatches},
		{"DuplicateAfterRestart", testDuplicateAfterRestart},
		{"ChannelsSeparate", testChannelsSeparate},
		{"OrderPreserved", testOrderPreserved},
		{"ContextMerge", testContextMerge},
		{"ContextDelete", testContextDelete},
		{"ContextLastWinsInBatch", testContextLastWinsInBatch},
		{"EmptyBatch", testEmptyBatch},
		{"CancelledContext", testCancelledContext},
		{"InvalidBatch", testInvalidBatch},
		{"ConcurrentDeliver", testConcurrentDeliver},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, in := newSink(t)
			c.fn(t, s, in)
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// trig returns a valid trigger; id and channel vary per test.
func trig(id, channel string) journey.Trigger {
	return journey.Trigger{
		ID:         id,
		Rule:       "recent_interest",
		CustomerID: "c-" + id,
		Channel:    channel,
		At:         time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC),
		Reason:     "category_interest",
		Causes:     []string{"ev-" + id},
		Payload:    map[string]any{"category": "boots"},
	}
}

func deliver(t *testing.T, s sink.Sink, b sink.Batch) {
	t.Helper()
	if err := s.Deliver(ctxT(t), b); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
}

func readIDs(t *testing.T, in Inspector, channel string) []string {
	t.Helper()
	ts, err := in.Triggers(ctxT(t), channel)
	if err != nil {
		t.Fatalf("Triggers(%q): %v", channel, err)
	}
	ids := make([]string, len(ts))
	for i, tr := range ts {
		ids[i] = tr.ID
	}
	return ids
}

func wantIDs(t *testing.T, in Inspector, channel string, want ...string) {
	t.Helper()
	got := readIDs(t, in, channel)
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("channel %q: got ids %q, want %q", channel, got, want)
	}
}

func wantContext(t *testing.T, in Inspector, customerID string, want map[string]string) {
	t.Helper()
	got, err := in.Context(ctxT(t), customerID)
	if err != nil {
		t.Fatalf("Context(%q): %v", customerID, err)
	}
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("context of %q: got %v, want %v", customerID, got, want)
	}
}

func testRoundTrip(t *testing.T, s sink.Sink, in Inspector) {
	want := journey.Trigger{
		ID:         journey.TriggerID("cart_abandoned", "cust-42", "cart-7"),
		Rule:       "cart_abandoned",
		CustomerID: "cust-42",
		Channel:    "email",
		// Not UTC, nanosecond precision: must come back as the same instant, in UTC.
		At:     time.Date(2025, 11, 23, 10, 4, 5, 123456789, time.FixedZone("CET", 3600)),
		Reason: "cart_idle_1h",
		Causes: []string{"ev-1", "ev-2", "ev-\"quoted\"", "ev-ünïcode"},
		Payload: map[string]any{
			"cart_id":  "cart-7",
			"items":    float64(3),
			"value":    129.95,
			"vip":      true,
			"none":     nil,
			"products": []any{"p-1", "p-2"},
			"nested":   map[string]any{"tier": "gold", "score": float64(-1.5)},
		},
	}
	deliver(t, s, sink.Batch{Triggers: []journey.Trigger{want}})

	got, err := in.Triggers(ctxT(t), "email")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d triggers, want 1", len(got))
	}
	g := got[0]
	if !g.At.Equal(want.At) {
		t.Errorf("At = %v, want %v", g.At, want.At)
	}
	if g.At.Location() != time.UTC {
		t.Errorf("At location = %v, want UTC", g.At.Location())
	}
	g.At, want.At = time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("round trip:\n got  %#v\n want %#v", g, want)
	}
}

// A trigger with no reason, causes or payload reads back with empty ones.
func testMinimalTrigger(t *testing.T, s sink.Sink, in Inspector) {
	tr := trig("min", "app")
	tr.Reason, tr.Causes, tr.Payload = "", nil, nil
	deliver(t, s, sink.Batch{Triggers: []journey.Trigger{tr}})
	got, err := in.Triggers(ctxT(t), "app")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d triggers, want 1", len(got))
	}
	if g := got[0]; g.Reason != "" || len(g.Causes) != 0 || len(g.Payload) != 0 {
		t.Errorf("got reason %q causes %v payload %v, want all empty", g.Reason, g.Causes, g.Payload)
	}
}

// A trigger whose payload comes encoded (PayloadJSON, as the outbox hands
// it over) reads back with that payload; Payload is not looked at.
func testPayloadJSON(t *testing.T, s sink.Sink, in Inspector) {
	tr := trig("enc", "web")
	tr.Payload = map[string]any{"ignored": true}
	tr.PayloadJSON = []byte(`{"category":"boots","views":3,"products":["p-1"]}`)
	deliver(t, s, sink.Batch{Triggers: []journey.Trigger{tr}})
	got, err := in.Triggers(ctxT(t), "web")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"category": "boots", "views": float64(3), "products": []any{"p-1"}}
	if len(got) != 1 || !reflect.DeepEqual(got[0].Payload, want) || got[0].PayloadJSON != nil {
		t.Fatalf("got %+v, want one trigger with payload %v", got, want)
	}
}

func testDuplicateInOneBatch(t *testing.T, s sink.Sink, in Inspector) {
	a, b := trig("a", "web"), trig("b", "web")
	deliver(t, s, sink.Batch{Triggers: []journey.Trigger{a, b, a, b, a}})
	wantIDs(t, in, "web", "a", "b")
}

func testDuplicateAcrossBatches(t *testing.T, s sink.Sink, in Inspector) {
	a, b, c := trig("a", "web"), trig("b", "web"), trig("c", "web")
	deliver(t, s, sink.Batch{Triggers: []journey.Trigger{a, b}})
	// The caller retries a batch that partly went through, plus new work.
	deliver(t, s, sink.Batch{Triggers: []journey.Trigger{a, b, c}})
	deliver(t, s, sink.Batch{Triggers: []journey.Trigger{c}})
	wantIDs(t, in, "web", "a", "b", "c")
}

func testDuplicateAfterRestart(t *testing.T, s sink.Sink, in Inspector) {
	a, b := trig("a", "web"), trig("b", "web")
	deliver(t, s, sink.Batch{Triggers: []journey.Trigger{a}})
	s2 := in.Reopen(t)
	deliver(t, s2, sink.Batch{Triggers: []journey.Trigger{a, b}})
	// The old instance still agrees with the new one.
	deliver(t, s, sink.Batch{Triggers: []journey.Trigger{b}})
	wantIDs(t, in, "web", "a", "b")
}

func testChannelsSeparate(t *testing.T, s sink.Sink, in Inspector) {
	deliver(t, s, sink.Batch{Triggers: []journey.Trigger{
		trig("w1", "web"), trig("e1", "email"), trig("w2", "web"),
		trig("cc1", "call_centre"), trig("e2", "email"),
	}})
	wantIDs(t, in, "web", "w1", "w2")
	wantIDs(t, in, "email", "e1", "e2")
	wantIDs(t, in, "call_centre", "cc1")
	wantIDs(t, in, "push")
}

func testOrderPreserved(t *testing.T, s sink.Sink, in Inspector) {
	var want []string
	for batch := range 3 {
		var b sink.Batch
		for i := range 40 {
			id := fmt.Sprintf("t%03d", batch*40+i)
			want = append(want, id)
			b.Triggers = append(b.Triggers, trig(id, "push"))
		}
		deliver(t, s, b)
	}
	wantIDs(t, in, "push", want...)
}

func testContextMerge(t *testing.T, s sink.Sink, in Inspector) {
	deliver(t, s, sink.Batch{Contexts: []sink.Context{
		{CustomerID: "c1", Fields: map[string]string{"interest.top": "boots", "engagement.score": "12"}},
		{CustomerID: "c2", Fields: map[string]string{"cart.open": "1"}},
	}})
	deliver(t, s, sink.Batch{Contexts: []sink.Context{
		{CustomerID: "c1", Fields: map[string]string{"engagement.score": "15", "preference.channel": "app"}},
	}})
	wantContext(t, in, "c1", map[string]string{
		"interest.top": "boots", "engagement.score": "15", "preference.channel": "app",
	})
	wantContext(t, in, "c2", map[string]string{"cart.open": "1"})
	wantContext(t, in, "nobody", nil)
}

func testContextDelete(t *testing.T, s sink.Sink, in Inspector) {
	deliver(t, s, sink.Batch{Contexts: []sink.Context{
		{CustomerID: "c1", Fields: map[string]string{"a": "1", "b": "2"}},
		{CustomerID: "c2", Fields: map[string]string{"a": "1"}},
	}})
	deliver(t, s, sink.Batch{Contexts: []sink.Context{{CustomerID: "c1", Delete: true}}})
	wantContext(t, in, "c1", nil)
	wantContext(t, in, "c2", map[string]string{"a": "1"})
	// Deleting again, or deleting a customer never seen, is fine.
	deliver(t, s, sink.Batch{Contexts: []sink.Context{{CustomerID: "c1", Delete: true}, {CustomerID: "nobody", Delete: true}}})
	// A later update starts a fresh hash.
	deliver(t, s, sink.Batch{Contexts: []sink.Context{{CustomerID: "c1", Fields: map[string]string{"c": "3"}}}})
	wantContext(t, in, "c1", map[string]string{"c": "3"})
}

// Contexts apply in batch order: a later entry for the same customer wins,
// a Delete followed by an update leaves only the update.
func testContextLastWinsInBatch(t *testing.T, s sink.Sink, in Inspector) {
	deliver(t, s, sink.Batch{Contexts: []sink.Context{
		{CustomerID: "c1", Fields: map[string]string{"a": "1", "b": "1"}},
		{CustomerID: "c1", Fields: map[string]string{"a": "2"}},
		{CustomerID: "c2", Fields: map[string]string{"x": "1"}},
		{CustomerID: "c2", Delete: true},
		{CustomerID: "c2", Fields: map[string]string{"y": "2"}},
		{CustomerID: "c3", Fields: map[string]string{}}, // nothing to write
	}})
	wantContext(t, in, "c1", map[string]string{"a": "2", "b": "1"})
	wantContext(t, in, "c2", map[string]string{"y": "2"})
	wantContext(t, in, "c3", nil)
}

func testEmptyBatch(t *testing.T, s sink.Sink, in Inspector) {
	deliver(t, s, sink.Batch{})
	deliver(t, s, sink.Batch{Triggers: []journey.Trigger{}, Contexts: []sink.Context{}})
	wantIDs(t, in, "web")
}

func testCancelledContext(t *testing.T, s sink.Sink, in Inspector) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	b := sink.Batch{
		Triggers: []journey.Trigger{trig("a", "web")},
		Contexts: []sink.Context{{CustomerID: "c1", Fields: map[string]string{"a": "1"}}},
	}
	err := s.Deliver(ctx, b)
	if err == nil {
		t.Fatal("Deliver with a cancelled ctx returned nil")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
	if errors.Is(err, sink.ErrRetriable) {
		t.Errorf("cancellation %v wraps ErrRetriable: the caller is stopping", err)
	}

	dctx, dcancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer dcancel()
	err = s.Deliver(dctx, b)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, sink.ErrRetriable) {
		t.Errorf("past deadline: error %v, want one wrapping DeadlineExceeded and ErrRetriable", err)
	}

	// The retry the caller makes goes through, once.
	deliver(t, s, b)
	deliver(t, s, b)
	wantIDs(t, in, "web", "a")
	wantContext(t, in, "c1", map[string]string{"a": "1"})
}

// An invalid batch is rejected whole, with a fatal error, before anything
// in it is delivered.
func testInvalidBatch(t *testing.T, s sink.Sink, in Inspector) {
	good := trig("good", "web")
	mut := func(f func(*journey.Trigger)) journey.Trigger {
		tr := trig("bad", "web")
		f(&tr)
		return tr
	}
	cases := []struct {
		name string
		b    sink.Batch
	}{
		{"NoID", sink.Batch{Triggers: []journey.Trigger{good, mut(func(t *journey.Trigger) { t.ID = "" })}}},
		{"NoChannel", sink.Batch{Triggers: []journey.Trigger{good, mut(func(t *journey.Trigger) { t.Channel = "" })}}},
		{"NoCustomer", sink.Batch{Triggers: []journey.Trigger{good, mut(func(t *journey.Trigger) { t.CustomerID = "" })}}},
		{"NoRule", sink.Batch{Triggers: []journey.Trigger{good, mut(func(t *journey.Trigger) { t.Rule = "" })}}},
		{"NoTime", sink.Batch{Triggers: []journey.Trigger{good, mut(func(t *journey.Trigger) { t.At = time.Time{} })}}},
		{"PayloadNotJSON", sink.Batch{Triggers: []journey.Trigger{good, mut(func(t *journey.Trigger) { t.Payload = map[string]any{"x": math.Inf(1)} })}}},
		{"ContextNoCustomer", sink.Batch{
			Triggers: []journey.Trigger{good},
			Contexts: []sink.Context{{Fields: map[string]string{"a": "1"}}},
		}},
		{"ContextDeleteWithFields", sink.Batch{
			Triggers: []journey.Trigger{good},
			Contexts: []sink.Context{{CustomerID: "c1", Delete: true, Fields: map[string]string{"a": "1"}}},
		}},
	}
	for _, c := range cases {
		err := s.Deliver(ctxT(t), c.b)
		switch {
		case err == nil:
			t.Errorf("%s: Deliver returned nil", c.name)
		case !errors.Is(err, sink.ErrInvalid):
			t.Errorf("%s: error %v does not wrap ErrInvalid", c.name, err)
		case errors.Is(err, sink.ErrRetriable):
			t.Errorf("%s: error %v wraps ErrRetriable", c.name, err)
		}
	}
	wantIDs(t, in, "web")
	wantContext(t, in, "c1", nil)
}

// Concurrent Deliver calls with overlapping ids add each id once.
func testConcurrentDeliver(t *testing.T, s sink.Sink, in Inspector) {
	const workers, ids = 4, 50
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			var b sink.Batch
			for i := range ids {
				// Each worker walks the ids from a different start.
				b.Triggers = append(b.Triggers, trig("id"+strconv.Itoa((i+w*7)%ids), "app"))
			}
			b.Contexts = []sink.Context{{CustomerID: "shared", Fields: map[string]string{"w" + strconv.Itoa(w): "1"}}}
			errs <- s.Deliver(ctx, b)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Deliver: %v", err)
		}
	}
	got := readIDs(t, in, "app")
	if len(got) != ids {
		t.Fatalf("got %d entries, want %d: %q", len(got), ids, got)
	}
	seen := make(map[string]bool)
	for _, id := range got {
		if seen[id] {
			t.Fatalf("id %q delivered twice", id)
		}
		seen[id] = true
	}
	wantContext(t, in, "shared", map[string]string{"w0": "1", "w1": "1", "w2": "1", "w3": "1"})
}
