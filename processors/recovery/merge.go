package recovery

import (
	"slices"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/internal/procstate"
)

var _ journey.Merger = (*Processor)(nil)

// Merge implements journey.Merger: the signals and pending failed
// contacts of both ids are one customer's.
//
//   - Latest, Triggered and Floor are the later of the two. Signals are
//     the union (a signal whose first event id is in both is kept once,
//     reported if either had reported it: a trigger already sent is not
//     sent again), in time order; pending contacts the union (an event id
//     or contact id already in the state is not added again). Then the
//     history, the contact window and Config.MaxSignals apply as after a
//     fold (the signals forgotten raising Floor).
//   - Pending contacts of both that now make Config.FailedContacts within
//     Config.FailedContactsWindow become a failed_contacts signal, as a
//     fold of the last of them would have made.
//   - When a signal is left unreported and the newest such is at least
//     Config.Debounce after Triggered (or nothing triggered yet), one
//     trigger reports every unreported signal at at, with the id a fold
//     of that signal's last event would have given
//     (journey.TriggerID(rule, customerID, event id)); Triggered becomes
//     that signal's time. A signal left unreported under its own id
//     because of the debounce stays unreported: the merged Triggered is
//     at least as late.
func (p *Processor) Merge(into, from journey.State, customerID string, at time.Time, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](into, ErrState)
	if err != nil {
		return false, err
	}
	f, err := procstate.As[State](from, ErrState)
	if err != nil {
		return false, err
	}
	if len(f.Signals) == 0 && len(f.Contacts) == 0 && f.Latest.IsZero() && f.Triggered.IsZero() && f.Floor.IsZero() {
		return false, nil
	}
	if f.Triggered.After(s.Triggered) {
		s.Triggered = f.Triggered
	}
	if f.Floor.After(s.Floor) {
		s.Floor = f.Floor
	}
	for _, x := range f.Signals {
		if i := slices.IndexFunc(s.Signals, func(y Signal) bool { return y.EventIDs[0] == x.EventIDs[0] }); i >= 0 {
			s.Signals[i].Reported = s.Signals[i].Reported || x.Reported
			continue
		}
		x.EventIDs, x.Refs = slices.Clone(x.EventIDs), slices.Clone(x.Refs)
		s.Signals = append(s.Signals, x)
	}
	slices.SortFunc(s.Signals, func(a, b Signal) int { return compareSignals(&a, &b) })
	for _, c := range f.Contacts {
		if s.hasEvent(c.EventID) || s.hasContact(c.ContactID) {
			continue
		}
		s.Contacts = append(s.Contacts, c)
	}
	slices.SortFunc(s.Contacts, func(a, b Contact) int { return compareContacts(&a, &b) })
	latest := s.Latest
	if f.Latest.After(latest) {
		latest = f.Latest
	}
	s.normalise(latest, &p.cfg)
	s.Signals = slices.DeleteFunc(s.Signals, func(x Signal) bool { return !s.Floor.IsZero() && !x.At.After(s.Floor) })
	s.Contacts = slices.DeleteFunc(s.Contacts, func(c Contact) bool { return !s.Floor.IsZero() && !c.At.After(s.Floor) })
	var last string // the last event id of the newest unreported signal
	n := p.cfg.FailedContacts
	if slices.Contains(p.cfg.Signals, ReasonFailedContacts) && n > 0 {
		for i := 0; i+n <= len(s.Contacts); {
			set := s.Contacts[i : i+n]
			if set[n-1].At.Sub(set[0].At) >= p.cfg.FailedContactsWindow {
				i++
				continue
			}
			sig := Signal{At: set[n-1].At, Reason: ReasonFailedContacts, EventIDs: make([]string, n), Refs: make([]string, n)}
			for j := range set {
				sig.EventIDs[j], sig.Refs[j] = set[j].EventID, set[j].ContactID
			}
			s.Contacts = slices.Delete(s.Contacts, i, i+n)
			s.addSignal(sig, len(s.Signals)+1)
		}
	}
	for len(s.Signals) > p.cfg.MaxSignals {
		if old := s.Signals[0].At; old.After(s.Floor) {
			s.Floor = old
		}
		s.Signals = slices.Delete(s.Signals, 0, 1)
	}
	var newest *Signal
	for i := range s.Signals {
		if x := &s.Signals[i]; !x.Reported {
			newest = x
		}
	}
	if newest != nil && (p.cfg.Debounce == 0 || s.Triggered.IsZero() || newest.At.Sub(s.Triggered) >= p.cfg.Debounce) {
		last = newest.EventIDs[len(newest.EventIDs)-1]
		t := newest.At
		out.Emit(p.trigger(s, &journey.Event{ID: last, CustomerID: customerID}, at.UTC()))
		if t.After(s.Triggered) {
			s.Triggered = t
		}
	}
	return true, nil
}
