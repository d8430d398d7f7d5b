package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.yaml.in/yaml/v3"

	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink/redissink"
	"github.com/journey-dev/journey/pkg/state"
	"github.com/journey-dev/journey/processors"
)

// identityLoad is a workload with linking traffic (issue 22): the records,
// each with the partition it is written to, and every id's canonical
// customer.
type identityLoad struct {
	msgs    []kafka.Message
	canon   map[string]string // id → canonical customer (a user id maps to itself)
	anon    []string          // the anonymous ids, each linked to its user by an identify
	merged  map[string]bool   // the users who started anonymous
	users   int
	retries int // records sent twice (a producer retry)
}

// asWritten is a balancer that writes a record to the partition it names:
// identityWorkload picks every record's partition as a producer would.
var asWritten = kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition })

// partitionOfKey is Java's default partitioner (murmur2), as journey's
// identity routing places an id.
func partitionOfKey(id string, partitions int) int {
	return (&kafka.Murmur2Balancer{Consistent: true}).Balance(kafka.Message{Key: []byte(id)}, seq(partitions)...)
}

// identityProcessors are crashProcessors with engagement tiers out of
// reach. A tier move is a crossing like interest's, but of one score summed
// over every event: whether the anonymous score is in it when the user's
// own events cross depends on when the merge lands (the engagement Merge
// then moves the tier itself, with a trigger id of its own), so with
// linking traffic its trigger ids are not a function of the events alone.
// The scores are still compared (to rounding).
const identityProcessors = crashProcessors + `  engagement:
    boundaries: [100000, 200000]
`

// Anonymous-phase categories: disjoint from the known phase's, so no
// category's crossing depends on when a merge lands (see identityWorkload).
var anonCats = []string{"gloves", "belts", "socks", "ties"}

