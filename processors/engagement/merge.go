package engagement

import (
	"slices"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/internal/procstate"
)

var _ journey.Merger = (*Processor)(nil)

// Merge implements journey.Merger: the scores add up as if every event of
// both ids had been counted under one, each decayed by its own time: both
// are decayed to the later At, which becomes At, and summed (capped as a
// fold caps). The recent event ids are merged (seen.Window.Merge): an
// event counted under both ids (a redelivery under each) stays counted
// twice, as the state keeps no weights to take one back. The tier starts
// from the higher of the two (a tier_up already sent under either id is
// not sent again) and moves only up, as far as the merged score reaches:
// a merge is not an engagement event, so it never moves a tier down. A
// move up emits the tier trigger at at, with no causes and the id
// journey.TriggerID(rule, customerID, "merge@<at, RFC 3339 with
// nanoseconds>").
func (p *Processor) Merge(into, from journey.State, customerID string, at time.Time, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](into, ErrState)
	if err != nil {
		return false, err
	}
	f, err := procstate.As[State](from, ErrState)
	if err != nil {
		return false, err
	}
	if f.At.IsZero() && len(f.Seen) == 0 && f.Tier == "" {
		return false, nil
	}
	switch {
	case f.At.IsZero():
	case s.At.IsZero():
		s.At, s.Score = f.At, f.Score
	case f.At.After(s.At):
		s.Score = addPoints(decayed(s.Score, f.At.Sub(s.At), p.cfg.HalfLife), f.Score)
		s.At = f.At
	default:
		s.Score = addPoints(s.Score, decayed(f.Score, s.At.Sub(f.At), p.cfg.HalfLife))
	}
	s.Window.Merge(&f.Window)
	start := max(slices.Index(p.cfg.Tiers, s.Tier), slices.Index(p.cfg.Tiers, f.Tier))
	if start < 0 {
		if s.At.IsZero() {
			return true, nil
		}
		s.Tier = p.cfg.Tiers[p.move(0, s.Score)] // tiers the configuration no longer has
		return true, nil
	}
	to := start
	for to < len(p.up) && s.Score >= p.up[to] {
		to++
	}
	s.Tier = p.cfg.Tiers[to]
	if to > start {
		at = at.UTC()
		out.Emit(journey.Trigger{
			ID:         journey.TriggerID(Rule, customerID, "merge@"+at.Format(time.RFC3339Nano)),
			Rule:       Rule,
			CustomerID: customerID,
			Channel:    p.cfg.Target,
			At:         at,
			Reason:     ReasonUp,
			Causes:     []string{},
			Payload: map[string]any{
				"from":  p.cfg.Tiers[start],
				"to":    p.cfg.Tiers[to],
				"score": s.Score.Round1(),
			},
		})
	}
	return true, nil
}
