package pipeline_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/pipeline"
)

// gate blocks the fold of the event with id "gate" until open is closed.
type gate struct{ open chan struct{} }

func (gate) Name() string            { return "gate" }
func (gate) StateVersion() uint32    { return 1 }
func (gate) NewState() journey.State { return &counts{} }
func (g gate) Fold(_ journey.State, ev *journey.Event, _ *journey.Output) (bool, error) {
	if ev.ID == "gate" {
		<-g.open
	}
	return false, nil
}

// TestReadyzStalled: a partition whose worker cannot fold (a processor
// blocks) while records wait is reported stalled once admin.stall_after
// passes, naming the partition and its lag; once it folds again it is
// ready.
func TestReadyzStalled(t *testing.T) {
	h := newHarness(t, 1, "")
	g := gate{open: make(chan struct{})}
	h.procs = []journey.Processor{counter{every: 1000}, g}
	t0 := time.Now().Add(-time.Hour)
	h.produce(events(2, 5, "a", t0)...)

	r := h.start(0, "", func(c *pipeline.Config) { c.StallAfter = 500 * time.Millisecond })
	defer r.stop(t)
	var once sync.Once
	open := func() { once.Do(func() { close(g.open) }) }
	defer open() // before stop, should the test fail with the gate shut
	waitStatus := func(want func(pipeline.Status) error) pipeline.Status {
		t.Helper()
		var st pipeline.Status
		testrig.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
			st = r.p.Status()
			return want(st)
		})
		return st
	}
	ready := func(st pipeline.Status) error {
		if !st.Ready() || len(st.Partitions) != 1 || r.counter(t, "journey_events_folded_total", nil) < 10 {
			return fmt.Errorf("not ready or not folded yet: %+v", st)
		}
		return nil
	}
	waitStatus(ready)
	// Caught up and quiet for longer than stall_after: still ready (the
	// sleep lets stall_after pass; it waits for no result).
	time.Sleep(time.Second)
	if st := r.p.Status(); !st.Ready() {
		t.Fatalf("a quiet, caught-up partition is not ready: %s", st.Reason)
	}

	h.produce(append([]kafka.Message{{Key: []byte("cust-0"), Value: segment("gate", "cust-0", "Product Viewed", t0)}},
		events(2, 5, "b", t0)...)...)
	st := waitStatus(func(st pipeline.Status) error {
		if st.Ready() {
			return errors.New("still ready")
		}
		return nil
	})
	if ps := st.Partitions[0]; ps.State != pipeline.StateStalled || ps.Lag < 1 ||
		!strings.HasPrefix(st.Reason, "partition 0 stalled: no progress for ") || !strings.Contains(st.Reason, " with lag ") {
		t.Fatalf("status %+v, reason %q; want partition 0 stalled with a lag", ps, st.Reason)
	}

	open()
	waitStatus(func(st pipeline.Status) error {
		if err := ready(st); err != nil {
			return err
		}
		if n := r.counter(t, "journey_events_folded_total", nil); n != 21 {
			return fmt.Errorf("%v of 21 events folded", n)
		}
		return nil
	})
}
