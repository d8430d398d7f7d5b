package policy

import (
	"slices"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/internal/procstate"
)

var _ journey.Merger = (*Processor)(nil)

// Merge implements journey.Merger: the consent, contact history and held
// triggers of both ids are one customer's, so that a merge never lets a
// customer be contacted twice or on a channel refused under either id.
// (The engine merges the policy first: the triggers the other processors'
// merges emit are decided on the merged state.)
//
//   - Time zone: the one set by the newer event (into's on a tie).
//   - Consent, per channel: the newer record wins; on a tie a refusal wins
//     over a grant. A channel recorded under from alone is added, within
//     the bounds of a fold: a refusal under either id is kept (it gives
//     way only to a newer grant of its channel, never to a bound or to
//     the other id's grants of other channels), grants recorded longest
//     ago go first. So a refusal under any linked id applies to the
//     customer.
//   - Cooldowns: per rule, the later of the two last contacts.
//   - Caps: per channel, the later last contact and the union of the
//     recent contact times (the contacts of both ids, duplicates
//     included: two sends at the same time are two sends), the latest
//     cap's Max kept, as a fold keeps them; none for an uncapped channel.
//     Rules and channels beyond their bounds (64, 32) go as after a fold:
//     those contacted longest ago.
//   - Held triggers: the union (an id held under both kept once), in
//     release order; their release timers "held/<trigger id>" are set
//     again under the canonical customer (out.SetTimer), and a held
//     trigger released later is delivered to the canonical customer (see
//     OnTimer). Beyond Config.MaxHeld, the last to be released are
//     suppressed (hold_full) and their timers cancelled.
//   - The suppression log: both, in time order (into's first on a tie),
//     the last Config.MaxLog kept.
func (p *Processor) Merge(into, from journey.State, customerID string, at time.Time, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](into, ErrState)
	if err != nil {
		return false, err
	}
	f, err := procstate.As[State](from, ErrState)
	if err != nil {
		return false, err
	}
	if f.TimeZone == "" && len(f.Consent) == 0 && len(f.Rules) == 0 && len(f.Channels) == 0 && len(f.Held) == 0 && len(f.Log) == 0 {
		return false, nil
	}
	if f.TimeZone != "" && f.TimeZoneAt.After(s.TimeZoneAt) {
		s.TimeZone, s.TimeZoneAt = f.TimeZone, f.TimeZoneAt
	}
	for _, c := range f.Consent {
		s.setConsent(c.Channel, c.Granted, c.At)
	}
	for _, r := range f.Rules {
		s.contacted(r.Rule, "", r.Last, 0) // "" is no channel: only the rule is recorded
	}
	for _, fc := range f.Channels {
		capMax := p.cfg.Caps[fc.Channel].Max
		var own []time.Time
		if c := s.channel(fc.Channel); c != nil {
			own = slices.Clone(c.Recent)
		}
		s.contacted("", fc.Channel, fc.Last, capMax) // the channel, its Last and the bound
		c := s.channel(fc.Channel)
		if c == nil {
			continue
		}
		if capMax <= 0 {
			c.Recent = nil
			continue
		}
		all := append(own, fc.Recent...)
		slices.SortStableFunc(all, func(x, y time.Time) int { return x.Compare(y) })
		if over := len(all) - capMax; over > 0 {
			all = all[over:]
		}
		c.Recent = all
	}
	for _, h := range f.Held {
		if s.held(h.ID) >= 0 {
			continue
		}
		h.Causes = slices.Clone(h.Causes)
		h.Payload = slices.Clone(h.Payload)
		s.hold(h)
		out.SetTimer(heldTimerPrefix+h.ID, h.Until)
	}
	for len(s.Held) > p.cfg.MaxHeld {
		h := s.Held[len(s.Held)-1]
		s.Held = s.Held[:len(s.Held)-1]
		out.CancelTimer(heldTimerPrefix + h.ID)
		p.suppress(s, h.trigger(), at.UTC(), ReasonHoldFull, out)
	}
	if len(f.Log) > 0 {
		log := make([]Suppression, 0, len(s.Log)+len(f.Log))
		log = append(log, s.Log...)
		log = append(log, f.Log...)
		slices.SortStableFunc(log, func(a, b Suppression) int { return a.At.Compare(b.At) })
		if over := len(log) - p.cfg.MaxLog; over > 0 {
			log = log[over:]
		}
		s.Log = log
	}
	return true, nil
}
