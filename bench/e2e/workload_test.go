package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors"
)

// The workload must be valid for journey (no dead letters), have the
// documented mix, reach every customer, and depend only on the seed.
func TestWorkload(t *testing.T) {
	dec, err := ingest.NewDecoder(ingest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	procs, err := processors.Build(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := journey.NewEngine(procs...)
	if err != nil {
		t.Fatal(err)
	}
	const events, customers = 40_000, 4_000
	// A fixed afternoon, not the wall clock: the contact policy's quiet
	// hours (per customer time zone) suppress every trigger of a workload
	// whose four hours fall in the night (the test failed at 00:10 UTC).
	to := time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC)
	from := to.Add(-4 * time.Hour)
	kinds := map[string]int{}
	channels := map[string]int{}
	seen := map[string]bool{}
	states := map[string]*journey.Customer{}
	triggers := 0
	var out journey.Output
	g := newGen(7, customers, events, "evt-", from, to)
	for range events {
		key, value := g.next(time.Time{})
		if !json.Valid(value) {
			t.Fatalf("invalid JSON: %s", value)
		}
		ev, err := dec.Decode(ingest.Record{Topic: "t", Key: []byte(key), Value: value, Time: to})
		if err != nil {
			t.Fatalf("decode %s: %v", value, err)
		}
		if ev.CustomerID != key {
			t.Fatalf("customer %q, key %q", ev.CustomerID, key)
		}
		kinds[ev.Name]++
		channels[ev.Channel]++
		seen[key] = true
		c := states[key]
		if c == nil {
			c = engine.NewCustomer(key)
			if err := engine.Load(c, func(string, journey.Processor, journey.State) (bool, error) { return false, nil }); err != nil {
				t.Fatal(err)
			}
			states[key] = c
		}
		out.Reset()
		if err := engine.Fold(c, &ev, &out); err != nil {
			t.Fatal(err)
		}
		triggers += len(out.Triggers)
	}
	if len(seen) != customers {
		t.Errorf("%d customers have events, want %d", len(seen), customers)
	}
	share := func(name string) float64 { return float64(kinds[name]) / events }
	for name, want := range map[string]float64{"Product Viewed": 0.65, "Category": 0.10, "Product Added": 0.08, "Order Completed": 0.04} {
		if got := share(name); got < want-0.01 || got > want+0.01 {
			t.Errorf("%s is %.3f of the events, want about %.2f", name, got, want)
		}
	}
	for _, ch := range []string{"web", "app", "email"} {
		if channels[ch] == 0 {
			t.Errorf("no %s events", ch)
		}
	}
	if triggers == 0 {
		t.Error("the workload makes no triggers")
	}
	t.Logf("mix %v, channels %v, %d triggers", kinds, channels, triggers)

	a, b := newGen(7, customers, 100, "evt-", from, to), newGen(7, customers, 100, "evt-", from, to)
	for range 100 {
		ka, va := a.next(time.Time{})
		va = bytes.Clone(va)
		kb, vb := b.next(time.Time{})
		if ka != kb || !bytes.Equal(va, vb) {
			t.Fatalf("same seed, different events:\n%s\n%s", va, vb)
		}
	}
}
