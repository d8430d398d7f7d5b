package journey_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
)

// abandon is a toy absence processor: "Add" arms a timer 1h later,
// "Buy" cancels it; when it fires, a trigger.
type abandon struct{}

type abandonState struct {
	Armed  bool   `json:"armed"`
	Fired  int    `json:"fired"`
	LastID string `json:"last_id"`
}

func (s *abandonState) MarshalBinary() ([]byte, error) { return json.Marshal(s) }
func (s *abandonState) UnmarshalBinary(b []byte) error { return json.Unmarshal(b, s) }

// errFail is what abandon's Fold returns for an event named "Fail".
var errFail = errors.New("abandon: failed")

func (abandon) Name() string            { return "abandon" }
func (abandon) StateVersion() uint32    { return 1 }
func (abandon) NewState() journey.State { return &abandonState{} }
func (abandon) Fold(st journey.State, ev *journey.Event, out *journey.Output) (bool, error) {
	s := st.(*abandonState)
	switch ev.Name {
	case "Add":
		s.Armed, s.LastID = true, ev.ID
		out.SetTimer("cart", ev.Time.Add(time.Hour))
	case "Buy":
		s.Armed = false
		out.CancelTimer("cart")
	case "Panic":
		panic("boom")
	case "Fail":
		return false, errFail
	default:
		return false, nil
	}
	return true, nil
}
func (abandon) OnTimer(st journey.State, customer, key string, at time.Time, out *journey.Output) (bool, error) {
	s := st.(*abandonState)
	if !s.Armed {
		return false, nil
	}
	s.Armed = false
	s.Fired++
	out.Emit(journey.Trigger{ID: journey.TriggerID("abandon", customer, key+"@"+at.String()), Rule: "abandon",
		CustomerID: customer, Channel: "email", At: at, Causes: []string{s.LastID}})
	return true, nil
}

// capPolicy admits one trigger per customer and suppresses the rest.
type capPolicy struct{}

type capState struct{ Sent int }

func (s *capState) MarshalBinary() ([]byte, error) { return json.Marshal(s) }
func (s *capState) UnmarshalBinary(b []byte) error { return json.Unmarshal(b, s) }

func (capPolicy) Name() string            { return "policy" }
func (capPolicy) StateVersion() uint32    { return 1 }
func (capPolicy) NewState() journey.State { return &capState{} }
func (capPolicy) Fold(journey.State, *journey.Event, *journey.Output) (bool, error) {
	return false, nil
}
func (capPolicy) OnTimer(journey.State, string, string, time.Time, *journey.Output) (bool, error) {
	return false, nil
}
func (capPolicy) Admit(st journey.State, t journey.Trigger, _ time.Time, _ journey.PolicyEnv, out *journey.Output) (bool, error) {
	s := st.(*capState)
	if s.Sent >= 1 {
		out.Suppress(t, "channel_cap")
		return false, nil
	}
	s.Sent++
	out.Admit(t)
	return true, nil
}

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

func ev(id, customer, name string, min int) journey.Event {
	return journey.Event{ID: id, CustomerID: customer, Name: name, Kind: journey.KindTrack, Time: t0.Add(time.Duration(min) * time.Minute)}
}

// harness runs events through a Runner, committing (encoding states and
// forgetting the cache) every `batch` events, like the pipeline does.
type harness struct {
	engine *journey.Engine
	stored map[string][]byte
	timers *journey.MemTimers
	runner *journey.Runner
	log    []string
}

func newHarness(t *testing.T, procs ...journey.Processor) *harness {
	t.Helper()
	e, err := journey.NewEngine(procs...)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{engine: e, stored: map[string][]byte{}, timers: &journey.MemTimers{}}
	h.runner = journey.NewRunner(e, func(c string, p journey.Processor, st journey.State) (bool, error) {
		b, ok := h.stored[c+"/"+p.Name()]
		if !ok {
			return false, nil
		}
		return true, st.UnmarshalBinary(b)
	})
	h.runner.Timers = h.timers
	return h
}

