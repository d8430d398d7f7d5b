package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
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

// tally is a test processor that merges: it keeps the ids of a customer's
// "Product Viewed" events and fires once, when it holds three.
type tally struct{}

type tallyState struct {
	Views []string `json:"views"`
	Fired bool     `json:"fired"`
}

func (s *tallyState) MarshalBinary() ([]byte, error) { return json.Marshal(s) }
func (s *tallyState) UnmarshalBinary(b []byte) error { return json.Unmarshal(b, s) }

func (tally) Name() string            { return "tally" }
func (tally) StateVersion() uint32    { return 1 }
func (tally) NewState() journey.State { return &tallyState{} }

func (tally) Fold(st journey.State, ev *journey.Event, out *journey.Output) (bool, error) {
	if ev.Name != "Product Viewed" {
		return false, nil
	}
	s := st.(*tallyState)
	if !slices.Contains(s.Views, ev.ID) {
		s.Views = append(s.Views, ev.ID)
	}
	fire(s, ev.CustomerID, ev.Time, out)
	return true, nil
}

func (tally) Merge(into, from journey.State, customer string, at time.Time, out *journey.Output) (bool, error) {
	s, f := into.(*tallyState), from.(*tallyState)
	for _, v := range f.Views {
		if !slices.Contains(s.Views, v) {
			s.Views = append(s.Views, v)
		}
	}
	s.Fired = s.Fired || f.Fired
	fire(s, customer, at, out)
	return true, nil
}

func fire(s *tallyState, customer string, at time.Time, out *journey.Output) {
	if s.Fired || len(s.Views) < 3 {
		return
	}
	s.Fired = true
	causes := slices.Sorted(slices.Values(s.Views))
	out.Emit(journey.Trigger{ID: journey.TriggerID("test.tally", customer, strings.Join(causes, ",")), Rule: "test.tally",
		CustomerID: customer, Channel: "email", At: at, Reason: "three_views", Causes: causes})
}

// identified is a Segment message with a user id and/or an anonymous id.
func identified(id, kind, user, anon, event string, at time.Time) []byte {
	m := map[string]any{"type": kind, "messageId": id, "timestamp": at.UTC().Format(time.RFC3339Nano)}
	if user != "" {
		m["userId"] = user
	}
	if anon != "" {
		m["anonymousId"] = anon
	}
	if kind == "track" {
		m["event"] = event
		m["properties"] = map[string]any{"product_id": "p-" + id, "category": "boots"}
	}
	b, _ := json.Marshal(m)
	return b
}

// producePartitioned writes each message to the partition its Partition
// field names (keys are whatever the test gives: nil, another id...).
func (h *harness) producePartitioned(msgs ...kafka.Message) {
	h.t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(h.brokers...), Topic: h.topic,
		Balancer:     kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition }),
		BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, Transport: &kafka.Transport{}}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, m := range msgs { // one at a time: the order across partitions is the test's
		if err := w.WriteMessages(ctx, m); err != nil {
			h.t.Fatal(err)
		}
	}
}

// javaPartition is the partition a Java producer keying by id picks.
func javaPartition(id string, n int) int {
	ps := make([]int, n)
	for i := range ps {
		ps[i] = i
	}
	return (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(id)}, ps...)
}

// ids returns an anonymous id and a user id on different partitions.
func idsApart(prefix string, n int) (anon, user string) {
	user = prefix + "-user"
	for i := 0; ; i++ {
		anon = fmt.Sprintf("%s-anon-%d", prefix, i)
		if javaPartition(anon, n) != javaPartition(user, n) {
			return anon, user
		}
	}
}

func identityHarness(t *testing.T) (*harness, func(*pipeline.Config)) {
	h := newHarness(t, 4, "")
	h.procs = []journey.Processor{tally{}, journey.Identity{}}
	return h, func(c *pipeline.Config) {
		c.Identity = pipeline.IdentityConfig{Topic: h.topic + ".repartition", MaxIDs: 100}
	}
}

