// Package profile is the "profile" processor: a customer's basic journey
// facts, kept for the other parts of journey (the contact policy reads
// consent and time zone) and for the context hash. It emits no triggers.
//
// # State
//
//   - FirstSeen and LastSeen: the earliest and latest event times.
//   - LastChannel and TimeZone: the channel and IANA time zone of the latest
//     event (by event time) that named one. A late event changes them only
//     when it is newer than what set them.
//   - Events: the count of events per event name — the track event's name,
//     or the kind for other events ("page", "identify"...).
//   - Channels: the count of events per channel; events naming none are not
//     counted here.
//   - Consent: the latest consent per channel, merged from each event's
//     Consent: a channel's entry changes only for an event at least as new
//     as the one that set it, and channels an event does not mention keep
//     theirs.
//   - Identified: whether any event carried a user id.
//   - AnonymousIDs: the last anonymous ids seen, least recently seen first.
//
// Every part is bounded by Config. Names, channels and ids longer than 128
// bytes are not kept (a name or channel is counted under "(other)").
// Traits are never read: they may hold personal data.
//
// # Context
//
//	last_channel  the last channel, "" when none
//	last_seen     LastSeen, RFC 3339 in UTC, "" when none
//	identified    "true" or "false"
package profile

import (
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/internal/procstate"
)

// Name is the processor's name, persisted with its state.
const Name = "profile"

// StateVersion is persisted with the state; bump it when the encoding
// changes incompatibly.
const StateVersion = 1

// Context fields.
const (
	ContextLastChannel = "last_channel"
	ContextLastSeen    = "last_seen"
	ContextIdentified  = "identified"
)

// Other is the key events and channels beyond the bounds are counted under.
const Other = "(other)"

// maxKeyLen bounds the names, channels and ids kept.
const maxKeyLen = 128

// ErrState is returned by Fold when given a state it did not create.
var ErrState = errors.New("profile: not a profile state")

// State is one customer's profile; see the package comment.
type State struct {
	FirstSeen    time.Time          `json:"first_seen,omitzero"`
	LastSeen     time.Time          `json:"last_seen,omitzero"`
	LastChannel  Latest             `json:"last_channel,omitzero"`
	TimeZone     Latest             `json:"time_zone,omitzero"`
	Identified   bool               `json:"identified"`
	AnonymousIDs []string           `json:"anonymous_ids,omitempty"`
	Events       map[string]uint64  `json:"events,omitempty"`
	Channels     map[string]uint64  `json:"channels,omitempty"`
	Consent      map[string]Consent `json:"consent,omitempty"`
}

// Latest is a value and the time of the event that set it.
type Latest struct {
	Value string    `json:"value"`
	At    time.Time `json:"at"`
}

// set replaces l by v when an event at t is at least as new.
func (l *Latest) set(v string, t time.Time) {
	if v != "" && len(v) <= maxKeyLen && !t.Before(l.At) {
		l.Value, l.At = v, t
	}
}

// Consent is a channel's latest consent and the time of the event that
// carried it.
type Consent struct {
	Granted bool      `json:"granted"`
	At      time.Time `json:"at"`
}

// Processor is the profile processor. It is safe for concurrent use: it
// holds only its configuration.
type Processor struct {
	cfg Config
}

var (
	_ journey.Processor     = (*Processor)(nil)
	_ journey.ContextSource = (*Processor)(nil)
)

// New returns a processor for cfg, or the error of cfg.Validate.
func New(cfg Config) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Processor{cfg: cfg}, nil
}

// Config returns the processor's configuration.
func (p *Processor) Config() Config { return p.cfg }

// Name implements journey.Processor.
func (p *Processor) Name() string { return Name }

// StateVersion implements journey.Processor.
func (p *Processor) StateVersion() uint32 { return StateVersion }

// NewState implements journey.Processor: a *State of a customer never seen.
func (p *Processor) NewState() journey.State { return new(State) }

