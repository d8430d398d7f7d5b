package interest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
)

// normalise skips the per-category pass while the state's horizon says
// nothing can expire. Folding the same random events into two states, one
// of them forced through the full pass every time, must give the same
// states, the same changed flags and the same triggers — and the skip must
// actually happen, or the test proves nothing.
func TestHorizonSkipsOnlyWhatTheFullPassWouldNotChange(t *testing.T) {
	small := DefaultConfig()
	small.HalfLife, small.MaxViews, small.MaxCategories, small.Window = 0, 4, 3, 48*time.Hour
	for name, cfg := range map[string]Config{"defaults": DefaultConfig(), "no decay, small bounds": small} {
		t.Run(name, func(t *testing.T) {
			p, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(7, 11))
			t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			skipped := 0
			for run := range 300 {
				fast, full := new(State), new(State)
				at := t0
				for i := range 40 {
					// Mostly forward in time, sometimes days at once.
					at = at.Add(time.Duration(rng.IntN(int(10*time.Hour))) - time.Hour)
					if rng.IntN(10) == 0 {
						at = at.Add(time.Duration(rng.IntN(5)) * 24 * time.Hour)
					}
					evAt := at
					if rng.IntN(4) == 0 { // late, anywhere in the window
						evAt = at.Add(-time.Duration(rng.Int64N(int64(cfg.Window))))
					}
					ev := randomEvent(rng, fmt.Sprintf("e%d-%d", run, i), evAt)
					cutoff := ev.Time.Add(-cfg.Window)
					if fast.Latest.After(ev.Time) {
						cutoff = fast.Latest.Add(-cfg.Window)
					}
					if fast.hasHorizon && cutoff.Before(fast.horizon) {
						skipped++
					}
					full.hasHorizon = false
					var fo, uo journey.Output
					fc, ferr := p.Fold(fast, ev, &fo)
					uc, uerr := p.Fold(full, ev, &uo)
					if fc != uc || (ferr == nil) != (uerr == nil) || !reflect.DeepEqual(fo, uo) {
						t.Fatalf("run %d event %d: changed %v/%v, err %v/%v, output %+v / %+v", run, i, fc, uc, ferr, uerr, fo, uo)
					}
					fb, _ := fast.MarshalBinary()
					ub, _ := full.MarshalBinary()
					if !bytes.Equal(fb, ub) {
						t.Fatalf("run %d event %d: states differ\n  horizon %x\n  full    %x", run, i, fb, ub)
					}
					if rng.IntN(8) == 0 { // a decoded state has no horizon
						if err := fast.UnmarshalBinary(fb); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			if skipped < 1000 {
				t.Fatalf("the pass was skipped %d times: the test does not exercise the horizon", skipped)
			}
		})
	}
}

func randomEvent(rng *rand.Rand, id string, at time.Time) *journey.Event {
	cat := fmt.Sprintf("cat-%d", rng.IntN(5))
	if rng.IntN(6) == 0 {
		return &journey.Event{ID: id, Kind: journey.KindTrack, Name: EventOrderCompleted, CustomerID: "c", Channel: "web", Time: at,
			Properties: map[string]any{"products": []any{map[string]any{"category": cat}}}}
	}
	return &journey.Event{ID: id, Kind: journey.KindTrack, Name: EventProductViewed, CustomerID: "c", Channel: "web", Time: at,
		Properties: map[string]any{"category": cat, "product_id": fmt.Sprintf("p%d", rng.IntN(9))}}
}