// The scenario: two anonymous views on the anonymous id's
// partition, an identify on the user's, a known view, and one keyed by
// nothing useful on a third partition → one trigger for the user, whose
// causes are the three first views; the anonymous id keeps only its link,
// and its context hash says where it went.
func TestIdentityMergesAnonymousJourney(t *testing.T) {
	h, mod := identityHarness(t)
	anon, user := idsApart("merge", 4)
	pa, pu := javaPartition(anon, 4), javaPartition(user, 4)
	other := (max(pa, pu) + 1) % 4
	for other == pa || other == pu {
		other = (other + 1) % 4
	}
	t0 := time.Now().Add(-time.Hour).UTC()
	h.producePartitioned(
		kafka.Message{Partition: pa, Key: []byte(anon), Value: identified("v1", "track", "", anon, "Product Viewed", t0)},
		kafka.Message{Partition: pa, Key: []byte(anon), Value: identified("v2", "track", "", anon, "Product Viewed", t0.Add(time.Second))},
		kafka.Message{Partition: pu, Key: []byte(user), Value: identified("i1", "identify", user, anon, "", t0.Add(2*time.Second))},
	)
	r := h.start(0, "", mod)
	defer r.stop(t)
	ctxKey := h.prefix + "ctx:" + anon
	testrig.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		got, err := h.rdb.HGet(context.Background(), ctxKey, "merged_into").Result()
		if err != nil || got != user {
			return fmt.Errorf("%s merged_into = %q (%v), want %q", ctxKey, got, err, user)
		}
		return nil
	})
	// The known view, and one on a partition neither id hashes to, with no key.
	h.producePartitioned(
		kafka.Message{Partition: pu, Key: []byte(user), Value: identified("v3", "track", user, "", "Product Viewed", t0.Add(3*time.Second))},
		kafka.Message{Partition: other, Value: identified("v4", "track", "", anon, "Product Viewed", t0.Add(4*time.Second))},
	)
	got := h.waitTriggers("email", 1, 60*time.Second)
	tr, err := redissink.DecodeTrigger(got[0])
	if err != nil {
		t.Fatal(err)
	}
	if tr.CustomerID != user || strings.Join(tr.Causes, ",") != "v1,v2,v3" {
		t.Errorf("trigger for %q with causes %v, want %q with v1,v2,v3", tr.CustomerID, tr.Causes, user)
	}
	// Every event folded once (v4, with only the anonymous id, reaches
	// the user's state too); no second trigger.
	testrig.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		if n := r.counter(t, "journey_events_folded_total", nil); n != 5 {
			return fmt.Errorf("%v events folded, want 5", n)
		}
		return nil
	})
	if n := len(h.waitTriggers("email", 1, time.Second)); n != 1 {
		t.Errorf("%d triggers, want 1", n)
	}
	r.stop(t)
	var ro *state.Store
	ro, err = state.OpenReadOnly(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	cs, err := ro.Customer(anon)
	if err != nil {
		t.Fatal(err)
	}
	us, err := ro.Customer(user)
	if err != nil || len(us) != 1 || us[0].Partition != pu {
		t.Fatalf("%s's state: %v, %v (want one, on partition %d)", user, us, err, pu)
	}
	var ts tallyState
	if err := ts.UnmarshalBinary(us[0].States["tally"].Data); err != nil {
		t.Fatal(err)
	}
	if slices.Sort(ts.Views); strings.Join(ts.Views, ",") != "v1,v2,v3,v4" {
		t.Errorf("%s's views %v, want v1..v4", user, ts.Views)
	}
	for _, c := range cs {
		for proc := range c.States {
			if proc != journey.IdentityName {
				t.Errorf("the merged anonymous id still has %s state on partition %d", proc, c.Partition)
			}
		}
	}
}

func alias(id, previous, user string, at time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"type": "alias", "messageId": id, "previousId": previous, "userId": user,
		"timestamp": at.UTC().Format(time.RFC3339Nano)})
	return b
}

// An alias merges two known customers; an anonymous id already linked to
// one customer that shows up with another (a shared device) stays with the
// first, counted as a conflict, and the other's event is folded for the
// other; later anonymous events follow the first link. A replay of the
// same topic gives the same customers.
func TestIdentityAliasAndConflict(t *testing.T) {
	h, mod := identityHarness(t)
	u1, u2 := idsApart("alias", 4)
	anon, u3 := idsApart("shared", 4)
	at := func(s int) time.Time {
		return time.Now().Add(-time.Hour).UTC().Truncate(time.Second).Add(time.Duration(s) * time.Second)
	}
	r := h.start(0, "", mod)
	defer r.stop(t)
	h.produce(
		kafka.Message{Key: []byte(u1), Value: identified("v1", "track", u1, "", "Product Viewed", at(1))},
		kafka.Message{Key: []byte(u1), Value: identified("v2", "track", u1, "", "Product Viewed", at(2))},
		kafka.Message{Key: []byte(u2), Value: identified("v3", "track", u2, "", "Product Viewed", at(3))},
	)
	h.waitFolded(r, 3)
	h.produce(kafka.Message{Key: []byte(u2), Value: alias("a1", u1, u2, at(4))})
	got := h.waitTriggers("email", 1, 60*time.Second)
	tr, err := redissink.DecodeTrigger(got[0])
	if err != nil {
		t.Fatal(err)
	}
	if tr.CustomerID != u2 || strings.Join(tr.Causes, ",") != "v1,v2,v3" {
		t.Errorf("trigger for %q with causes %v, want %q with v1,v2,v3", tr.CustomerID, tr.Causes, u2)
	}
	h.produce(kafka.Message{Key: []byte(u2), Value: identified("i1", "identify", u2, anon, "", at(5))})
	h.waitContext(anon, "merged_into", u2)
	h.produce(
		kafka.Message{Key: []byte(u3), Value: identified("i2", "identify", u3, anon, "", at(6))},
		kafka.Message{Key: []byte(u3), Value: identified("v5", "track", u3, anon, "Product Viewed", at(7))},
		kafka.Message{Key: []byte(anon), Value: identified("v6", "track", "", anon, "Product Viewed", at(8))},
	)
	h.waitFolded(r, 8)
	testrig.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if n := r.counter(t, "journey_identity_conflicts_total", nil); n != 1 {
			return fmt.Errorf("%v conflicts, want 1", n)
		}
		return nil
	})
	r.stop(t)
	want := map[string]string{u2: "v1,v2,v3,v6", u3: "v5"}
	checkViews(t, h.dir, want, u1)

	// A replay of the topic, in a directory of its own, gives the same
	// canonical customers.
	dir := t.TempDir()
	p, store, _, rdb := h.build(dir, 0, "", func(c *pipeline.Config) { mod(c); c.DiscardOutput = true })
	defer rdb.Close()
	ends, err := pipeline.EndOffsets(context.Background(), h.brokers, nil, h.topic, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.Replay(ctx, pipeline.ReplayPlan{Ends: map[string]map[int]int64{h.topic: ends}}); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	checkViews(t, dir, want, u1)
}

