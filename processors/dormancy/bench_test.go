package dormancy_test

import (
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/dormancy"
)

// BenchmarkFold is the per-event hot path for an engagement on a warm
// state: decode the stored state, fold the event (which re-arms the
// timer), encode the state; and for an event that is not engagement.
func BenchmarkFold(b *testing.B) {
	p := mustNew(b, dormancy.DefaultConfig())
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	st := p.NewState()
	var out journey.Output
	if _, err := p.Fold(st, &journey.Event{ID: "ajs-next-0000000000000001", Kind: journey.KindPage, Name: "Home", CustomerID: "user-1042", Time: t0}, &out); err != nil {
		b.Fatal(err)
	}
	data, err := st.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		ev   *journey.Event
	}{
		{"engagement", &journey.Event{ID: "ajs-next-ffffffffffffffff", Kind: journey.KindTrack, Name: "Product Viewed", CustomerID: "user-1042", Time: t0.Add(time.Hour)}},
		{"not_engagement", &journey.Event{ID: "ajs-next-fffffffffffffffe", Kind: journey.KindTrack, Name: "Email Delivered", CustomerID: "user-1042", Time: t0.Add(time.Hour)}},
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
