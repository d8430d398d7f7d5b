package journey

import "time"

// State is one processor's state for one customer. A processor owns its
// encoding; the store persists the processor's name and StateVersion with
// the bytes so data written by an incompatible version fails loudly. A
// State that also implements encoding.BinaryAppender is encoded through it
// into a buffer the pipeline reuses (it must append MarshalBinary's bytes;
// processortest checks it).
type State interface {
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}

// Processor folds events into its slice of a customer's state and emits
// triggers. Implementations live under processors/, one package each, and
// are registered in one explicit list.
//
// Fold must be deterministic: a function of the state and the event only
// (event time, never the wall clock), with no I/O. It must not panic. An
// error or a panic (which the Engine recovers) is a *FoldError: the
// pipeline dead-letters the event (reason fold_violation) with none of its
// effects applied, so an error's text must hold no event values.
type Processor interface {
	// Name is persisted with the state: renaming a processor orphans its state.
	Name() string
	// StateVersion is persisted with the state; bump it when the encoding
	// changes incompatibly.
	StateVersion() uint32
	// NewState returns the empty state of a customer never seen before.
	NewState() State
	// Fold applies ev to st, mutating it, and reports triggers and context
	// through out. It returns whether st changed.
	Fold(st State, ev *Event, out *Output) (changed bool, err error)
}

// ContextSource is implemented by processors that contribute fields to the
// customer context hash read by downstream services.
type ContextSource interface {
	// Context returns the fields this processor puts in the context hash.
	// Field names should be prefixed by the processor's name.
	Context(st State) map[string]string
}

// TimerHandler is implemented by processors that set timers (absence
// triggers: an abandoned cart, a dormant customer). OnTimer is called when
// the partition's watermark passes a timer the processor set for the
// customer; st is the customer's state of this processor. Like Fold it is
// deterministic and does no I/O. A processor should check its state to see
// whether the timer still means something (the cart may have checked out).
type TimerHandler interface {
	OnTimer(st State, customerID, key string, at time.Time, out *Output) (changed bool, err error)
}

// Output collects what a fold (or a fired timer) produces besides state.
type Output struct {
	// Triggers are the triggers admitted for delivery.
	Triggers []Trigger
	// Suppressed are triggers the contact policy stopped, with the reason.
	Suppressed []Suppression
	// Held are triggers the contact policy kept for later (quiet hours):
	// a record for TriggerObservers, nothing to deliver.
	Held []Trigger
	// Timers are the timer changes requested, in order. Processor is
	// filled in by the engine.
	Timers []TimerOp
	// Ignored are the events processors ignored for lacking what they
	// need (a Product Viewed without a category): the pipeline counts them
	// in journey_events_ignored_total{processor,reason}. Processor is
	// filled in by the engine.
	Ignored []Ignored

	pending []Trigger // emitted by processors, not yet through the policy
}

// TimerOp sets (or, with Cancel, removes) the timer Key of the current
// customer and processor. Setting a timer that exists moves it.
type TimerOp struct {
	Processor string
	Key       string
	At        time.Time
	Cancel    bool
}

// Suppression is a trigger the contact policy did not deliver, and why
// (e.g. "cooldown", "channel_cap", "quiet_hours", "no_consent").
type Suppression struct {
	Trigger Trigger
	Reason  string
}

// Ignored is one processor's report that it ignored the event for lacking
// what it needs. Reason is a fixed, short snake_case word of the
// processor's ("no_category", "no_cart_id"): a metric label, never a value
// from the event. An event a processor has no business with (a page view
// for the cart) is not ignored, just not folded: Ignore is for events of a
// kind the processor folds that miss a property it needs.
type Ignored struct {
	Processor string
	Reason    string
}

// Ignore reports that the current processor ignored the event, and why.
func (o *Output) Ignore(reason string) {
	o.Ignored = append(o.Ignored, Ignored{Reason: reason})
}

// Emit records a trigger. It reaches Triggers once the contact policy (if
// any) admitted it.
func (o *Output) Emit(t Trigger) { o.pending = append(o.pending, t) }

// SetTimer arms (or re-arms) the timer key for the current customer and
// processor to fire when the watermark reaches at.
func (o *Output) SetTimer(key string, at time.Time) {
	o.Timers = append(o.Timers, TimerOp{Key: key, At: at.UTC()})
}

// CancelTimer disarms the timer key of the current customer and processor.
func (o *Output) CancelTimer(key string) {
	o.Timers = append(o.Timers, TimerOp{Key: key, Cancel: true})
}

// Admit passes t to the delivered triggers: used by contact policies.
func (o *Output) Admit(t Trigger) { o.Triggers = append(o.Triggers, t) }

// Suppress records a trigger the contact policy stopped.
func (o *Output) Suppress(t Trigger, reason string) {
	o.Suppressed = append(o.Suppressed, Suppression{Trigger: t, Reason: reason})
}

// Hold records a trigger the contact policy kept for later: used by
// contact policies, for the TriggerObservers.
func (o *Output) Hold(t Trigger) { o.Held = append(o.Held, t) }

// Reset empties o for reuse without freeing its memory.
func (o *Output) Reset() {
	o.Triggers, o.Suppressed, o.Timers, o.pending = o.Triggers[:0], o.Suppressed[:0], o.Timers[:0], o.pending[:0]
	o.Ignored, o.Held = o.Ignored[:0], o.Held[:0]
}

// Policy is the contact policy: it sees every trigger every processor
// emits, before the outbox, and admits it (Output.Admit), suppresses it
// with a reason (Output.Suppress), or holds it (keeps it in its state and
// sets a timer; its OnTimer admits it later). It is a Processor with its
// own per-customer state, folded over every event like the others (consent,
// time zone), and a TimerHandler for held triggers.
type Policy interface {
	Processor
	TimerHandler
	// Admit decides on t, emitted at event time now for the customer whose
	// policy state is st. env gives read access to what other processors
	// know about the customer.
	Admit(st State, t Trigger, now time.Time, env PolicyEnv, out *Output) (changed bool, err error)
}

// ChannelPreferrer is implemented by a processor that knows on which
// channel a customer responds best; the policy uses it to route triggers
// whose channel is PreferredChannel.
type ChannelPreferrer interface {
	PreferredChannel(st State, at time.Time) string
}

// PreferredChannel is the trigger channel that asks the policy to route the
// trigger to the customer's preferred channel.
const PreferredChannel = "preferred"

// PolicyEnv is what a Policy may know about the customer beyond its own state.
type PolicyEnv struct {
	// Preferred returns the customer's preferred channel at a time, or ""
	// when unknown (or when no processor learns it).
	Preferred func(at time.Time) string
}
