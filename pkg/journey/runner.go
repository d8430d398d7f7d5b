package journey

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Timer is one armed timer: the processor's key for a customer, due when
// the watermark reaches At.
type Timer struct {
	At        time.Time
	Customer  string
	Processor string
	Key       string
}

// TimerStore is the durable timer index a Runner drives: pkg/state
// implements it on Pebble (in the same batch as the state), MemTimers in
// memory. Due timers come out in Compare order, so every implementation
// fires them in the same order.
type TimerStore interface {
	// Set arms (or moves) the timer (customer, processor, key).
	Set(t Timer) error
	// Cancel disarms it; a timer that is not armed is not an error.
	Cancel(customer, processor, key string) error
	// PopDue removes and returns the first timer in Compare order with
	// At <= upTo, if any.
	PopDue(upTo time.Time) (Timer, bool, error)
}

// Compare orders timers by fire time, then customer, processor and key,
// each compared by length first, then bytes (the order of their
// length-prefixed encoding in the state store).
func Compare(a, b Timer) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	for _, p := range [...][2]string{{a.Customer, b.Customer}, {a.Processor, b.Processor}, {a.Key, b.Key}} {
		if c := cmp.Compare(len(p[0]), len(p[1])); c != 0 {
			return c
		}
		if c := cmp.Compare(p[0], p[1]); c != 0 {
			return c
		}
	}
	return 0
}

// MemTimers is an in-memory TimerStore (tests, golden files, tools).
type MemTimers struct{ ts []Timer }

func (m *MemTimers) find(customer, processor, key string) int {
	return slices.IndexFunc(m.ts, func(t Timer) bool {
		return t.Customer == customer && t.Processor == processor && t.Key == key
	})
}

// Set implements TimerStore.
func (m *MemTimers) Set(t Timer) error {
	if i := m.find(t.Customer, t.Processor, t.Key); i >= 0 {
		m.ts = slices.Delete(m.ts, i, i+1)
	}
	i, _ := slices.BinarySearchFunc(m.ts, t, Compare)
	m.ts = slices.Insert(m.ts, i, t)
	return nil
}

// Cancel implements TimerStore.
func (m *MemTimers) Cancel(customer, processor, key string) error {
	if i := m.find(customer, processor, key); i >= 0 {
		m.ts = slices.Delete(m.ts, i, i+1)
	}
	return nil
}

// PopDue implements TimerStore.
func (m *MemTimers) PopDue(upTo time.Time) (Timer, bool, error) {
	if len(m.ts) == 0 || m.ts[0].At.After(upTo) {
		return Timer{}, false, nil
	}
	t := m.ts[0]
	m.ts = m.ts[1:]
	return t, true, nil
}

// Pending returns the armed timers in firing order.
func (m *MemTimers) Pending() []Timer { return slices.Clone(m.ts) }

// ErrLate reports an event older than the watermark under the dead-letter
// late policy.
var ErrLate = errors.New("journey: event older than the watermark")

// Runner applies events and timers to customers in the one order that
// makes folds deterministic, whatever the batch sizes: before each event,
// the watermark moves to the event's time minus the allowed lateness and
// every timer due by then fires, in Compare order; then the event is
// folded. Advance moves the watermark without an event (an idle partition
// in live mode, the end of a replay).
//
// A Runner is used by one goroutine. It caches the customers it touched
// until Committed or Reset; Touched lists them in first-touch order for
// the commit. After Committed it retains up to Retain of them, least
// recently used out first, so a customer seen again soon is neither read
// nor decoded again.
type Runner struct {
	engine *Engine
	load   Loader
	// Timers is the timer index; set it (e.g. to one bound to the current
	// batch) before Apply or Advance.
	Timers TimerStore
	// Lateness is subtracted from event times to get the watermark.
	Lateness time.Duration
	// Ceiling, when not zero, is a time Apply never moves the watermark
	// past: an event dated later is folded, but takes the watermark only to
	// Ceiling, so one future-dated event cannot fire every armed timer.
	// The caller sets it before each Apply (the pipeline: the record's
	// Kafka timestamp, capped by the wall clock, + timers.max_skew).
	Ceiling time.Time
	// DropLate, when set, makes Apply refuse (ErrLate) an event older than
	// the watermark; otherwise such an event is folded, and timers that
	// already fired stay fired.
	DropLate bool
	// Retain is how many committed customers stay decoded between
	// batches. Zero retains none.
	Retain int
	// SkipTimer, when set, is asked about every due timer before it
	// fires: one it returns true for is disarmed without firing (the
	// pipeline drops a timer whose OnTimer failed this way).
	SkipTimer func(Timer) bool

	watermark time.Time
	customers map[string]*Customer // touched since the last commit
	order     []*Customer
	retained  map[string]*Customer // committed, clean; also on the list below
	lru       Customer             // sentinel: lru.next is the most recently used
}

// NewRunner returns a runner folding through engine and loading customers
// it has not cached with load.
func NewRunner(engine *Engine, load Loader) *Runner {
	r := &Runner{engine: engine, load: load, customers: map[string]*Customer{}, retained: map[string]*Customer{}}
	r.lru.prev, r.lru.next = &r.lru, &r.lru
	return r
}

