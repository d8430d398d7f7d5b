package dormancy

import (
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/internal/procstate"
)

var _ journey.Merger = (*Processor)(nil)

// Merge implements journey.Merger: the engagement clock of both ids is
// one. The last engagement is the later of the two (with its event id;
// into's on a tie). The win-back stays fired (at the later of the two
// fire times) only when no engagement of either id is at or after it: a
// customer who got it under either id does not get it again for the same
// dormancy. Otherwise, a customer who engaged has the timer "dormant"
// (re-)armed (out.SetTimer) at the earlier of the two ids' deadlines, as
// a fold of every engagement under one id would have left it (an
// engagement does not move an armed timer; one that fires early is moved
// to the last engagement + Config.After), or at the last engagement +
// Config.After when neither had one; a time already passed fires at the
// next watermark move. A fired customer has the timer cancelled.
func (p *Processor) Merge(into, from journey.State, customerID string, at time.Time, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](into, ErrState)
	if err != nil {
		return false, err
	}
	f, err := procstate.As[State](from, ErrState)
	if err != nil {
		return false, err
	}
	if f.LastEngaged.IsZero() && f.Fired.IsZero() {
		return false, nil
	}
	if f.LastEngaged.After(s.LastEngaged) {
		s.LastEngaged, s.EventID = f.LastEngaged, f.EventID
	}
	if f.Fired.After(s.Fired) {
		s.Fired = f.Fired
	}
	deadline := s.Deadline
	if deadline.IsZero() || !f.Deadline.IsZero() && f.Deadline.Before(deadline) {
		deadline = f.Deadline
	}
	switch {
	case !s.Fired.IsZero() && s.LastEngaged.Before(s.Fired):
		s.Deadline = time.Time{}
		out.CancelTimer(TimerKey)
	case s.LastEngaged.IsZero():
		s.Fired, s.Deadline = time.Time{}, time.Time{}
	default:
		s.Fired = time.Time{}
		s.Deadline = deadline
		if s.Deadline.IsZero() {
			s.Deadline = s.LastEngaged.Add(p.cfg.After)
		}
		out.SetTimer(TimerKey, s.Deadline)
	}
	return true, nil
}
