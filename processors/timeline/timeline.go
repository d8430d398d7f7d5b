// Package timeline is the "timeline" processor: per customer, an ordered,
// bounded history of what the customer did on every channel, interleaved
// with what journey did about it. It is the read side's record: the API
// (pkg/api) shows it; no rule reads it and it emits no triggers.
//
// # Entries
//
// Every event folded is one entry of kind "event": its event time,
// channel, name (the track event's name, the page's or screen's name, the
// CloudEvents type; the kind for a call without a name) and id, and the ids that matter when the event carries
// them as properties — product_id, category, cart_id, order_id,
// contact_id (strings or numbers), rating and score (numbers). Never
// traits, never free text, never any other property: a timeline holds no
// personal data beyond the ids journey keys on.
//
// Every decision of the contact policy on a trigger is one entry, at the
// event time of the fold, timer or merge that made it (see
// journey.TriggerObserver): "fired" (admitted), "held" (quiet hours),
// "released" (admitted when its hold ended: an admitted trigger whose id
// the timeline holds as held), "suppressed", each with the trigger's rule,
// channel, id, reason (the suppression's reason for a suppressed one) and
// causes (the causing event ids, at most 20).
//
// Strings longer than 256 bytes are dropped (the field is left empty);
// numbers that are not finite are dropped.
//
// # Order and bounds
//
// Entries are ordered by time; entries of equal time keep the order they
// were recorded in (an event before the decisions it caused). A late
// event is inserted at its place. After each change the entries older
// than the newest one by more than Config.MaxAge are dropped, then the
// oldest until at most Config.MaxEvents are left: the bounds are a
// function of the entries alone, so a replay gives the same timeline.
//
// # Merge
//
// After an identity merge the two timelines are one: both merged by time
// (into's first on equal times), then bounded.
//
// # Context
//
// None: the timeline is read through the API and `journey state get`.
package timeline

import (
	"errors"
	"math"
	"slices"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/internal/procstate"
)

// Name is the processor's name, persisted with its state.
const Name = "timeline"

// StateVersion is persisted with the state; bump it when the encoding
// changes incompatibly.
const StateVersion = 1

// Bounds of an entry's fields.
const (
	maxStrLen = 256
	maxCauses = 20
)

// ErrState is returned when the processor is given a state it did not
// create.
var ErrState = errors.New("timeline: not a timeline state")

// Processor is the timeline processor. It is safe for concurrent use: it
// holds only its configuration.
type Processor struct {
	cfg Config
}

var (
	_ journey.Processor       = (*Processor)(nil)
	_ journey.TriggerObserver = (*Processor)(nil)
	_ journey.Merger          = (*Processor)(nil)
)

// New returns a processor for cfg, or the error of cfg.Validate.
func New(cfg Config) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Processor{cfg: cfg}, nil
}

// Disabled reports whether timeline.enabled is off: the registry then
// leaves the processor out.
func (p *Processor) Disabled() bool { return !p.cfg.Enabled }

// Config returns the processor's configuration.
func (p *Processor) Config() Config { return p.cfg }

// Name implements journey.Processor.
func (p *Processor) Name() string { return Name }

// StateVersion implements journey.Processor.
func (p *Processor) StateVersion() uint32 { return StateVersion }

// NewState implements journey.Processor: an empty timeline.
func (p *Processor) NewState() journey.State { return new(State) }

// Fold implements journey.Processor: ev becomes an entry.
func (p *Processor) Fold(st journey.State, ev *journey.Event, _ *journey.Output) (bool, error) {
	s, err := procstate.As[State](st, ErrState)
	if err != nil {
		return false, err
	}
	if !validTime(ev.Time) {
		return false, nil
	}
	name := ev.Name
	if name == "" {
		name = string(ev.Kind) // an identify, alias or group call
	}
	e := Entry{
		At: ev.Time.UTC(), Kind: KindEvent, Channel: short(ev.Channel), Name: short(name), ID: short(ev.ID),
		ProductID: p.idProp(ev, "product_id"), Category: p.idProp(ev, "category"), CartID: p.idProp(ev, "cart_id"),
		OrderID: p.idProp(ev, "order_id"), ContactID: p.idProp(ev, "contact_id"),
		Rating: numProp(ev, "rating"), Score: numProp(ev, "score"),
	}
	s.insert(e)
	s.bound(p.cfg)
	return true, nil
}

