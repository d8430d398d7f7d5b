package engagement_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/engagement"
)

// BenchmarkFold is the per-event hot path for an engagement event on a
// warm state (the 32 recent ids kept): decode the stored state, fold the
// event, encode the state.
func BenchmarkFold(b *testing.B) {
	p := mustNew(b, engagement.DefaultConfig())
	st := p.NewState()
	var out journey.Output
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	names := []string{"Product Viewed", "Product Liked", "Email Link Clicked", "Order Completed"}
	for i := range 100 {
		ev := &journey.Event{
			ID: fmt.Sprintf("ajs-next-%016x", i), Kind: journey.KindTrack, Name: names[i%len(names)],
			CustomerID: "user-1042", Channel: "web", Time: t0.Add(time.Duration(i) * 37 * time.Minute),
		}
		if _, err := p.Fold(st, ev, &out); err != nil {
			b.Fatal(err)
		}
	}
	data, err := st.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	ev := &journey.Event{
		ID: "ajs-next-ffffffffffffffff", Kind: journey.KindTrack, Name: "Product Viewed",
		CustomerID: "user-1042", Channel: "app", Time: t0.Add(100 * time.Hour),
	}
	b.ReportAllocs()
	for b.Loop() {
		st := p.NewState()
		if err := st.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
		out.Reset()
		if _, err := p.Fold(st, ev, &out); err != nil {
			b.Fatal(err)
		}
		if _, err := st.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data)), "state-bytes")
}
