// Package recovery is the "service recovery" processor: negative feedback
// across channels — a low survey score, a complaint, a 1- or 2-star review,
// repeated failed or abandoned contacts, an email marked as spam — makes
// one trigger asking the call centre to recover the customer, listing the
// reasons.
//
// # Signals
//
// Each signal has a reason code; Config.Signals says which count.
//
//	low_survey_score  Survey Submitted whose score/scale <= low_survey_score/survey_scale
//	                  (scale: the event's "scale", else survey_scale); a score above
//	                  its scale, or negative, is ignored
//	complaint         Complaint Submitted
//	low_rating        Product Reviewed whose rating <= low_rating
//	failed_contacts   failed_contacts Contact Ended events with an outcome of failed or
//	                  abandoned, the first and the last less than failed_contacts_window
//	                  apart; they make one signal (at the last one's time) and are not
//	                  counted again
//	spam_report       Email Marked as Spam
//
// Events are track events (or CloudEvents mapped to these names) on any
// channel, with an id of 1 to 256 bytes and a time between 1970 and 2200.
// Only ids are kept from them (see Signal.Refs), and the score, scale or
// rating: never a review's or a complaint's text. A survey without a
// numeric score, a review without a numeric rating and a contact ended
// without an outcome are reported ignored (journey.Output.Ignore:
// "no_score", "no_rating", "no_outcome"); the decoder has turned numeric
// strings into numbers already.
//
// # Rules
//
//   - A signal triggers when there was no trigger yet, or its time is at
//     least Config.Debounce after the last trigger's (0: always). Otherwise
//     it is kept, and the next trigger reports it: one trigger per
//     incident, with every reason that accumulated since the last one.
//     A late signal, older than the last trigger, never triggers itself.
//   - Signals are kept for Config.History before the newest signal or
//     failed contact (Latest), at most Config.MaxSignals of them (the
//     oldest goes first); pending failed contacts for
//     Config.FailedContactsWindow. An event older than that is ignored,
//     late events within it are folded in time order.
//   - Duplicates: an event whose id is already in the state is ignored, and
//     so is a failed contact whose contact_id is. An event at or before the
//     time of the newest signal forgotten because of MaxSignals is ignored
//     too, as it could be a redelivery.
//
// # Trigger
//
// Rule "recovery.negative", reason "negative_feedback", on Config.Target,
// at the time of the event that made the signal. Its id is
// journey.TriggerID(rule, customer, that event's id). Causes are the ids
// of the events of every signal reported, signal by signal, oldest signal
// first. Payload:
//
//	reasons  the distinct reason codes reported, in order of their first signal
//	signals  each signal reported, oldest first: reason, at, event_ids, and
//	         product_id and rating (low_rating), survey_id, score and scale
//	         (low_survey_score), complaint_id (complaint), campaign_id
//	         (spam_report), contact_ids and count (failed_contacts), the ids
//	         when the event had them
//
// # Context
//
// recovery.last is a JSON object for the agent: "at", the newest signal's
// time; "reasons", the distinct reasons of the signals kept, newest first;
// "triggered_at", the last trigger's time; "failed_contacts", the failed
// contacts pending; "signals", the 5 newest signals as in the payload,
// without event ids:
//
//	{"at":"2026-11-03T18:02:00Z","reasons":["low_rating"],"triggered_at":"2026-11-03T18:02:00Z",
//	 "signals":[{"at":"2026-11-03T18:02:00Z","product_id":"p1","rating":1,"reason":"low_rating"}]}
//
// It is "{}" for a customer with none of these, and always present, so an
// update replaces a stale value.
//
// # Encoding
//
// State is encoded in a compact binary form (see MarshalBinary): times
// relative to State.Latest, reasons as one byte, strings length-prefixed.
package recovery

import (
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/internal/procstate"
)

// Name is the processor's name, persisted with its state.
const Name = "recovery"

