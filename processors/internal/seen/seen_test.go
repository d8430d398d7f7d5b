package seen

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/journey-dev/journey/processors/internal/wire"
)

var errCorrupt = errors.New("corrupt")

// TestRememberBounded checks Remember counts each id once, keeps the
// newest Max, and moves the floor to the newest one forgotten.
func TestRememberBounded(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var w Window
	for i := range 100 {
		if !w.Remember(t0.Add(time.Duration(i)*time.Minute), Hash(fmt.Sprint(i))) {
			t.Fatalf("event %d not counted", i)
		}
	}
	if w.Remember(t0.Add(99*time.Minute), Hash("99")) {
		t.Error("a redelivery was counted")
	}
	if w.Remember(t0.Add(67*time.Minute), Hash("late")) {
		t.Error("an event at the floor was counted")
	}
	if len(w.Seen) != Max || !w.Floor.Equal(t0.Add(67*time.Minute)) {
		t.Errorf("%d seen, floor %v", len(w.Seen), w.Floor)
	}
}

// TestEventsRoundTrip checks ReadEvents reads what AppendEvents appends,
// and refuses an event before the floor.
func TestEventsRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var w Window
	for i := range 40 {
		w.Remember(at.Add(-time.Duration(i)*time.Second), Hash(fmt.Sprint(i)))
	}
	b, err := w.AppendEvents(nil, at)
	if err != nil {
		t.Fatal(err)
	}
	got := Window{Floor: w.Floor}
	r := wire.NewReader(b, errCorrupt)
	got.ReadEvents(&r, at)
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(w) {
		t.Errorf("read %v, want %v", got, w)
	}
	got = Window{Floor: at}
	r = wire.NewReader(b, errCorrupt)
	got.ReadEvents(&r, at)
	if err := r.Finish(); !errors.Is(err, errCorrupt) {
		t.Errorf("events before the floor: err = %v", err)
	}
	w.Seen[0], w.Seen[1] = w.Seen[1], w.Seen[0]
	if _, err := w.AppendEvents(nil, at); err == nil || err.Error() != "seen 1: not in time then hash order" {
		t.Errorf("out of order: err = %v", err)
	}
}
