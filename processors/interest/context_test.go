package interest

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The interest.top context field is exactly json.Marshal of Top.
func TestContextIsMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	names := []string{"boots", "<coats> & \"hats\"", "caf\u00e9", "bad \xff", ""}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, halfLife := range []time.Duration{0, 72 * time.Hour, 17 * time.Minute} {
		cfg := DefaultConfig()
		cfg.HalfLife = halfLife
		p, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for range 300 {
			s := &State{}
			for i, n := range rng.Perm(len(names))[:rng.IntN(len(names)+1)] {
				c := Category{Name: names[n] + strconv.Itoa(i)}
				for range rng.IntN(4) {
					at := t0.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
					c.Views = append(c.Views, View{At: at, EventID: "e"})
					if at.After(s.Latest) {
						s.Latest = at
					}
				}
				slices.SortFunc(c.Views, func(a, b View) int { return a.At.Compare(b.At) })
				s.Categories = append(s.Categories, c)
			}
			slices.SortFunc(s.Categories, func(a, b Category) int { return strings.Compare(a.Name, b.Name) })
			want, err := json.Marshal(s.Top(maxTop, halfLife))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Context(s)[ContextTop]; got != string(want) {
				t.Fatalf("half-life %s:\n got %s\nwant %s", halfLife, got, want)
			}
		}
	}
}
