package cart_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/cart"
)

// The states benchmarked: a typical customer with one cart, and one at
// the default bounds (5 carts of 50 products, 20 add ids each).
var warmStates = []struct {
	name         string
	carts, items int
}{
	{"typical/1x3", 1, 3},
	{"full/5x50", 5, 50},
}

// warmState returns the encoding of a state of carts carts holding items
// products each, and a Product Added to the last cart, newer than all.
func warmState(b *testing.B, p *cart.Processor, carts, items int) ([]byte, *journey.Event) {
	st := p.NewState()
	var out journey.Output
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	for c := range carts {
		for i := range items {
			ev := &journey.Event{
				ID: fmt.Sprintf("ajs-next-%016x", n), Kind: journey.KindTrack, Name: cart.EventProductAdded,
				CustomerID: "user-1042", Channel: "web", Time: t0.Add(time.Duration(n) * time.Minute),
				Properties: map[string]any{"cart_id": fmt.Sprintf("cart-%04d", c), "product_id": fmt.Sprintf("sku-%d", i), "price": 19.99, "quantity": 1.0, "currency": "EUR"},
			}
			if _, err := p.Fold(st, ev, &out); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	data, err := st.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	ev := &journey.Event{
		ID: "ajs-next-ffffffffffffffff", Kind: journey.KindTrack, Name: cart.EventProductAdded,
		CustomerID: "user-1042", Channel: "app", Time: t0.Add(48 * time.Hour),
		Properties: map[string]any{"cart_id": fmt.Sprintf("cart-%04d", carts-1), "product_id": "sku-1", "price": 19.99, "quantity": 1.0},
	}
	return data, ev
}

// BenchmarkFold is the per-event hot path for a Product Added on a warm
// state: decode the stored state, fold the event (which re-arms the
// cart's timer), encode the state.
func BenchmarkFold(b *testing.B) {
	p := mustNew(b, cart.DefaultConfig())
	for _, w := range warmStates {
		b.Run(w.name, func(b *testing.B) {
			data, ev := warmState(b, p, w.carts, w.items)
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

// BenchmarkOnTimer is a cart's abandonment: decode, fire, encode.
func BenchmarkOnTimer(b *testing.B) {
	p := mustNew(b, cart.DefaultConfig())
	data, _ := warmState(b, p, 1, 3)
	at := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	var out journey.Output
	b.ReportAllocs()
	for b.Loop() {
		st := p.NewState()
		if err := st.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
		out.Reset()
		if _, err := p.OnTimer(st, "user-1042", cart.TimerKey("cart-0000"), at, &out); err != nil {
			b.Fatal(err)
		}
		if _, err := st.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}
