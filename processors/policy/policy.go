// Package policy is the contact policy: every trigger any processor emits
// passes it before the outbox, and is admitted (on the channel routing
// resolved), held until the customer's quiet hours end, or suppressed with
// a reason. It keeps the consent, time zone and contact history it needs
// per customer, folded from events like any processor's state.
//
// Everything is decided on event time — the time of the event or timer
// that made the trigger — never the wall clock, so a replay gives the same
// decisions.
//
// # Routing
//
// A trigger's channel is, in order: its rule's target (Config.Rules) when
// set, else the channel the processor gave it. When that is
// journey.PreferredChannel ("preferred"), it becomes the customer's
// preferred channel at the time (journey.PolicyEnv.Preferred, learnt by a
// journey.ChannelPreferrer processor), else Config.FallbackChannel. The
// admitted trigger carries the resolved channel, and the checks below
// apply to it.
//
// # Checks
//
// In this order; the first that fails suppresses the trigger with its
// reason:
//
//  1. consent (no_consent): a channel whose consent the customer refused
//     is never used. A channel in Config.Consent.Required with no consent
//     recorded is used only when Config.Consent.Default is "granted";
//     other channels need no consent (call_centre service recovery, say).
//  2. quiet hours (quiet_hours): on a channel in
//     Config.QuietHours.Channels, while the customer's local time is within
//     the window, the rule's quiet action applies: "drop" suppresses;
//     "hold" keeps the trigger in the state and sets a timer for the end
//     of the window (DST-correct, in the customer's zone), when it goes
//     through every check again — consent, quiet hours, cooldown and cap
//     as they are then — with the same id. A trigger that cannot be held
//     (Config.MaxHeld triggers held already, more than 100 causes, a
//     payload over 4 KiB of JSON) is suppressed (hold_full). A trigger
//     whose id is held already is the same trigger (ids are
//     deterministic): it is neither decided again nor reported.
//  3. cooldown (cooldown): the rule's cooldown (Config.Rules, else
//     Config.DefaultCooldown; 0 is none) has not passed since the rule's
//     last admitted trigger for the customer.
//  4. rolling cap (channel_cap): the channel's cap (Config.Caps) allows
//     at most Max triggers in any Window; the trigger is suppressed when
//     Max were admitted on the channel less than Window before it.
//  5. holdout (holdout): a customer in the rule's control group
//     (Rule.Holdout: the first 8 bytes of sha256(rule, 0, customer), as a
//     fraction of 2^64, under the share) has the trigger suppressed, not
//     delivered; it records no contact, so the control group sees the
//     triggers the others are sent.
//
// A trigger of a rule with a Rule.TTL is suppressed as expired (expired)
// when quiet hours would hold it past At + TTL, or when it is released
// past it.
//
// A trigger with no channel, or at a time the state cannot hold (before
// year 1 or after 9999), is suppressed (invalid). An admitted trigger
// records its rule's and channel's contact time (the decision time: the
// event's, or the release time of a held trigger).
//
// Cooldowns and caps measure event-time distance both ways: a late
// trigger (older than contacts already admitted) counts the contacts
// after it as well as those before, so out-of-order events cannot
// squeeze an extra contact in.
//
// Every suppression goes to Output.Suppress (the pipeline counts them by
// rule and reason) and to the state's log, the last Config.MaxLog kept:
// time, rule, channel, reason and trigger id.
//
// # Consent and time zone
//
// Every event's Consent (Segment context.consent with its
// categoryPreferences, the CloudEvents consent extension) is merged per
// channel: an entry changes only for an event at least as new as the one
// that set it, and on a tie a refusal wins. A key of Config.Consent.Categories stands for its channels
// (a refusal in any category wins); a channel named directly in the same
// event wins over its categories. Other keys are channels. These track
// events record consent as well, after the event's Consent:
//
//	Consent Updated       properties channel (a channel or category) and granted (bool)
//	Email Unsubscribed    email refused
//	Email Marked as Spam  email refused
//	SMS Unsubscribed      sms refused
//	Push Disabled         push refused
//	Push Enabled          push granted
//
// A Consent Updated without a channel or a boolean granted changes nothing
// and is reported ignored ("no_channel_or_granted", journey.Output.Ignore).
//
// Consent cannot leak through a producer's clock: consent is recorded at
// the event's time clamped to its Kafka record time (Event.Source.Time,
// when known), never later. A grant dated in the future is recorded as of
// when it was produced, so a refusal produced after it wins. The record
// time is part of the record, so a replay records the same times; the
// fold never reads the wall clock. (The ingest check, event time at most
// ingest.max_future past the wall clock, still applies: it rejects, this
// bounds what is kept.)
//
// An explicit refusal is never evicted by a bound: see Bounds.
//
// The customer's time zone is the newest (by event time) Event.TimeZone
// that is a loadable IANA name; names that do not load ("Local", which
// would make folds depend on the machine, among them) are ignored, and a
// customer with none is in Config.DefaultTimeZone. Zones are loaded once
// and cached, from the tz database embedded in the binary when the host
// has none (package time/tzdata).
//
// # Bounds
//
// Per customer: 32 channels with consent, where a new one replaces the
// grant recorded longest ago; refusals are never replaced by another
// channel's grant, only by a newer grant of their own channel: with 32
// refusals recorded a new channel's grant is not recorded, and refusals
// are added up to 256 (then a new refusal replaces the one recorded
// longest ago — the one bound on refusals, far beyond any real customer's,
// against producers inventing channel names). 32 channels with a contact
// history (the one contacted
// longest ago goes), 64 rules with a cooldown history (likewise), for a
// capped channel the last Max contact times, Config.MaxHeld held triggers
// and Config.MaxLog log entries. Channel, rule and category names over
// 128 bytes are not recorded.
//
// # Context
//
//	policy.consent       JSON array of the channels consent allows, among
//	                     the required ones and those with consent recorded,
//	                     sorted: ["email","push"]
//	policy.last_contact  JSON object of channel -> last admitted time (RFC
//	                     3339, UTC): {"email":"2026-11-01T10:00:00Z"}
//
// Both are always present ("[]", "{}").
//
// # Timers
//
// A held trigger's timer key is "held/<trigger id>". The trigger released
// is the one held: same id, rule, customer, channel (as routed when it was
// held), At (the time of what caused it), reason, causes and payload (kept
// as JSON: numbers come back as json.Number, with their digits).
package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/internal/procstate"
	"github.com/journey-dev/journey/processors/internal/wire"
)

