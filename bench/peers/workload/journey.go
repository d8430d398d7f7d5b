package workload

import (
	"github.com/journey-dev/journey/processors/interest"
	"github.com/journey-dev/journey/processors/profile"
)

// JourneySnapshot reads the fold's quantities out of journey's profile and
// interest states of a customer (either may be nil: not stored). A category
// journey keeps with no views and no purchase is left out, as it is absent
// from the other implementations.
func JourneySnapshot(customer string, p *profile.State, in *interest.State) Snapshot {
	out := Snapshot{Customer: customer, Events: map[string]int64{}, Categories: map[string]CategorySnapshot{}}
	if p == nil && in == nil {
		out.Missing = true
		return out
	}
	if p != nil {
		for name, n := range p.Events {
			out.Events[name] = int64(n)
		}
	}
	if in != nil {
		for _, c := range in.Categories {
			if len(c.Views) == 0 && c.Purchased.IsZero() {
				continue
			}
			out.Categories[c.Name] = CategorySnapshot{Views: len(c.Views), Purchased: !c.Purchased.IsZero(), Fired: c.Fired}
		}
	}
	return out
}