// ObserveTriggers implements journey.TriggerObserver: each decision is an
// entry at now.
func (p *Processor) ObserveTriggers(st journey.State, d journey.Decisions, now time.Time) (bool, error) {
	s, err := procstate.As[State](st, ErrState)
	if err != nil {
		return false, err
	}
	if !validTime(now) || d.Empty() {
		return false, nil
	}
	now = now.UTC()
	for _, t := range d.Admitted {
		kind := KindFired
		if s.held(t.ID) {
			kind = KindReleased
		}
		s.insert(decision(kind, t, t.Reason, now))
	}
	for _, t := range d.Held {
		s.insert(decision(KindHeld, t, t.Reason, now))
	}
	for _, sp := range d.Suppressed {
		s.insert(decision(KindSuppressed, sp.Trigger, sp.Reason, now))
	}
	s.bound(p.cfg)
	return true, nil
}

// Merge implements journey.Merger: one timeline, by time.
func (p *Processor) Merge(into, from journey.State, _ string, _ time.Time, _ *journey.Output) (bool, error) {
	s, err := procstate.As[State](into, ErrState)
	if err != nil {
		return false, err
	}
	f, err := procstate.As[State](from, ErrState)
	if err != nil {
		return false, err
	}
	if len(f.Entries) == 0 {
		return false, nil
	}
	merged := make([]Entry, 0, len(s.Entries)+len(f.Entries))
	i, j := 0, 0
	for i < len(s.Entries) || j < len(f.Entries) {
		if j == len(f.Entries) || i < len(s.Entries) && !f.Entries[j].At.Before(s.Entries[i].At) {
			merged = append(merged, s.Entries[i])
			i++
		} else {
			merged = append(merged, f.Entries[j])
			j++
		}
	}
	s.Entries = merged
	s.bound(p.cfg)
	return true, nil
}

func decision(kind Kind, t journey.Trigger, reason string, now time.Time) Entry {
	e := Entry{At: now, Kind: kind, Channel: short(t.Channel), Name: short(t.Rule), ID: short(t.ID), Reason: short(reason)}
	for _, c := range t.Causes {
		if len(e.Causes) == maxCauses {
			break
		}
		if c = short(c); c != "" {
			e.Causes = append(e.Causes, c)
		}
	}
	return e
}

// insert puts e after every entry not after it.
func (s *State) insert(e Entry) {
	i := len(s.Entries)
	for i > 0 && s.Entries[i-1].At.After(e.At) {
		i--
	}
	s.Entries = slices.Insert(s.Entries, i, e)
}

// held reports whether the timeline holds trigger id as held and not
// released since.
func (s *State) held(id string) bool {
	for i := len(s.Entries) - 1; i >= 0; i-- {
		e := &s.Entries[i]
		if e.ID != id || e.Kind == KindEvent {
			continue
		}
		return e.Kind == KindHeld
	}
	return false
}

// bound drops what is older than cfg.MaxAge before the newest entry,
// then the oldest beyond cfg.MaxEvents.
func (s *State) bound(cfg Config) {
	if len(s.Entries) == 0 {
		return
	}
	oldest := s.Entries[len(s.Entries)-1].At.Add(-cfg.MaxAge)
	drop := 0
	for drop < len(s.Entries) && s.Entries[drop].At.Before(oldest) {
		drop++
	}
	drop = max(drop, len(s.Entries)-cfg.MaxEvents)
	if drop > 0 {
		s.Entries = slices.Delete(s.Entries, 0, drop)
	}
}

// idProp returns property k as an id: a string, or a number written in
// the shortest form; "" otherwise.
func (p *Processor) idProp(ev *journey.Event, k string) string {
	switch v := ev.Properties[k].(type) {
	case string:
		return short(v)
	case float64:
		if !math.IsInf(v, 0) && !math.IsNaN(v) {
			return formatNum(v)
		}
	}
	return ""
}

func numProp(ev *journey.Event, k string) *float64 {
	v, ok := ev.Num(k)
	if !ok || math.IsInf(v, 0) || math.IsNaN(v) {
		return nil
	}
	return &v
}

func short(s string) string {
	if len(s) > maxStrLen {
		return ""
	}
	return s
}
