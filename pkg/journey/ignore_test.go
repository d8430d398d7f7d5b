package journey_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
)

// picky ignores events that lack its property, reporting it under its
// reason; it folds the others.
type picky struct{ name, prop string }

type nothing struct{}

func (nothing) MarshalBinary() ([]byte, error) { return nil, nil }
func (nothing) UnmarshalBinary([]byte) error   { return nil }

func (p picky) Name() string          { return p.name }
func (picky) StateVersion() uint32    { return 1 }
func (picky) NewState() journey.State { return nothing{} }
func (p picky) Fold(_ journey.State, ev *journey.Event, out *journey.Output) (bool, error) {
	if ev.Str(p.prop) == "" {
		out.Ignore("no_" + p.prop)
	}
	return false, nil
}

// TestIgnoreNamesTheProcessor checks that the engine names the processor
// of each ignore report, that one processor ignoring an event keeps it from
// no other, and that Reset empties the reports.
func TestIgnoreNamesTheProcessor(t *testing.T) {
	e, err := journey.NewEngine(picky{"a", "category"}, picky{"b", "cart_id"}, picky{"c", "category"})
	if err != nil {
		t.Fatal(err)
	}
	c := e.NewCustomer("u")
	load := func(string, journey.Processor, journey.State) (bool, error) { return false, nil }
	if err := e.Load(c, load); err != nil {
		t.Fatal(err)
	}
	var out journey.Output
	ev := &journey.Event{ID: "e1", Kind: journey.KindTrack, Name: "Product Added", CustomerID: "u",
		Time: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), Properties: map[string]any{"cart_id": "k1"}}
	if err := e.Fold(c, ev, &out); err != nil {
		t.Fatal(err)
	}
	want := []journey.Ignored{{Processor: "a", Reason: "no_category"}, {Processor: "c", Reason: "no_category"}}
	if !reflect.DeepEqual(out.Ignored, want) {
		t.Errorf("Ignored = %+v, want %+v", out.Ignored, want)
	}
	out.Reset()
	if len(out.Ignored) != 0 {
		t.Errorf("after Reset, Ignored = %+v", out.Ignored)
	}
}
