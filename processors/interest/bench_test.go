package interest_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/interest"
)

// warm describes a warm state: views spread over categories, ten minutes
// apart, with realistic ids.
type warm struct {
	name              string
	categories, views int
}

// The states benchmarked: a typical customer, and one at the default
// bounds' worst case for 10 categories (every category at max_views).
var warmStates = []warm{
	{"typical/3x5", 3, 15},
	{"full/10x20", 10, 200},
}

// warmState returns the encoding of w and a Product Viewed event newer
// than all of its views, in one of its categories.
func warmState(b *testing.B, p *interest.Processor, w warm) ([]byte, *journey.Event) {
	st := p.NewState()
	var out journey.Output
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range w.views {
		ev := &journey.Event{
			ID: fmt.Sprintf("ajs-next-%016x", i), Kind: journey.KindTrack, Name: interest.EventProductViewed,
			CustomerID: "user-1042", Channel: "web", Time: t0.Add(time.Duration(i) * 10 * time.Minute),
			Properties: map[string]any{"product_id": fmt.Sprintf("sku-%d", i%37), "category": fmt.Sprintf("Footwear/Category %d", i%w.categories)},
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
		ID: "ajs-next-ffffffffffffffff", Kind: journey.KindTrack, Name: interest.EventProductViewed,
		CustomerID: "user-1042", Channel: "app", Time: t0.Add(48 * time.Hour),
		Properties: map[string]any{"product_id": "sku-231", "category": "Footwear/Category 1"},
	}
	return data, ev
}

// BenchmarkFold is the per-event hot path for a Product Viewed on a warm
// state: decode the stored state, fold the event, encode the state; with
// the default decay, and without (half_life 0).
func BenchmarkFold(b *testing.B) {
	nodecay := interest.DefaultConfig()
	nodecay.HalfLife = 0
	for _, cfg := range []interest.Config{interest.DefaultConfig(), nodecay} {
		b.Run("half_life="+cfg.HalfLife.String(), func(b *testing.B) { benchFold(b, cfg) })
	}
}

func benchFold(b *testing.B, cfg interest.Config) {
	p := mustNew(b, cfg)
	for _, w := range warmStates {
		b.Run(w.name, func(b *testing.B) {
			data, ev := warmState(b, p, w)
			var out journey.Output
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
		})
	}
}

// BenchmarkFoldJSON is BenchmarkFold with the state encoded as JSON: the
// alternative the binary encoding was chosen over.
func BenchmarkFoldJSON(b *testing.B) {
	p := mustNew(b, interest.DefaultConfig())
	for _, w := range warmStates {
		b.Run(w.name, func(b *testing.B) {
			data, ev := warmState(b, p, w)
			var st0 interest.State
			if err := st0.UnmarshalBinary(data); err != nil {
				b.Fatal(err)
			}
			js, err := json.Marshal(&st0)
			if err != nil {
				b.Fatal(err)
			}
			var out journey.Output
			b.ReportAllocs()
			for b.Loop() {
				st := new(interest.State)
				if err := json.Unmarshal(js, st); err != nil {
					b.Fatal(err)
				}
				out.Reset()
				if _, err := p.Fold(st, ev, &out); err != nil {
					b.Fatal(err)
				}
				if _, err := json.Marshal(st); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(js)), "state-bytes")
		})
	}
}