func (h *harness) commit(t *testing.T) {
	t.Helper()
	for _, c := range h.runner.Touched() {
		for i, p := range h.engine.Processors() {
			if c.Dirty[i] {
				b, err := c.States[i].MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				h.stored[c.ID+"/"+p.Name()] = b
			}
		}
	}
	h.runner.Reset()
}

func (h *harness) record(out *journey.Output) {
	for _, tr := range out.Triggers {
		h.log = append(h.log, fmt.Sprintf("trigger %s %s at %s", tr.Rule, tr.CustomerID, tr.At.Format("15:04")))
	}
	for _, s := range out.Suppressed {
		h.log = append(h.log, fmt.Sprintf("suppressed %s %s: %s", s.Trigger.Rule, s.Trigger.CustomerID, s.Reason))
	}
}

func (h *harness) run(t *testing.T, batch int, evs []journey.Event) string {
	t.Helper()
	var out journey.Output
	for i := range evs {
		out.Reset()
		if err := h.runner.Apply(&evs[i], &out); err != nil {
			t.Fatal(err)
		}
		h.record(&out)
		if (i+1)%batch == 0 {
			h.commit(t)
		}
	}
	h.commit(t)
	return strings.Join(h.log, "\n")
}

func TestTimerFiresBeforeTheEventThatPassesIt(t *testing.T) {
	evs := []journey.Event{
		ev("a1", "c1", "Add", 0),
		ev("a2", "c2", "Add", 10),
		ev("b2", "c2", "Buy", 30),   // c2 checks out: its timer is cancelled
		ev("x1", "c1", "Buy", 60),   // exactly at c1's deadline: the timer fires first
		ev("a3", "c1", "Add", 61),   // re-armed...
		ev("a4", "c1", "Add", 90),   // ...and moved
		ev("z", "c9", "Noop", 150),  // 10:00+150 passes 10:00+90+60: fires once
		ev("z2", "c9", "Noop", 500), // nothing left
	}
	want := "trigger abandon c1 at 11:00\ntrigger abandon c1 at 12:30"
	var outputs []string
	for _, batch := range []int{1, 2, 3, 100} {
		h := newHarness(t, abandon{})
		got := h.run(t, batch, evs)
		if got != want {
			t.Fatalf("batch %d:\n%s\nwant\n%s", batch, got, want)
		}
		outputs = append(outputs, fmt.Sprint(h.stored))
		if p := h.timers.Pending(); len(p) != 0 {
			t.Fatalf("timers left: %+v", p)
		}
	}
	for _, o := range outputs[1:] {
		if o != outputs[0] {
			t.Fatalf("state depends on batch size:\n%s\n%s", outputs[0], o)
		}
	}
}

func TestAdvanceFiresWithoutEvents(t *testing.T) {
	h := newHarness(t, abandon{})
	h.run(t, 1, []journey.Event{ev("a1", "c1", "Add", 0)})
	var out journey.Output
	if err := h.runner.Advance(t0.Add(59*time.Minute), &out); err != nil || len(out.Triggers) != 0 {
		t.Fatalf("fired early: %v %v", out.Triggers, err)
	}
	if err := h.runner.Advance(t0.Add(60*time.Minute), &out); err != nil || len(out.Triggers) != 1 {
		t.Fatalf("did not fire at the boundary: %v %v", out.Triggers, err)
	}
	if !h.runner.Watermark().Equal(t0.Add(time.Hour)) {
		t.Fatalf("watermark %v", h.runner.Watermark())
	}
}