// StateVersion is persisted with the state; bump it when the encoding
// changes incompatibly.
const StateVersion = 1

// The trigger's rule and reason, and the context field.
const (
	Rule        = "recovery.negative"
	Reason      = "negative_feedback"
	ContextLast = "recovery.last"
)

// Signal reason codes.
const (
	ReasonLowSurveyScore = "low_survey_score"
	ReasonComplaint      = "complaint"
	ReasonLowRating      = "low_rating"
	ReasonFailedContacts = "failed_contacts"
	ReasonSpamReport     = "spam_report"
)

// reasons are the reason codes by their byte in the encoding.
var reasons = []string{"", ReasonLowSurveyScore, ReasonComplaint, ReasonLowRating, ReasonFailedContacts, ReasonSpamReport}

// reasonCode returns the byte of a reason code, 0 for an unknown one.
func reasonCode(r string) byte {
	if i := slices.Index(reasons, r); i > 0 {
		return byte(i)
	}
	return 0
}

// Event names folded.
const (
	EventSurveySubmitted    = "Survey Submitted"
	EventComplaintSubmitted = "Complaint Submitted"
	EventProductReviewed    = "Product Reviewed"
	EventContactEnded       = "Contact Ended"
	EventEmailMarkedAsSpam  = "Email Marked as Spam"
)

const (
	// maxKeyLen bounds the event ids kept.
	maxKeyLen = 256
	// maxRefLen bounds the ids kept from event properties; longer ones are
	// not kept.
	maxRefLen = 128
	// maxContextSignals bounds the signals in recovery.last.
	maxContextSignals = 5
)

// ErrState is returned by Fold when given a state it did not create.
var ErrState = errors.New("recovery: not a recovery state")

// Processor is the service-recovery processor. It is safe for concurrent
// use: it holds only its configuration.
type Processor struct {
	cfg Config
	// name, rule and ctxLast are Name, Rule and ContextLast, or a
	// rule's (Named).
	name, rule, ctxLast string
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
	return &Processor{cfg: cfg.clone(), name: Name, rule: Rule, ctxLast: ContextLast}, nil
}

// Named returns a copy of p that runs as the rule name (the rules: list of
// journey's configuration): name is its state's slot and its timers'
// owner, its triggers' rule — so their ids differ from p's — and the
// prefix of its context fields (name.last). Everything else is p's.
func (p *Processor) Named(name string) *Processor {
	q := *p
	q.name, q.rule, q.ctxLast = name, name, name+ContextLast[len(Name):]
	return &q
}

// Config returns the processor's configuration.
func (p *Processor) Config() Config { return p.cfg.clone() }

// Name implements journey.Processor.
func (p *Processor) Name() string { return p.name }

// StateVersion implements journey.Processor.
func (p *Processor) StateVersion() uint32 { return StateVersion }

// NewState implements journey.Processor: a *State with no signal.
func (p *Processor) NewState() journey.State { return new(State) }

func ref(ev *journey.Event, key string) string {
	if s := ev.Str(key); len(s) <= maxRefLen {
		return s
	}
	return ""
}