// identityWorkload is crashWorkload's omnichannel traffic, with identity:
// 40% of customers start anonymous — their first perCustomer/4 events
// carry only an anonymousId — then, after a pause of 10 event minutes, an
// identify (userId + anonymousId), then events under the userId (a fifth
// of them still carrying the anonymousId). Producers key records as real
// SDKs do, and not all of them hash like Java's: each customer's phase is
// written one way — keyed by its id with murmur2 (no hop), with no key on
// a fixed partition that is not its own, keyed by its id on librdkafka's
// CRC32 partition, or (after the identify) keyed by the anonymous id — so
// many records must be routed, and a customer's records of one phase stay
// in produce order through the hop, as they do on one partition.
//
// What makes the expectation exact (a fold under the canonical id, in
// produce order) whenever the merge lands: the anonymous phase views only
// anonCats, at most twice each, so it never crosses the interest threshold
// alone; after the identify, a customer who started anonymous views one
// of them again (cross, the one it viewed most), which crosses the
// threshold with the anonymous views — under the user id, by a fold when
// the merge landed first, else by the interest Merge, which fires the
// crossing view's trigger id — and views no category more than twice
// itself nor buys cross, so that crossing is its only trigger: a merge
// that lands after the user's own crossing (a second trigger the policy's
// cooldown would weigh against it), after a purchase that answered it, or
// with two crossings to fire at once, would make the triggers depend on
// when it landed. The policy's contact times of these customers may then
// be the merge's (see checkCanonical). The pause keeps the anonymous
// records folded on their own partition before the link reaches it (one
// forwarded to the user after the link would be folded out of time order,
// and could cross at an anonymous view): seconds of traffic, more than a
// kill's backlog puts between the input and the repartition topic.
func identityWorkload(seed uint64, customers, perCustomer, partitions int, t0 time.Time) identityLoad {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	cats := []string{"boots", "hats", "coats", "bags", "scarves"}
	kA := perCustomer / 4 // anonymous events: [0, kA)
	kI := kA + 10         // the identify
	if kI+4 > perCustomer {
		panic("identityWorkload: perCustomer too small")
	}
	const (
		direct  = iota // keyed by the phase's id, murmur2
		nilKey         // no key, on a fixed partition other than the id's
		crc32          // keyed by the phase's id, librdkafka's CRC32
		anonKey        // (known phase) keyed by the anonymous id, murmur2
	)
	type cust struct {
		user, anon       string
		anonWay, userWay int
		views            map[string]int // anonymous views per anonCats category
		userViews        map[string]int // views per category after the identify
		cross            string         // the anonymous category viewed again after the identify
	}
	w := identityLoad{canon: map[string]string{}, merged: map[string]bool{}, users: customers}
	cs := make([]cust, customers)
	for c := range cs {
		x := &cs[c]
		x.user = fmt.Sprintf("cust-%04d", c)
		w.canon[x.user] = x.user
		switch r := rng.IntN(100); {
		case r < 70:
			x.userWay = direct
		case r < 85:
			x.userWay = nilKey
		default:
			x.userWay = crc32
		}
		if rng.IntN(100) < 40 {
			x.anon = fmt.Sprintf("anon-%04d-%08x", c, rng.Uint32())
			w.canon[x.anon] = x.user
			w.anon = append(w.anon, x.anon)
			w.merged[x.user] = true
			x.anonWay = rng.IntN(3)
			x.userWay = rng.IntN(4)
			x.views, x.userViews = map[string]int{}, map[string]int{}
		}
	}
	place := func(m *kafka.Message, id string, way int, anon string) {
		switch way {
		case direct:
			m.Key = []byte(id)
			m.Partition = partitionOfKey(id, partitions)
		case nilKey:
			m.Partition = (partitionOfKey(id, partitions) + 1) % partitions
		case crc32:
			m.Key = []byte(id)
			m.Partition = kafka.CRC32Balancer{Consistent: true}.Balance(*m, seq(partitions)...)
		case anonKey:
			m.Key = []byte(anon)
			m.Partition = partitionOfKey(anon, partitions)
		}
	}
	for i := range perCustomer {
		for c := range cs {
			x := &cs[c]
			anonPhase := x.anon != "" && i < kA
			if x.anon != "" && i >= kA && i < kI {
				continue // the pause before the identify
			}
			id := fmt.Sprintf("ev-%04d-%03d", c, i)
			at := t0.Add(time.Duration(i)*time.Minute + time.Duration(c)*time.Millisecond).UTC().Format(time.RFC3339Nano)
			channel := []string{"web", "app"}[rng.IntN(2)]
			var v map[string]any
			r := rng.IntN(100)
			switch {
			case x.anon != "" && i == kI:
				v = map[string]any{"type": "identify", "traits": map[string]any{"plan": "basic"}}
				for _, cat := range anonCats {
					if x.views[cat] > x.views[x.cross] {
						x.cross = cat
					}
				}
			case anonPhase:
				cat := anonCats[rng.IntN(len(anonCats))]
				if r < 70 && x.views[cat] < 2 {
					x.views[cat]++
					v = map[string]any{"type": "track", "event": "Product Viewed",
						"properties": map[string]any{"product_id": fmt.Sprintf("%s-%d", cat, rng.IntN(20)), "category": cat}}
				} else {
					v = map[string]any{"type": "page", "name": "Home", "properties": map[string]any{"path": "/"}}
				}
			default:
				cat := cats[rng.IntN(len(cats))]
				if x.anon != "" && r < 70 {
					if x.cross != "" && rng.IntN(3) == 0 {
						cat = x.cross
					}
					if x.userViews[cat] >= 2 {
						r = 99 // a page view instead
					} else {
						x.userViews[cat]++
					}
				}
				switch {
				case r < 70:
					v = map[string]any{"type": "track", "event": "Product Viewed",
						"properties": map[string]any{"product_id": fmt.Sprintf("%s-%d", cat, rng.IntN(20)), "category": cat}}
				case r < 78:
					v = map[string]any{"type": "track", "event": "Order Completed", "properties": map[string]any{
						"order_id": "o-" + id, "revenue": 42.5,
						"products": []any{map[string]any{"product_id": cat + "-1", "category": cat, "price": 42.5}}}}
				default:
					v = map[string]any{"type": "page", "name": "Home", "properties": map[string]any{"path": "/"}}
				}
			}
			v["messageId"], v["timestamp"] = id, at
			v["context"] = map[string]any{"channel": channel, "consent": map[string]any{"email": c%7 != 0}}
			var m kafka.Message
			switch {
			case anonPhase:
				v["anonymousId"] = x.anon
				place(&m, x.anon, x.anonWay, x.anon)
			default:
				v["userId"] = x.user
				if x.anon != "" && (i == kI || rng.IntN(5) == 0) {
					v["anonymousId"] = x.anon
				}
				place(&m, x.user, x.userWay, x.anon)
			}
			m.Value, _ = json.Marshal(v)
			w.msgs = append(w.msgs, m)
			if rng.IntN(50) == 0 {
				w.msgs = append(w.msgs, m) // a producer retry
				w.retries++
			}
		}
	}
	return w
}

