package recovery_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/recovery"
)

// BenchmarkFold is the per-event hot path on a warm state (10 signals
// kept, 2 failed contacts pending): decode the stored state, fold the
// event, encode the state. "signal" folds a complaint (within the
// debounce); "other" an event recovery ignores, the common case.
func BenchmarkFold(b *testing.B) {
	p := mustNew(b, recovery.DefaultConfig())
	st := p.NewState()
	var out journey.Output
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 12 {
		ev := &journey.Event{
			ID: fmt.Sprintf("ajs-next-%016x", i), Kind: journey.KindTrack, Name: recovery.EventProductReviewed,
			CustomerID: "user-1042", Channel: "web", Time: t0.Add(time.Duration(i) * 11 * time.Hour),
			Properties: map[string]any{"product_id": fmt.Sprintf("sku-%d", i), "rating": 2.0},
		}
		if _, err := p.Fold(st, ev, &out); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 2 {
		ev := &journey.Event{
			ID: fmt.Sprintf("cc-9f1e-%04d", i), Kind: journey.KindTrack, Name: recovery.EventContactEnded,
			CustomerID: "user-1042", Channel: "call_centre", Time: t0.Add(130*time.Hour + time.Duration(i)*time.Hour),
			Properties: map[string]any{"contact_id": fmt.Sprintf("call-20261106-%04d", i), "outcome": "failed"},
		}
		if _, err := p.Fold(st, ev, &out); err != nil {
			b.Fatal(err)
		}
	}
	data, err := st.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		ev   *journey.Event
	}{
		{"signal", &journey.Event{
			ID: "ajs-next-ffffffffffffffff", Kind: journey.KindTrack, Name: recovery.EventComplaintSubmitted,
			CustomerID: "user-1042", Channel: "web", Time: t0.Add(133 * time.Hour), Properties: map[string]any{"complaint_id": "cmp-1"},
		}},
		{"other", &journey.Event{
			ID: "ajs-next-eeeeeeeeeeeeeeee", Kind: journey.KindTrack, Name: "Product Viewed",
			CustomerID: "user-1042", Channel: "web", Time: t0.Add(133 * time.Hour), Properties: map[string]any{"product_id": "sku-1"},
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				st := p.NewState()
				if err := st.UnmarshalBinary(data); err != nil {
					b.Fatal(err)
				}
				out.Reset()
				if _, err := p.Fold(st, bc.ev, &out); err != nil {
					b.Fatal(err)
				}
				if _, err := st.MarshalBinary(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(data)), "state-bytes")
		})
	}
}