// Name is the processor's name, persisted with its state.
const Name = "policy"

// StateVersion is persisted with the state; bump it when the encoding
// changes incompatibly.
const StateVersion = 1

// Suppression reasons, as passed to journey.Output.Suppress.
const (
	ReasonNoConsent  = "no_consent"
	ReasonQuietHours = "quiet_hours"
	ReasonCooldown   = "cooldown"
	ReasonChannelCap = "channel_cap"
	ReasonHoldFull   = "hold_full"
	ReasonInvalid    = "invalid"
	ReasonExpired    = "expired"
	ReasonHoldout    = "holdout"
)

// IgnoredConsentUnclear is the reason a Consent Updated without a channel
// or a boolean granted is reported ignored (journey.Output.Ignore).
const IgnoredConsentUnclear = "no_channel_or_granted"

// Context fields.
const (
	ContextConsent     = "policy.consent"
	ContextLastContact = "policy.last_contact"
)

// Consent event names.
const (
	EventConsentUpdated    = "Consent Updated"
	EventEmailUnsubscribed = "Email Unsubscribed"
	EventEmailMarkedAsSpam = "Email Marked as Spam"
	EventSMSUnsubscribed   = "SMS Unsubscribed"
	EventPushDisabled      = "Push Disabled"
	EventPushEnabled       = "Push Enabled"
)

