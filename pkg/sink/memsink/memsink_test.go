package memsink_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink"
	"github.com/journey-dev/journey/pkg/sink/memsink"
	"github.com/journey-dev/journey/pkg/sink/sinktest"
)

// inspector adapts memsink.Sink to sinktest.Inspector.
type inspector struct{ *memsink.Sink }

func (in inspector) Reopen(*testing.T) sink.Sink { return in.Sink.Reopen() }

func TestContract(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) (sink.Sink, sinktest.Inspector) {
		s := memsink.New()
		return s, inspector{s}
	})
}

func TestSetError(t *testing.T) {
	ctx := t.Context()
	s := memsink.New()
	b := sink.Batch{Triggers: []journey.Trigger{{
		ID: "t1", Rule: "r", CustomerID: "c1", Channel: "web", At: time.Unix(1, 0),
	}}}

	down := fmt.Errorf("%w: redis is down", sink.ErrRetriable)
	s.SetError(down)
	if err := s.Deliver(ctx, b); !errors.Is(err, sink.ErrRetriable) {
		t.Fatalf("Deliver while down: %v, want ErrRetriable", err)
	}
	if got, _ := s.Triggers(ctx, "web"); len(got) != 0 {
		t.Fatalf("delivered %d triggers while down", len(got))
	}
	s.SetError(nil)
	if err := s.Deliver(ctx, b); err != nil {
		t.Fatalf("Deliver after recovery: %v", err)
	}
	if got, _ := s.Triggers(ctx, "web"); len(got) != 1 {
		t.Fatalf("got %d triggers after recovery, want 1", len(got))
	}
	if n := s.Delivers(); n != 2 {
		t.Fatalf("Delivers() = %d, want 2", n)
	}
}

// Triggers read back are copies: changing them does not change the store.
func TestReadsAreCopies(t *testing.T) {
	ctx := t.Context()
	s := memsink.New()
	tr := journey.Trigger{
		ID: "t1", Rule: "r", CustomerID: "c1", Channel: "web", At: time.Unix(1, 0),
		Causes: []string{"e1"}, Payload: map[string]any{"k": "v"},
	}
	if err := s.Deliver(ctx, sink.Batch{
		Triggers: []journey.Trigger{tr},
		Contexts: []sink.Context{{CustomerID: "c1", Fields: map[string]string{"a": "1"}}},
	}); err != nil {
		t.Fatal(err)
	}
	tr.Causes[0], tr.Payload["k"] = "changed", "changed"
	got, _ := s.Triggers(ctx, "web")
	got[0].Causes[0], got[0].Payload["k"] = "changed", "changed"
	cx, _ := s.Context(ctx, "c1")
	cx["a"] = "changed"

	got, _ = s.Triggers(ctx, "web")
	if got[0].Causes[0] != "e1" || got[0].Payload["k"] != "v" {
		t.Errorf("stored trigger changed: %+v", got[0])
	}
	if cx, _ := s.Context(ctx, "c1"); cx["a"] != "1" {
		t.Errorf("stored context changed: %v", cx)
	}
}

func ExampleSink_SetError() {
	ctx := context.Background()
	s := memsink.New()
	b := sink.Batch{Triggers: []journey.Trigger{{
		ID: "t1", Rule: "cart_abandoned", CustomerID: "c1", Channel: "email",
		At: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}}}

	s.SetError(fmt.Errorf("%w: simulated outage", sink.ErrRetriable))
	err := s.Deliver(ctx, b)
	fmt.Println("retriable:", errors.Is(err, sink.ErrRetriable))

	s.SetError(nil)
	fmt.Println(s.Deliver(ctx, b), s.Deliver(ctx, b)) // the retry, and a duplicate
	ts, _ := s.Triggers(ctx, "email")
	fmt.Println(len(ts), ts[0].ID, ts[0].At.Format(time.RFC3339))
	// Output:
	// retriable: true
	// <nil> <nil>
	// 1 t1 2025-01-02T03:04:05Z
}
