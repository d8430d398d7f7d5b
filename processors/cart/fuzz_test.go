package cart_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/cart"
)

// FuzzUnmarshalBinary checks that decoding arbitrary bytes never panics,
// and that a state it accepts encodes canonically and can be folded into,
// fired and asked for its context. The seed corpus is in
// testdata/fuzz/FuzzUnmarshalBinary.
func FuzzUnmarshalBinary(f *testing.F) {
	p, err := cart.New(cart.DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	events := []*journey.Event{
		{ID: "fa", Kind: journey.KindTrack, Name: cart.EventProductAdded, CustomerID: "c1", Time: at,
			Properties: map[string]any{"cart_id": "k1", "product_id": "p1", "price": 9.5, "quantity": 2.0}},
		{ID: "fr", Kind: journey.KindTrack, Name: cart.EventProductRemoved, CustomerID: "c1", Time: at.Add(time.Minute),
			Properties: map[string]any{"cart_id": "k1", "product_id": "p1", "quantity": 1.0}},
		{ID: "fo", Kind: journey.KindTrack, Name: cart.EventOrderCompleted, CustomerID: "c1", Time: at.Add(2 * time.Minute),
			Properties: map[string]any{"order_id": "o1"}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var st cart.State
		if err := st.UnmarshalBinary(data); err != nil {
			return
		}
		enc, err := st.MarshalBinary()
		if err != nil {
			t.Fatalf("a decoded state does not encode: %v", err)
		}
		var again cart.State
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("the encoding of a decoded state does not decode: %v", err)
		}
		if enc2, _ := again.MarshalBinary(); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%x\n%x", enc, enc2)
		}
		p.Context(&st)
		var out journey.Output
		for _, c := range st.Carts {
			if _, err := p.OnTimer(&st, "c1", cart.TimerKey(c.ID), at, &out); err != nil {
				t.Fatalf("OnTimer on a decoded state: %v", err)
			}
		}
		for _, e := range events {
			if _, err := p.Fold(&st, e, &out); err != nil {
				t.Fatalf("Fold on a decoded state: %v", err)
			}
			if _, err := st.MarshalBinary(); err != nil {
				t.Fatalf("a folded decoded state does not encode: %v", err)
			}
		}
	})
}
