// Package timerstoretest is the contract suite every journey.TimerStore
// implementation must pass: firing order, moving, cancelling, and the
// boundary (a timer due exactly at the watermark fires).
package timerstoretest

import (
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
)

// Run runs the suite. newStore returns an empty store.
func Run(t *testing.T, newStore func(t *testing.T) journey.TimerStore) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	tm := func(min int, c, p, k string) journey.Timer {
		return journey.Timer{At: t0.Add(time.Duration(min) * time.Minute), Customer: c, Processor: p, Key: k}
	}
	drain := func(t *testing.T, s journey.TimerStore, upTo time.Time) []journey.Timer {
		t.Helper()
		var out []journey.Timer
		for {
			tr, ok, err := s.PopDue(upTo)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return out
			}
			out = append(out, tr)
		}
	}
	equal := func(t *testing.T, got, want []journey.Timer) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("got %d timers %v, want %d %v", len(got), got, len(want), want)
		}
		for i := range got {
			if journey.Compare(got[i], want[i]) != 0 || !got[i].At.Equal(want[i].At) {
				t.Fatalf("timer %d: got %+v, want %+v", i, got[i], want[i])
			}
		}
	}

	t.Run("fires in Compare order up to and including the watermark", func(t *testing.T) {
		s := newStore(t)
		ts := []journey.Timer{
			tm(30, "b", "cart", "c1"), tm(10, "bb", "cart", "c1"), tm(10, "b", "dormancy", "d"),
			tm(10, "b", "cart", "c2"), tm(60, "a", "cart", "x"),
		}
		for _, x := range ts {
			if err := s.Set(x); err != nil {
				t.Fatal(err)
			}
		}
		equal(t, drain(t, s, t0.Add(5*time.Minute)), nil)
		equal(t, drain(t, s, t0.Add(30*time.Minute)), []journey.Timer{ts[3], ts[2], ts[1], ts[0]})
		equal(t, drain(t, s, t0.Add(30*time.Minute)), nil)
		equal(t, drain(t, s, t0.Add(time.Hour)), []journey.Timer{ts[4]})
	})
	t.Run("setting again moves the timer", func(t *testing.T) {
		s := newStore(t)
		_ = s.Set(tm(10, "c", "cart", "k"))
		_ = s.Set(tm(50, "c", "cart", "k"))
		equal(t, drain(t, s, t0.Add(20*time.Minute)), nil)
		equal(t, drain(t, s, t0.Add(50*time.Minute)), []journey.Timer{tm(50, "c", "cart", "k")})
		_ = s.Set(tm(90, "c", "cart", "k"))
		_ = s.Set(tm(70, "c", "cart", "k")) // earlier than before
		equal(t, drain(t, s, t0.Add(80*time.Minute)), []journey.Timer{tm(70, "c", "cart", "k")})
	})
	t.Run("cancel", func(t *testing.T) {
		s := newStore(t)
		_ = s.Set(tm(10, "c", "cart", "k1"))
		_ = s.Set(tm(10, "c", "cart", "k2"))
		if err := s.Cancel("c", "cart", "k1"); err != nil {
			t.Fatal(err)
		}
		if err := s.Cancel("c", "cart", "never-set"); err != nil {
			t.Fatal(err)
		}
		equal(t, drain(t, s, t0.Add(time.Hour)), []journey.Timer{tm(10, "c", "cart", "k2")})
	})
	t.Run("a timer set in the past fires at the next pop", func(t *testing.T) {
		s := newStore(t)
		equal(t, drain(t, s, t0), nil)
		_ = s.Set(tm(-30, "c", "p", "k"))
		equal(t, drain(t, s, t0), []journey.Timer{tm(-30, "c", "p", "k")})
	})
}
