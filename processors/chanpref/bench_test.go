package chanpref_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/chanpref"
)

// BenchmarkFold is the per-event hot path for a response on a warm state
// (three channels, the 32 recent ids kept, a time zone): decode the stored
// state, fold the event, encode the state.
func BenchmarkFold(b *testing.B) {
	p := mustNew(b, chanpref.DefaultConfig())
	st := p.NewState()
	var out journey.Output
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	names := []string{"Email Opened", "Push Notification Tapped", "Email Link Clicked", "Call Answered"}
	for i := range 100 {
		ev := &journey.Event{
			ID: fmt.Sprintf("ajs-next-%016x", i), Kind: journey.KindTrack, Name: names[i%len(names)],
			CustomerID: "user-1042", Time: t0.Add(time.Duration(i) * 97 * time.Minute), TimeZone: "Europe/Paris",
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
		ID: "ajs-next-ffffffffffffffff", Kind: journey.KindTrack, Name: "Email Opened",
		CustomerID: "user-1042", Time: t0.Add(200 * time.Hour), TimeZone: "Europe/Paris",
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
