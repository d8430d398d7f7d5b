package processors_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors"
	"github.com/journey-dev/journey/processors/cart"
	"github.com/journey-dev/journey/processors/chanpref"
	"github.com/journey-dev/journey/processors/dormancy"
	"github.com/journey-dev/journey/processors/engagement"
	"github.com/journey-dev/journey/processors/interest"
	"github.com/journey-dev/journey/processors/policy"
	"github.com/journey-dev/journey/processors/processortest"
	"github.com/journey-dev/journey/processors/profile"
	"github.com/journey-dev/journey/processors/recovery"
)

// TestEveryProcessorMerges checks every registered processor implements
// journey.Merger (a customer's state must follow an identity merge), and
// that merging empty states neither fails nor panics, whichever side is
// empty.
func TestEveryProcessorMerges(t *testing.T) {
	ps, err := processors.Build(nil, allNames())
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != len(processors.All()) {
		t.Fatalf("built %d processors, want every registered one (%d)", len(ps), len(processors.All()))
	}
	e, err := journey.NewEngine(ps...)
	if err != nil {
		t.Fatal(err)
	}
	if names := e.NotMergers(); len(names) > 0 {
		t.Errorf("processors that do not implement journey.Merger: %v", names)
	}
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for _, p := range ps {
		m, ok := p.(journey.Merger)
		if !ok {
			continue
		}
		var out journey.Output
		into, from := p.NewState(), p.NewState()
		if _, err := m.Merge(into, from, "u1", at, &out); err != nil {
			t.Errorf("%s: Merge of two new states: %v", p.Name(), err)
		}
		want, _ := p.NewState().MarshalBinary()
		if got, _ := into.MarshalBinary(); !bytes.Equal(got, want) {
			t.Errorf("%s: merging a new state into a new state gave a state that is not new: %x", p.Name(), got)
		}
		if len(out.Triggers)+len(out.Suppressed)+len(out.Timers) > 0 {
			t.Errorf("%s: merging two new states produced output: %+v", p.Name(), out)
		}
		if _, err := m.Merge(p.NewState(), nil, "u1", at, &out); err == nil {
			t.Errorf("%s: Merge of a nil state: no error", p.Name())
		}
	}
}

