package journey

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"time"
)

// Customer is one customer's state across all processors, as loaded for
// the events folded together. States[i] belongs to the engine's i-th
// processor; nil means "not loaded yet". Dirty[i] says States[i] changed
// since it was loaded.
type Customer struct {
	ID     string
	States []State
	Dirty  []bool
	// Stored says the loader found some state of the customer (Load).
	Stored bool
	// Detached says the customer's states moved into another customer's
	// (Runner.Detach): the commit deletes them, but for the identity slot.
	Detached bool
	// pointer says the customer is only a link to another (Runner.Pointer):
	// not retained after the commit.
	pointer bool

	prev, next *Customer // a Runner's retained-customer list
	// ctxFull is when ContextChanges last returned every part (zero: not
	// since the customer was loaded).
	ctxFull time.Time
}

// Loader reads a customer's stored state for one processor into st
// (already NewState()). It reports whether anything was stored.
type Loader func(customerID string, p Processor, st State) (found bool, err error)

// Engine folds events through a fixed, ordered list of processors.
//
// At most one of them may be a Policy (the contact policy): it is folded
// after the others, and every trigger any processor emits goes through its
// Admit before it reaches Output.Triggers. Without a Policy every trigger
// is admitted.
type Engine struct {
	procs     []Processor
	ctx       []ContextSource // ctx[i] is procs[i] as a ContextSource, or nil
	policy    Policy
	policyAt  int   // index of the policy in procs, or -1
	observers []int // indexes of the TriggerObservers in procs
	prefAt    int   // index of the ChannelPreferrer, or -1
	index     map[string]int
}

// ErrFold is what every *FoldError is: folds are deterministic, so
// retrying the same event or timer would fail again. The pipeline
// dead-letters the event, or drops the timer, and goes on.
var ErrFold = errors.New("journey: fold failed")

// FoldError is a processor's failure on one event or one timer: an error
// it returned, or a panic the Engine recovered. Its text names the
// processor and carries the error's text (a processor's errors are ours,
// and must hold no event values) or, for a panic, only the panic value's
// type: the value could hold anything.
type FoldError struct {
	Processor string
	// Timer is the timer being fired, or nil for an event.
	Timer *Timer
	// Err is the processor's error; nil for a panic.
	Err error
	// Panic is the panic value's type ("" for an error); Stack the stack
	// of the panicking call, whose frames' arguments are machine words.
	Panic string
	Stack []byte
}

// Error names the processor and the error, or the panic's type.
func (e *FoldError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("%v: panic in %s (%s)", ErrFold, e.Processor, e.Panic)
	}
	return fmt.Sprintf("%v: processor %s: %v", ErrFold, e.Processor, e.Err)
}

// Unwrap returns ErrFold and the processor's error.
func (e *FoldError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrFold}
	}
	return []error{ErrFold, e.Err}
}

// NewEngine checks the processors (non-empty, unique names) and returns an
// engine that applies them in the given order.
func NewEngine(procs ...Processor) (*Engine, error) {
	if len(procs) == 0 {
		return nil, errors.New("journey: no processors")
	}
	e := &Engine{procs: procs, ctx: make([]ContextSource, len(procs)), policyAt: -1, prefAt: -1, index: map[string]int{}}
	for i, p := range procs {
		if p.Name() == "" {
			return nil, fmt.Errorf("journey: processor %d has no name", i)
		}
		if _, dup := e.index[p.Name()]; dup {
			return nil, fmt.Errorf("journey: processor %q registered twice", p.Name())
		}
		e.index[p.Name()] = i
		e.ctx[i], _ = p.(ContextSource)
		if pol, ok := p.(Policy); ok {
			if e.policy != nil {
				return nil, fmt.Errorf("journey: two contact policies: %q and %q", e.policy.Name(), p.Name())
			}
			e.policy, e.policyAt = pol, i
		}
		if _, ok := p.(TriggerObserver); ok {
			e.observers = append(e.observers, i)
		}
		if _, ok := p.(ChannelPreferrer); ok && e.prefAt < 0 {
			e.prefAt = i
		}
	}
	return e, nil
}

// Processors returns the processors in fold order.
func (e *Engine) Processors() []Processor { return e.procs }

// Versions maps each processor's name to its state version.
func (e *Engine) Versions() map[string]uint32 {
	m := make(map[string]uint32, len(e.procs))
	for _, p := range e.procs {
		m[p.Name()] = p.StateVersion()
	}
	return m
}

// NewCustomer returns an empty, unloaded Customer for this engine.
func (e *Engine) NewCustomer(id string) *Customer {
	return &Customer{ID: id, States: make([]State, len(e.procs)), Dirty: make([]bool, len(e.procs))}
}

