// Package chanpref is the "channel preference" processor: it learns on
// which channel, and at which hour of the day, a customer actually
// responds (opens or clicks an email, taps a push notification, answers a
// call), and tells the contact policy where to route the triggers whose
// channel is journey.PreferredChannel. It emits no triggers.
//
// # Rules
//
//   - A response is a track event named in Config.Responses, which gives
//     its channel. It needs an id of 1 to 256 bytes and a time between
//     1970 and 2200; others are ignored.
//   - Each response adds 1 to its channel's score and to its hour's score.
//     Scores decay exponentially on event time with Config.HalfLife: with
//     t0 the time of the newest response so far, a response at t >= t0
//     first multiplies every score by 2^(-(t-t0)/half_life); a late one
//     (t < t0) adds 2^(-(t0-t)/half_life) instead of 1, so the scores do
//     not depend on the order responses arrive in. Scores are kept in
//     millionths of a response; a channel whose score decays to 0 is
//     dropped.
//   - The hour is the hour of the day of the response's time in the
//     customer's time zone: the event's own Event.TimeZone when it is a
//     valid IANA name, else the last time zone seen, else UTC. The last
//     time zone seen is that of the newest event, of any kind, carrying a
//     valid one (a late event does not replace it). "Local" is not a valid
//     name: the machine's zone would make folds depend on the machine.
//     Daylight saving time is the zone's: 18:30 in Paris is hour 18 in
//     summer and in winter.
//   - Duplicates: the ids of the 32 most recent responses (by event time)
//     are kept, and a redelivered one is not counted again. A response at
//     or before the newest time forgotten that way is not counted either,
//     as it could be a redelivery.
//
// # Preferred channel
//
// PreferredChannel(st, at) is the channel with the highest score decayed
// to at (at before the newest response decays nothing), provided it is at
// least Config.MinScore; ties go to the channel responded on last, then to
// the first by name. It is "" when no channel has enough evidence.
//
// # Context
//
//	chanpref.channel    the preferred channel at the newest response, "" when unknown
//	chanpref.best_hour  the hour of the day (0-23, customer's time zone) with the
//	                    highest score if at least Config.MinScore (ties: the earliest), "" when unknown
//
// Every field is always present, so an update replaces stale values.
//
// # Encoding
//
// State is encoded in a compact binary form (see MarshalBinary): times
// relative to State.At, scores as integers, only the hours with a score,
// event ids as 8-byte hashes.
package chanpref

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	// Time zones must resolve the same on every machine, including
	// minimal containers with no zoneinfo files.
	_ "time/tzdata"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/internal/procstate"
	"github.com/journey-dev/journey/processors/internal/seen"
)

// Name is the processor's name, persisted with its state.
const Name = "chanpref"

// StateVersion is persisted with the state; bump it when the encoding
// changes incompatibly.
const StateVersion = 1

// Context fields.
const (
	ContextChannel  = "chanpref.channel"
	ContextBestHour = "chanpref.best_hour"
)

const (
	// maxKeyLen bounds event ids and response names.
	maxKeyLen = 256
	// maxZoneLen bounds time zone names.
	maxZoneLen = 64
	// maxCachedZones bounds the processor's time zone cache.
	maxCachedZones = 1024
)

// ErrState is returned by Fold when given a state it did not create.
var ErrState = errors.New("chanpref: not a chanpref state")

// Processor is the channel-preference processor. It is safe for
// concurrent use: besides its configuration it holds a cache of time
// zones, safe for concurrent use.
type Processor struct {
	cfg      Config
	zones    sync.Map // zone name -> *time.Location, nil for an invalid name
	zonesLen atomic.Int64
}

var (
	_ journey.Processor        = (*Processor)(nil)
	_ journey.ContextSource    = (*Processor)(nil)
	_ journey.ChannelPreferrer = (*Processor)(nil)
)

// New returns a processor for cfg, or the error of cfg.Validate.
func New(cfg Config) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Processor{cfg: cfg.clone()}, nil
}

