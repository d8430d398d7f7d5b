package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
)

// commit writes one batch to partition id of s.
func commit(t *testing.T, s *Store, id int, fill func(b *Batch)) {
	t.Helper()
	b := part(t, s, id).NewBatch()
	fill(b)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestInspectPartitionIDs(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, _ func() *Store) {
		ids, err := s.PartitionIDs()
		if err != nil || len(ids) != 0 {
			t.Fatalf("empty store: %v, %v", ids, err)
		}
		// Partitions holding one kind of key each, and store-wide meta.
		commit(t, s, 7, func(b *Batch) { b.SetOffset("events", 3) })
		commit(t, s, 0, func(b *Batch) { b.PutState("c", "interest", 1, []byte{1}) })
		commit(t, s, 3, func(b *Batch) {
			_ = b.Set(journey.Timer{At: time.Unix(10, 0), Customer: "c", Processor: "cart", Key: "k"})
		})
		commit(t, s, 1<<31-1, func(b *Batch) { b.Append('t', []byte("x")) })
		if err := s.PutMeta("replay", []byte("{}")); err != nil {
			t.Fatal(err)
		}
		ids, err = s.PartitionIDs()
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{0, 3, 7, 1<<31 - 1}; !slices.Equal(ids, want) {
			t.Fatalf("PartitionIDs = %v, want %v", ids, want)
		}
	})
}

func TestInspectCustomerTimers(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, _ func() *Store) {
		t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
		commit(t, s, 2, func(b *Batch) {
			for _, tr := range []journey.Timer{
				{At: t0.Add(3 * time.Hour), Customer: "c", Processor: "dormancy", Key: "d"},
				{At: t0.Add(time.Hour), Customer: "c", Processor: "cart", Key: "cart:k1"},
				{At: t0.Add(2 * time.Hour), Customer: "c", Processor: "cart", Key: "cart:k1"}, // moves it
				{At: t0, Customer: "c", Processor: "policy", Key: "hold"},
				{At: t0, Customer: "cc", Processor: "cart", Key: "cart:k1"}, // another customer, same prefix
				{At: t0, Customer: "", Processor: "cart", Key: "x"},
			} {
				if err := b.Set(tr); err != nil {
					t.Fatal(err)
				}
			}
		})
		commit(t, s, 3, func(b *Batch) {
			_ = b.Set(journey.Timer{At: t0, Customer: "c", Processor: "cart", Key: "elsewhere"})
		})
		got, err := part(t, s, 2).CustomerTimers("c")
		if err != nil {
			t.Fatal(err)
		}
		want := []journey.Timer{
			{At: t0, Customer: "c", Processor: "policy", Key: "hold"},
			{At: t0.Add(2 * time.Hour), Customer: "c", Processor: "cart", Key: "cart:k1"},
			{At: t0.Add(3 * time.Hour), Customer: "c", Processor: "dormancy", Key: "d"},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("CustomerTimers(c) =\n%v\nwant\n%v", got, want)
		}
		if got, _ := part(t, s, 2).CustomerTimers("nobody"); len(got) != 0 {
			t.Fatalf("CustomerTimers(nobody) = %v", got)
		}
	})
}

// stateEntry is one state the iterator yields.
type stateEntry struct {
	part                int
	customer, processor string
	version             uint32
	data                string
}