// Load fills c's states that are not loaded yet, using load.
func (e *Engine) Load(c *Customer, load Loader) error {
	for i, p := range e.procs {
		if c.States[i] != nil {
			continue
		}
		st := p.NewState()
		found, err := load(c.ID, p, st)
		if err != nil {
			return fmt.Errorf("journey: load %s state: %w", p.Name(), err)
		}
		c.Stored = c.Stored || found
		c.States[i] = st
	}
	return nil
}

// Fold applies ev to every processor's state of c (which must be loaded),
// then passes the triggers they emitted through the contact policy into
// out. Timer requests are left in out.Timers, tagged with the processor. A
// processor error or panic is a *FoldError; c's states may then be half
// folded, so the caller must discard them (Runner.Reset).
func (e *Engine) Fold(c *Customer, ev *Event, out *Output) error {
	m := out.decisionMarks()
	for i, p := range e.procs {
		if i == e.policyAt {
			continue
		}
		if err := e.foldOne(c, i, p, ev, out); err != nil {
			return err
		}
	}
	if e.policy != nil {
		if err := e.foldOne(c, e.policyAt, e.policy, ev, out); err != nil {
			return err
		}
	}
	if err := e.admit(c, ev.Time, out); err != nil {
		return err
	}
	return e.observe(c, m, ev.Time, out)
}

// foldOne folds ev through the i-th processor, p.
func (e *Engine) foldOne(c *Customer, i int, p Processor, ev *Event, out *Output) error {
	return e.step(c, i, out, func() (bool, error) {
		if err := injectedFault(p, ev); err != nil { // nil but in a journeyfaults build (faults.go)
			return false, err
		}
		return p.Fold(c.States[i], ev, out)
	})
}

// FireTimer runs the OnTimer of the processor that set the timer key for
// c (which must be loaded), then admits what it emitted like Fold does.
// A failure is a *FoldError naming the timer.
func (e *Engine) FireTimer(c *Customer, processor, key string, at time.Time, out *Output) error {
	err := e.fireTimer(c, processor, key, at, out)
	if fe, ok := err.(*FoldError); ok {
		fe.Timer = &Timer{At: at, Customer: c.ID, Processor: processor, Key: key}
	}
	return err
}

func (e *Engine) fireTimer(c *Customer, processor, key string, at time.Time, out *Output) error {
	i, ok := e.index[processor]
	if !ok {
		return &FoldError{Processor: processor, Err: fmt.Errorf("timer %q of an unknown processor", key)}
	}
	th, ok := e.procs[i].(TimerHandler)
	if !ok {
		return &FoldError{Processor: processor, Err: fmt.Errorf("timer %q set, but it handles no timers", key)}
	}
	m := out.decisionMarks()
	if err := e.step(c, i, out, func() (bool, error) { return th.OnTimer(c.States[i], c.ID, key, at, out) }); err != nil {
		return err
	}
	if err := e.admit(c, at, out); err != nil {
		return err
	}
	return e.observe(c, m, at, out)
}

// step runs the i-th processor's call, recovering a panic, marking the
// state dirty when it changed and tagging the timer requests and ignore
// reports it made. A
// failure is a *FoldError; a panic's keeps the type of its value (never
// the value) and the stack, which holds the frames' arguments only as
// machine words, never an event's fields.
func (e *Engine) step(c *Customer, i int, out *Output, call func() (bool, error)) (err error) {
	mark, ignoredMark := len(out.Timers), len(out.Ignored)
	defer func() {
		if r := recover(); r != nil {
			err = &FoldError{Processor: e.procs[i].Name(), Panic: fmt.Sprintf("%T", r),
				Stack: bytes.TrimSuffix(debug.Stack(), []byte("\n"))}
		}
	}()
	changed, err := call()
	if err != nil {
		return &FoldError{Processor: e.procs[i].Name(), Err: err}
	}
	if changed {
		c.Dirty[i] = true
	}
	for j := mark; j < len(out.Timers); j++ {
		out.Timers[j].Processor = e.procs[i].Name()
	}
	for j := ignoredMark; j < len(out.Ignored); j++ {
		out.Ignored[j].Processor = e.procs[i].Name()
	}
	return nil
}

// admit moves the pending triggers through the policy.
func (e *Engine) admit(c *Customer, now time.Time, out *Output) error {
	if len(out.pending) == 0 {
		return nil
	}
	pending := out.pending
	out.pending = nil
	defer func() { out.pending = pending[:0] }()
	if e.policy == nil {
		out.Triggers = append(out.Triggers, pending...)
		return nil
	}
	env := PolicyEnv{Preferred: func(time.Time) string { return "" }}
	if e.prefAt >= 0 {
		cp := e.procs[e.prefAt].(ChannelPreferrer)
		st := c.States[e.prefAt]
		env.Preferred = func(at time.Time) string { return cp.PreferredChannel(st, at) }
	}
	i := e.policyAt
	for _, t := range pending {
		if err := e.step(c, i, out, func() (bool, error) { return e.policy.Admit(c.States[i], t, now, env, out) }); err != nil {
			return err
		}
	}
	if len(out.pending) > 0 {
		return &FoldError{Processor: e.policy.Name(), Err: errors.New("emitted triggers instead of admitting them")}
	}
	return nil
}

