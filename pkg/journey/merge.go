package journey

import (
	"fmt"
	"time"
)

// Merger is implemented by every processor: it moves the state of a
// customer whose id was just linked to another (an anonymous visitor who
// identified, an alias) into the canonical customer's.
//
// Merge folds from into into, the state of the canonical customer
// customerID (the id its triggers carry), as of at, the event time of the
// link. from is
// never used again. The result must be what folding every event of both
// customers under the canonical id would have given, as far as the
// processor's state can tell (views and scores decay by their own event
// times, not by at); where two values conflict the processor documents its
// rule. Like Fold, Merge is deterministic, does no I/O, and reports through
// out: triggers the merged state now warrants (emitted at at, through the
// contact policy), and the timers the merged state needs (a merged open
// cart's abandonment timer). The customer's timers are re-armed under the
// canonical id before Merge runs, each unless the canonical customer had a
// timer of the same key: Merge sets (or cancels) what it wants after that.
//
// A trigger the merged customer already had fired (under either id) for
// the same causes must not be emitted again.
type Merger interface {
	Merge(into, from State, customerID string, at time.Time, out *Output) (changed bool, err error)
}

// Merge moves the states from (from's, in the engine's processor order;
// nil entries are skipped) into c's (which must be loaded), as of at: the
// contact policy's state first, so the sends and consent of both ids
// govern what the other processors' merges emit, then the others in order;
// then the triggers they emitted pass the policy as Fold's do. A processor
// that is not a Merger keeps c's state and loses from's (a *FoldError
// would stall nothing, but drop a customer's state silently: NewEngine's
// callers check Mergers). An error is a *FoldError: c's states may be half
// merged, and the caller must discard them.
func (e *Engine) Merge(c *Customer, from []State, at time.Time, out *Output) error {
	if len(from) != len(e.procs) {
		return fmt.Errorf("journey: merge of %d states into an engine of %d processors", len(from), len(e.procs))
	}
	order := make([]int, 0, len(e.procs))
	if e.policyAt >= 0 {
		order = append(order, e.policyAt)
	}
	for i := range e.procs {
		if i != e.policyAt {
			order = append(order, i)
		}
	}
	m := out.decisionMarks()
	for _, i := range order {
		if from[i] == nil {
			continue
		}
		m, ok := e.procs[i].(Merger)
		if !ok {
			continue
		}
		if err := e.step(c, i, out, func() (bool, error) { return m.Merge(c.States[i], from[i], c.ID, at, out) }); err != nil {
			return err
		}
	}
	if err := e.admit(c, at, out); err != nil {
		return err
	}
	return e.observe(c, m, at, out)
}

// NotMergers names the engine's processors that do not implement Merger:
// their state would not follow a customer's merge.
func (e *Engine) NotMergers() []string {
	var names []string
	for _, p := range e.procs {
		if _, ok := p.(Merger); !ok {
			names = append(names, p.Name())
		}
	}
	return names
}

// Merge folds the states from (in engine order) of customer fromID into
// the customer into, as of at: the customer's timers (fromTimers, already
// disarmed by the caller under fromID) are re-armed under into unless it
// has a timer of the same processor and key (has reports that), then the
// engine merges the states and the timers the processors ask for are set.
// Triggers and timer changes accumulate in out; the watermark does not move.
func (r *Runner) Merge(into string, from []State, fromTimers []Timer, at time.Time, has func(processor, key string) (bool, error), out *Output) error {
	c, err := r.Customer(into)
	if err != nil {
		return err
	}
	if r.Timers != nil {
		for _, t := range fromTimers {
			if has != nil {
				dup, err := has(t.Processor, t.Key)
				if err != nil {
					return fmt.Errorf("journey: timers: %w", err)
				}
				if dup {
					continue
				}
			}
			t.Customer = into
			if err := r.Timers.Set(t); err != nil {
				return fmt.Errorf("journey: timers: %w", err)
			}
		}
	}
	mark := len(out.Timers)
	if err := r.engine.Merge(c, from, at, out); err != nil {
		return err
	}
	return r.applyTimers(c.ID, out.Timers[mark:])
}

// Detach takes customer id's states out of the runner for a merge into
// another customer: it returns them (in engine order, the identity slot
// nil) and leaves the customer with new, empty states and Detached set, so
// the commit deletes its stored states (all but the identity slot's).
func (r *Runner) Detach(id string) ([]State, error) {
	c, err := r.Customer(id)
	if err != nil {
		return nil, err
	}
	from := make([]State, len(c.States))
	for i, p := range r.engine.procs {
		if p.Name() == IdentityName {
			continue
		}
		from[i] = c.States[i]
		c.States[i] = p.NewState()
		c.Dirty[i] = false
	}
	c.Detached = true
	return from, nil
}

// Identity returns the identity slot of customer id (loaded), or nil when
// the engine has no Identity processor.
func (r *Runner) Identity(id string) (*Customer, *IdentityState, error) {
	i, ok := r.engine.index[IdentityName]
	if !ok {
		return nil, nil, nil
	}
	c, err := r.Customer(id)
	if err != nil {
		return nil, nil, err
	}
	return c, c.States[i].(*IdentityState), nil
}

// MarkIdentity marks c's identity slot changed.
func (r *Runner) MarkIdentity(c *Customer) {
	if i, ok := r.engine.index[IdentityName]; ok {
		c.Dirty[i] = true
	}
}
