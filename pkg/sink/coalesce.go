package sink

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Coalesce returns a Sink that merges the batches delivered to it
// concurrently into one Deliver of s: every partition's dispatcher hands
// over a few items per round, and one round trip for all of them
// costs the sink (and Redis) far less than one per partition. Rounds run
// one at a time, in the order the batches arrived, so a partition's
// batches reach s in its order and a batch handed over after another
// returned is delivered after it.
//
// A merged round that fails with a retriable error fails every batch in
// it (each dispatcher retries its own); one that fails otherwise is
// delivered again batch by batch, so a batch s rejects fails alone. One
// that holds some triggers (Held) fails only the batches they came from,
// each with a Held of its own indexes; the others were delivered.
func Coalesce(s Sink) Sink { return &coalescer{inner: s} }

type coalescer struct {
	inner   Sink
	mu      sync.Mutex
	pending []*call
	running bool
}

type call struct {
	b    Batch
	err  error
	done chan struct{}
}

// roundTimeout bounds a round no caller can cancel (its callers may have
// given up): the sink's own timeouts end it well before.
const roundTimeout = time.Minute

func (c *coalescer) Deliver(ctx context.Context, b Batch) error {
	if err := CtxErr(ctx); err != nil {
		return err
	}
	if err := b.Validate(); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	cl := &call{b: b, done: make(chan struct{})}
	c.mu.Lock()
	c.pending = append(c.pending, cl)
	if !c.running {
		c.running = true
		go c.drain() // one goroutine per busy spell; it ends when nothing waits
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl.err
	case <-ctx.Done():
		// The batch may still be delivered; the caller retries it later
		// (a Sink is idempotent), in a later round.
		return CtxErr(ctx)
	}
}

func (c *coalescer) drain() {
	for {
		c.mu.Lock()
		calls := c.pending
		c.pending = nil
		if len(calls) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.round(calls)
	}
}

func (c *coalescer) round(calls []*call) {
	ctx, cancel := context.WithTimeout(context.Background(), roundTimeout)
	defer cancel()
	defer func() {
		for _, cl := range calls {
			close(cl.done)
		}
	}()
	if len(calls) == 1 {
		calls[0].err = c.inner.Deliver(ctx, calls[0].b)
		return
	}
	var merged Batch
	for _, cl := range calls {
		merged.Triggers = append(merged.Triggers, cl.b.Triggers...)
		merged.Contexts = append(merged.Contexts, cl.b.Contexts...)
	}
	err := c.inner.Deliver(ctx, merged)
	var held *Held
	if errors.As(err, &held) {
		splitHeld(calls, held, err)
		return
	}
	if err == nil || errors.Is(err, ErrRetriable) {
		for _, cl := range calls {
			cl.err = err
		}
		return
	}
	for _, cl := range calls {
		cl.err = c.inner.Deliver(ctx, cl.b)
	}
}

// splitHeld gives each call of a merged round the part of held (indexes in
// the merged batch) that falls in its triggers: nil when none, else err
// with a Held of the call's own indexes.
func splitHeld(calls []*call, held *Held, err error) {
	off, i := 0, 0
	for _, cl := range calls {
		n := len(cl.b.Triggers)
		var mine []int
		for ; i < len(held.Triggers) && held.Triggers[i] < off+n; i++ {
			mine = append(mine, held.Triggers[i]-off)
		}
		if len(mine) > 0 {
			cl.err = &Held{Triggers: mine, Err: err}
		}
		off += n
	}
}
