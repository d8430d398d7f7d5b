package recovery

import (
	"slices"
	"strings"
	"time"
)

// State is one customer's negative signals: those kept for History (the
// ones not yet reported by a trigger among them), the failed contacts not
// yet making a signal, and the time of the last trigger.
type State struct {
	// Latest is the newest time of a signal or failed contact folded.
	Latest time.Time `json:"latest,omitzero"`
	// Triggered is the time of the last trigger; zero when none.
	Triggered time.Time `json:"triggered,omitzero"`
	// Signals are in time order (then by first event id), at most
	// Config.MaxSignals, none older than Config.History before Latest.
	Signals []Signal `json:"signals,omitempty"`
	// Contacts are the failed or abandoned contacts within
	// Config.FailedContactsWindow before Latest that have not made a
	// signal yet, in time order (then by event id).
	Contacts []Contact `json:"contacts,omitempty"`
	// Floor is the time of the newest signal forgotten because of
	// Config.MaxSignals: events at or before it are ignored, as they could
	// be redeliveries of its events.
	Floor time.Time `json:"floor,omitzero"`
}

// Signal is one negative signal.
type Signal struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	// EventIDs are the events that made the signal: one, or the contacts
	// of a failed_contacts signal.
	EventIDs []string `json:"event_ids"`
	// Refs are the ids the events named, one per event ("" when none):
	// the product_id of a review, the complaint_id of a complaint, the
	// survey_id of a survey, the campaign_id of a spam report, the
	// contact_id of a contact.
	Refs []string `json:"refs"`
	// Score is the rating of a low_rating signal or the score of a
	// low_survey_score one; Scale the survey's scale.
	Score float64 `json:"score,omitempty"`
	Scale float64 `json:"scale,omitempty"`
	// Reported is set once a trigger reported the signal.
	Reported bool `json:"reported,omitempty"`
}

// Contact is a failed or abandoned contact.
type Contact struct {
	At        time.Time `json:"at"`
	EventID   string    `json:"event_id"`
	ContactID string    `json:"contact_id,omitempty"`
}

func compareSignals(a, b *Signal) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	return strings.Compare(a.EventIDs[0], b.EventIDs[0])
}

func compareContacts(a, b *Contact) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	return strings.Compare(a.EventID, b.EventID)
}

// hasEvent reports whether the event id is one of the state's.
func (s *State) hasEvent(id string) bool {
	for i := range s.Signals {
		if slices.Contains(s.Signals[i].EventIDs, id) {
			return true
		}
	}
	return slices.ContainsFunc(s.Contacts, func(c Contact) bool { return c.EventID == id })
}

// hasContact reports whether the contact id is one of the state's, pending
// or in a failed_contacts signal.
func (s *State) hasContact(id string) bool {
	if id == "" {
		return false
	}
	for i := range s.Signals {
		if s.Signals[i].Reason == ReasonFailedContacts && slices.Contains(s.Signals[i].Refs, id) {
			return true
		}
	}
	return slices.ContainsFunc(s.Contacts, func(c Contact) bool { return c.ContactID == id })
}

// normalise moves Latest to t when t is newer, then drops the signals
// older than History and the contacts older than the window. It reports
// whether the state changed.
func (s *State) normalise(t time.Time, cfg *Config) bool {
	changed := false
	if t.After(s.Latest) {
		s.Latest, changed = t, true
	}
	cutoff := s.Latest.Add(-cfg.History)
	if n := len(s.Signals); n > 0 {
		s.Signals = slices.DeleteFunc(s.Signals, func(x Signal) bool { return !x.At.After(cutoff) })
		changed = changed || len(s.Signals) != n
	}
	cutoff = s.Latest.Add(-cfg.FailedContactsWindow)
	if n := len(s.Contacts); n > 0 {
		s.Contacts = slices.DeleteFunc(s.Contacts, func(c Contact) bool { return !c.At.After(cutoff) })
		changed = changed || len(s.Contacts) != n
	}
	return changed
}

// addSignal inserts x in order, forgetting the oldest signal beyond max.
// It reports whether x is still kept.
func (s *State) addSignal(x Signal, max int) bool {
	i, _ := slices.BinarySearchFunc(s.Signals, &x, func(a Signal, b *Signal) int { return compareSignals(&a, b) })
	s.Signals = slices.Insert(s.Signals, i, x)
	kept := true
	for len(s.Signals) > max {
		if old := s.Signals[0].At; old.After(s.Floor) {
			s.Floor = old
		}
		kept = kept && i > 0
		i--
		s.Signals = slices.Delete(s.Signals, 0, 1)
	}
	return kept
}

// addContact inserts c in order and returns the index of the first of n
// contacts spanning less than window that include it, or -1.
func (s *State) addContact(c Contact, n int, window time.Duration) int {
	k, _ := slices.BinarySearchFunc(s.Contacts, &c, func(a Contact, b *Contact) int { return compareContacts(&a, b) })
	s.Contacts = slices.Insert(s.Contacts, k, c)
	for i := max(0, k-n+1); i <= k && i+n <= len(s.Contacts); i++ {
		if s.Contacts[i+n-1].At.Sub(s.Contacts[i].At) < window {
			return i
		}
	}
	return -1
}
