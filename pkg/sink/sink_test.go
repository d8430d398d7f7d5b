package sink_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink"
)

func TestValidate(t *testing.T) {
	ok := journey.Trigger{ID: "t", Rule: "r", CustomerID: "c", Channel: "web", At: time.Unix(1, 0)}
	if err := (&sink.Batch{}).Validate(); err != nil {
		t.Errorf("empty batch: %v", err)
	}
	b := sink.Batch{
		Triggers: []journey.Trigger{ok},
		Contexts: []sink.Context{{CustomerID: "c", Fields: map[string]string{"a": "1"}}, {CustomerID: "c", Delete: true}},
	}
	if err := b.Validate(); err != nil {
		t.Errorf("valid batch: %v", err)
	}
	bad := ok
	bad.Channel = ""
	err := (&sink.Batch{Triggers: []journey.Trigger{ok, bad}}).Validate()
	if !errors.Is(err, sink.ErrInvalid) || errors.Is(err, sink.ErrRetriable) {
		t.Errorf("trigger without channel: %v", err)
	}
}

func TestCtxErr(t *testing.T) {
	if err := sink.CtxErr(t.Context()); err != nil {
		t.Errorf("live ctx: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := sink.CtxErr(ctx); !errors.Is(err, context.Canceled) || errors.Is(err, sink.ErrRetriable) {
		t.Errorf("cancelled: %v", err)
	}
	ctx, cancel = context.WithTimeout(t.Context(), -time.Second)
	defer cancel()
	if err := sink.CtxErr(ctx); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, sink.ErrRetriable) {
		t.Errorf("deadline: %v", err)
	}
}