// TriggerObserver is implemented by a processor that records what became
// of the triggers (the timeline). After the contact policy decided on the
// triggers of one fold, fired timer or merge, the engine calls
// ObserveTriggers of every observer, in processor order, with the
// decisions made during it — each slice in the order the policy made them
// — and the event time of the fold (the timer's time, the merge's), when
// there is at least one decision. An observer's Fold of the event runs
// before, so it sees the event before what the event caused. Like
// Fold it is deterministic, does no I/O and must not panic; it emits
// nothing and sets no timers.
type TriggerObserver interface {
	ObserveTriggers(st State, d Decisions, now time.Time) (changed bool, err error)
}

// Decisions are the contact policy's decisions on the triggers of one
// fold, fired timer or merge. Without a policy every trigger is Admitted.
type Decisions struct {
	Admitted   []Trigger
	Held       []Trigger
	Suppressed []Suppression
}

// Empty reports whether d holds no decision.
func (d Decisions) Empty() bool {
	return len(d.Admitted) == 0 && len(d.Held) == 0 && len(d.Suppressed) == 0
}

// decisionMarks are the lengths of out's decision slices before a step.
type decisionMarks [3]int

func (o *Output) decisionMarks() decisionMarks {
	return decisionMarks{len(o.Triggers), len(o.Held), len(o.Suppressed)}
}

// observe gives the decisions made since m to the TriggerObservers.
func (e *Engine) observe(c *Customer, m decisionMarks, now time.Time, out *Output) error {
	if len(e.observers) == 0 {
		return nil
	}
	d := Decisions{Admitted: out.Triggers[m[0]:], Held: out.Held[m[1]:], Suppressed: out.Suppressed[m[2]:]}
	if d.Empty() {
		return nil
	}
	for _, i := range e.observers {
		ob := e.procs[i].(TriggerObserver)
		if err := e.step(c, i, out, func() (bool, error) { return ob.ObserveTriggers(c.States[i], d, now) }); err != nil {
			return err
		}
	}
	return nil
}

// Context merges the context-hash fields of every ContextSource processor
// for c (which must be loaded).
func (e *Engine) Context(c *Customer) map[string]string {
	fields := map[string]string{}
	for _, part := range e.ContextParts(nil, c) {
		maps.Copy(fields, part)
	}
	return fields
}

// ContextParts returns each ContextSource processor's context fields for c
// (nil entries for the others), in processor order, in dst (reused).
func (e *Engine) ContextParts(dst []map[string]string, c *Customer) []map[string]string {
	return e.parts(dst, c, true)
}

// ContextChanges returns the context parts an update of c's context hash
// carries (in dst, reused): those of the processors whose state changed,
// nil for the others — the hash keeps their fields — or every part when
// the hash may lack some: c was loaded since the last full update, or that
// was refresh or longer before now (the hash may have expired; refresh <= 0
// makes every update full). A part is computed only when it is carried
// (a context is a function of its processor's state alone); a customer
// keeps none between calls, so a large customer cache holds states only.
func (e *Engine) ContextChanges(dst []map[string]string, c *Customer, now time.Time, refresh time.Duration) []map[string]string {
	full := refresh <= 0 || c.ctxFull.IsZero() || now.Sub(c.ctxFull) >= refresh
	if full {
		c.ctxFull = now
	}
	return e.parts(dst, c, full)
}

// parts computes, in dst, the context of every ContextSource processor
// (all) or of those whose state changed.
func (e *Engine) parts(dst []map[string]string, c *Customer, all bool) []map[string]string {
	dst = dst[:0]
	for i, cs := range e.ctx {
		var part map[string]string
		if cs != nil && c.States[i] != nil && (all || c.Dirty[i]) {
			part = cs.Context(c.States[i])
		}
		dst = append(dst, part)
	}
	return dst
}

// IsDirty reports whether any of c's states changed.
func (c *Customer) IsDirty() bool {
	if c.Detached {
		return true
	}
	for _, d := range c.Dirty {
		if d {
			return true
		}
	}
	return false
}

// Processor returns the processor named name, or nil.
func (e *Engine) Processor(name string) Processor {
	if i, ok := e.index[name]; ok {
		return e.procs[i]
	}
	return nil
}