// The channels the consent events name.
const (
	channelEmail = "email"
	channelSMS   = "sms"
	channelPush  = "push"
)

// heldTimerPrefix starts the timer key of a held trigger.
const heldTimerPrefix = "held/"

// ErrState is returned when given a state the policy did not create.
var ErrState = errors.New("policy: not a policy state")

// Processor is the contact policy. It is safe for concurrent use: it holds
// its configuration and a cache of time zones.
type Processor struct {
	cfg        Config
	quiet      quietWindow
	defaultLoc *time.Location
	zones      *zoneCache
}

var (
	_ journey.Policy        = (*Processor)(nil)
	_ journey.ContextSource = (*Processor)(nil)
)

// New returns a policy for cfg, or the error of cfg.Validate.
func New(cfg Config) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.clone()
	start, _ := parseClock(cfg.QuietHours.Start)
	end, _ := parseClock(cfg.QuietHours.End)
	loc, _ := loadZone(cfg.DefaultTimeZone)
	return &Processor{cfg: cfg, quiet: quietWindow{start, end}, defaultLoc: loc, zones: &zoneCache{}}, nil
}

// Config returns the policy's configuration.
func (p *Processor) Config() Config { return p.cfg.clone() }

// Name implements journey.Processor.
func (p *Processor) Name() string { return Name }

// StateVersion implements journey.Processor.
func (p *Processor) StateVersion() uint32 { return StateVersion }

// NewState implements journey.Processor: a *State of a customer never seen.
func (p *Processor) NewState() journey.State { return new(State) }

// Fold implements journey.Processor: it records the consent and time zone
// an event carries. It returns an error only for a state that is not a
// *State.
func (p *Processor) Fold(st journey.State, ev *journey.Event, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](st, ErrState)
	if err != nil {
		return false, err
	}
	t := ev.Time.UTC()
	if !validTime(t) {
		return false, nil
	}
	changed := false
	if z := ev.TimeZone; z != "" && !t.Before(s.TimeZoneAt) && (z != s.TimeZone || !t.Equal(s.TimeZoneAt)) && p.zones.get(z) != nil {
		s.TimeZone, s.TimeZoneAt = z, t
		changed = true
	}
	ct := consentTime(ev)
	if len(ev.Consent) > 0 && p.mergeConsent(s, ev.Consent, ct) {
		changed = true
	}
	if ev.Kind == journey.KindTrack {
		set := func(ch string, granted bool) {
			if s.setConsent(ch, granted, ct) {
				changed = true
			}
		}
		switch ev.Name {
		case EventConsentUpdated:
			ch := ev.Str("channel")
			granted, ok := ev.Properties["granted"].(bool)
			if !ok || ch == "" {
				out.Ignore(IgnoredConsentUnclear)
				break
			}
			if chans, isCat := p.cfg.Consent.Categories[ch]; isCat {
				for _, c := range chans {
					set(c, granted)
				}
			} else {
				set(ch, granted)
			}
		case EventEmailUnsubscribed, EventEmailMarkedAsSpam:
			set(channelEmail, false)
		case EventSMSUnsubscribed:
			set(channelSMS, false)
		case EventPushDisabled:
			set(channelPush, false)
		case EventPushEnabled:
			set(channelPush, true)
		}
	}
	return changed, nil
}

// consentTime is the time an event's consent is recorded at: its time,
// clamped to its Kafka record time when that is known and earlier (see
// "Consent and time zone" in the package comment).
func consentTime(ev *journey.Event) time.Time {
	t := ev.Time.UTC()
	if rt := ev.Source.Time; !rt.IsZero() && t.After(rt) && validTime(rt.UTC()) {
		return rt.UTC()
	}
	return t
}

