package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
)

// recorder is an inner sink that records each Deliver's batch; the first
// one waits for gate so that others queue up behind it.
type recorder struct {
	mu      sync.Mutex
	batches []Batch
	entered chan struct{}
	gate    chan struct{}
	fail    func(Batch) error
}

func (r *recorder) Deliver(ctx context.Context, b Batch) error {
	r.mu.Lock()
	first := len(r.batches) == 0
	r.batches = append(r.batches, b)
	r.mu.Unlock()
	if first && r.gate != nil {
		close(r.entered)
		<-r.gate
	}
	if r.fail != nil {
		return r.fail(b)
	}
	return nil
}

func trigger(id, rule string) journey.Trigger {
	return journey.Trigger{ID: id, Rule: rule, CustomerID: "c-" + id, Channel: "web", At: time.Unix(1, 0)}
}

func waitPending(t *testing.T, c *coalescer, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		got := len(c.pending)
		c.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d batches pending, want %d", got, n)
		}
		time.Sleep(time.Millisecond) // polling for a state, not for a result
	}
}

// deliverQueued starts one Deliver that holds the inner sink, queues the
// others behind it, releases it and returns every call's error.
func deliverQueued(t *testing.T, r *recorder, batches []Batch) []error {
	t.Helper()
	r.entered, r.gate = make(chan struct{}), make(chan struct{})
	c := Coalesce(r).(*coalescer)
	errs := make([]error, len(batches))
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = c.Deliver(t.Context(), batches[0]) })
	<-r.entered
	for i := 1; i < len(batches); i++ {
		wg.Go(func() { errs[i] = c.Deliver(t.Context(), batches[i]) })
		waitPending(t, c, i) // queued in order
	}
	close(r.gate)
	wg.Wait()
	return errs
}

func TestCoalesceMergesConcurrentBatches(t *testing.T) {
	r := &recorder{}
	var batches []Batch
	for i := range 5 {
		batches = append(batches, Batch{
			Triggers: []journey.Trigger{trigger(fmt.Sprint(i, "a"), "r"), trigger(fmt.Sprint(i, "b"), "r")},
			Contexts: []Context{{CustomerID: fmt.Sprint("c", i), Fields: map[string]string{"k": "v"}}},
		})
	}
	for i, err := range deliverQueued(t, r, batches) {
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if len(r.batches) != 2 {
		t.Fatalf("the inner sink got %d batches, want 2 (the first, then the 4 queued merged)", len(r.batches))
	}
	m := r.batches[1]
	var ids, customers []string
	for _, tr := range m.Triggers {
		ids = append(ids, tr.ID)
	}
	for _, c := range m.Contexts {
		customers = append(customers, c.CustomerID)
	}
	if fmt.Sprint(ids) != "[1a 1b 2a 2b 3a 3b 4a 4b]" || fmt.Sprint(customers) != "[c1 c2 c3 c4]" {
		t.Fatalf("merged batch: triggers %v, contexts %v: not in arrival order", ids, customers)
	}
}

func TestCoalesceIsolatesARejectedBatch(t *testing.T) {
	r := &recorder{fail: func(b Batch) error {
		for _, tr := range b.Triggers {
			if tr.Rule == "bad" {
				return fmt.Errorf("%w: rule bad", ErrInvalid)
			}
		}
		return nil
	}}
	batches := []Batch{
		{Triggers: []journey.Trigger{trigger("0", "r")}},
		{Triggers: []journey.Trigger{trigger("1", "r")}},
		{Triggers: []journey.Trigger{trigger("2", "bad")}},
		{Triggers: []journey.Trigger{trigger("3", "r")}},
	}
	errs := deliverQueued(t, r, batches)
	for i, err := range errs {
		if (i == 2) != errors.Is(err, ErrInvalid) || i != 2 && err != nil {
			t.Fatalf("batch %d: %v (only batch 2 is rejected)", i, err)
		}
	}
}

func TestCoalesceFailsEveryBatchOfARetriableRound(t *testing.T) {
	down := fmt.Errorf("%w: down", ErrRetriable)
	r := &recorder{fail: func(Batch) error { return down }}
	batches := []Batch{
		{Triggers: []journey.Trigger{trigger("0", "r")}},
		{Triggers: []journey.Trigger{trigger("1", "r")}},
		{Triggers: []journey.Trigger{trigger("2", "r")}},
	}
	for i, err := range deliverQueued(t, r, batches) {
		if !errors.Is(err, ErrRetriable) {
			t.Fatalf("batch %d: %v, want the round's retriable error", i, err)
		}
	}
	if len(r.batches) != 2 {
		t.Fatalf("%d inner deliveries, want 2: a retriable failure is not retried batch by batch", len(r.batches))
	}
}

func TestCoalesceCancelledCallerReturns(t *testing.T) {
	r := &recorder{entered: make(chan struct{}), gate: make(chan struct{})}
	c := Coalesce(r).(*coalescer)
	go func() { _ = c.Deliver(context.Background(), Batch{Triggers: []journey.Trigger{trigger("0", "r")}}) }()
	<-r.entered
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Deliver(ctx, Batch{Triggers: []journey.Trigger{trigger("1", "r")}}) }()
	waitPending(t, c, 1) // queued behind the round in flight, then cancelled
	cancel()
	defer close(r.gate)
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrRetriable) {
			t.Fatalf("cancelled Deliver: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled Deliver still waits for the round in flight")
	}
}

// A merged round that holds some triggers fails only the batches they came
// from, each with its own indexes; the others were delivered.
func TestSplitHeld(t *testing.T) {
	tr := func(n int) Batch { return Batch{Triggers: make([]journey.Trigger, n)} }
	calls := []*call{{b: tr(2)}, {b: tr(3)}, {b: tr(1)}}
	held := &Held{Triggers: []int{2, 4}, Err: fmt.Errorf("%w: WRONGTYPE", ErrRetriable)}
	splitHeld(calls, held, fmt.Errorf("redissink: %w", held))
	var h *Held
	if calls[0].err != nil || calls[2].err != nil {
		t.Fatalf("batches with nothing held failed: %v, %v", calls[0].err, calls[2].err)
	}
	if !errors.As(calls[1].err, &h) || fmt.Sprint(h.Triggers) != "[0 2]" || !errors.Is(calls[1].err, ErrRetriable) {
		t.Fatalf("second batch: %v, want a retriable Held of [0 2]", calls[1].err)
	}
}