// Fold implements journey.Processor. Every event changes the state (it is
// counted). It returns an error only for a state that is not a *State.
func (p *Processor) Fold(st journey.State, ev *journey.Event, _ *journey.Output) (bool, error) {
	s, err := procstate.As[State](st, ErrState)
	if err != nil {
		return false, err
	}
	if t := ev.Time.UTC(); validTime(t) {
		if s.FirstSeen.IsZero() || t.Before(s.FirstSeen) {
			s.FirstSeen = t
		}
		if t.After(s.LastSeen) {
			s.LastSeen = t
		}
		s.LastChannel.set(ev.Channel, t)
		s.TimeZone.set(ev.TimeZone, t)
		s.mergeConsent(ev.Consent, t, p.cfg.MaxChannels)
	}
	if ev.UserID != "" {
		s.Identified = true
	}
	if id := ev.AnonymousID; id != "" && len(id) <= maxKeyLen {
		s.seenAnonymousID(id, p.cfg.MaxAnonymousIDs)
	}
	name := ev.Name
	if ev.Kind != journey.KindTrack || name == "" {
		name = string(ev.Kind)
	}
	if name == "" {
		name = Other
	}
	s.Events = count(s.Events, name, p.cfg.MaxEventNames)
	if ev.Channel != "" {
		s.Channels = count(s.Channels, ev.Channel, p.cfg.MaxChannels)
	}
	return true, nil
}

// count adds one to m[key], or to m[Other] when key is new and m already
// counts limit keys besides Other, or key is too long.
func count(m map[string]uint64, key string, limit int) map[string]uint64 {
	if m == nil {
		m = make(map[string]uint64, 4)
	}
	if len(m) < limit && len(key) <= maxKeyLen {
		m[key]++ // a new key has room: one map operation
		return m
	}
	if _, ok := m[key]; !ok {
		n := len(m)
		if _, ok := m[Other]; ok {
			n--
		}
		if n >= limit || len(key) > maxKeyLen {
			key = Other
		}
	}
	m[key]++
	return m
}

// mergeConsent merges the consent an event at t carried, in channel order
// so the bound is applied the same way on every run.
func (s *State) mergeConsent(consent map[string]bool, t time.Time, limit int) {
	if len(consent) == 0 {
		return
	}
	channels := make([]string, 0, len(consent))
	for ch := range consent {
		channels = append(channels, ch)
	}
	slices.Sort(channels)
	for _, ch := range channels {
		old, ok := s.Consent[ch]
		switch {
		case ch == "" || len(ch) > maxKeyLen:
			continue
		case !ok && len(s.Consent) >= limit:
			continue
		case ok && t.Before(old.At):
			continue // a newer event set it
		}
		if s.Consent == nil {
			s.Consent = make(map[string]Consent, len(consent))
		}
		s.Consent[ch] = Consent{Granted: consent[ch], At: t}
	}
}

// seenAnonymousID makes id the most recently seen, keeping at most limit.
func (s *State) seenAnonymousID(id string, limit int) {
	if n := len(s.AnonymousIDs); n > 0 && n <= limit && s.AnonymousIDs[n-1] == id {
		return // the latest already: most events of a customer carry the same one
	}
	if i := slices.Index(s.AnonymousIDs, id); i >= 0 {
		s.AnonymousIDs = slices.Delete(s.AnonymousIDs, i, i+1)
	}
	s.AnonymousIDs = append(s.AnonymousIDs, id)
	if over := len(s.AnonymousIDs) - limit; over > 0 {
		s.AnonymousIDs = slices.Delete(s.AnonymousIDs, 0, over)
	}
}

// Context implements journey.ContextSource.
func (p *Processor) Context(st journey.State) map[string]string {
	s, ok := st.(*State)
	if !ok || s == nil {
		return nil
	}
	seen := ""
	if !s.LastSeen.IsZero() {
		seen = s.LastSeen.Format(time.RFC3339Nano)
	}
	return map[string]string{
		ContextLastChannel: s.LastChannel.Value,
		ContextLastSeen:    seen,
		ContextIdentified:  strconv.FormatBool(s.Identified),
	}
}