// TestMergeCommutes checks, for the rules that say so, that folding every
// event under the canonical id gives the same state (encoded) and the
// same armed timers as folding them under two ids, interleaved in time,
// then merging the anonymous id into the canonical one.
func TestMergeCommutes(t *testing.T) {
	base := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	ev := func(id, customer string, min int, name string, props map[string]any) journey.Event {
		e := journey.Event{ID: id, Kind: journey.KindTrack, Name: name, CustomerID: customer, Channel: "web", Time: at(min), Properties: props}
		if customer == "u1" {
			e.UserID = "u1"
		} else {
			e.AnonymousID = customer
		}
		return e
	}
	view := func(id, customer string, min int, category, product string) journey.Event {
		return ev(id, customer, min, interest.EventProductViewed, map[string]any{"category": category, "product_id": product})
	}
	add := func(id, customer string, min int, cartID, product string, price float64) journey.Event {
		return ev(id, customer, min, cart.EventProductAdded, map[string]any{"cart_id": cartID, "product_id": product, "price": price})
	}
	consent := func(id, customer string, min int, c map[string]bool) journey.Event {
		e := ev(id, customer, min, "Consent Changed", nil)
		e.Kind, e.Consent = journey.KindIdentify, c
		return e
	}
	withZone := func(e journey.Event, zone string) journey.Event { e.TimeZone = zone; return e }

	views := []journey.Event{
		view("a1", "anon-1", 0, "boots", "p1"),
		view("k1", "u1", 5, "boots", "p2"),
		view("a2", "anon-1", 10, "hats", "p3"),
		view("a3", "anon-1", 15, "boots", "p1"),
		view("k2", "u1", 20, "hats", "p4"),
		ev("o1", "u1", 25, interest.EventOrderCompleted, map[string]any{"products": []any{map[string]any{"category": "hats"}}}),
		ev("r1", "anon-1", 28, interest.EventOrderRefunded, map[string]any{"products": []any{map[string]any{"category": "hats"}}}), // reverses u1's o1
		view("a4", "anon-1", 30, "hats", "p3"),
		ev("w1", "anon-1", 40, interest.EventWishlistAdded, map[string]any{"category": "scarves", "product_id": "p9"}), // two views
		view("k3", "u1", 24*60, "scarves", "p9"), // the third: fires without decay
		ev("o2", "u1", 24*60+10, interest.EventOrderCompleted, map[string]any{"products": []any{map[string]any{"category": "boots"}}}),
		ev("x1", "anon-1", 24*60+20, interest.EventOrderCancelled, map[string]any{"products": []any{map[string]any{"category": "boots"}}}), // reverses o2
	}
	decay := interest.DefaultConfig()
	noDecay := interest.DefaultConfig()
	noDecay.HalfLife = 0

	carts := []journey.Event{
		add("a1", "anon-1", 0, "k1", "p1", 10),
		add("a2", "anon-1", 5, "k1", "p2", 5),
		add("a3", "anon-1", 7, "k2", "p7", 1),
		add("b1", "u1", 10, "k1", "p2", 6),
		add("b2", "u1", 20, "k1", "p3", 1),
		add("b3", "u1", 25, "k3", "p8", 2),
		add("a4", "anon-1", 8, "k4", "p9", 3),
		ev("c1", "u1", 30, cart.EventCheckoutStarted, map[string]any{"cart_id": "k2"}), // a refresh of anon-1's cart
		ev("o1", "u1", 35, cart.EventOrderCompleted, map[string]any{"cart_id": "k4"}),  // closes anon-1's cart
		ev("c2", "u1", 40, cart.EventCartViewed, map[string]any{"cart_id": "k5"}),      // a cart neither has
	}

	profiles := []journey.Event{
		withZone(view("a1", "anon-1", 0, "boots", "p1"), "Europe/Paris"),
		consent("k1", "u1", 5, map[string]bool{"email": true, "sms": true}),
		ev("a2", "anon-1", 10, "Product Added", nil),
		withZone(consent("k2", "u1", 20, map[string]bool{"push": true}), "America/New_York"),
		consent("a3", "anon-1", 30, map[string]bool{"email": false}),
		ev("k3", "u1", 40, "Product Added", nil),
	}

	consents := []journey.Event{
		consent("k1", "u1", 0, map[string]bool{"email": true, "push": true}),
		ev("a1", "anon-1", 10, policy.EventEmailUnsubscribed, nil),
		ev("a2", "anon-1", 12, policy.EventPushDisabled, nil),
		ev("k2", "u1", 20, policy.EventPushEnabled, nil),
		withZone(consent("a3", "anon-1", 25, map[string]bool{"sms": true}), "Europe/Paris"),
		consent("k3", "u1", 30, map[string]bool{"sms": false}),
	}

	engaged := []journey.Event{
		ev("a1", "anon-1", 0, "Product Viewed", nil),
		ev("k1", "u1", 60, "Product Viewed", nil),
		ev("a2", "anon-1", 24*60, "Order Completed", nil),
		ev("r1", "u1", 24*60+30, "Order Refunded", nil), // takes anon-1's order back
		ev("k2", "u1", 3*24*60, "Product Viewed", nil),
	}

	responses := []journey.Event{
		ev("e1", "anon-1", 0, "Email Opened", nil),
		ev("p1", "u1", 60, "Push Notification Tapped", nil),
		ev("e2", "anon-1", 2*60, "Email Link Clicked", nil),
		ev("p2", "u1", 3*60, "Push Notification Tapped", nil),
	}

	signals := []journey.Event{
		ev("f1", "anon-1", 0, "Contact Ended", map[string]any{"contact_id": "call-1", "outcome": "failed"}),
		ev("k1", "u1", 30, "Complaint Submitted", map[string]any{"complaint_id": "cmp-1"}),
	}

	for _, tc := range []struct {
		name   string
		p      journey.Processor
		events []journey.Event
		// approx: scores kept in millionths, decayed and rounded in
		// another order, may differ in their last digit.
		approx bool
	}{
		{"interest", must(interest.New(noDecay)), views, false},
		{"interest decay", must(interest.New(decay)), views, false},
		{"cart", must(cart.New(cart.DefaultConfig())), carts, false},
		{"profile", must(profile.New(profile.DefaultConfig())), profiles, false},
		{"policy consent", must(policy.New(policy.DefaultConfig())), consents, false},
		{"dormancy", must(dormancy.New(dormancy.DefaultConfig())), engaged, false},
		{"engagement", must(engagement.New(engagement.DefaultConfig())), engaged, true},
		{"chanpref", must(chanpref.New(chanpref.DefaultConfig())), responses, true},
		{"recovery", must(recovery.New(recovery.DefaultConfig())), signals, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mergeAt := at(24*60 + 60)
			one, oneTimers := foldFor(t, tc.p, tc.events, false, mergeAt)
			two, twoTimers := foldFor(t, tc.p, tc.events, true, mergeAt)
			if !bytes.Equal(one, two) && !(tc.approx && nearlyEqual(stateJSON(t, tc.p, one), stateJSON(t, tc.p, two))) {
				t.Errorf("folding under one id and merging two ids give different states\none id: %x\nmerged: %x\none id: %s\nmerged: %s",
					one, two, stateJSON(t, tc.p, one), stateJSON(t, tc.p, two))
			}
			if oneTimers != twoTimers {
				t.Errorf("armed timers differ\none id: %s\nmerged: %s", oneTimers, twoTimers)
			}
		})
	}
}