// routed counts the records of the workload that are not on their
// canonical customer's partition, and those with no key.
func (w identityLoad) routed(t *testing.T, partitions int) (offPartition, noKey int) {
	dec, err := ingest.NewDecoder(ingest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range w.msgs {
		ev, err := dec.Decode(ingest.Record{Topic: "t", Key: m.Key, Value: m.Value, Time: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if m.Partition != partitionOfKey(w.canon[ev.CustomerID], partitions) {
			offPartition++
		}
		if m.Key == nil {
			noKey++
		}
	}
	return offPartition, noKey
}

// expectedCanonical is expected's in-process fold with every event folded
// under its canonical customer (as one id would see them: per customer,
// in produce order), one runner per canonical partition. spanning are the
// triggers with an anonymous event among their causes, by id, with their
// time.
func expectedCanonical(t *testing.T, topic string, partitions int, w identityLoad) (states map[string]map[string]string, triggers map[string]bool, spanning map[string]time.Time) {
	t.Helper()
	engine, procs := crashEngine(t, identityProcessors)
	dec, err := ingest.NewDecoder(ingest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	seen, anonymous := map[string]bool{}, map[string]bool{}
	triggers, spanning = map[string]bool{}, map[string]time.Time{}
	runners := map[int]*journey.Runner{}
	var out journey.Output
	for _, m := range w.msgs {
		ev, err := dec.Decode(ingest.Record{Topic: topic, Key: m.Key, Value: m.Value, Time: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		canon, ok := w.canon[ev.CustomerID]
		if !ok {
			t.Fatalf("event %s: customer %q is not in the workload's id map", ev.ID, ev.CustomerID)
		}
		if ev.UserID == "" {
			anonymous[ev.ID] = true
		}
		ev.CustomerID = canon
		part := partitionOfKey(canon, partitions)
		r := runners[part]
		if r == nil {
			r = journey.NewRunner(engine, func(string, journey.Processor, journey.State) (bool, error) { return false, nil })
			r.Timers = &journey.MemTimers{}
			runners[part] = r
		}
		if seen[ev.ID] {
			continue
		}
		seen[ev.ID] = true
		out.Reset()
		if err := r.Apply(&ev, &out); err != nil {
			t.Fatal(err)
		}
		for _, tr := range out.Triggers {
			if triggers[tr.ID] {
				t.Fatalf("the workload itself emits trigger %s twice", tr.ID)
			}
			triggers[tr.ID] = true
			if slices.ContainsFunc(tr.Causes, func(id string) bool { return anonymous[id] }) {
				spanning[tr.ID] = tr.At
			}
		}
	}
	states = map[string]map[string]string{}
	for _, r := range runners {
		for _, c := range r.Touched() {
			states[c.ID] = map[string]string{}
			for i, p := range procs {
				b, err := json.Marshal(c.States[i])
				if err != nil {
					t.Fatal(err)
				}
				states[c.ID][p.Name()] = string(b)
			}
		}
	}
	return states, triggers, spanning
}

// buildProcessors builds the processors a processors YAML enables (with
// their sections), in fold order.
func buildProcessors(t *testing.T, procYAML string) []journey.Processor {
	t.Helper()
	var sections struct {
		Processors map[string]yaml.Node `yaml:"processors"`
	}
	if err := yaml.Unmarshal([]byte(procYAML), &sections); err != nil {
		t.Fatal(err)
	}
	procs, err := processors.Build(sections.Processors, nil)
	if err != nil {
		t.Fatal(err)
	}
	return procs
}

// crashEngine builds the engine of a processors YAML (without the
// identity slot).
func crashEngine(t *testing.T, procYAML string) (*journey.Engine, []journey.Processor) {
	t.Helper()
	procs := buildProcessors(t, procYAML)
	engine, err := journey.NewEngine(procs...)
	if err != nil {
		t.Fatal(err)
	}
	return engine, engine.Processors()
}

// storedCustomer is one customer's state as a state dir holds it: per
// processor (JSON), and, per partition where it has any, the processors
// it has state for there.
type storedCustomer struct {
	states map[string]string
	slots  map[int][]string
}

// dumpStored opens a (closed) state dir and returns every customer's
// stored state, the identity slot included among the slots.
func dumpStored(t *testing.T, dir string, partitions int) map[string]*storedCustomer {
	t.Helper()
	store, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	_, procs := crashEngine(t, identityProcessors)
	out := map[string]*storedCustomer{}
	for pid := range partitions {
		p, err := store.Partition(pid)
		if err != nil {
			t.Fatal(err)
		}
		err = p.Customers(func(cust string, slots []string) error {
			sc := out[cust]
			if sc == nil {
				sc = &storedCustomer{slots: map[int][]string{}}
				out[cust] = sc
			}
			sc.slots[pid] = slices.Clone(slots)
			if slices.Equal(slots, []string{journey.IdentityName}) {
				return nil
			}
			sc.states = map[string]string{}
			for _, proc := range procs {
				data, found, err := p.State(cust, proc.Name(), proc.StateVersion())
				if err != nil {
					return err
				}
				st := proc.NewState()
				if found {
					if err := st.UnmarshalBinary(data); err != nil {
						return err
					}
				}
				b, _ := json.Marshal(st)
				sc.states[proc.Name()] = string(b)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// approxProcessors' numbers are compared within 1e-5 plus a relative 1e-6:
// their Merge sums decayed scores (each decays by its own event time),
// which is a fold under one id up to rounding — a score is kept in
// millionths, rounded after each decay, and the merge decays and adds in
// another order (seen: a millionth apart).
var approxProcessors = map[string]bool{"engagement": true, "chanpref": true}

// checkCanonical compares a state dir's customers with the reference fold
// keyed by canonical customer: each user's state only on its canonical
// partition, equal processor by processor (approxProcessors to rounding;
// the policy of a user who started anonymous but for its contact times);
// each anonymous id holding nothing but its identity slot, on its own
// partition. It returns the number of customers checked.
func checkCanonical(t *testing.T, got map[string]*storedCustomer, want map[string]map[string]string, w identityLoad, partitions int) int {
	t.Helper()
	checked, _ := canonicalMismatches(t, got, want, w, partitions)
	return checked
}

// canonicalMismatches is checkCanonical, which it fails t for, also
// counting the ids (customers or anonymous ids) found wrong, for the chaos
// suite's figures.
func canonicalMismatches(t *testing.T, got map[string]*storedCustomer, want map[string]map[string]string, w identityLoad, partitions int) (checked, mismatches int) {
	t.Helper()
	bad := map[string]bool{}
	fail := func(id, format string, args ...any) {
		t.Helper()
		bad[id] = true
		t.Errorf(format, args...)
	}
	for cust, sc := range got {
		canon, ok := w.canon[cust]
		switch {
		case !ok:
			fail(cust, "state for %q, an id not in the workload", cust)
		case canon != cust:
			if len(sc.slots) != 1 || !slices.Equal(sc.slots[partitionOfKey(cust, partitions)], []string{journey.IdentityName}) {
				fail(cust, "anonymous id %s (linked to %s) holds %v (by partition), want only its identity slot on partition %d",
					cust, canon, sc.slots, partitionOfKey(cust, partitions))
			}
		default:
			home := partitionOfKey(cust, partitions)
			for p := range sc.slots {
				if p != home {
					fail(cust, "customer %s has state %v on partition %d; its canonical partition is %d", cust, sc.slots[p], p, home)
				}
			}
		}
	}
	for cust, procs := range want {
		sc := got[cust]
		if sc == nil || sc.states == nil {
			fail(cust, "customer %s: no state stored", cust)
			continue
		}
		for name, wantJSON := range procs {
			gotJSON := sc.states[name]
			if approxProcessors[name] {
				if err := nearlyEqualJSON(gotJSON, wantJSON, 1e-5, 1e-6); err != nil {
					fail(cust, "customer %s, processor %s: %v:\n got %s\nwant %s", cust, name, err, gotJSON, wantJSON)
				}
				continue
			}
			if name == "timeline" && w.merged[cust] {
				// The same: a trigger the interest Merge fired is in the
				// timeline at the merge's time. The events must be the fold's,
				// in order, and the triggers the same, wherever they stand.
				gotJSON, wantJSON = timelineByKind(t, gotJSON), timelineByKind(t, wantJSON)
			}
			if name == "policy" && w.merged[cust] {
				// The interest Merge fires at the merge's time: when the merge
				// landed after the crossing view, the contact times are the
				// merge's, not the view's. Consent, the rules and channels
				// contacted, and the suppressions must be the fold's.
				gotJSON, wantJSON = withoutContactTimes(t, gotJSON), withoutContactTimes(t, wantJSON)
			}
			if gotJSON != wantJSON {
				fail(cust, "customer %s, processor %s:\n got %s\nwant %s", cust, name, gotJSON, wantJSON)
			}
		}
		checked++
	}
	if len(want) != w.users {
		t.Errorf("the reference fold has %d customers, the workload %d users", len(want), w.users)
	}
	return checked, len(bad)
}

// timelineByKind is a timeline state's JSON with its event entries in
// order, then its other entries (triggers) without their times, sorted.
func timelineByKind(t *testing.T, js string) string {
	t.Helper()
	var st struct {
		Entries []map[string]any `json:"entries"`
	}
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		t.Fatal(err)
	}
	var events []map[string]any
	var others []string
	for _, e := range st.Entries {
		if e["kind"] == "event" {
			events = append(events, e)
			continue
		}
		delete(e, "at")
		b, _ := json.Marshal(e)
		others = append(others, string(b))
	}
	slices.Sort(others)
	b, err := json.Marshal(map[string]any{"events": events, "others": others})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withoutContactTimes is a policy state's JSON without the times of its
// contacts and suppressions.
func withoutContactTimes(t *testing.T, js string) string {
	t.Helper()
	var st map[string]any
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		t.Fatal(err)
	}
	for field, times := range map[string][]string{"rules": {"last"}, "channels": {"last", "recent"}, "log": {"at"}} {
		entries, _ := st[field].([]any)
		for _, e := range entries {
			if m, ok := e.(map[string]any); ok {
				for _, k := range times {
					delete(m, k)
				}
			}
		}
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// nearlyEqualJSON compares two JSON documents, numbers x and y equal when
// |x-y| <= abs + rel*max(|x|, |y|).
func nearlyEqualJSON(a, b string, abs, rel float64) error {
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		return err
	}
	var cmp func(path string, x, y any) error
	cmp = func(path string, x, y any) error {
		switch xv := x.(type) {
		case float64:
			yv, ok := y.(float64)
			if !ok || math.Abs(xv-yv) > abs+rel*math.Max(math.Abs(xv), math.Abs(yv)) {
				return fmt.Errorf("%s: %v, want %v", path, x, y)
			}
		case map[string]any:
			yv, ok := y.(map[string]any)
			if !ok || len(xv) != len(yv) {
				return fmt.Errorf("%s: %v, want %v", path, x, y)
			}
			for k := range xv {
				if err := cmp(path+"."+k, xv[k], yv[k]); err != nil {
					return err
				}
			}
		case []any:
			yv, ok := y.([]any)
			if !ok || len(xv) != len(yv) {
				return fmt.Errorf("%s: %v, want %v", path, x, y)
			}
			for i := range xv {
				if err := cmp(fmt.Sprintf("%s[%d]", path, i), xv[i], yv[i]); err != nil {
					return err
				}
			}
		default:
			if x != y {
				return fmt.Errorf("%s: %v, want %v", path, x, y)
			}
		}
		return nil
	}
	return cmp("", x, y)
}

// firedByMerge counts the spanning triggers whose time in Redis is not the
// fold's: fired by the interest Merge (at the merge's time), because the
// merge landed after the crossing view was folded.
func firedByMerge(t *testing.T, e *rigEnv, spanning map[string]time.Time) int {
	t.Helper()
	ctx := context.Background()
	keys, err := e.rdb.Keys(ctx, e.prefix+"triggers:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range keys {
		es, err := e.rdb.XRange(ctx, k, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range es {
			id, _ := m.Values["id"].(string)
			at, _ := m.Values["at"].(string)
			if want, ok := spanning[id]; ok && at != want.UTC().Format(redissink.TimeFormat) {
				n++
			}
		}
	}
	return n
}

// checkIdentityRedis checks Redis after an identity run: every trigger
// for a canonical customer, and every linked anonymous id's context hash
// holding only merged_into = its customer.
func checkIdentityRedis(t *testing.T, e *rigEnv, w identityLoad) {
	t.Helper()
	ctx := context.Background()
	keys, err := e.rdb.Keys(ctx, e.prefix+"triggers:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		es, err := e.rdb.XRange(ctx, k, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range es {
			if c, _ := m.Values["customer_id"].(string); w.canon[c] != c {
				t.Errorf("trigger %v for customer %q, not a canonical customer", m.Values["id"], c)
			}
		}
	}
	for _, a := range w.anon {
		h, err := e.rdb.HGetAll(ctx, e.prefix+"ctx:"+a).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1 || h["merged_into"] != w.canon[a] {
			t.Errorf("%sctx:%s = %v, want only merged_into = %s", e.prefix, a, h, w.canon[a])
		}
	}
}
