package outbox

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink"
	"github.com/journey-dev/journey/pkg/sink/memsink"
	"github.com/journey-dev/journey/pkg/state"
)

func checkFor(t *testing.T, total time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", total, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func openPartition(t *testing.T) *state.Partition {
	t.Helper()
	s, err := state.Open("", state.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	p, err := s.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func commitTriggers(t *testing.T, p *state.Partition, from, n int) {
	t.Helper()
	b := p.NewBatch()
	for i := from; i < from+n; i++ {
		tr := journey.Trigger{
			ID: fmt.Sprintf("t%03d", i), Rule: "r", CustomerID: "c", Channel: "email",
			At: time.Unix(int64(i), 0).UTC(), Reason: "x", Causes: []string{"e"}, Payload: map[string]any{"i": i},
		}
		data, err := EncodeTrigger(&tr, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		b.Append(KindTrigger, data)
	}
	data, _ := EncodeContext(sink.Context{CustomerID: "c", Fields: map[string]string{"n": fmt.Sprint(from + n)}}, time.Now())
	b.Append(KindContext, data)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func delivered(s *memsink.Sink, want int) func() error {
	return func() error {
		ts, err := s.Triggers(context.Background(), "email")
		if err != nil {
			return err
		}
		if len(ts) != want {
			return fmt.Errorf("%d triggers delivered, want %d", len(ts), want)
		}
		return nil
	}
}

func TestDispatcherDeliversInOrderAndSurvivesOutage(t *testing.T) {
	p := openPartition(t)
	s := memsink.New()
	d := NewDispatcher(p, s, Config{MaxBatch: 7, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}, zap.NewNop(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	commitTriggers(t, p, 0, 20)
	d.Notify()
	checkFor(t, 5*time.Second, delivered(s, 20))

	// Outage: entries stay in the outbox and arrive once the sink is back.
	s.SetError(fmt.Errorf("down: %w", sink.ErrRetriable))
	commitTriggers(t, p, 20, 15)
	d.Notify()
	checkFor(t, 5*time.Second, func() error {
		if p.OutboxDepth() != 16 {
			return fmt.Errorf("outbox depth %d during outage, want 16", p.OutboxDepth())
		}
		if s.Delivers() < 3 {
			return fmt.Errorf("only %d delivery attempts", s.Delivers())
		}
		return nil
	})
	s.SetError(nil)
	checkFor(t, 5*time.Second, delivered(s, 35))
	checkFor(t, 5*time.Second, func() error {
		if p.OutboxDepth() != 0 {
			return fmt.Errorf("outbox depth %d", p.OutboxDepth())
		}
		return nil
	})
	ts, _ := s.Triggers(context.Background(), "email")
	for i, tr := range ts {
		if tr.ID != fmt.Sprintf("t%03d", i) {
			t.Fatalf("trigger %d is %s: out of order", i, tr.ID)
		}
	}
	c, _ := s.Context(context.Background(), "c")
	if c["n"] != "35" {
		t.Fatalf("context %v, want the newest (n=35)", c)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestDispatcherStopsOnFatalError(t *testing.T) {
	p := openPartition(t)
	s := memsink.New()
	s.SetError(errors.New("WRONGTYPE"))
	d := NewDispatcher(p, s, Config{}, zap.NewNop(), nil)
	commitTriggers(t, p, 0, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Run(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("want a fatal error before the deadline, got %v", err)
	}
	if p.OutboxDepth() != 2 {
		t.Fatalf("outbox depth %d: a failed delivery must keep the entries", p.OutboxDepth())
	}
}

func TestRedeliveryAfterLostDeleteIsIdempotent(t *testing.T) {
	// A crash between the sink write and the outbox delete redelivers the
	// same batch; the sink must not add a second entry.
	p := openPartition(t)
	s := memsink.New()
	commitTriggers(t, p, 0, 5)
	es, err := p.ReadOutbox(100)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := decode(es)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(context.Background(), dec.batch); err != nil { // delivered, then "crash"
		t.Fatal(err)
	}
	d := NewDispatcher(p, s.Reopen(), Config{}, zap.NewNop(), nil)
	if err := d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := delivered(s, 5)(); err != nil {
		t.Fatal(err)
	}
}