// Watermark is the current watermark (zero before any event).
func (r *Runner) Watermark() time.Time { return r.watermark }

// SetWatermark restores a watermark (from the state store).
func (r *Runner) SetWatermark(t time.Time) { r.watermark = t }

// Customer returns the loaded customer id, from the cache or the loader.
func (r *Runner) Customer(id string) (*Customer, error) {
	if c := r.customers[id]; c != nil {
		return c, nil
	}
	if c := r.retained[id]; c != nil {
		delete(r.retained, id)
		c.prev.next, c.next.prev = c.next, c.prev
		c.prev, c.next = nil, nil
		r.customers[id] = c
		r.order = append(r.order, c)
		return c, nil
	}
	c := r.engine.NewCustomer(id)
	if err := r.engine.Load(c, r.load); err != nil {
		return nil, err
	}
	r.customers[id] = c
	r.order = append(r.order, c)
	return c, nil
}

// Pointer marks c as an id that only points at another customer (an
// identity link): it is not retained after the commit, so the ids a
// customer's events carry besides its own do not crowd the customers out
// of the cache. A later event addressed to it loads its link again.
func (r *Runner) Pointer(c *Customer) { c.pointer = true }

// Touched lists the customers cached since the last Committed or Reset,
// in the order they were first touched.
func (r *Runner) Touched() []*Customer { return r.order }

// Committed tells the runner that the touched customers' states are
// durable: they become clean and are retained (up to Retain).
func (r *Runner) Committed() {
	for _, c := range r.order {
		// What was written is stored now; a detached customer's states
		// were deleted.
		c.Stored = !c.Detached && (c.Stored || c.IsDirty())
		clear(c.Dirty)
		c.Detached = false
		if r.Retain <= 0 || c.pointer {
			c.pointer = false
			continue
		}
		r.retained[c.ID] = c
		c.prev, c.next = &r.lru, r.lru.next
		c.prev.next, c.next.prev = c, c
	}
	for len(r.retained) > r.Retain {
		c := r.lru.prev
		c.prev.next, c.next.prev = c.next, c.prev
		c.prev, c.next = nil, nil
		delete(r.retained, c.ID)
	}
	clear(r.customers)
	r.order = r.order[:0]
}

// Reset forgets the customers touched since the last commit: their
// in-memory changes belong to an abandoned batch and must not survive.
// Retained customers are clean and stay.
func (r *Runner) Reset() {
	clear(r.customers)
	r.order = r.order[:0]
}

// Forget drops every cached customer, retained ones included (the state
// store changed underneath the runner).
func (r *Runner) Forget() {
	r.Reset()
	clear(r.retained)
	r.lru.prev, r.lru.next = &r.lru, &r.lru
}

// Late reports whether ev is older than the watermark.
func (r *Runner) Late(ev *Event) bool {
	return !r.watermark.IsZero() && ev.Time.Before(r.watermark)
}

// Apply fires the timers ev's time makes due, then folds ev. Triggers,
// suppressions and timer changes accumulate in out.
func (r *Runner) Apply(ev *Event, out *Output) error {
	if r.Late(ev) {
		if r.DropLate {
			return ErrLate
		}
	} else if err := r.Advance(r.capped(ev.Time.Add(-r.Lateness)), out); err != nil {
		return err
	}
	c, err := r.Customer(ev.CustomerID)
	if err != nil {
		return err
	}
	mark := len(out.Timers)
	if err := r.engine.Fold(c, ev, out); err != nil {
		return err
	}
	return r.applyTimers(c.ID, out.Timers[mark:])
}

// capped is to, or Ceiling if that is set and earlier.
func (r *Runner) capped(to time.Time) time.Time {
	if !r.Ceiling.IsZero() && to.After(r.Ceiling) {
		return r.Ceiling
	}
	return to
}

// Advance moves the watermark to to (never backwards) and fires every
// timer due by then.
func (r *Runner) Advance(to time.Time, out *Output) error {
	if !to.After(r.watermark) {
		return nil
	}
	r.watermark = to
	if r.Timers == nil {
		return nil
	}
	for {
		t, ok, err := r.Timers.PopDue(to)
		if err != nil {
			return fmt.Errorf("journey: timers: %w", err)
		}
		if !ok {
			return nil
		}
		if r.SkipTimer != nil && r.SkipTimer(t) {
			continue
		}
		c, err := r.Customer(t.Customer)
		if err != nil {
			return err
		}
		mark := len(out.Timers)
		if err := r.engine.FireTimer(c, t.Processor, t.Key, t.At, out); err != nil {
			return err
		}
		if err := r.applyTimers(c.ID, out.Timers[mark:]); err != nil {
			return err
		}
	}
}

func (r *Runner) applyTimers(customer string, ops []TimerOp) error {
	if len(ops) == 0 {
		return nil
	}
	if r.Timers == nil {
		return errors.New("journey: a processor set a timer but the runner has no timer store")
	}
	for _, op := range ops {
		var err error
		if op.Cancel {
			err = r.Timers.Cancel(customer, op.Processor, op.Key)
		} else {
			err = r.Timers.Set(Timer{At: op.At, Customer: customer, Processor: op.Processor, Key: op.Key})
		}
		if err != nil {
			return fmt.Errorf("journey: timers: %w", err)
		}
	}
	return nil
}
