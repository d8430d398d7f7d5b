package chanpref

import (
	"slices"
	"strings"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/internal/procstate"
)

var _ journey.Merger = (*Processor)(nil)

// Merge implements journey.Merger: the responses of both ids count as if
// folded under one, each decayed by its own time: every score of both is
// decayed to the later At, which becomes At, and the channel and hour
// scores are summed (a channel's Last is the later of the two); channels
// that decayed to 0, then the weakest beyond the bound, are dropped as
// after a fold. The time zone is the one set by the newer event (into's
// on a tie). The recent response ids are merged (seen.Window.Merge): a
// response counted under both ids stays counted twice. It emits nothing.
func (p *Processor) Merge(into, from journey.State, customerID string, at time.Time, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](into, ErrState)
	if err != nil {
		return false, err
	}
	f, err := procstate.As[State](from, ErrState)
	if err != nil {
		return false, err
	}
	changed := false
	if f.TimeZone != "" && f.ZoneAt.After(s.ZoneAt) {
		s.TimeZone, s.ZoneAt = f.TimeZone, f.ZoneAt
		changed = true
	}
	if s.Window.Merge(&f.Window) {
		changed = true
	}
	if f.At.IsZero() {
		return changed, nil
	}
	fs, ff := 1.0, 1.0 // the decay of s's and f's scores to the merged At
	switch {
	case s.At.IsZero():
		s.At = f.At
	case f.At.After(s.At):
		fs = factor(f.At.Sub(s.At), p.cfg.HalfLife)
		s.At = f.At
	default:
		ff = factor(s.At.Sub(f.At), p.cfg.HalfLife)
	}
	for i := range s.Channels {
		s.Channels[i].Score = scale(s.Channels[i].Score, fs)
	}
	for _, fc := range f.Channels {
		i, ok := slices.BinarySearchFunc(s.Channels, fc.Name, func(c Channel, name string) int { return strings.Compare(c.Name, name) })
		if !ok {
			s.Channels = slices.Insert(s.Channels, i, Channel{Name: fc.Name})
		}
		c := &s.Channels[i]
		c.Score = addPoints(c.Score, scale(fc.Score, ff))
		if fc.Last.After(c.Last) {
			c.Last = fc.Last
		}
	}
	for h := range s.Hours {
		s.Hours[h] = addPoints(scale(s.Hours[h], fs), scale(f.Hours[h], ff))
	}
	s.prune()
	return true, nil
}