func scanStates(t *testing.T, s *Store) []stateEntry {
	t.Helper()
	it, err := s.IterStates()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []stateEntry
	for it.Next() {
		out = append(out, stateEntry{it.Partition(), it.Customer(), it.Processor(), it.Version(), string(it.Data())})
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestInspectStatesIterator(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, _ func() *Store) {
		if got := scanStates(t, s); len(got) != 0 {
			t.Fatalf("empty store: %v", got)
		}
		// States among every other kind of key, in partitions out of order.
		for _, id := range []int{5, 0, 9} {
			commit(t, s, id, func(b *Batch) {
				b.SetOffset("events", 1)
				b.MarkSeen("e1", time.Unix(100, 0))
				b.Append('t', []byte("trigger"))
				_ = b.Set(journey.Timer{At: time.Unix(200, 0), Customer: "bb", Processor: "cart", Key: "k"})
				b.SetWatermark(time.Unix(50, 0))
				if id != 9 { // partition 9 has no state
					b.PutState("bb", "interest", 1, []byte("i-bb"))
					b.PutState("a", "profile", 2, []byte("p-a"))
					b.PutState("bb", "cart", 1, nil)
				}
			})
		}
		if err := part(t, s, 5).Register(map[string]uint32{"interest": 1}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutMeta("replay", []byte("{}")); err != nil {
			t.Fatal(err)
		}
		got := scanStates(t, s)
		// Key order: partition; customer by length, then bytes; processor likewise.
		var want []stateEntry
		for _, id := range []int{0, 5} {
			want = append(want,
				stateEntry{id, "a", "profile", 2, "p-a"},
				stateEntry{id, "bb", "cart", 1, ""},
				stateEntry{id, "bb", "interest", 1, "i-bb"})
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("states\n%v\nwant\n%v", got, want)
		}
	})
}

func TestInspectDiffStates(t *testing.T) {
	open := func() *Store {
		s, err := Open("", Options{InMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b := open(), open()
	commit(t, a, 1, func(bt *Batch) {
		bt.PutState("c", "x", 1, []byte("only in a"))
		bt.PutState("d", "x", 1, []byte("same"))
		bt.PutState("d", "y", 1, []byte("a's"))
		bt.PutState("e", "x", 1, []byte("v1"))
		bt.SetOffset("events", 1) // not a state: not compared
	})
	commit(t, b, 0, func(bt *Batch) { bt.PutState("z", "x", 1, []byte("only in b")) })
	commit(t, b, 1, func(bt *Batch) {
		bt.PutState("d", "x", 1, []byte("same"))
		bt.PutState("d", "y", 1, []byte("b's"))
		bt.PutState("e", "x", 2, []byte("v1"))
		bt.SetOffset("events", 2)
	})
	var got []string
	side := func(s *StoredState) string {
		if s == nil {
			return "-"
		}
		return fmt.Sprintf("%d:%s", s.Version, s.Data)
	}
	n, err := DiffStates(t.Context(), a, b, func(d StateDiff) error {
		got = append(got, fmt.Sprintf("%d %s %s %s %s", d.Partition, d.Customer, d.Processor, side(d.A), side(d.B)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"0 z x - 1:only in b",
		"1 c x 1:only in a -",
		"1 d y 1:a's 1:b's",
		"1 e x 1:v1 2:v1",
	}
	if n != 5 || !slices.Equal(got, want) {
		t.Fatalf("compared %d, differences\n%s\nwant 5 and\n%s", n, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	stop := errors.New("stop")
	if _, err := DiffStates(t.Context(), a, b, func(StateDiff) error { return stop }); err != stop {
		t.Fatalf("fn's error: got %v", err)
	}
	if n, err := DiffStates(t.Context(), a, a, func(d StateDiff) error { return fmt.Errorf("difference %+v", d) }); err != nil || n != 4 {
		t.Fatalf("a store with itself: %d, %v", n, err)
	}
}

func TestInspectCustomerAndSummary(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, _ func() *Store) {
		t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
		commit(t, s, 4, func(b *Batch) {
			b.PutState("c", "interest", 1, []byte("i"))
			b.PutState("c", "cart", 3, []byte("k"))
			b.PutState("cc", "cart", 1, []byte("other"))
			_ = b.Set(journey.Timer{At: t0, Customer: "c", Processor: "cart", Key: "cart:k1"})
			_ = b.Set(journey.Timer{At: t0, Customer: "cc", Processor: "cart", Key: "cart:k1"})
			b.Append('t', []byte("trigger"))
			b.SetOffset("events", 42)
			b.SetOffset("orders", 7)
			b.SetWatermark(t0.Add(-time.Minute))
		})
		commit(t, s, 1, func(b *Batch) { b.PutState("d", "cart", 1, nil) })

		got, err := s.Customer("c")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Partition != 4 || len(got[0].States) != 2 ||
			string(got[0].States["cart"].Data) != "k" || got[0].States["cart"].Version != 3 ||
			len(got[0].Timers) != 1 || got[0].Timers[0].Key != "cart:k1" {
			t.Fatalf("Customer(c) = %+v", got)
		}
		if got, err := s.Customer("nobody"); err != nil || got != nil {
			t.Fatalf("Customer(nobody) = %v, %v", got, err)
		}
		// A snapshot reads one partition as Customer reads them all; a
		// write after it is not in it.
		snap := s.Snapshot()
		commit(t, s, 4, func(b *Batch) { b.PutState("c", "cart", 3, []byte("later")) })
		on, ok, err := snap.CustomerOn(4, "c")
		if err != nil || !ok || !reflect.DeepEqual(on, got[0]) {
			t.Fatalf("CustomerOn(4, c) = %+v, %v, %v; want %+v", on, ok, err, got[0])
		}
		if on, ok, err := snap.CustomerOn(1, "c"); err != nil || ok || on.States != nil {
			t.Fatalf("CustomerOn(1, c) = %+v, %v, %v; want nothing", on, ok, err)
		}
		if _, _, err := snap.CustomerOn(-1, "c"); err == nil {
			t.Fatal("CustomerOn(-1, c): no error")
		}
		_ = snap.Close()

		sum, err := s.Summary(4)
		if err != nil {
			t.Fatal(err)
		}
		if sum.ID != 4 || sum.Offsets["events"] != 42 || sum.Offsets["orders"] != 7 || len(sum.Offsets) != 2 ||
			!sum.Watermark.Equal(t0.Add(-time.Minute)) || sum.Timers != 2 || sum.Outbox != 1 {
			t.Fatalf("Summary(4) = %+v", sum)
		}
		if sum, err := s.Summary(1); err != nil || len(sum.Offsets) != 0 || !sum.Watermark.IsZero() || sum.Timers != 0 {
			t.Fatalf("Summary(1) = %+v, %v", sum, err)
		}
	})
}

func TestInspectOpenReadOnly(t *testing.T) {
	root := t.TempDir()
	if _, err := OpenReadOnly(filepath.Join(root, "missing")); !errors.Is(err, ErrNoStore) {
		t.Fatalf("missing dir: %v, want ErrNoStore", err)
	}
	// A directory that is not a store is left as it was.
	if _, err := OpenReadOnly(root); !errors.Is(err, ErrNoStore) {
		t.Fatalf("plain dir: %v, want ErrNoStore", err)
	}
	if _, err := LockDir(root); !errors.Is(err, ErrNoStore) {
		t.Fatalf("LockDir(plain dir): %v, want ErrNoStore", err)
	}
	if _, err := os.Stat(filepath.Join(root, "LOCK")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a LOCK file was created in a plain dir: %v", err)
	}

	dir := filepath.Join(root, "db")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, s, 0, func(b *Batch) { b.SetOffset("events", 5) })
	if _, err := OpenReadOnly(dir); !errors.Is(err, ErrInUse) {
		t.Fatalf("open store: %v, want ErrInUse", err)
	}
	if _, err := LockDir(dir); !errors.Is(err, ErrInUse) {
		t.Fatalf("LockDir(open store): %v, want ErrInUse", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	ro, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := ro.Summary(0); err != nil || sum.Offsets["events"] != 5 {
		t.Fatalf("read-only Summary = %+v, %v", sum, err)
	}
	if err := ro.PutMeta("x", nil); err == nil {
		t.Fatal("a read-only store accepted a write")
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}

	l, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("opened a store LockDir holds")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("open after LockDir released: %v", err)
	}
	_ = s.Close()
}
