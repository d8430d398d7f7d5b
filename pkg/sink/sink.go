// Package sink is the plug point through which committed triggers and
// customer-context updates leave the processor: the outbox dispatcher hands
// each committed batch to a Sink and retries it until Deliver returns nil.
//
// Implementations:
//   - redissink: the production sink, Redis Streams per channel and one hash
//     per customer. Its package comment is the contract downstream services
//     code against.
//   - memsink: in memory, for unit tests of the pipeline.
//
// Every implementation must pass the contract suite in sinktest.
package sink

import (
	"context"
	"errors"
	"fmt"

	"github.com/journey-dev/journey/pkg/journey"
)

// Sink delivers committed triggers and customer-context updates downstream.
//
// A Sink is safe for concurrent use. It keeps no state a restart would lose:
// everything it needs to stay idempotent lives in the store it writes to.
type Sink interface {
	// Deliver is idempotent on Trigger.ID: delivering a trigger again — in the same
	// batch, a later batch, or after a process restart — never adds a second entry.
	// It returns nil only when every item was accepted. On error some items may have
	// been delivered; the caller retries the whole batch. Errors wrap ErrRetriable when
	// a retry may succeed (connection refused/reset, timeout, LOADING, BUSY, but also
	// errors an operator cures, such as a denied command or a key of the wrong type);
	// other errors are fatal.
	//
	// A Sink may deliver the triggers it can and report the others: a
	// Deliver error wrapping *Held says which triggers were not delivered
	// (the rest of the batch, contexts included, was).
	//
	// Triggers are delivered in batch order, then contexts in batch order.
	// A batch that fails Validate is rejected before anything is delivered.
	// When ctx is done the error wraps ctx.Err(); a deadline also wraps
	// ErrRetriable, a cancellation does not (the caller is stopping).
	Deliver(ctx context.Context, b Batch) error
}

// Batch is what one outbox commit hands to a Sink.
type Batch struct {
	Triggers []journey.Trigger
	Contexts []Context
}

// Context is the latest customer context a processor run produced: the fields
// replace those of the same names in the customer's hash; other fields are
// kept. Delete removes the whole hash (an identity merge, then `journey
// forget`); Forget, with Delete, also erases the customer's entries from
// the trigger streams and their trigger-id keys (`journey forget`).
type Context struct {
	CustomerID string
	Fields     map[string]string
	Delete     bool
	Forget     bool
}

// ErrRetriable is wrapped by Deliver errors after which retrying the same
// batch may succeed. Test for it with errors.Is.
var ErrRetriable = errors.New("sink: retriable")

// ErrInvalid is wrapped by Deliver errors for a batch that can never be
// delivered (a trigger with no id, a context with no customer...). It is
// fatal: retrying the batch gives the same error.
var ErrInvalid = errors.New("sink: invalid batch")

// Len reports how many items b holds.
func (b *Batch) Len() int { return len(b.Triggers) + len(b.Contexts) }

// Validate checks what every Sink needs from a batch: each trigger has an
// ID, a Channel, a CustomerID, a Rule and an event time; each context has a
// CustomerID and either Fields or Delete, not both. Errors wrap ErrInvalid
// and name the item by index and id, never by personal data.
func (b *Batch) Validate() error {
	for i := range b.Triggers {
		t := &b.Triggers[i]
		var missing string
		switch {
		case t.ID == "":
			missing = "ID"
		case t.Channel == "":
			missing = "Channel"
		case t.CustomerID == "":
			missing = "CustomerID"
		case t.Rule == "":
			missing = "Rule"
		case t.At.IsZero():
			missing = "At"
		}
		if missing != "" {
			return fmt.Errorf("%w: trigger %d (id %q): %s is empty", ErrInvalid, i, t.ID, missing)
		}
	}
	for i := range b.Contexts {
		c := &b.Contexts[i]
		switch {
		case c.CustomerID == "":
			return fmt.Errorf("%w: context %d: CustomerID is empty", ErrInvalid, i)
		case (c.Delete || c.Forget) && len(c.Fields) > 0:
			return fmt.Errorf("%w: context %d: Delete with Fields", ErrInvalid, i)
		}
	}
	return nil
}

// CtxErr returns nil while ctx is live, else an error wrapping ctx.Err(),
// and also ErrRetriable when the deadline passed: a timeout may succeed on
// retry, a cancellation means the caller is stopping. Implementations use it
// so every Sink reports a done ctx the same way.
func CtxErr(ctx context.Context) error {
	err := ctx.Err()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", ErrRetriable, err)
	default:
		return fmt.Errorf("sink: %w", err)
	}
}

// Failure gives a Deliver error a short, fixed reason code ("noperm",
// "wrongtype", "unavailable"...) for the delivery-failure metric and
// /readyz; a Sink wraps its errors in one where it can.
type Failure struct {
	Reason string
	Err    error
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// Reason returns the reason code of the Failure in err's chain, else
// "retriable" or "fatal".
func Reason(err error) string {
	var f *Failure
	switch {
	case errors.As(err, &f) && f.Reason != "":
		return f.Reason
	case errors.Is(err, ErrRetriable):
		return "retriable"
	default:
		return "fatal"
	}
}

// Held is wrapped by a Deliver error when only some of a batch's triggers
// failed, each for a reason of its own key (a channel's stream of the wrong
// type): Triggers lists their indexes in the batch, in order. Every other
// trigger and every context was delivered.
type Held struct {
	Triggers []int
	Err      error // the first trigger's error
}

func (h *Held) Error() string {
	return fmt.Sprintf("%d trigger(s) held: %v", len(h.Triggers), h.Err)
}
func (h *Held) Unwrap() error { return h.Err }
