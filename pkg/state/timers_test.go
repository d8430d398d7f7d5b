package state

import (
	"fmt"
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

// Timers sharing a fire time (every trigger held to the end of the same
// quiet hours) pop in key order, each once, across commits; one armed at
// that time below the last popped key, or earlier, still fires.
func TestPopDueSharedFireTime(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, reopen func() *Store) {
		p := part(t, s, 0)
		t0 := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
		b := p.NewBatch()
		for i := 10; i < 60; i++ {
			if err := b.Set(journey.Timer{At: t0, Customer: fmt.Sprintf("c%02d", i), Processor: "policy", Key: "held"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		var got []string
		pop := func(b *Batch, n int) {
			t.Helper()
			for range n {
				tr, ok, err := b.PopDue(t0)
				if err != nil || !ok {
					t.Fatalf("pop %d: %v %v", len(got), ok, err)
				}
				got = append(got, tr.Customer)
			}
		}
		b = p.NewBatch()
		pop(b, 20) // c10..c29
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		b = p.NewBatch()
		pop(b, 5) // c30..c34, from where the last batch stopped
		for _, c := range []string{"c00", "c99"} {
			if err := b.Set(journey.Timer{At: t0, Customer: c, Processor: "policy", Key: "held"}); err != nil {
				t.Fatal(err)
			}
		}
		pop(b, 1) // c00: below the last popped key
		if err := b.Set(journey.Timer{At: t0.Add(-time.Minute), Customer: "c50", Processor: "cart", Key: "x"}); err != nil {
			t.Fatal(err)
		}
		pop(b, 27) // c50's earlier timer, then c35..c59 and c99
		if _, ok, _ := b.PopDue(t0); ok {
			t.Fatal("a timer popped twice")
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		want := []string{}
		for i := 10; i < 35; i++ {
			want = append(want, fmt.Sprintf("c%02d", i))
		}
		want = append(want, "c00", "c50")
		for i := 35; i < 60; i++ {
			want = append(want, fmt.Sprintf("c%02d", i))
		}
		want = append(want, "c99")
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("popped\n%v\nwant\n%v", got, want)
		}
		if reopen != nil {
			s = reopen()
			p = part(t, s, 0)
		}
		b = p.NewBatch()
		defer b.Abort()
		if tr, ok, _ := b.PopDue(t0.Add(time.Hour)); ok {
			t.Fatalf("timer %+v left after every one fired", tr)
		}
	})
}

// BenchmarkPopDueSharedFireTime pops 2,000 timers armed at the same time:
// each scan starts after the last timer popped, not at the shared time
// (which stepped over every earlier one again: quadratic).
func BenchmarkPopDueSharedFireTime(b *testing.B) {
	p := memPartition(b, Options{})
	t0 := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	for range b.N {
		bt := p.NewBatch()
		for i := range 2000 {
			if err := bt.Set(journey.Timer{At: t0, Customer: fmt.Sprintf("c%05d", i), Processor: "policy", Key: "held"}); err != nil {
				b.Fatal(err)
			}
		}
		if err := bt.Commit(); err != nil {
			b.Fatal(err)
		}
		bt = p.NewBatch()
		for {
			_, ok, err := bt.PopDue(t0)
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
		}
		if err := bt.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