// Config returns the processor's configuration.
func (p *Processor) Config() Config { return p.cfg.clone() }

// Name implements journey.Processor.
func (p *Processor) Name() string { return Name }

// StateVersion implements journey.Processor.
func (p *Processor) StateVersion() uint32 { return StateVersion }

// NewState implements journey.Processor: a *State with no responses.
func (p *Processor) NewState() journey.State { return new(State) }

// location returns the time zone name, or nil when it is not a valid IANA
// name. Lookups are cached: loading a zone reads and parses its data.
func (p *Processor) location(name string) *time.Location {
	if name == "" || name == "Local" || len(name) > maxZoneLen {
		return nil
	}
	if v, ok := p.zones.Load(name); ok {
		return v.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = nil
	}
	if p.zonesLen.Load() < maxCachedZones {
		if _, loaded := p.zones.LoadOrStore(name, loc); !loaded {
			p.zonesLen.Add(1)
		}
	}
	return loc
}

// Fold implements journey.Processor; see the package comment for the rules.
// It returns an error only for a state that is not a *State.
func (p *Processor) Fold(st journey.State, ev *journey.Event, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](st, ErrState)
	if err != nil {
		return false, err
	}
	t := ev.Time.UTC()
	if !validTime(t) {
		return false, nil
	}
	evLoc := p.location(ev.TimeZone)
	changed := false
	if evLoc != nil && !t.Before(s.ZoneAt) && (ev.TimeZone != s.TimeZone || t.After(s.ZoneAt)) {
		s.TimeZone, s.ZoneAt = ev.TimeZone, t
		changed = true
	}
	if ev.Kind != journey.KindTrack && ev.Kind != journey.KindCloudEvent {
		return changed, nil
	}
	ch := p.cfg.Responses[ev.Name]
	if ch == "" || ev.ID == "" || len(ev.ID) > maxKeyLen || !s.Remember(t, seen.Hash(ev.ID)) {
		return changed, nil
	}
	loc := evLoc
	if loc == nil {
		loc = p.location(s.TimeZone)
	}
	if loc == nil {
		loc = time.UTC
	}
	s.add(t, ch, t.In(loc).Hour(), p.cfg.HalfLife)
	return true, nil
}

// PreferredChannel implements journey.ChannelPreferrer; see the package
// comment. It returns "" for a state that is not a *State.
func (p *Processor) PreferredChannel(st journey.State, at time.Time) string {
	s, ok := st.(*State)
	if !ok || s == nil {
		return ""
	}
	min := p.cfg.MinScore * pointScale / factor(at.Sub(s.At), p.cfg.HalfLife)
	var best *Channel
	for i := range s.Channels {
		c := &s.Channels[i]
		if float64(c.Score) >= min && (best == nil || better(c, best)) {
			best = c
		}
	}
	if best == nil {
		return ""
	}
	return best.Name
}

// BestHour returns the hour of the day (0-23, in the customer's time zone)
// with the highest score decayed to at, if at least Config.MinScore, ties
// going to the earliest; else -1.
func (p *Processor) BestHour(st journey.State, at time.Time) int {
	s, ok := st.(*State)
	if !ok || s == nil {
		return -1
	}
	min := p.cfg.MinScore * pointScale / factor(at.Sub(s.At), p.cfg.HalfLife)
	best := -1
	for h, v := range s.Hours {
		if float64(v) >= min && (best < 0 || v > s.Hours[best]) {
			best = h
		}
	}
	return best
}

// Context implements journey.ContextSource: chanpref.channel and
// chanpref.best_hour, as of the newest response.
func (p *Processor) Context(st journey.State) map[string]string {
	s, ok := st.(*State)
	if !ok || s == nil {
		return nil
	}
	hour := ""
	if h := p.BestHour(s, s.At); h >= 0 {
		hour = strconv.Itoa(h)
	}
	return map[string]string{
		ContextChannel:  p.PreferredChannel(s, s.At),
		ContextBestHour: hour,
	}
}