// TestCeilingHoldsTheWatermark: an event dated far past the Ceiling is
// folded, but takes the watermark only to the Ceiling, so the timers armed
// before it keep waiting; an event within it moves the watermark as usual.
func TestCeilingHoldsTheWatermark(t *testing.T) {
	h := newHarness(t, abandon{})
	h.runner.Ceiling = t0.Add(11 * time.Minute) // "now" is t0+10m, max skew 1m
	h.run(t, 1, []journey.Event{ev("a1", "c1", "Add", 0), ev("a2", "c2", "Add", 5)})
	future := ev("f", "c3", "Add", 23*60) // 23 h ahead
	if got := h.run(t, 1, []journey.Event{future}); got != "" {
		t.Fatalf("a future-dated event fired timers early:\n%s", got)
	}
	if wm := h.runner.Watermark(); !wm.Equal(h.runner.Ceiling) {
		t.Fatalf("watermark %v, want the ceiling %v", wm, h.runner.Ceiling)
	}
	if n := len(h.timers.Pending()); n != 3 {
		t.Fatalf("%d timers pending, want 3: the future event is folded (its timer armed) and none fired", n)
	}
	// Below the ceiling the watermark follows event time minus lateness.
	h.runner.Ceiling = t0.Add(2 * time.Hour)
	h.run(t, 1, []journey.Event{ev("n", "c9", "Noop", 61)})
	if got := strings.Join(h.log, "\n"); got != "trigger abandon c1 at 11:00" {
		t.Fatalf("after a later event within the ceiling:\n%s\nwant c1's timer only", got)
	}
	if wm := h.runner.Watermark(); !wm.Equal(t0.Add(61 * time.Minute)) {
		t.Fatalf("watermark %v, want %v", wm, t0.Add(61*time.Minute))
	}
}

func TestLateEvents(t *testing.T) {
	for _, drop := range []bool{false, true} {
		h := newHarness(t, abandon{})
		h.runner.Lateness = 5 * time.Minute
		h.runner.DropLate = drop
		h.run(t, 10, []journey.Event{ev("a", "c", "Noop", 30)})
		late := ev("b", "c", "Add", 10) // 10 < 30-5
		var out journey.Output
		err := h.runner.Apply(&late, &out)
		if drop != errors.Is(err, journey.ErrLate) {
			t.Fatalf("drop=%v: err %v", drop, err)
		}
		if !drop && len(h.timers.Pending()) != 1 {
			t.Fatal("a late event applied under the apply policy must still be folded")
		}
	}
}

