package outbox

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink"
	"github.com/journey-dev/journey/pkg/sink/memsink"
)

// TestDispatcherSkipsForgottenCustomers checks SetSkip: entries of a
// customer forgotten while they waited are dropped (and leave the
// outbox), its context deletion is delivered, other customers' entries
// are untouched.
func TestDispatcherSkipsForgottenCustomers(t *testing.T) {
	p := openPartition(t)
	s := memsink.New()
	d := NewDispatcher(p, s, Config{MaxBatch: 3, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}, zap.NewNop(), nil)
	d.SetSkip(func(id string) bool { return id == "gone" })
	ctx := context.Background()
	// "gone" has a context hash from before; it is not touched but for
	// the deletion.
	if err := s.Deliver(ctx, sink.Batch{Contexts: []sink.Context{{CustomerID: "gone", Fields: map[string]string{"a": "1"}}}}); err != nil {
		t.Fatal(err)
	}
	b := p.NewBatch()
	for i, c := range []string{"gone", "kept", "gone", "kept", "gone"} {
		tr := journey.Trigger{ID: fmt.Sprintf("t%d", i), Rule: "r", CustomerID: c, Channel: "email", At: time.Unix(int64(i), 0).UTC()}
		data, err := EncodeTrigger(&tr, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		b.Append(KindTrigger, data)
		data, _ = EncodeContext(sink.Context{CustomerID: c, Fields: map[string]string{"n": fmt.Sprint(i)}}, time.Now())
		b.Append(KindContext, data)
	}
	del, _ := EncodeContext(sink.Context{CustomerID: "gone", Delete: true}, time.Now())
	b.Append(KindContext, del)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	runUntilDelivered(t, d, p)
	ts, err := s.Triggers(ctx, "email")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tr := range ts {
		ids = append(ids, tr.CustomerID+":"+tr.ID)
	}
	if fmt.Sprint(ids) != "[kept:t1 kept:t3]" {
		t.Errorf("delivered %v, want only kept's t1 and t3", ids)
	}
	if c, _ := s.Context(ctx, "gone"); len(c) != 0 {
		t.Errorf("context of gone = %v, want deleted", c)
	}
	if c, _ := s.Context(ctx, "kept"); c["n"] != "3" {
		t.Errorf("context of kept = %v, want n=3", c)
	}
}