// mergeConsent records an event's consent map: categories first (a
// refusal in any wins), then channels named directly, each in name order
// so the bounds apply the same way on every run.
func (p *Processor) mergeConsent(s *State, consent map[string]bool, t time.Time) bool {
	keys := make([]string, 0, len(consent))
	for k := range consent {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var fromCats map[string]bool
	for _, k := range keys {
		for _, ch := range p.cfg.Consent.Categories[k] {
			if fromCats == nil {
				fromCats = make(map[string]bool)
			}
			if g, ok := fromCats[ch]; !ok || g {
				fromCats[ch] = consent[k]
			}
		}
	}
	changed := false
	for _, ch := range sortedKeys(fromCats) {
		if _, direct := consent[ch]; !direct && s.setConsent(ch, fromCats[ch], t) {
			changed = true
		}
	}
	for _, k := range keys {
		if _, isCat := p.cfg.Consent.Categories[k]; !isCat && s.setConsent(k, consent[k], t) {
			changed = true
		}
	}
	return changed
}

// Admit implements journey.Policy: it routes t, then admits it, holds it
// or suppresses it, as the package comment describes. It returns an error
// only for a state that is not a *State.
func (p *Processor) Admit(st journey.State, t journey.Trigger, now time.Time, env journey.PolicyEnv, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](st, ErrState)
	if err != nil {
		return false, err
	}
	if s.held(t.ID) >= 0 {
		return false, nil // the same trigger, emitted again: it is held already
	}
	t.Channel = p.route(&t, now, env)
	return p.decide(s, t, now.UTC(), out), nil
}

// route returns the channel t goes to.
func (p *Processor) route(t *journey.Trigger, now time.Time, env journey.PolicyEnv) string {
	ch := t.Channel
	if r, ok := p.cfg.Rules[t.Rule]; ok && r.Target != "" {
		ch = r.Target
	}
	if ch != journey.PreferredChannel {
		return ch
	}
	if env.Preferred != nil {
		ch = env.Preferred(now)
	}
	if ch == "" || ch == journey.PreferredChannel || !validKey(ch) {
		ch = p.cfg.FallbackChannel
	}
	return ch
}

// OnTimer implements journey.TimerHandler: the end of quiet hours for a
// held trigger, which goes through the checks again at time at. A timer
// whose trigger is no longer held changes nothing. The trigger released
// carries customerID, the customer whose timer fired: a trigger held
// under an id since merged into another (see Merge) goes to the canonical
// customer, with the id it was held with.
func (p *Processor) OnTimer(st journey.State, customerID string, key string, at time.Time, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](st, ErrState)
	if err != nil {
		return false, err
	}
	id, ok := strings.CutPrefix(key, heldTimerPrefix)
	if !ok {
		return false, nil
	}
	i := s.held(id)
	if i < 0 {
		return false, nil
	}
	h := s.Held[i]
	s.Held = slices.Delete(s.Held, i, i+1)
	t := h.trigger()
	if customerID != "" {
		t.CustomerID = customerID
	}
	p.decide(s, t, at.UTC(), out)
	return true, nil
}

// decide runs the checks on t, routed already, at now, and reports
// whether the state changed.
func (p *Processor) decide(s *State, t journey.Trigger, now time.Time, out *journey.Output) bool {
	if !validKey(t.Channel) || !validTime(now) {
		return p.suppress(s, t, now, ReasonInvalid, out)
	}
	if !p.consented(s, t.Channel) {
		return p.suppress(s, t, now, ReasonNoConsent, out)
	}
	if slices.Contains(p.cfg.QuietHours.Channels, t.Channel) {
		if until, quiet := p.quiet.until(now, p.location(s)); quiet {
			if p.quietAction(t.Rule) == QuietDrop {
				return p.suppress(s, t, now, ReasonQuietHours, out)
			}
			if p.expired(t, until) {
				return p.suppress(s, t, now, ReasonExpired, out)
			}
			return p.hold(s, t, until, now, out)
		}
	}
	if p.expired(t, now) {
		return p.suppress(s, t, now, ReasonExpired, out)
	}
	if cd := p.cooldown(t.Rule); cd > 0 {
		if r := s.rule(t.Rule); r != nil && absDiff(now, r.Last) < cd {
			return p.suppress(s, t, now, ReasonCooldown, out)
		}
	}
	cp, capped := p.cfg.Caps[t.Channel]
	if capped {
		if c := s.channel(t.Channel); c != nil {
			n := 0
			for _, at := range c.Recent {
				if absDiff(now, at) < cp.Window {
					n++
				}
			}
			if n >= cp.Max {
				return p.suppress(s, t, now, ReasonChannelCap, out)
			}
		}
	}
	if p.heldOut(t) {
		return p.suppress(s, t, now, ReasonHoldout, out)
	}
	s.contacted(t.Rule, t.Channel, now, cp.Max)
	out.Admit(t)
	return true
}