func TestPolicyAdmitsAndSuppresses(t *testing.T) {
	h := newHarness(t, abandon{}, capPolicy{})
	got := h.run(t, 1, []journey.Event{
		ev("a1", "c1", "Add", 0), ev("n", "c1", "Noop", 70), ev("a2", "c1", "Add", 80), ev("n2", "c1", "Noop", 200),
	})
	want := "trigger abandon c1 at 11:00\nsuppressed abandon c1: channel_cap"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// TestPanicIsAFoldError checks a panic becomes a *FoldError naming the
// processor and the panic value's type, never the value (it could hold an
// event's fields), with the stack down to the panicking Fold.
func TestPanicIsAFoldError(t *testing.T) {
	h := newHarness(t, abandon{})
	e := ev("p", "c", "Panic", 0)
	var out journey.Output
	err := h.runner.Apply(&e, &out)
	var fe *journey.FoldError
	if !errors.Is(err, journey.ErrFold) || !errors.As(err, &fe) {
		t.Fatalf("want a *FoldError, got %v", err)
	}
	if want := "journey: fold failed: panic in abandon (string)"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if fe.Processor != "abandon" || fe.Timer != nil || fe.Err != nil || fe.Panic != "string" {
		t.Errorf("got %+v", fe)
	}
	if stack := string(fe.Stack); !strings.Contains(stack, "goroutine ") || !strings.Contains(stack, "journey_test.abandon.Fold(") ||
		strings.Contains(stack, "boom") {
		t.Errorf("want the stack down to abandon.Fold, without the panic value:\n%s", stack)
	}
}

// TestFoldErrorWraps checks a processor's error is wrapped, not only
// quoted, in the fold error, which names the processor.
func TestFoldErrorWraps(t *testing.T) {
	h := newHarness(t, abandon{})
	e := ev("f", "c", "Fail", 0)
	var out journey.Output
	err := h.runner.Apply(&e, &out)
	if !errors.Is(err, journey.ErrFold) || !errors.Is(err, errFail) {
		t.Fatalf("want ErrFold wrapping errFail, got %v", err)
	}
	if want := "journey: fold failed: processor abandon: abandon: failed"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}

// failTimer is abandon whose OnTimer fails.
type failTimer struct{ abandon }

func (failTimer) OnTimer(journey.State, string, string, time.Time, *journey.Output) (bool, error) {
	return false, errFail
}

// TestTimerFoldErrorAndSkip checks a failing OnTimer is a *FoldError
// naming the timer, and that SkipTimer disarms a timer without firing it.
func TestTimerFoldErrorAndSkip(t *testing.T) {
	h := newHarness(t, failTimer{})
	add, later := ev("a", "c", "Add", 0), ev("n", "c", "Noop", 120)
	var out journey.Output
	if err := h.runner.Apply(&add, &out); err != nil {
		t.Fatal(err)
	}
	var fe *journey.FoldError
	if err := h.runner.Apply(&later, &out); !errors.As(err, &fe) || fe.Timer == nil {
		t.Fatalf("want a *FoldError naming the timer, got %v", err)
	}
	want := journey.Timer{At: t0.Add(time.Hour), Customer: "c", Processor: "abandon", Key: "cart"}
	if *fe.Timer != want {
		t.Fatalf("timer %+v, want %+v", *fe.Timer, want)
	}
	// As the pipeline does: start again from before the failure, skipping it.
	h.runner.Reset()
	h.runner.SetWatermark(time.Time{})
	h.timers = &journey.MemTimers{}
	h.runner.Timers = h.timers
	var skipped []journey.Timer
	h.runner.SkipTimer = func(t journey.Timer) bool { skipped = append(skipped, t); return true }
	for _, e := range []journey.Event{add, later} {
		if err := h.runner.Apply(&e, &out); err != nil {
			t.Fatal(err)
		}
	}
	if len(skipped) != 1 || skipped[0] != want || len(h.timers.Pending()) != 0 || len(out.Triggers) != 0 {
		t.Fatalf("skipped %v, pending %v, triggers %v", skipped, h.timers.Pending(), out.Triggers)
	}
}

func TestEngineRejectsTwoPolicies(t *testing.T) {
	if _, err := journey.NewEngine(capPolicy{}, capPolicy{}); err == nil {
		t.Fatal("two processors named policy accepted")
	}
}

// TestRunnerRetainsCommittedCustomers checks the cache between batches: a
// committed customer is served without the loader, clean, until evicted
// (least recently used first); an abandoned batch's changes never survive.
func TestRunnerRetainsCommittedCustomers(t *testing.T) {
	engine, err := journey.NewEngine(abandon{})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]*abandonState{} // the "durable" states
	loads := map[string]int{}
	r := journey.NewRunner(engine, func(id string, _ journey.Processor, st journey.State) (bool, error) {
		loads[id]++
		if s, ok := stored[id]; ok {
			*st.(*abandonState) = *s
			return true, nil
		}
		return false, nil
	})
	r.Timers = &journey.MemTimers{}
	r.Retain = 2
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var out journey.Output
	apply := func(customer, name string, i int) {
		t.Helper()
		out.Reset()
		ev := journey.Event{ID: fmt.Sprint(customer, i), Name: name, CustomerID: customer, Time: t0.Add(time.Duration(i) * time.Second)}
		if err := r.Apply(&ev, &out); err != nil {
			t.Fatal(err)
		}
	}
	commit := func() {
		t.Helper()
		for _, c := range r.Touched() {
			if c.IsDirty() {
				s := *c.States[0].(*abandonState)
				stored[c.ID] = &s
			}
		}
		r.Committed()
	}

	apply("a", "Add", 1)
	apply("b", "Add", 2)
	commit()
	for _, c := range r.Touched() {
		t.Fatalf("customer %s still touched after Committed", c.ID)
	}
	apply("a", "Buy", 3) // retained: no load, and clean before this event
	if loads["a"] != 1 {
		t.Fatalf("customer a loaded %d times, want 1 (retained after commit)", loads["a"])
	}
	if c := r.Touched()[0]; c.ID != "a" || !c.Dirty[0] || c.States[0].(*abandonState).Armed {
		t.Fatalf("retained customer a: dirty=%v armed=%v, want dirty and disarmed", c.Dirty[0], c.States[0].(*abandonState).Armed)
	}
	commit()
	apply("a", "Add", 4)
	r.Reset() // abandon the batch: a's in-memory Add must not survive
	apply("a", "Other", 5)
	if loads["a"] != 2 || r.Touched()[0].States[0].(*abandonState).Armed {
		t.Fatalf("after Reset: a loaded %d times (want 2), armed=%v (want the durable false)",
			loads["a"], r.Touched()[0].States[0].(*abandonState).Armed)
	}
	commit()
	// Retain 2: a (just committed) and b are retained; c pushes out the
	// least recently used, b.
	apply("c", "Add", 6)
	commit()
	apply("b", "Other", 7)
	apply("a", "Other", 8)
	if loads["b"] != 2 || loads["a"] != 2 || loads["c"] != 1 {
		t.Fatalf("loads a=%d b=%d c=%d, want 2 2 1 (b evicted as least recently used)", loads["a"], loads["b"], loads["c"])
	}
	commit()
	// A pointer (an id linked to another customer) is not retained: it
	// pushes out nobody, and is loaded again when next addressed.
	c, err := r.Customer("p")
	if err != nil {
		t.Fatal(err)
	}
	r.Pointer(c)
	commit()
	apply("a", "Other", 9)
	apply("b", "Other", 10)
	if _, err := r.Customer("p"); err != nil {
		t.Fatal(err)
	}
	if loads["a"] != 2 || loads["b"] != 2 || loads["p"] != 2 {
		t.Fatalf("loads a=%d b=%d p=%d, want 2 2 2 (the pointer p not retained, a and b kept)", loads["a"], loads["b"], loads["p"])
	}
}

