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
// fold caps). What reversals under either id could not take back from
// that id's score (Owed: a refund under one id of a purchase counted under
// the other) is decayed the same way and taken from the sum, as far as it
// goes, as a fold of the reversal under one id would have taken it; the
// rest stays owed. (A fold stops the score at 0 when the reversal comes:
// points the other id earned only after it are not owed under one id, but
// the merge cannot tell them apart and takes from them too.) The recent
// event ids are merged (seen.Window.Merge): an event counted under both
// ids (a redelivery under each) stays counted twice, as the state keeps no
// weights to take one back.
//
// The tier starts from the higher of the two (a tier_up already sent
// under either id is not sent again). When nothing owed was taken, it
// moves only up, as far as the merged score reaches: a merge that only
// adds points never warrants a move down. When owed points were taken
// (a reversal under one id of the other's purchase), it moves as a fold
// moves it, down too (with the hysteresis), as the reversal under one id
// would have. A move emits the tier trigger (tier_up or tier_down) at at,
// with no causes and the id journey.TriggerID(rule, customerID,
// "merge@<at, RFC 3339 with nanoseconds>").
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
	h := p.cfg.HalfLife
	switch {
	case f.At.IsZero():
	case s.At.IsZero():
		s.At, s.Score, s.Owed = f.At, f.Score, f.Owed
	case f.At.After(s.At):
		d := f.At.Sub(s.At)
		s.Score = addPoints(decayed(s.Score, d, h), f.Score)
		s.Owed = addPoints(decayed(s.Owed, d, h), f.Owed)
		s.At = f.At
	default:
		d := s.At.Sub(f.At)
		s.Score = addPoints(s.Score, decayed(f.Score, d, h))
		s.Owed = addPoints(s.Owed, decayed(f.Owed, d, h))
	}
	settled := min(s.Score, s.Owed)
	s.settle()
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
	if settled > 0 {
		to = p.move(start, s.Score) // a reversal took points back: down too
	} else {
		for to < len(p.up) && s.Score >= p.up[to] {
			to++
		}
	}
	s.Tier = p.cfg.Tiers[to]
	if to != start {
		reason := ReasonUp
		if to < start {
			reason = ReasonDown
		}
		at = at.UTC()
		out.Emit(journey.Trigger{
			ID:         journey.TriggerID(p.rule, customerID, "merge@"+at.Format(time.RFC3339Nano)),
			Rule:       p.rule,
			CustomerID: customerID,
			Channel:    p.cfg.Target,
			At:         at,
			Reason:     reason,
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
