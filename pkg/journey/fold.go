package journey

import (
	"errors"
	"fmt"
	"maps"
)

// Customer is one customer's state across all processors, as loaded for a
// group of events. States[i] belongs to the engine's i-th processor; nil
// means "not loaded yet". Dirty[i] says States[i] changed since it was
// loaded.
type Customer struct {
	ID     string
	States []State
	Dirty  []bool
}

// Loader reads a customer's stored state for one processor into st
// (already NewState()). It reports whether anything was stored.
type Loader func(customerID string, p Processor, st State) (found bool, err error)

// Engine folds events through a fixed, ordered list of processors.
type Engine struct {
	procs []Processor
	ctx   []ContextSource // ctx[i] is procs[i] as a ContextSource, or nil
}

// ErrFold wraps a processor failure. It is fatal for the partition: folds
// are deterministic, so retrying the same event would fail again.
var ErrFold = errors.New("journey: fold failed")

// NewEngine checks the processors (non-empty, unique names) and returns an
// engine that applies them in the given order.
func NewEngine(procs ...Processor) (*Engine, error) {
	if len(procs) == 0 {
		return nil, errors.New("journey: no processors")
	}
	e := &Engine{procs: procs, ctx: make([]ContextSource, len(procs))}
	seen := map[string]bool{}
	for i, p := range procs {
		if p.Name() == "" {
			return nil, fmt.Errorf("journey: processor %d has no name", i)
		}
		if seen[p.Name()] {
			return nil, fmt.Errorf("journey: processor %q registered twice", p.Name())
		}
		seen[p.Name()] = true
		e.ctx[i], _ = p.(ContextSource)
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
		if _, err := load(c.ID, p, st); err != nil {
			return fmt.Errorf("journey: load %s state: %w", p.Name(), err)
		}
		c.States[i] = st
	}
	return nil
}

// Fold applies ev to every processor's state of c (which must be loaded),
// appending triggers to out. A processor error or panic wraps ErrFold.
func (e *Engine) Fold(c *Customer, ev *Event, out *Output) (err error) {
	for i, p := range e.procs {
		changed, ferr := safeFold(p, c.States[i], ev, out)
		if ferr != nil {
			return fmt.Errorf("%w: processor %s, event %s: %v", ErrFold, p.Name(), ev.ID, ferr)
		}
		if changed {
			c.Dirty[i] = true
		}
	}
	return nil
}

func safeFold(p Processor, st State, ev *Event, out *Output) (changed bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return p.Fold(st, ev, out)
}

// Context merges the context-hash fields of every ContextSource processor
// for c (which must be loaded).
func (e *Engine) Context(c *Customer) map[string]string {
	fields := map[string]string{}
	for i, cs := range e.ctx {
		if cs != nil && c.States[i] != nil {
			maps.Copy(fields, cs.Context(c.States[i]))
		}
	}
	return fields
}

// IsDirty reports whether any of c's states changed.
func (c *Customer) IsDirty() bool {
	for _, d := range c.Dirty {
		if d {
			return true
		}
	}
	return false
}
