// Package dormancy is the "dormancy" processor: a customer with no
// engagement for a configured time gets one win-back trigger. It is an
// absence trigger, driven by a durable event-time timer per customer (see
// journey.Runner).
//
// # Rules
//
//   - Engagement is an event whose kind is in Config.Kinds (default track,
//     page and screen), whose name (Event.Name: the track event's name, the
//     page's or screen's name) is not in Config.Exclude, and, when
//     Config.Events is not empty, is in it. The default Exclude lists the
//     message events that are not the customer's doing — email and push
//     notifications sent, delivered, received by the device or bounced —
//     and spam complaints and unsubscriptions, which are not engagement
//     (see DefaultExclude). Identify, alias and group calls are not
//     engagement by default.
//   - Each engagement newer than the last one sets the last engagement time
//     and re-arms the timer "dormant" to that time plus Config.After. An
//     engagement not newer than the last one changes nothing.
//   - When the timer fires — the partition's watermark reached the
//     deadline, so a watermark exactly at the deadline fires it — the
//     customer is dormant: one trigger, once per dormancy period. The next
//     engagement at or after the time it fired starts a new period and
//     re-arms the timer. An engagement older than that (a late event) moves
//     the last engagement time but does not re-arm: journey applies late
//     events without re-firing.
//   - A customer who never engaged has no timer and gets no trigger.
//
// # Trigger
//
// Rule "dormancy.winback", reason "dormant", on Config.Target, at the time
// the timer fired (the deadline). Its id is journey.TriggerID(rule,
// customer, "dormant@<fire time, RFC 3339 with nanoseconds>"). Causes are
// the id of the last engagement. Payload:
//
//	last_engaged  the last engagement time, RFC 3339
//	days          whole days from the last engagement to the trigger
//
// # Context
//
// dormancy.last_engaged is the last engagement time, RFC 3339, or "" when
// there is none. It is always present, so an update replaces a stale value.
package dormancy

import (
	"errors"
	"slices"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/internal/procstate"
)

// Name is the processor's name, persisted with its state.
const Name = "dormancy"

// StateVersion is persisted with the state; bump it when the encoding
// changes incompatibly.
const StateVersion = 1

// The trigger's rule and reason, the context field and the timer key.
const (
	Rule               = "dormancy.winback"
	Reason             = "dormant"
	ContextLastEngaged = "dormancy.last_engaged"
	TimerKey           = "dormant"
)

// maxKeyLen bounds the event id kept as the cause.
const maxKeyLen = 256

// ErrState is returned by Fold and OnTimer when given a state they did not
// create.
var ErrState = errors.New("dormancy: not a dormancy state")

// State is one customer's engagement clock.
type State struct {
	// LastEngaged is the time of the newest engagement folded, zero when
	// there is none.
	LastEngaged time.Time `json:"last_engaged,omitzero"`
	// EventID is the id of that engagement ("" when it had none or one
	// longer than 256 bytes).
	EventID string `json:"event_id,omitempty"`
	// Deadline is when the armed timer fires, zero when none is armed. It
	// is at or before LastEngaged + Config.After: an engagement does not
	// move an armed timer (that would cost a timer write per event);
	// instead a timer that fires early is re-armed at the real deadline.
	Deadline time.Time `json:"deadline,omitzero"`
	// Fired is when the win-back fired for the current dormancy period;
	// zero once the customer engaged again.
	Fired time.Time `json:"fired,omitzero"`
}

// Processor is the dormancy processor. It is safe for concurrent use: it
// holds only its configuration.
type Processor struct {
	cfg     Config
	kinds   map[journey.Kind]bool
	events  map[string]bool // nil: every name
	exclude map[string]bool
	// name, rule and ctxLastEngaged are Name, Rule and
	// ContextLastEngaged, or a rule's (Named).
	name, rule, ctxLastEngaged string
}

var (
	_ journey.Processor     = (*Processor)(nil)
	_ journey.TimerHandler  = (*Processor)(nil)
	_ journey.ContextSource = (*Processor)(nil)
)

// New returns a processor for cfg, or the error of cfg.Validate.
func New(cfg Config) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Kinds = slices.Clone(cfg.Kinds)
	cfg.Events = slices.Clone(cfg.Events)
	cfg.Exclude = slices.Clone(cfg.Exclude)
	p := &Processor{cfg: cfg, kinds: map[journey.Kind]bool{}, exclude: map[string]bool{},
		name: Name, rule: Rule, ctxLastEngaged: ContextLastEngaged}
	for _, k := range cfg.Kinds {
		p.kinds[k] = true
	}
	if len(cfg.Events) > 0 {
		p.events = map[string]bool{}
		for _, n := range cfg.Events {
			p.events[n] = true
		}
	}
	for _, n := range cfg.Exclude {
		p.exclude[n] = true
	}
	return p, nil
}