// counter is a toy ContextSource counting its Context calls.
type counter struct{ calls *int }

type counterState struct{ N int }

func (s *counterState) MarshalBinary() ([]byte, error) { return json.Marshal(s) }
func (s *counterState) UnmarshalBinary(b []byte) error { return json.Unmarshal(b, s) }

func (counter) Name() string            { return "counter" }
func (counter) StateVersion() uint32    { return 1 }
func (counter) NewState() journey.State { return &counterState{} }
func (counter) Fold(st journey.State, ev *journey.Event, _ *journey.Output) (bool, error) {
	if ev.Name != "Count" {
		return false, nil
	}
	st.(*counterState).N++
	return true, nil
}
func (c counter) Context(st journey.State) map[string]string {
	*c.calls++
	return map[string]string{"counter.n": fmt.Sprint(st.(*counterState).N)}
}

// TestContextChangesComputeOnlyCarriedParts: a processor's context is
// computed only for an update that carries it — when its state changed, or
// for a full update — and is right across batches although the retained
// customer keeps no context of its own.
func TestContextChangesComputeOnlyCarriedParts(t *testing.T) {
	calls := 0
	engine, err := journey.NewEngine(counter{&calls}, abandon{})
	if err != nil {
		t.Fatal(err)
	}
	r := journey.NewRunner(engine, func(string, journey.Processor, journey.State) (bool, error) { return false, nil })
	r.Timers, r.Retain = &journey.MemTimers{}, 10
	var (
		out   journey.Output
		parts []map[string]string
	)
	t0 := time.Unix(1000, 0)
	step := func(i int, name string, at time.Duration, want string, wantCalls int) {
		t.Helper()
		out.Reset()
		ev := journey.Event{ID: fmt.Sprint(i), Name: name, CustomerID: "c", Time: time.Unix(int64(i), 0)}
		if err := r.Apply(&ev, &out); err != nil {
			t.Fatal(err)
		}
		parts = engine.ContextChanges(parts, r.Touched()[0], t0.Add(at), time.Hour)
		if got := parts[0]["counter.n"]; got != want || calls != wantCalls {
			t.Fatalf("event %d (%s): counter.n=%q after %d Context calls, want %q after %d", i, name, got, calls, want, wantCalls)
		}
		r.Committed()
	}
	step(1, "Count", 0, "1", 1)             // first after the load: every part
	step(2, "Add", time.Minute, "", 1)      // only abandon changed: nothing computed
	step(3, "Count", 2*time.Minute, "2", 2) // counter changed: computed
	step(4, "Add", 2*time.Hour, "2", 3)     // refresh passed: every part, computed again
}