func must[P journey.Processor](p P, err error) journey.Processor {
	if err != nil {
		panic(err)
	}
	return p
}

// foldFor folds events through p: all under u1, or (merge) each under its
// own customer and then anon-1 merged into u1 at mergeAt as the pipeline
// does. It returns u1's encoded state and armed timers. The lateness is
// large, so no timer fires: a timer firing under either id would make a
// trigger, and the comparison is of states.
func foldFor(t *testing.T, p journey.Processor, events []journey.Event, merge bool, mergeAt time.Time) ([]byte, string) {
	t.Helper()
	e, err := journey.NewEngine(p)
	if err != nil {
		t.Fatal(err)
	}
	r := journey.NewRunner(e, func(string, journey.Processor, journey.State) (bool, error) { return false, nil })
	timers := new(journey.MemTimers)
	r.Timers, r.Lateness = timers, 100*24*time.Hour
	var out journey.Output
	for _, ev := range events {
		if !merge {
			ev.CustomerID = "u1"
		}
		if err := r.Apply(&ev, &out); err != nil {
			t.Fatal(err)
		}
	}
	if merge {
		c, err := r.Customer("anon-1")
		if err != nil {
			t.Fatal(err)
		}
		var from []journey.Timer
		for _, tm := range timers.Pending() {
			if tm.Customer == "anon-1" {
				from = append(from, tm)
				_ = timers.Cancel(tm.Customer, tm.Processor, tm.Key)
			}
		}
		has := func(processor, key string) (bool, error) {
			return slices.ContainsFunc(timers.Pending(), func(tm journey.Timer) bool {
				return tm.Customer == "u1" && tm.Processor == processor && tm.Key == key
			}), nil
		}
		if err := r.Merge("u1", slices.Clone(c.States), from, mergeAt, has, &out); err != nil {
			t.Fatal(err)
		}
	}
	c, err := r.Customer("u1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.States[0].MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var ts string
	for _, tm := range timers.Pending() {
		if tm.Customer == "u1" {
			ts += fmt.Sprintf("%s/%s@%s ", tm.Processor, tm.Key, tm.At.Format(time.RFC3339))
		}
	}
	return b, ts
}

func stateJSON(t *testing.T, p journey.Processor, b []byte) string {
	st := p.NewState()
	if err := st.UnmarshalBinary(b); err != nil {
		return err.Error()
	}
	j, err := json.Marshal(st)
	if err != nil {
		return err.Error()
	}
	return string(j)
}

// nearlyEqual reports whether two JSON documents are equal but for numbers
// at most 1e-5 apart.
func nearlyEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return near(x, y)
}