// Named returns a copy of p that runs as the rule name (the rules: list of
// journey's configuration): name is its state's slot and its timers'
// owner, its triggers' rule — so their ids differ from p's — and the
// prefix of its context fields (name.last_engaged). Everything else is p's.
func (p *Processor) Named(name string) *Processor {
	q := *p
	q.name, q.rule, q.ctxLastEngaged = name, name, name+ContextLastEngaged[len(Name):]
	return &q
}

// Config returns the processor's configuration.
func (p *Processor) Config() Config {
	c := p.cfg
	c.Kinds = slices.Clone(c.Kinds)
	c.Events = slices.Clone(c.Events)
	c.Exclude = slices.Clone(c.Exclude)
	return c
}

// Name implements journey.Processor.
func (p *Processor) Name() string { return p.name }

// StateVersion implements journey.Processor.
func (p *Processor) StateVersion() uint32 { return StateVersion }

// NewState implements journey.Processor: a *State of a customer who never
// engaged.
func (p *Processor) NewState() journey.State { return new(State) }

// Engagement reports whether ev counts as engagement under the
// processor's configuration.
func (p *Processor) Engagement(ev *journey.Event) bool {
	return p.kinds[ev.Kind] && !p.exclude[ev.Name] && (p.events == nil || p.events[ev.Name])
}

// Fold implements journey.Processor; see the package comment for the rules.
// It returns an error only for a state that is not a *State.
func (p *Processor) Fold(st journey.State, ev *journey.Event, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](st, ErrState)
	if err != nil {
		return false, err
	}
	t := ev.Time.UTC()
	if !p.Engagement(ev) || !validTime(t) || !validTime(t.Add(p.cfg.After)) || !t.After(s.LastEngaged) {
		return false, nil
	}
	s.LastEngaged, s.EventID = t, ev.ID
	if len(ev.ID) > maxKeyLen {
		s.EventID = ""
	}
	if !s.Fired.IsZero() && t.Before(s.Fired) {
		return true, nil // a late engagement from before the win-back: not re-armed
	}
	s.Fired = time.Time{}
	if s.Deadline.IsZero() {
		s.Deadline = t.Add(p.cfg.After)
		out.SetTimer(TimerKey, s.Deadline)
	}
	return true, nil
}

// OnTimer implements journey.TimerHandler: the customer's timer fired. A
// timer when none is armed changes nothing; one that fires before the
// deadline (the customer engaged since it was armed) is moved to it.
func (p *Processor) OnTimer(st journey.State, customerID, key string, at time.Time, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](st, ErrState)
	if err != nil {
		return false, err
	}
	if key != TimerKey || s.Deadline.IsZero() {
		return false, nil
	}
	at = at.UTC()
	if deadline := s.LastEngaged.Add(p.cfg.After); at.Before(deadline) {
		moved := !deadline.Equal(s.Deadline)
		s.Deadline = deadline
		out.SetTimer(TimerKey, deadline)
		return moved, nil
	}
	s.Deadline, s.Fired = time.Time{}, at
	causes := []string{}
	if s.EventID != "" {
		causes = append(causes, s.EventID)
	}
	out.Emit(journey.Trigger{
		ID:         journey.TriggerID(p.rule, customerID, TimerKey+"@"+at.Format(time.RFC3339Nano)),
		Rule:       p.rule,
		CustomerID: customerID,
		Channel:    p.cfg.Target,
		At:         at,
		Reason:     Reason,
		Causes:     causes,
		Payload: map[string]any{
			"last_engaged": s.LastEngaged.Format(time.RFC3339Nano),
			"days":         int64(at.Sub(s.LastEngaged) / (24 * time.Hour)),
		},
	})
	return true, nil
}

// Context implements journey.ContextSource: the dormancy.last_engaged
// field.
func (p *Processor) Context(st journey.State) map[string]string {
	s, err := procstate.As[State](st, ErrState)
	if err != nil {
		return nil
	}
	v := ""
	if !s.LastEngaged.IsZero() {
		v = s.LastEngaged.Format(time.RFC3339Nano)
	}
	return map[string]string{p.ctxLastEngaged: v}
}