// checkViews checks the tally views each customer of want holds, and that
// gone holds nothing but its identity entry.
func checkViews(t *testing.T, dir string, want map[string]string, gone string) {
	t.Helper()
	ro, err := state.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for c, views := range want {
		cs, err := ro.Customer(c)
		if err != nil || len(cs) != 1 {
			t.Fatalf("%s: %v, %v", c, cs, err)
		}
		var ts tallyState
		if err := ts.UnmarshalBinary(cs[0].States["tally"].Data); err != nil {
			t.Fatal(err)
		}
		if slices.Sort(ts.Views); strings.Join(ts.Views, ",") != views {
			t.Errorf("%s's views %v, want %s", c, ts.Views, views)
		}
	}
	cs, err := ro.Customer(gone)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		for proc := range c.States {
			if proc != journey.IdentityName {
				t.Errorf("merged %s still has %s state", gone, proc)
			}
		}
	}
}

func (h *harness) waitFolded(r *running, n int) {
	h.t.Helper()
	testrig.CheckFor(h.t, 60*time.Second, 20*time.Millisecond, func() error {
		if got := r.counter(h.t, "journey_events_folded_total", nil); got != float64(n) {
			return fmt.Errorf("%v events folded, want %d", got, n)
		}
		return nil
	})
}

func (h *harness) waitContext(customer, field, want string) {
	h.t.Helper()
	key := h.prefix + "ctx:" + customer
	testrig.CheckFor(h.t, 60*time.Second, 20*time.Millisecond, func() error {
		got, err := h.rdb.HGet(context.Background(), key, field).Result()
		if err != nil || got != want {
			return fmt.Errorf("%s %s = %q (%v), want %q", key, field, got, err, want)
		}
		return nil
	})
}

// An anonymous id seen only beside a user id (an identify from a device
// with no journey yet) is linked with nothing to move: its context hash
// holds merged_into and nothing else.
func TestIdentityLinkOfAnEmptyID(t *testing.T) {
	h, mod := identityHarness(t)
	h.procs = append(h.procs, counter{every: 1000}) // it has context fields
	anon, user := idsApart("empty", 4)
	r := h.start(0, "", mod)
	defer r.stop(t)
	h.produce(kafka.Message{Key: []byte(user), Value: identified("e1", "identify", user, anon, "", time.Now().Add(-time.Minute))})
	h.waitContext(anon, "merged_into", user)
	h.waitFolded(r, 1)
	got, err := h.rdb.HGetAll(context.Background(), h.prefix+"ctx:"+anon).Result()
	if err != nil || len(got) != 1 {
		t.Errorf("ctx:%s = %v (%v), want merged_into only", anon, got, err)
	}
}

// A producer's retry of an event folded under an anonymous id before its
// link is a duplicate after the link too: the copy, addressed to the
// anonymous id, passes its partition (which folded the first) on its way
// to the customer, and is dropped there.
func TestIdentityRetryAfterLinkIsADuplicate(t *testing.T) {
	h, mod := identityHarness(t)
	anon, user := idsApart("retry", 4)
	t0 := time.Now().Add(-time.Hour).UTC()
	v1 := kafka.Message{Key: []byte(anon), Value: identified("r1", "track", "", anon, "Product Viewed", t0)}
	r := h.start(0, "", mod)
	defer r.stop(t)
	h.produce(v1, kafka.Message{Key: []byte(user), Value: identified("r2", "identify", user, anon, "", t0.Add(time.Second))})
	h.waitContext(anon, "merged_into", user)
	h.produce(v1) // the retry
	testrig.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		if n := r.counter(t, "journey_events_duplicate_total", nil); n != 1 {
			return fmt.Errorf("%v duplicates, want 1", n)
		}
		return nil
	})
	if n := r.counter(t, "journey_events_folded_total", nil); n != 2 {
		t.Errorf("%v events folded, want 2 (the view once, the identify)", n)
	}
}
