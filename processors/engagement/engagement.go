// Package engagement is the "engagement score" processor: it scores how
// engaged a customer is, weighting each action by its quality (a view is
// worth less than a like, a like less than a share, a share less than a
// comment, a review or a purchase) and letting the score decay with time,
// and emits a trigger when the score moves the customer to another tier
// (at_risk, active, advocate by default).
//
// # Rules
//
//   - An engagement event is one whose Config.Weights entry is above 0: a
//     track event by its name, another call by its kind ("page"). It needs
//     an id of 1 to 256 bytes and a time between 1970 and 2200; others are
//     ignored.
//   - A reversal is a track event named in Reversals ("Order Refunded",
//     "Order Cancelled") that has no weight of its own: it takes back the
//     weight of the event it undoes ("Order Completed"), as an event of
//     negative weight at its time would, the score stopping at 0. It needs
//     an id and a time like an engagement event, is de-duplicated with
//     them, and moves the tier like them (a refund can make a tier_down).
//     What the score could not cover is kept as State.Owed, which no fold
//     reads: an identity merge takes it from the other id's score (the
//     purchase may have been counted there).
//   - The score decays exponentially on event time: with t0 the time of
//     the newest event counted so far, an event at t >= t0 makes the score
//     score(t0) * 2^(-(t-t0)/half_life) + weight. A late event (t < t0)
//     adds its weight decayed to t0, weight * 2^(-(t0-t)/half_life), so the
//     score does not depend on the order events arrive in. The score is
//     kept in millionths of a point, capped at 1e9 points.
//   - Duplicates: the ids of the 32 most recent events counted (by event
//     time) are kept, and a redelivered one is not counted again. An event
//     at or before the newest time forgotten that way is not counted
//     either, as it could be a redelivery: so no event is ever counted
//     twice, and lateness is tolerated up to 32 newer events.
//   - Tiers: a customer enters Tiers[i+1] when the score reaches
//     Boundaries[i], and leaves it for the tier below when the score falls
//     below Boundaries[i] * (1 - Hysteresis): between the two the tier does
//     not change, so a score hovering around a boundary does not flap. The
//     score can jump several tiers at once. A new customer starts in the
//     first tier. The tier is re-evaluated on every engagement event only:
//     a score decaying while nothing happens changes no tier until the next
//     event (an absence is the dormancy processor's business, on timers).
//   - A customer whose stored tier is no longer in Config.Tiers (the
//     configuration changed) is placed by the boundaries alone, silently.
//
// # Trigger
//
// Rule "engagement.tier", reason "tier_up" or "tier_down", on
// Config.Target, at the time of the event that moved the tier. Its id is
// journey.TriggerID(rule, customer, that event's id), its cause that
// event. Payload:
//
//	from   the tier left
//	to     the tier entered
//	score  the score after the event, rounded to one decimal
//
// # Context
//
//	engagement.score  the score at engagement.at, one decimal ("12.5"); "0.0" when none
//	engagement.tier   the tier; "" before the first engagement event
//	engagement.at     the time of the newest engagement event, RFC 3339 in UTC; "" when none
//
// Every field is always present, so an update replaces stale values.
//
// # Encoding
//
// State is encoded in a compact binary form (see MarshalBinary): times
// relative to State.At, the score as an integer, event ids as 8-byte
// hashes: at most about 500 bytes.
package engagement

import (
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/internal/procstate"
	"github.com/journey-dev/journey/processors/internal/seen"
)

// Name is the processor's name, persisted with its state.
const Name = "engagement"

// StateVersion is persisted with the state; bump it when the encoding
// changes incompatibly.
const StateVersion = 1

// The trigger's rule and reasons, and the context fields.
const (
	Rule         = "engagement.tier"
	ReasonUp     = "tier_up"
	ReasonDown   = "tier_down"
	ContextScore = "engagement.score"
	ContextTier  = "engagement.tier"
	ContextAt    = "engagement.at"
)

// Reversals maps the events that undo another to the event they undo: a
// refund or a cancellation takes the purchase's weight back.
var Reversals = map[string]string{
	"Order Refunded":  "Order Completed",
	"Order Cancelled": "Order Completed",
}

// maxKeyLen bounds the event ids and weight names.
const maxKeyLen = 256

// ErrState is returned by Fold when given a state it did not create.
var ErrState = errors.New("engagement: not an engagement state")

