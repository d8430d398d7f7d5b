package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/state"
	"github.com/journey-dev/journey/processors"
)

var stateT0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

// customerStates is what a fold left: customer -> processor -> encoded state.
type customerStates map[string]map[string][]byte

// clone copies the maps (the encodings are not modified by anyone).
func (cs customerStates) clone() customerStates {
	out := customerStates{}
	for c, m := range cs {
		out[c] = maps.Clone(m)
	}
	return out
}

// foldCustomers folds events through the default processors, as journey
// run would, and returns the states the events changed and the timers
// left armed.
func foldCustomers(t *testing.T, events ...*journey.Event) (customerStates, []journey.Timer) {
	t.Helper()
	procs, err := processors.Build(config.Default().Processors, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := journey.NewEngine(procs...)
	if err != nil {
		t.Fatal(err)
	}
	customers := map[string]*journey.Customer{}
	timers := map[[3]string]time.Time{}
	var out journey.Output
	for _, ev := range events {
		c := customers[ev.CustomerID]
		if c == nil {
			c = e.NewCustomer(ev.CustomerID)
			if err := e.Load(c, func(string, journey.Processor, journey.State) (bool, error) { return false, nil }); err != nil {
				t.Fatal(err)
			}
			customers[ev.CustomerID] = c
		}
		out.Reset()
		if err := e.Fold(c, ev, &out); err != nil {
			t.Fatal(err)
		}
		for _, op := range out.Timers {
			k := [3]string{c.ID, op.Processor, op.Key}
			if op.Cancel {
				delete(timers, k)
			} else {
				timers[k] = op.At
			}
		}
	}
	states := customerStates{}
	for id, c := range customers {
		states[id] = map[string][]byte{}
		for i, p := range e.Processors() {
			if !c.Dirty[i] {
				continue
			}
			data, err := c.States[i].MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			states[id][p.Name()] = data
		}
	}
	var ts []journey.Timer
	for k, at := range timers {
		ts = append(ts, journey.Timer{At: at, Customer: k[0], Processor: k[1], Key: k[2]})
	}
	slices.SortFunc(ts, journey.Compare)
	return states, ts
}

// storeSpec is what writeStore writes into one partition.
type storeSpec struct {
	partition int
	states    customerStates
	timers    []journey.Timer
	offsets   map[string]int64
	// raw are extra states written as they are: customer, processor,
	// version and bytes.
	raw []rawState
	// outbox entries left undelivered.
	outbox int
}

type rawState struct {
	customer, processor string
	version             uint32
	data                []byte
}

// writeStore creates a state directory holding spec, closed.
func writeStore(t *testing.T, dir string, spec storeSpec) {
	t.Helper()
	s, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	procs, err := processors.Build(config.Default().Processors, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Partition(spec.partition)
	if err != nil {
		t.Fatal(err)
	}
	b := p.NewBatch()
	for _, c := range slices.Sorted(maps.Keys(spec.states)) {
		for _, proc := range procs {
			if data, ok := spec.states[c][proc.Name()]; ok {
				b.PutState(c, proc.Name(), proc.StateVersion(), data)
			}
		}
	}
	for _, r := range spec.raw {
		b.PutState(r.customer, r.processor, r.version, r.data)
	}
	for _, tr := range spec.timers {
		if err := b.Set(tr); err != nil {
			t.Fatal(err)
		}
	}
	for topic, off := range spec.offsets {
		b.SetOffset(topic, off)
	}
	for i := range spec.outbox {
		b.Append('t', []byte(fmt.Sprint(i)))
	}
	b.SetWatermark(stateT0.Add(20 * time.Minute))
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

// fixtureEvents: c1 views boots and adds them to a cart (a cart timer),
// c2 views a page, c3 identifies with consent.
func fixtureEvents() []*journey.Event {
	return []*journey.Event{
		{ID: "e1", Kind: journey.KindTrack, Name: "Product Viewed", CustomerID: "c1", Channel: "web", Time: stateT0,
			Properties: map[string]any{"product_id": "sku-1", "category": "Footwear/Boots"}},
		{ID: "e2", Kind: journey.KindTrack, Name: "Product Added", CustomerID: "c1", Channel: "web", Time: stateT0.Add(5 * time.Minute),
			Properties: map[string]any{"cart_id": "k1", "product_id": "sku-1", "price": 89.5, "quantity": 1, "currency": "EUR"}},
		{ID: "e3", Kind: journey.KindPage, Name: "Home", CustomerID: "c2", Channel: "web", Time: stateT0.Add(time.Minute)},
		{ID: "e4", Kind: journey.KindIdentify, CustomerID: "c3", UserID: "c3", Channel: "app", Time: stateT0.Add(2 * time.Minute),
			TimeZone: "Europe/Paris", Consent: map[string]bool{"email": true, "sms": false}},
	}
}

// runStateCmd runs `journey state args...` and returns its exit status,
// stdout and stderr.
func runStateCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := stateMain(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestStateUsage(t *testing.T) {
	if code, _, stderr := runStateCmd(t, "frobnicate"); code != 2 || stderr != "journey state: unknown subcommand \"frobnicate\"\nrun 'journey state -h' for help\n" {
		t.Fatalf("unknown subcommand: exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := runStateCmd(t); code != 2 {
		t.Fatalf("no subcommand: exit %d, want 2", code)
	}
	for _, sub := range []string{"get", "diff", "promote", "restore"} {
		if code, stdout, stderr := runStateCmd(t, sub, "-h"); code != 0 || stderr != "" || !strings.Contains(stdout, "Usage: journey state "+sub) {
			t.Fatalf("%s -h: exit %d, stdout %q, stderr %q", sub, code, stdout, stderr)
		}
		want := fmt.Sprintf("journey state %s: flag provided but not defined: --nope\nrun 'journey state %s -h' for help\n", sub, sub)
		if code, _, stderr := runStateCmd(t, sub, "--nope"); code != 2 || stderr != want {
			t.Fatalf("%s --nope: exit %d, stderr %q", sub, code, stderr)
		}
	}
	if _, stdout, _ := runStateCmd(t, "promote", "-h"); !strings.Contains(stdout, "Safe procedure") {
		t.Fatalf("promote -h has no procedure:\n%s", stdout)
	}
}