// expired reports whether t would go out past its rule's TTL at when.
func (p *Processor) expired(t journey.Trigger, when time.Time) bool {
	r, ok := p.cfg.Rules[t.Rule]
	return ok && r.TTL > 0 && when.Sub(t.At) > r.TTL
}

// heldOut reports whether t's customer is in its rule's control group.
func (p *Processor) heldOut(t journey.Trigger) bool {
	r, ok := p.cfg.Rules[t.Rule]
	return ok && r.Holdout > 0 && HoldoutBucket(t.Rule, t.CustomerID) < r.Holdout
}

// HoldoutBucket is where a customer falls for a rule's holdout, in [0, 1):
// the first 8 bytes of sha256(rule, 0, customer) over 2^64. A customer is
// held out of a rule with share h when it is under h, the same on every
// run and every instance.
func HoldoutBucket(rule, customer string) float64 {
	h := sha256.New()
	h.Write([]byte(rule))
	h.Write([]byte{0})
	h.Write([]byte(customer))
	var sum [sha256.Size]byte
	return float64(binary.BigEndian.Uint64(h.Sum(sum[:0]))>>11) / (1 << 53)
}

// hold keeps t until the quiet window ends, when it can.
func (p *Processor) hold(s *State, t journey.Trigger, until, now time.Time, out *journey.Output) bool {
	if s.held(t.ID) >= 0 {
		return false
	}
	h, ok := newHeld(t, until)
	if !ok || len(s.Held) >= p.cfg.MaxHeld {
		return p.suppress(s, t, now, ReasonHoldFull, out)
	}
	s.hold(h)
	out.SetTimer(heldTimerPrefix+t.ID, until)
	out.Hold(t)
	return true
}

// newHeld returns t as a held trigger, or false when it is too big to
// keep.
func newHeld(t journey.Trigger, until time.Time) (Held, bool) {
	if !validKey(t.ID) || !validKey(t.Rule) || !validTime(t.At.UTC()) || len(t.Causes) > maxHeldCauses || len(t.Reason) > maxKeyLen {
		return Held{}, false
	}
	for _, c := range t.Causes {
		if len(c) > maxKeyLen {
			return Held{}, false
		}
	}
	var payload json.RawMessage
	if t.Payload != nil {
		b, err := json.Marshal(t.Payload)
		if err != nil || len(b) > maxHeldPayload {
			return Held{}, false
		}
		payload = b
	}
	return Held{
		Until:      until,
		ID:         t.ID,
		Rule:       t.Rule,
		CustomerID: t.CustomerID,
		Channel:    t.Channel,
		At:         t.At.UTC(),
		Reason:     t.Reason,
		Causes:     slices.Clone(t.Causes),
		Payload:    payload,
	}, true
}

// trigger returns the held trigger. Payload numbers come back as
// json.Number, which keeps their digits.
func (h *Held) trigger() journey.Trigger {
	t := journey.Trigger{
		ID:         h.ID,
		Rule:       h.Rule,
		CustomerID: h.CustomerID,
		Channel:    h.Channel,
		At:         h.At,
		Reason:     h.Reason,
		Causes:     slices.Clone(h.Causes),
	}
	if len(h.Payload) > 0 {
		dec := json.NewDecoder(bytes.NewReader(h.Payload))
		dec.UseNumber()
		var m map[string]any
		if dec.Decode(&m) == nil {
			t.Payload = m
		}
	}
	return t
}

