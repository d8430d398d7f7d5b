package state

import (
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/journey/timerstoretest"
)

func TestBatchTimerStoreContract(t *testing.T) {
	timerstoretest.Run(t, func(t *testing.T) journey.TimerStore {
		s, err := Open("", Options{InMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		p, _ := s.Partition(0)
		b := p.NewBatch()
		t.Cleanup(b.Abort)
		return b
	})
}

// Timers and the watermark survive commit and reopen; an aborted batch's
// pops do not count.
func TestTimersDurable(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, reopen := b.open(t, Options{})
			p := part(t, s, 2)
			t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
			bt := p.NewBatch()
			_ = bt.Set(journey.Timer{At: t0.Add(time.Hour), Customer: "c", Processor: "cart", Key: "k"})
			_ = bt.Set(journey.Timer{At: t0.Add(2 * time.Hour), Customer: "d", Processor: "cart", Key: "k"})
			bt.SetWatermark(t0)
			if err := bt.Commit(); err != nil {
				t.Fatal(err)
			}
			// Pop in a batch that is then aborted: nothing changes.
			bt = p.NewBatch()
			if _, ok, _ := bt.PopDue(t0.Add(3 * time.Hour)); !ok {
				t.Fatal("no timer due")
			}
			bt.Abort()
			if reopen != nil {
				s = reopen()
				p = part(t, s, 2)
			}
			if !p.Watermark().Equal(t0) {
				t.Fatalf("watermark %v, want %v", p.Watermark(), t0)
			}
			var got []journey.Timer
			_ = p.Timers(func(tr journey.Timer) error { got = append(got, tr); return nil })
			if len(got) != 2 || got[0].Customer != "c" || !got[0].At.Equal(t0.Add(time.Hour)) {
				t.Fatalf("timers %+v", got)
			}
			bt = p.NewBatch()
			defer bt.Abort()
			if tr, ok, _ := bt.PopDue(t0.Add(time.Hour)); !ok || tr.Customer != "c" {
				t.Fatalf("after reopen: %+v %v", tr, ok)
			}
			if _, ok, _ := bt.PopDue(t0.Add(time.Hour)); ok {
				t.Fatal("second timer fired early")
			}
		})
	}
}