// classify returns the signal ev makes (with no time or event id yet), or
// for a failed contact its contact id and contact == true. Scores get + 0:
// a JSON -0 becomes 0, which the encoding requires.
func (p *Processor) classify(ev *journey.Event) (sig Signal, contact bool, ok bool) {
	if ev.Kind != journey.KindTrack && ev.Kind != journey.KindCloudEvent {
		return sig, false, false
	}
	switch ev.Name {
	case EventSurveySubmitted:
		score, ok := ev.Num("score")
		if !ok || !finite(score) || score < 0 {
			return sig, false, false
		}
		scale := p.cfg.SurveyScale
		if v, ok := ev.Num("scale"); ok {
			scale = v
		}
		if !finite(scale) || scale <= 0 || score > scale || score*p.cfg.SurveyScale > p.cfg.LowSurveyScore*scale {
			return sig, false, false
		}
		sig = Signal{Reason: ReasonLowSurveyScore, Refs: []string{ref(ev, "survey_id")}, Score: score + 0, Scale: scale}
	case EventComplaintSubmitted:
		sig = Signal{Reason: ReasonComplaint, Refs: []string{ref(ev, "complaint_id")}}
	case EventProductReviewed:
		rating, ok := ev.Num("rating")
		if !ok || !finite(rating) || rating < 0 || rating > p.cfg.LowRating {
			return sig, false, false
		}
		sig = Signal{Reason: ReasonLowRating, Refs: []string{ref(ev, "product_id")}, Score: rating + 0}
	case EventContactEnded:
		if o := ev.Str("outcome"); o != "failed" && o != "abandoned" {
			return sig, false, false
		}
		sig = Signal{Reason: ReasonFailedContacts, Refs: []string{ref(ev, "contact_id")}}
		contact = true
	case EventEmailMarkedAsSpam:
		sig = Signal{Reason: ReasonSpamReport, Refs: []string{ref(ev, "campaign_id")}}
	default:
		return sig, false, false
	}
	return sig, contact, slices.Contains(p.cfg.Signals, sig.Reason)
}

// Reasons for ignoring an event (journey.Output.Ignore).
const (
	IgnoredNoScore   = "no_score"   // a Survey Submitted without a numeric score
	IgnoredNoRating  = "no_rating"  // a Product Reviewed without a numeric rating
	IgnoredNoOutcome = "no_outcome" // a Contact Ended without an outcome
)

// reportMissing reports an event the processor reads but that lacks the
// property it is judged by.
func reportMissing(ev *journey.Event, out *journey.Output) {
	if ev.Kind != journey.KindTrack && ev.Kind != journey.KindCloudEvent {
		return
	}
	var reason string
	switch ev.Name {
	case EventSurveySubmitted:
		if _, ok := ev.Num("score"); !ok {
			reason = IgnoredNoScore
		}
	case EventProductReviewed:
		if _, ok := ev.Num("rating"); !ok {
			reason = IgnoredNoRating
		}
	case EventContactEnded:
		if ev.Str("outcome") == "" {
			reason = IgnoredNoOutcome
		}
	}
	if reason != "" {
		out.Ignore(reason)
	}
}

// Fold implements journey.Processor; see the package comment for the rules.
// It returns an error only for a state that is not a *State.
func (p *Processor) Fold(st journey.State, ev *journey.Event, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](st, ErrState)
	if err != nil {
		return false, err
	}
	sig, contact, ok := p.classify(ev)
	if !ok {
		reportMissing(ev, out)
	}
	t := ev.Time.UTC()
	if !ok || ev.ID == "" || len(ev.ID) > maxKeyLen || !validTime(t) {
		return false, nil
	}
	keep := p.cfg.History
	if contact {
		keep = p.cfg.FailedContactsWindow
	}
	if !t.After(s.Floor) && !s.Floor.IsZero() || !s.Latest.IsZero() && !t.After(s.Latest.Add(-keep)) || s.hasEvent(ev.ID) {
		return false, nil
	}
	if contact && s.hasContact(sig.Refs[0]) {
		return false, nil
	}
	s.normalise(t, &p.cfg)
	if contact {
		c := Contact{At: t, EventID: ev.ID, ContactID: sig.Refs[0]}
		i := s.addContact(c, p.cfg.FailedContacts, p.cfg.FailedContactsWindow)
		if i < 0 {
			return true, nil
		}
		set := s.Contacts[i : i+p.cfg.FailedContacts]
		sig.At = set[len(set)-1].At
		sig.EventIDs, sig.Refs = make([]string, len(set)), make([]string, len(set))
		for j := range set {
			sig.EventIDs[j], sig.Refs[j] = set[j].EventID, set[j].ContactID
		}
		s.Contacts = slices.Delete(s.Contacts, i, i+p.cfg.FailedContacts)
	} else {
		sig.At, sig.EventIDs = t, []string{ev.ID}
	}
	if !s.addSignal(sig, p.cfg.MaxSignals) {
		return true, nil
	}
	if p.cfg.Debounce == 0 || s.Triggered.IsZero() || t.Sub(s.Triggered) >= p.cfg.Debounce {
		out.Emit(p.trigger(s, ev, t))
		if t.After(s.Triggered) {
			s.Triggered = t
		}
	}
	return true, nil
}