// suppress reports t suppressed and logs it.
func (p *Processor) suppress(s *State, t journey.Trigger, now time.Time, reason string, out *journey.Output) bool {
	if !validTime(now) {
		now = time.Time{}
	}
	s.log(Suppression{
		At:        now,
		Rule:      truncate(t.Rule),
		Channel:   truncate(t.Channel),
		Reason:    reason,
		TriggerID: truncate(t.ID),
	}, p.cfg.MaxLog)
	out.Suppress(t, reason)
	return true
}

// consented reports whether consent allows channel.
func (p *Processor) consented(s *State, channel string) bool {
	if c, ok := s.consent(channel); ok {
		return c.Granted
	}
	return !slices.Contains(p.cfg.Consent.Required, channel) || p.cfg.Consent.Default == ConsentGrant
}

// location is the customer's time zone.
func (p *Processor) location(s *State) *time.Location {
	if loc := p.zones.get(s.TimeZone); loc != nil {
		return loc
	}
	return p.defaultLoc
}

func (p *Processor) quietAction(rule string) string {
	if r, ok := p.cfg.Rules[rule]; ok && r.Quiet != "" {
		return r.Quiet
	}
	return p.cfg.QuietHours.Action
}

func (p *Processor) cooldown(rule string) time.Duration {
	if r, ok := p.cfg.Rules[rule]; ok && r.Cooldown != nil {
		return *r.Cooldown
	}
	return p.cfg.DefaultCooldown
}

// Context implements journey.ContextSource: policy.consent and
// policy.last_contact.
func (p *Processor) Context(st journey.State) map[string]string {
	s, err := procstate.As[State](st, ErrState)
	if err != nil {
		return nil
	}
	allowed := make([]string, 0, len(p.cfg.Consent.Required)+len(s.Consent))
	for _, ch := range p.cfg.Consent.Required {
		if p.consented(s, ch) {
			allowed = append(allowed, ch)
		}
	}
	for _, c := range s.Consent {
		if c.Granted && !slices.Contains(allowed, c.Channel) {
			allowed = append(allowed, c.Channel)
		}
	}
	slices.Sort(allowed)
	// As json.Marshal writes allowed and a map channel -> last contact
	// (TestContextIsMarshal): keys sorted, the last of duplicates wins.
	cj := wire.AppendJSONStrings(make([]byte, 0, 8+16*len(allowed)), allowed)
	order := make([]int, len(s.Channels))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(s.Channels[a].Channel, s.Channels[b].Channel) })
	lj := make([]byte, 0, 8+56*len(order))
	lj = append(lj, '{')
	for i, k := range order {
		c := &s.Channels[k]
		if i+1 < len(order) && s.Channels[order[i+1]].Channel == c.Channel {
			continue // a later duplicate wins
		}
		if !wire.JSONTimeOK(c.Last) {
			return nil // as json.Marshal fails; event times are checked long before
		}
		if len(lj) > 1 {
			lj = append(lj, ',')
		}
		lj = wire.AppendJSONString(lj, c.Channel)
		lj = append(lj, ':')
		lj = wire.AppendJSONTime(lj, c.Last)
	}
	lj = append(lj, '}')
	return map[string]string{ContextConsent: string(cj), ContextLastContact: string(lj)}
}

// absDiff is the distance between a and b, saturating.
func absDiff(a, b time.Time) time.Duration {
	d := a.Sub(b)
	switch {
	case d == math.MinInt64:
		return math.MaxInt64
	case d < 0:
		return -d
	}
	return d
}

// truncate cuts s to maxKeyLen bytes, on a rune boundary.
func truncate(s string) string {
	if len(s) <= maxKeyLen {
		return s
	}
	i := maxKeyLen
	for i > maxKeyLen-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}
