package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
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
	// At night: workloadClock's zone keeps the customers in their
	// afternoon (TestWorkloadAnyHour).
	from, to, zone := workloadClock(time.Date(2026, 11, 23, 0, 10, 0, 0, time.UTC))
	kinds := map[string]int{}
	channels := map[string]int{}
	seen := map[string]bool{}
	states := map[string]*journey.Customer{}
	triggers, anonymous := 0, 0
	var out journey.Output
	g := newGen(7, customers, events, "evt-", zone, from, to)
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
		seen["cust-"+strings.TrimPrefix(strings.TrimPrefix(key, "cust-"), "anon-")] = true
		if strings.HasPrefix(key, "anon-") {
			anonymous++
		}
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
	if anonymous == 0 || anonymous > events/2 {
		t.Errorf("%d of %d events anonymous, want some (40%% of customers start anonymous)", anonymous, events)
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

	a, b := newGen(7, customers, 100, "evt-", zone, from, to), newGen(7, customers, 100, "evt-", zone, from, to)
	for range 100 {
		ka, va := a.next(time.Time{})
		va = bytes.Clone(va)
		kb, vb := b.next(time.Time{})
		if ka != kb || !bytes.Equal(va, vb) {
			t.Fatalf("same seed, different events:\n%s\n%s", va, vb)
		}
	}
}

// foldWorkload folds events of the workload a bench started at now would
// produce through every processor (the contact policy's defaults
// included) and returns each event's local time (in its own time zone)
// and each admitted trigger's id, rule and channel, in order.
func foldWorkload(t *testing.T, now time.Time, events, customers int) (local, triggers []string) {
	t.Helper()
	dec, err := ingest.NewDecoder(ingest.Config{Now: func() time.Time { return now }})
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
	from, to, zone := workloadClock(now)
	states := map[string]*journey.Customer{}
	var out journey.Output
	g := newGen(7, customers, events, "evt-", zone, from, to)
	for range events {
		key, value := g.next(time.Time{})
		ev, err := dec.Decode(ingest.Record{Topic: "t", Key: []byte(key), Value: value, Time: now})
		if err != nil {
			t.Fatalf("decode %s: %v", value, err)
		}
		if ev.TimeZone != "" {
			loc, err := time.LoadLocation(ev.TimeZone)
			if err != nil {
				t.Fatal(err)
			}
			local = append(local, ev.Time.In(loc).Format("15:04:05.000"))
		}
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
		for _, tr := range out.Triggers {
			triggers = append(triggers, tr.ID+" "+tr.Rule+" "+tr.Channel)
		}
	}
	return local, triggers
}

// The hour a bench starts at changes neither the customers' local times
// nor a trigger: at 05:56 UTC a run once delivered none, every email
// trigger held by quiet hours.
func TestWorkloadAnyHour(t *testing.T) {
	const events, customers = 20_000, 2_000
	day := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	for h := range 24 {
		now := day.Add(time.Duration(h)*time.Hour + 59*time.Minute)
		_, _, zone := workloadClock(now)
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatalf("at %02d:59 UTC: %v", h, err)
		}
		if got := now.In(loc).Format("15:04"); got != "15:59" {
			t.Errorf("at %02d:59 UTC, %s in %s, want 15:59", h, got, zone)
		}
	}
	local15, trig15 := foldWorkload(t, day.Add(15*time.Hour), events, customers)
	if len(trig15) == 0 {
		t.Fatal("no triggers at 15:00 UTC")
	}
	for _, at := range []time.Duration{3 * time.Hour, 5*time.Hour + 56*time.Minute, 21*time.Hour + 30*time.Minute} {
		now := day.Add(at)
		local, trig := foldWorkload(t, now, events, customers)
		if !slices.Equal(local, local15) && at%time.Hour == 0 {
			t.Errorf("started at %s UTC, the events' local times differ from a start at 15:00", now.Format("15:04"))
		}
		if !slices.Equal(trig, trig15) {
			t.Errorf("started at %s UTC: %d triggers, %d at 15:00 UTC (or others)", now.Format("15:04"), len(trig), len(trig15))
		}
	}
	for _, l := range local15 {
		if l < "10:59" || l > "15:00:00.000" {
			t.Fatalf("an event at %s local, want 11:00 to 15:00 less the jitter", l)
		}
	}
}

func TestTooFewTriggers(t *testing.T) {
	run := func(triggers int64) runResult { return runResult{Events: 1_000_000, Triggers: triggers} }
	ok := &results{Journey: []runResult{run(38_819), run(38_819)}, Latency: latencyResult{Events: 100_000, Triggers: 3_727}}
	if got := tooFewTriggers(ok, minTriggerShare); len(got) != 0 {
		t.Errorf("a valid run: %q", got)
	}
	bad := &results{Journey: []runResult{run(38_819), run(0)}, Latency: latencyResult{Events: 100_000, Triggers: 999}}
	got := tooFewTriggers(bad, minTriggerShare)
	if len(got) != 2 || !strings.Contains(got[0], "journey run #2 delivered 0 triggers") || !strings.Contains(got[1], "latency phase") {
		t.Fatalf("no triggers in run #2, 999 of 100,000 live: %q", got)
	}
	if got := tooFewTriggers(&results{Journey: []runResult{run(0)}}, 0); len(got) != 1 {
		t.Errorf("no triggers with the share check off: %q", got)
	}
	bad.Invalid = got
	var md strings.Builder
	bad.markdown(&md)
	if !strings.Contains(md.String(), "**INVALID RUN") {
		t.Errorf("the report of an invalid run is not marked:\n%s", md.String())
	}
	md.Reset()
	ok.markdown(&md)
	if strings.Contains(md.String(), "INVALID") {
		t.Error("the report of a valid run is marked invalid")
	}
}
