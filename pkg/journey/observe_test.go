package journey

import (
	"slices"
	"testing"
	"time"
)

// obsEmitter emits one trigger per event, of the rule the event's name.
type obsEmitter struct{ nopState }

func (obsEmitter) Name() string         { return "emit" }
func (obsEmitter) StateVersion() uint32 { return 1 }
func (obsEmitter) NewState() State      { return &nopState{} }
func (obsEmitter) Fold(_ State, ev *Event, out *Output) (bool, error) {
	out.Emit(Trigger{ID: ev.ID, Rule: ev.Name, CustomerID: ev.CustomerID, At: ev.Time})
	return false, nil
}

// obsPolicy admits rule "ok", holds "hold", suppresses the others.
type obsPolicy struct{ obsEmitter }

func (obsPolicy) Name() string                                                    { return "policy" }
func (obsPolicy) Fold(State, *Event, *Output) (bool, error)                       { return false, nil }
func (obsPolicy) OnTimer(State, string, string, time.Time, *Output) (bool, error) { return false, nil }
func (obsPolicy) Admit(_ State, t Trigger, _ time.Time, _ PolicyEnv, out *Output) (bool, error) {
	switch t.Rule {
	case "ok":
		out.Admit(t)
	case "hold":
		out.Hold(t)
	default:
		out.Suppress(t, "no")
	}
	return true, nil
}

// obsRecorder records what it observes.
type obsRecorder struct {
	obsEmitter
	seen *[]string
}

func (obsRecorder) Name() string                              { return "observer" }
func (obsRecorder) Fold(State, *Event, *Output) (bool, error) { return false, nil }
func (r obsRecorder) ObserveTriggers(_ State, d Decisions, now time.Time) (bool, error) {
	for _, t := range d.Admitted {
		*r.seen = append(*r.seen, "admitted "+t.ID+" "+now.Format("15:04"))
	}
	for _, t := range d.Held {
		*r.seen = append(*r.seen, "held "+t.ID)
	}
	for _, s := range d.Suppressed {
		*r.seen = append(*r.seen, "suppressed "+s.Trigger.ID+" "+s.Reason)
	}
	return true, nil
}

type nopState struct{}

func (*nopState) MarshalBinary() ([]byte, error) { return nil, nil }
func (*nopState) UnmarshalBinary([]byte) error   { return nil }

// TestObserversSeeEachFoldsDecisions: an observer sees the decisions of
// each fold once, those of that fold only (Output accumulates over a
// batch), and is marked dirty when it reports a change.
func TestObserversSeeEachFoldsDecisions(t *testing.T) {
	var seen []string
	e, err := NewEngine(obsEmitter{}, obsRecorder{seen: &seen}, obsPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	c := e.NewCustomer("c1")
	if err := e.Load(c, func(string, Processor, State) (bool, error) { return false, nil }); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var out Output
	for i, name := range []string{"ok", "hold", "nope"} {
		ev := &Event{ID: "e" + name, Name: name, CustomerID: "c1", Time: at.Add(time.Duration(i) * time.Minute)}
		if err := e.Fold(c, ev, &out); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"admitted eok 10:00", "held ehold", "suppressed enope no"}
	if !slices.Equal(seen, want) {
		t.Errorf("observed %q, want %q", seen, want)
	}
	if !c.Dirty[1] {
		t.Error("the observer's state is not marked changed")
	}
}