func near(x, y any) bool {
	switch x := x.(type) {
	case float64:
		y, ok := y.(float64)
		return ok && math.Abs(x-y) <= 1e-5
	case []any:
		y, ok := y.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !near(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := y.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !near(x[k], y[k]) {
				return false
			}
		}
		return true
	}
	return x == y
}

// TestInterestMergeFires checks the scenario on the processors
// alone: two anonymous views and one known view (threshold 3) make one
// trigger at the merge, for the canonical id, with the three views as
// causes and the id a fold of the crossing view under the canonical id
// gives; merging again (the anonymous id's state is gone) fires nothing.
func TestInterestMergeFires(t *testing.T) {
	cfg := interest.DefaultConfig()
	cfg.HalfLife = 0
	p := must(interest.New(cfg))
	e, err := journey.NewEngine(p, must(policy.New(policy.Config{
		Consent: policy.ConsentConfig{Default: policy.ConsentGrant}, FallbackChannel: "email",
		QuietHours: policy.QuietHours{Start: "00:00", End: "00:00", Action: policy.QuietHold}, DefaultTimeZone: "UTC", MaxHeld: 1, MaxLog: 1,
	})))
	if err != nil {
		t.Fatal(err)
	}
	r := journey.NewRunner(e, func(string, journey.Processor, journey.State) (bool, error) { return false, nil })
	r.Timers = new(journey.MemTimers)
	base := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var out journey.Output
	for i, v := range []struct{ id, customer string }{{"a1", "anon-1"}, {"a2", "anon-1"}, {"k1", "u1"}} {
		ev := journey.Event{ID: v.id, Kind: journey.KindTrack, Name: interest.EventProductViewed, CustomerID: v.customer, Channel: "web",
			Time: base.Add(time.Duration(i) * time.Minute), Properties: map[string]any{"category": "boots"}}
		if err := r.Apply(&ev, &out); err != nil {
			t.Fatal(err)
		}
	}
	if len(out.Triggers) != 0 {
		t.Fatalf("triggers before the merge: %+v", out.Triggers)
	}
	anon, err := r.Customer("anon-1")
	if err != nil {
		t.Fatal(err)
	}
	at := base.Add(time.Hour)
	if err := r.Merge("u1", slices.Clone(anon.States), nil, at, nil, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Triggers) != 1 {
		t.Fatalf("merge made %d triggers, want 1: %+v %+v", len(out.Triggers), out.Triggers, out.Suppressed)
	}
	tr := out.Triggers[0]
	if want := journey.TriggerID(interest.Rule, "u1", "k1"); tr.ID != want || tr.CustomerID != "u1" || !tr.At.Equal(at) ||
		!slices.Equal(tr.Causes, []string{"a1", "a2", "k1"}) {
		t.Errorf("trigger = id %s customer %s at %s causes %v; want id %s customer u1 at %s causes [a1 a2 k1]", tr.ID, tr.CustomerID, tr.At, tr.Causes, want, at)
	}
	out.Reset()
	fresh := []journey.State{p.NewState(), e.Processors()[1].NewState()}
	if err := r.Merge("u1", fresh, nil, at.Add(time.Minute), nil, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Triggers)+len(out.Suppressed) != 0 {
		t.Errorf("merging an empty state again made %+v %+v", out.Triggers, out.Suppressed)
	}
}