// tally is a second ContextSource, counting "Tally" events.
type tally struct{ counter }

func (tally) Name() string { return "tally" }
func (tally) Fold(st journey.State, ev *journey.Event, _ *journey.Output) (bool, error) {
	if ev.Name != "Tally" {
		return false, nil
	}
	st.(*counterState).N++
	return true, nil
}
func (tally) Context(st journey.State) map[string]string {
	return map[string]string{"tally.n": fmt.Sprint(st.(*counterState).N)}
}

// TestContextChangesCarryTheChangedParts: an update carries the parts of
// the processors whose state changed; every part the first time after a
// load, once refresh has passed since the last full one, and always with
// refresh 0. Merged in order, the updates give the whole context.
func TestContextChangesCarryTheChangedParts(t *testing.T) {
	calls := 0
	engine, err := journey.NewEngine(counter{&calls}, tally{counter{&calls}}, abandon{})
	if err != nil {
		t.Fatal(err)
	}
	r := journey.NewRunner(engine, func(string, journey.Processor, journey.State) (bool, error) { return false, nil })
	r.Timers, r.Retain = &journey.MemTimers{}, 10
	var (
		out   journey.Output
		parts []map[string]string
		hash  = map[string]string{} // what the updates build up, as Redis's HSET does
	)
	t0 := time.Unix(1000, 0)
	step := func(i int, name string, at time.Duration, refresh time.Duration, want string) {
		t.Helper()
		out.Reset()
		ev := journey.Event{ID: fmt.Sprint(i), Name: name, CustomerID: "c", Time: time.Unix(int64(i), 0)}
		if err := r.Apply(&ev, &out); err != nil {
			t.Fatal(err)
		}
		parts = engine.ContextChanges(parts, r.Touched()[0], t0.Add(at), refresh)
		var got []string
		for _, p := range parts {
			for k, v := range p {
				got = append(got, k+"="+v)
				hash[k] = v
			}
		}
		slices.Sort(got)
		if fmt.Sprint(got) != want {
			t.Fatalf("event %d (%s) at +%v: update %v, want %s", i, name, at, got, want)
		}
		if whole := engine.Context(r.Touched()[0]); !maps.Equal(hash, whole) {
			t.Fatalf("event %d: the updates merge to %v, the context is %v", i, hash, whole)
		}
		r.Committed()
	}
	const hour = time.Hour
	step(1, "Count", 0, hour, "[counter.n=1 tally.n=0]")              // first after the load: whole
	step(2, "Count", time.Minute, hour, "[counter.n=2]")              // only counter changed
	step(3, "Tally", 2*time.Minute, hour, "[tally.n=1]")              // only tally changed
	step(4, "Add", 3*time.Minute, hour, "[]")                         // neither: no fields
	step(5, "Count", 61*time.Minute, hour, "[counter.n=3 tally.n=1]") // an hour after the last whole one
	step(6, "Tally", 62*time.Minute, hour, "[tally.n=2]")
	step(7, "Tally", 63*time.Minute, 0, "[counter.n=3 tally.n=3]") // refresh 0: always whole
	r.Forget()                                                     // evicted: loaded again
	step(8, "Count", 64*time.Minute, hour, "[counter.n=1 tally.n=0]")
}