// Processor is the engagement-score processor. It is safe for concurrent
// use: it holds only its configuration.
type Processor struct {
	cfg     Config
	weights map[string]Points // the weights above 0
	// up[i] is the score entering Tiers[i+1]; down[i] the score below
	// which a customer leaves Tiers[i+1].
	up, down []Points
	// name and rule are Name and Rule, and ctx ContextScore, ContextTier
	// and ContextAt, or a rule's (Named).
	name, rule string
	ctx        [3]string
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
	p := &Processor{cfg: cfg.clone(), weights: make(map[string]Points, len(cfg.Weights)),
		name: Name, rule: Rule, ctx: [3]string{ContextScore, ContextTier, ContextAt}}
	for k, w := range cfg.Weights {
		if w > 0 {
			p.weights[k] = pointsOf(w)
		}
	}
	for _, b := range cfg.Boundaries {
		p.up = append(p.up, pointsOf(b))
		p.down = append(p.down, pointsOf(b*(1-cfg.Hysteresis)))
	}
	return p, nil
}

// Named returns a copy of p that runs as the rule name (the rules: list of
// journey's configuration): name is its state's slot and its timers'
// owner, its triggers' rule — so their ids differ from p's — and the
// prefix of its context fields (name.score, name.tier, name.at). Everything else is p's.
func (p *Processor) Named(name string) *Processor {
	q := *p
	q.name, q.rule = name, name
	for i, f := range [...]string{ContextScore, ContextTier, ContextAt} {
		q.ctx[i] = name + f[len(Name):]
	}
	return &q
}

// Config returns the processor's configuration.
func (p *Processor) Config() Config { return p.cfg.clone() }

// Name implements journey.Processor.
func (p *Processor) Name() string { return p.name }

// StateVersion implements journey.Processor.
func (p *Processor) StateVersion() uint32 { return StateVersion }

// NewState implements journey.Processor: a *State with no engagement.
func (p *Processor) NewState() journey.State { return new(State) }

// weightKey is the Config.Weights key of ev.
func weightKey(ev *journey.Event) string {
	if ev.Kind == journey.KindTrack || ev.Kind == journey.KindCloudEvent {
		return ev.Name
	}
	return string(ev.Kind)
}

// Fold implements journey.Processor; see the package comment for the rules.
// It returns an error only for a state that is not a *State.
func (p *Processor) Fold(st journey.State, ev *journey.Event, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](st, ErrState)
	if err != nil {
		return false, err
	}
	w, ok := p.weights[weightKey(ev)]
	undone, reversal := "", false
	if !ok && ev.Kind == journey.KindTrack {
		undone, reversal = Reversals[ev.Name]
		w, ok = p.weights[undone]
	}
	t := ev.Time.UTC()
	if !ok || ev.ID == "" || len(ev.ID) > maxKeyLen || !validTime(t) {
		return false, nil
	}
	if !s.Remember(t, seen.Hash(ev.ID)) {
		return false, nil
	}
	if reversal {
		s.sub(t, w, p.cfg.HalfLife)
	} else {
		s.add(t, w, p.cfg.HalfLife)
	}

	from := slices.Index(p.cfg.Tiers, s.Tier)
	switch {
	case s.Tier == "":
		from = 0
	case from < 0: // a tier the configuration no longer has
		s.Tier = p.cfg.Tiers[p.move(0, s.Score)]
		return true, nil
	}
	to := p.move(from, s.Score)
	s.Tier = p.cfg.Tiers[to]
	if to != from {
		out.Emit(p.trigger(s, ev, t, from, to))
	}
	return true, nil
}

// move returns the tier a customer in tier cur is in with score: up as
// far as the boundaries reached, else down as far as the score fell below
// them by the hysteresis margin.
func (p *Processor) move(cur int, score Points) int {
	k := cur
	for k < len(p.up) && score >= p.up[k] {
		k++
	}
	if k == cur {
		for k > 0 && score < p.down[k-1] {
			k--
		}
	}
	return k
}

func (p *Processor) trigger(s *State, ev *journey.Event, at time.Time, from, to int) journey.Trigger {
	reason := ReasonUp
	if to < from {
		reason = ReasonDown
	}
	return journey.Trigger{
		ID:         journey.TriggerID(p.rule, ev.CustomerID, ev.ID),
		Rule:       p.rule,
		CustomerID: ev.CustomerID,
		Channel:    p.cfg.Target,
		At:         at,
		Reason:     reason,
		Causes:     []string{ev.ID},
		Payload: map[string]any{
			"from":  p.cfg.Tiers[from],
			"to":    p.cfg.Tiers[to],
			"score": s.Score.Round1(),
		},
	}
}

// Context implements journey.ContextSource: engagement.score,
// engagement.tier and engagement.at.
func (p *Processor) Context(st journey.State) map[string]string {
	s, ok := st.(*State)
	if !ok || s == nil {
		return nil
	}
	at := ""
	if !s.At.IsZero() {
		at = s.At.Format(time.RFC3339Nano)
	}
	return map[string]string{
		p.ctx[0]: strconv.FormatFloat(s.Score.Round1(), 'f', 1, 64),
		p.ctx[1]: s.Tier,
		p.ctx[2]: at,
	}
}
