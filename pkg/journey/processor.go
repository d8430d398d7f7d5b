package journey

// State is one processor's state for one customer. A processor owns its
// encoding; the store persists the processor's name and StateVersion with
// the bytes so data written by an incompatible version fails loudly.
type State interface {
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}

// Processor folds events into its slice of a customer's state and emits
// triggers. Implementations live under processors/, one package each, and
// are registered in one explicit list.
//
// Fold must be deterministic: a function of the state and the event only
// (event time, never the wall clock), with no I/O. It must not panic; an
// error is treated as fatal for the partition.
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

// Output collects what a fold produces besides state.
type Output struct {
	Triggers []Trigger
}

// Emit records a trigger.
func (o *Output) Emit(t Trigger) { o.Triggers = append(o.Triggers, t) }

// Reset empties o for reuse without freeing its memory.
func (o *Output) Reset() { o.Triggers = o.Triggers[:0] }