// TestMergeCorpusStates merges every pair of the states in the processors'
// fuzz corpora (testdata/fuzz/FuzzUnmarshalBinary: states the folds
// write, and corrupt ones, skipped when they do not decode), and a new
// state each way: no error or panic, an encoding that round-trips
// canonically (so the bounds the encoders check hold), timer ops with
// keys, triggers with ids; merging a new state changes no encoding.
func TestMergeCorpusStates(t *testing.T) {
	ps, err := processors.Build(nil, allNames())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range ps {
		m := p.(journey.Merger)
		files, _ := filepath.Glob(filepath.Join(p.Name(), "testdata", "fuzz", "FuzzUnmarshalBinary", "*"))
		var states [][]byte
		for _, f := range files {
			b, err := readCorpus(f)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if p.NewState().UnmarshalBinary(b) == nil {
				states = append(states, b)
			}
		}
		if len(states) == 0 {
			t.Errorf("%s: no decodable state in its fuzz corpus", p.Name())
		}
		t.Logf("%s: %d corpus states", p.Name(), len(states))
		empty, _ := p.NewState().MarshalBinary()
		states = append(states, empty)
		for i, a := range states {
			for j, b := range states {
				into, from := p.NewState(), p.NewState()
				_ = into.UnmarshalBinary(a)
				_ = from.UnmarshalBinary(b)
				var out journey.Output
				where := fmt.Sprintf("%s: corpus state %d merged into %d", p.Name(), j, i)
				if _, err := m.Merge(into, from, "u1", at, &out); err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				enc, err := into.MarshalBinary()
				if err != nil {
					t.Errorf("%s: MarshalBinary: %v", where, err)
					continue
				}
				dec := p.NewState()
				if err := dec.UnmarshalBinary(enc); err != nil {
					t.Errorf("%s: the merged state does not decode: %v", where, err)
					continue
				}
				if again, _ := dec.MarshalBinary(); !bytes.Equal(again, enc) {
					t.Errorf("%s: the merged state's encoding is not canonical", where)
				}
				if bytes.Equal(b, empty) && !bytes.Equal(enc, a) {
					t.Errorf("%s: merging a new state changed the encoding", where)
				}
				for _, op := range out.Timers {
					if op.Key == "" || !op.Cancel && op.At.IsZero() {
						t.Errorf("%s: timer op %+v", where, op)
					}
				}
				for _, tr := range out.Triggers {
					if tr.ID == "" || tr.CustomerID != "u1" {
						t.Errorf("%s: trigger %+v", where, tr)
					}
				}
			}
		}
	}
}

// readCorpus reads a Go fuzz corpus file of one []byte value.
func readCorpus(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.SplitN(strings.TrimSpace(string(data)), "\n", 2)
	if len(lines) != 2 || lines[0] != "go test fuzz v1" {
		return nil, fmt.Errorf("not a fuzz corpus file")
	}
	v, ok := strings.CutPrefix(lines[1], "[]byte(")
	if !ok || !strings.HasSuffix(v, ")") {
		return nil, fmt.Errorf("not a []byte value")
	}
	s, err := strconv.Unquote(strings.TrimSuffix(v, ")"))
	return []byte(s), err
}

// TestGoldenMerge runs every processor, with its defaults, over the merge
// golden files of testdata/merge: merges across processors (the contact
// policy deciding on the merged consent and contacts).
func TestGoldenMerge(t *testing.T) {
	ps, err := processors.Build(nil, allNames())
	if err != nil {
		t.Fatal(err)
	}
	processortest.RunEngine(t, ps, "testdata/merge")
}

// allNames lists every registered processor, so Build builds the ones off
// by default (timeline) too.
func allNames() []string {
	var names []string
	for _, s := range processors.All() {
		names = append(names, s.Name)
	}
	return names
}
