package cart

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// cart.open is exactly json.Marshal of Open, as it was first written.
func TestContextIsMarshal(t *testing.T) {
	p, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	ids := []string{"cart-1", "cart-<2>", "", "caf\u00e9"}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for range 500 {
		s := &State{}
		for range rng.IntN(4) {
			c := Cart{ID: ids[rng.IntN(len(ids))], Updated: t0.Add(time.Duration(rng.Int64N(int64(time.Hour))))}
			if rng.IntN(2) == 0 {
				c.Currency = "EUR"
			}
			if rng.IntN(3) == 0 {
				c.Abandoned = c.Updated.Add(time.Minute)
			}
			for range rng.IntN(4) {
				c.Items = append(c.Items, Item{ProductID: ids[rng.IntN(len(ids))] + "-p", Quantity: uint32(1 + rng.IntN(3)),
					Price: float64(rng.IntN(10000)) / 100, Added: c.Updated})
			}
			s.Carts = append(s.Carts, c)
		}
		want, err := json.Marshal(s.Open())
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Context(s)[ContextOpen]; got != string(want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	}
}