// trigger reports every signal not yet reported, and marks them.
func (p *Processor) trigger(s *State, ev *journey.Event, at time.Time) journey.Trigger {
	var (
		causes  []string
		codes   []string
		signals []map[string]any
	)
	for i := range s.Signals {
		x := &s.Signals[i]
		if x.Reported {
			continue
		}
		x.Reported = true
		causes = append(causes, x.EventIDs...)
		if !slices.Contains(codes, x.Reason) {
			codes = append(codes, x.Reason)
		}
		signals = append(signals, detail(x, true))
	}
	return journey.Trigger{
		ID:         journey.TriggerID(p.rule, ev.CustomerID, ev.ID),
		Rule:       p.rule,
		CustomerID: ev.CustomerID,
		Channel:    p.cfg.Target,
		At:         at,
		Reason:     Reason,
		Causes:     causes,
		Payload:    map[string]any{"reasons": codes, "signals": signals},
	}
}

// detail describes a signal for the payload (with its event ids) or the
// context (without).
func detail(x *Signal, events bool) map[string]any {
	d := map[string]any{"reason": x.Reason, "at": x.At}
	if events {
		d["event_ids"] = x.EventIDs
	}
	set := func(key, v string) {
		if v != "" {
			d[key] = v
		}
	}
	switch x.Reason {
	case ReasonLowRating:
		set("product_id", x.Refs[0])
		d["rating"] = x.Score
	case ReasonLowSurveyScore:
		set("survey_id", x.Refs[0])
		d["score"], d["scale"] = x.Score, x.Scale
	case ReasonComplaint:
		set("complaint_id", x.Refs[0])
	case ReasonSpamReport:
		set("campaign_id", x.Refs[0])
	case ReasonFailedContacts:
		ids := make([]string, 0, len(x.Refs))
		for _, r := range x.Refs {
			if r != "" {
				ids = append(ids, r)
			}
		}
		if len(ids) > 0 {
			d["contact_ids"] = ids
		}
		d["count"] = len(x.EventIDs)
	}
	return d
}

// Last is the recovery.last context field.
type Last struct {
	At             time.Time        `json:"at,omitzero"`
	Reasons        []string         `json:"reasons,omitempty"`
	TriggeredAt    time.Time        `json:"triggered_at,omitzero"`
	FailedContacts int              `json:"failed_contacts,omitempty"`
	Signals        []map[string]any `json:"signals,omitempty"`
}

// Last returns what recovery.last shows of s.
func (s *State) Last() Last {
	l := Last{TriggeredAt: s.Triggered, FailedContacts: len(s.Contacts)}
	for i := len(s.Signals) - 1; i >= 0; i-- {
		x := &s.Signals[i]
		if l.At.IsZero() {
			l.At = x.At
		}
		if !slices.Contains(l.Reasons, x.Reason) {
			l.Reasons = append(l.Reasons, x.Reason)
		}
		if len(l.Signals) < maxContextSignals {
			l.Signals = append(l.Signals, detail(x, false))
		}
	}
	return l
}

// Context implements journey.ContextSource: the recovery.last field.
func (p *Processor) Context(st journey.State) map[string]string {
	s, ok := st.(*State)
	if !ok || s == nil {
		return nil
	}
	b, err := json.Marshal(s.Last())
	if err != nil { // cannot happen: strings, numbers and valid times
		return nil
	}
	return map[string]string{p.ctxLast: string(b)}
}
