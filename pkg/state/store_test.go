package state

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// backends is the store contract: every test runs against Pebble on disk and
// Pebble on an in-memory filesystem.
var backends = []struct {
	name string
	open func(t *testing.T, o Options) (*Store, func() *Store)
}{
	{"disk", func(t *testing.T, o Options) (*Store, func() *Store) {
		dir := filepath.Join(t.TempDir(), "db")
		s, err := Open(dir, o)
		if err != nil {
			t.Fatal(err)
		}
		reopen := func() *Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = Open(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		t.Cleanup(func() { _ = s.Close() })
		return s, reopen
	}},
	{"memory", func(t *testing.T, o Options) (*Store, func() *Store) {
		o.InMemory = true
		s, err := Open("", o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s, nil
	}},
}

func forEach(t *testing.T, fn func(t *testing.T, s *Store, reopen func() *Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, reopen := b.open(t, Options{Sync: true, DedupWindow: time.Hour})
			fn(t, s, reopen)
		})
	}
}

func part(t *testing.T, s *Store, id int) *Partition {
	t.Helper()
	p, err := s.Partition(id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBatchIsAtomicAndDurable(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, reopen func() *Store) {
		p := part(t, s, 3)
		b := p.NewBatch()
		b.PutState("c1", "interest", 1, []byte("s1"))
		b.SetOffset("web", 42)
		b.Append('t', []byte("trigger-1"))
		b.Abort()
		if offs, _ := p.Offsets(); len(offs) != 0 {
			t.Fatalf("aborted batch left offsets %v", offs)
		}
		if _, found, _ := p.State("c1", "interest", 1); found {
			t.Fatal("aborted batch left state")
		}

		b = p.NewBatch()
		b.PutState("c1", "interest", 1, []byte("s1"))
		b.SetOffset("web", 42)
		b.SetOffset("app", 7)
		b.Append('t', []byte("trigger-1"))
		b.Append('c', []byte("ctx-1"))
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		if reopen != nil {
			s = reopen()
			p = part(t, s, 3)
		}
		offs, err := p.Offsets()
		if err != nil {
			t.Fatal(err)
		}
		if offs["web"] != 42 || offs["app"] != 7 || len(offs) != 2 {
			t.Fatalf("offsets %v", offs)
		}
		data, found, err := p.State("c1", "interest", 1)
		if err != nil || !found || string(data) != "s1" {
			t.Fatalf("state %q %v %v", data, found, err)
		}
		if p.OutboxDepth() != 2 {
			t.Fatalf("outbox depth %d, want 2", p.OutboxDepth())
		}
		es, err := p.ReadOutbox(10)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 2 || es[0].Kind != 't' || string(es[0].Data) != "trigger-1" || es[1].Kind != 'c' || es[0].Seq+1 != es[1].Seq {
			t.Fatalf("outbox %+v", es)
		}
	})
}

func TestOutboxSequenceSurvivesDelivery(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, reopen func() *Store) {
		p := part(t, s, 0)
		var last uint64
		for i := range 5 {
			b := p.NewBatch()
			last = b.Append('t', fmt.Appendf(nil, "e%d", i))
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		es, _ := p.ReadOutbox(3)
		if len(es) != 3 {
			t.Fatalf("read %d", len(es))
		}
		p.MarkDelivered(es[2].Seq, 3)
		es, _ = p.ReadOutbox(100)
		if len(es) != 2 || string(es[0].Data) != "e3" {
			t.Fatalf("after delivery: %+v", es)
		}
		p.MarkDelivered(es[1].Seq, 2)
		if reopen != nil {
			// Delivered but not yet deleted by a batch: a restart delivers
			// them again.
			s = reopen()
			p = part(t, s, 0)
			if es, _ := p.ReadOutbox(100); len(es) != 5 || p.OutboxDepth() != 5 {
				t.Fatalf("after a restart before the delete: %d entries, depth %d; want 5", len(es), p.OutboxDepth())
			}
			p.MarkDelivered(last, 5)
		}
		// The worker's next batch deletes what was delivered.
		b := p.NewBatch()
		if !b.DeleteDelivered() {
			t.Fatal("nothing to delete")
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		if b := p.NewBatch(); b.DeleteDelivered() {
			t.Fatal("deleted twice")
		}
		if reopen != nil {
			s = reopen()
			p = part(t, s, 0)
		}
		if p.OutboxDepth() != 0 {
			t.Fatalf("depth %d after delivering everything", p.OutboxDepth())
		}
		// New entries never reuse a delivered sequence number.
		b = p.NewBatch()
		seq := b.Append('t', []byte("new"))
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		if seq <= last {
			t.Fatalf("seq %d reused (last was %d)", seq, last)
		}
		es, _ = p.ReadOutbox(10)
		if len(es) != 1 || string(es[0].Data) != "new" {
			t.Fatalf("outbox %+v", es)
		}
	})
}

func TestProcessorVersionMismatchFailsLoudly(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, reopen func() *Store) {
		p := part(t, s, 1)
		if err := p.Register(map[string]uint32{"interest": 1}); err != nil {
			t.Fatal(err)
		}
		if err := p.Register(map[string]uint32{"interest": 1}); err != nil {
			t.Fatalf("same version: %v", err)
		}
		err := p.Register(map[string]uint32{"interest": 2})
		if !errors.Is(err, ErrVersion) {
			t.Fatalf("want ErrVersion, got %v", err)
		}
		b := p.NewBatch()
		b.PutState("c", "interest", 1, []byte("x"))
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.State("c", "interest", 2); !errors.Is(err, ErrVersion) {
			t.Fatalf("want ErrVersion reading v1 state as v2, got %v", err)
		}
	})
}

func TestPartitionsAreIsolated(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, _ func() *Store) {
		p1, p2 := part(t, s, 1), part(t, s, 2)
		for _, p := range []*Partition{p1, p2} {
			b := p.NewBatch()
			b.PutState("same-customer", "interest", 1, fmt.Appendf(nil, "p%d", p.ID()))
			b.SetOffset("web", int64(p.ID()*10))
			b.Append('t', []byte("x"))
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		if err := p1.Drop(); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := p1.State("same-customer", "interest", 1); found {
			t.Fatal("dropped partition still has state")
		}
		if offs, _ := p1.Offsets(); len(offs) != 0 {
			t.Fatalf("dropped partition still has offsets %v", offs)
		}
		data, found, _ := p2.State("same-customer", "interest", 1)
		if !found || string(data) != "p2" {
			t.Fatalf("partition 2 state %q %v", data, found)
		}
		if offs, _ := p2.Offsets(); offs["web"] != 20 {
			t.Fatalf("partition 2 offsets %v", offs)
		}
	})
}

func TestDedupWindow(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, reopen func() *Store) {
		p := part(t, s, 0)
		t0 := time.Date(2026, 11, 1, 10, 59, 0, 0, time.UTC)
		b := p.NewBatch()
		b.MarkSeen("ev-1", t0)
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		b = p.NewBatch()
		b.MarkSeen("ev-aborted", t0)
		b.Abort()
		if reopen != nil { // the in-memory index is rebuilt from the store
			s = reopen()
			p = part(t, s, 0)
		}
		if got, _ := p.Seen("ev-aborted", t0); got {
			t.Fatal("an aborted batch's event id is remembered")
		}
		for _, tc := range []struct {
			id   string
			at   time.Time
			seen bool
		}{
			{"ev-1", t0, true},
			{"ev-1", t0.Add(2 * time.Minute), true}, // retry stamped in the next bucket
			{"ev-1", t0.Add(-30 * time.Minute), true},
			{"ev-2", t0, false},
			{"ev-1", t0.Add(5 * time.Hour), false},
		} {
			got, err := p.Seen(tc.id, tc.at)
			if err != nil || got != tc.seen {
				t.Errorf("Seen(%s, %v) = %v, %v; want %v", tc.id, tc.at, got, err, tc.seen)
			}
		}
		// Moving event time far ahead expires old buckets.
		b = p.NewBatch()
		b.MarkSeen("ev-9", t0.Add(10*time.Hour))
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		if got, _ := p.Seen("ev-1", t0); got {
			t.Fatal("ev-1 still remembered 10 windows later")
		}
	})
}

// TestBatchSeen: a batch finds the ids it marked itself, with the index
// (which holds them before the commit) and, once the index has overflowed,
// without it; an aborted batch's marks are taken back from the index.
func TestBatchSeen(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	s, err := Open(t.TempDir(), Options{DedupWindow: time.Hour, DedupIndexMax: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := part(t, s, 0)
	seen := func(b *Batch, id string, at time.Time) bool {
		t.Helper()
		ok, err := b.Seen(id, at)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, overflow := range []bool{false, true} {
		b := p.NewBatch()
		if p.dedup.overflow != overflow {
			t.Fatalf("overflow %v, want %v", p.dedup.overflow, overflow)
		}
		n := p.dedup.n
		if seen(b, "a", t0) {
			t.Fatal("an id never marked reported seen")
		}
		b.MarkSeen("a", t0)
		if !seen(b, "a", t0) || !seen(b, "a", t0.Add(30*time.Minute)) {
			t.Fatalf("overflow %v: an id marked in the batch not found", overflow)
		}
		if seen(b, "a", t0.Add(3*time.Hour)) {
			t.Fatalf("overflow %v: an id found three windows away", overflow)
		}
		b.Abort()
		if ok, _ := p.Seen("a", t0); ok || p.dedup.n != n {
			t.Fatalf("overflow %v: after the abort the id is seen %v, index holds %d ids (want %d)", overflow, ok, p.dedup.n, n)
		}
		// Past the bound: the next commit overflows the index.
		b = p.NewBatch()
		for i := range 5 {
			b.MarkSeen(fmt.Sprintf("fill-%d", i), t0)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCustomers(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, _ func() *Store) {
		p := part(t, s, 5)
		b := p.NewBatch()
		b.PutState("b", "engagement", 1, nil)
		b.PutState("a", "interest", 1, nil)
		b.PutState("b", "interest", 1, nil)
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		var got []string
		err := p.Customers(func(c string, procs []string) error {
			got = append(got, fmt.Sprintf("%s:%v", c, procs))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Names are length-prefixed, so shorter names sort first.
		want := "[a:[interest] b:[interest engagement]]"
		if fmt.Sprint(got) != want {
			t.Fatalf("got %v want %s", got, want)
		}
	})
}

func FuzzStateKey(f *testing.F) {
	f.Add(uint32(0), "customer-1", "interest", "customer-2", "interest")
	f.Add(uint32(7), "a\x00b", "x", "a", "\x00bx")
	f.Add(uint32(1<<31), "", "", "\x01", "")
	f.Fuzz(func(t *testing.T, p uint32, c1, p1, c2, p2 string) {
		k1 := stateKey(p, c1, p1)
		gp, gc, gproc, err := decodeStateKey(k1)
		if err != nil || gp != p || gc != c1 || gproc != p1 {
			t.Fatalf("round trip: %v %d %q %q", err, gp, gc, gproc)
		}
		// Distinct (customer, processor) pairs never share a key, and one
		// customer's key space never contains another customer's keys.
		k2 := stateKey(p, c2, p2)
		if (c1 != c2 || p1 != p2) && bytes.Equal(k1, k2) {
			t.Fatalf("collision: (%q,%q) and (%q,%q)", c1, p1, c2, p2)
		}
		if c1 != c2 && bytes.HasPrefix(k2, stateKeyPrefix(p, c1)) {
			t.Fatalf("customer %q's prefix covers %q's key", c1, c2)
		}
	})
}

// TestDedupIndexShared: DedupIndexMax is the instance's bound; Share
// divides it between the owned partitions, and a partition past its share
// overflows at its next commit (lookups still find every id), while one
// within its share keeps its index.
func TestDedupIndexShared(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	s, err := Open(t.TempDir(), Options{DedupWindow: time.Hour, DedupIndexMax: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Share(4) // 25 each
	mark := func(p *Partition, n int) []string {
		t.Helper()
		b := p.NewBatch()
		var ids []string
		for i := range n {
			ids = append(ids, fmt.Sprintf("p%d-e%d", p.id, i))
			b.MarkSeen(ids[i], t0)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	small, big := part(t, s, 0), part(t, s, 1)
	mark(small, 25)
	ids := mark(big, 26)
	if small.dedup.overflow || !big.dedup.overflow {
		t.Fatalf("overflowed: within its share %v, past it %v", small.dedup.overflow, big.dedup.overflow)
	}
	for _, id := range ids {
		if got, err := big.Seen(id, t0); err != nil || !got {
			t.Fatalf("%s not found after the overflow (%v)", id, err)
		}
	}
	s.Share(1) // the instance now owns one partition: all 100 are its
	mark(small, 50)
	if small.dedup.overflow {
		t.Fatal("75 ids overflowed a share of 100")
	}
}

// TestDedupIndexBound: ids live in packs while the in-memory index holds
// them; past its bound the index overflows, every id gets a key of its own
// (the packs expanded, at the commit that overflows it or at a load that
// finds too many), lookups read those keys and still find every duplicate,
// and the index resumes once the buckets it missed have expired.
func TestDedupIndexBound(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	open := func(max int) (*Store, *Partition) {
		t.Helper()
		s, err := Open(dir, Options{DedupWindow: time.Hour, DedupIndexMax: max})
		if err != nil {
			t.Fatal(err)
		}
		return s, part(t, s, 0)
	}
	mark := func(p *Partition, at time.Time, ids ...string) {
		t.Helper()
		b := p.NewBatch()
		for _, id := range ids {
			b.MarkSeen(id, at)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	perID := func(s *Store) int {
		t.Helper()
		n, err := s.count(keyspace(0, tagDedup))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	expect := func(p *Partition, overflow bool, ids ...string) {
		t.Helper()
		if p.dedup.overflow != overflow {
			t.Fatalf("overflow %v, want %v", p.dedup.overflow, overflow)
		}
		for _, id := range ids {
			if got, err := p.Seen(id, t0); err != nil || !got {
				t.Fatalf("%s not found (%v)", id, err)
			}
		}
		if got, _ := p.Seen("never", t0); got {
			t.Fatal("an id never marked reported seen")
		}
	}

	s, p := open(3)
	mark(p, t0, "e0", "e1")
	expect(p, false, "e0", "e1")
	if n := perID(s); n != 0 {
		t.Fatalf("%d per-id keys while the index holds every id", n)
	}
	mark(p, t0, "e2", "e3") // 4 > 3: overflows, the packs are expanded
	expect(p, true, "e0", "e1", "e2", "e3")
	if n := perID(s); n != 4 {
		t.Fatalf("%d per-id keys after the overflow, want 4", n)
	}
	mark(p, t0, "e4") // while overflowed: its own key
	expect(p, true, "e0", "e1", "e2", "e3", "e4")
	if n := perID(s); n != 5 {
		t.Fatalf("%d per-id keys, want 5", n)
	}
	s.Close()

	// A larger bound: the index is loaded again, from packs and keys.
	s, p = open(100)
	expect(p, false, "e0", "e1", "e2", "e3", "e4")
	mark(p, t0, "e5", "e6")
	if n := perID(s); n != 5 {
		t.Fatalf("%d per-id keys, want still 5", n)
	}
	s.Close()

	// A smaller bound: the load overflows and expands the packs itself.
	s, p = open(4)
	expect(p, true, "e0", "e1", "e2", "e3", "e4", "e5", "e6")
	if n := perID(s); n != 7 {
		t.Fatalf("%d per-id keys after an overflowing load, want 7", n)
	}

	// Three windows later the missed buckets have expired: the index
	// resumes, and the expired keys and packs are gone.
	late := t0.Add(3 * time.Hour)
	mark(p, late, "late")
	if p.dedup.overflow {
		t.Fatal("index still overflowed after its buckets expired")
	}
	if got, _ := p.Seen("late", late); !got {
		t.Fatal("id committed after recovery not found")
	}
	if got, _ := p.Seen("e0", t0); got {
		t.Fatal("an expired id still found")
	}
	// Only the late id's own key is left: MarkSeen wrote it while the
	// index was still overflowed; it expires with its bucket.
	if n := perID(s); n != 1 {
		t.Fatalf("%d per-id keys after the old ones expired, want 1", n)
	}
	if n, _ := s.count(keyspace(0, tagDedupPack)); n != 1 {
		t.Fatalf("%d packs, want only the late one's", n)
	}
	s.Close()
}

func TestStoreMeta(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.Meta("replay"); err != nil || found {
		t.Fatalf("Meta of an empty store: found=%v err=%v", found, err)
	}
	if err := s.PutMeta("replay", []byte(`{"done":true}`)); err != nil {
		t.Fatal(err)
	}
	// A partition's key space does not see it, nor drop it.
	p, err := s.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Drop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, found, err := s.Meta("replay"); err != nil || !found || string(v) != `{"done":true}` {
		t.Fatalf("Meta after reopen = %q, %v, %v", v, found, err)
	}
}

// BenchmarkMarkSeen: recording an event id in a round's batch.
func BenchmarkMarkSeen(b *testing.B) {
	p := memPartition(b, Options{DedupWindow: time.Hour})
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = fmt.Sprintf("msg-%08d-aaaa-bbbb-cccc-dddddddddddd", i)
	}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(ids) {
		batch := p.NewBatch()
		for j := 0; j < len(ids) && i+j < b.N; j++ {
			batch.MarkSeen(ids[j], t0)
		}
		batch.Abort()
	}
}

// StateKeyOrder orders a customer's state keys ascending, whatever the
// names' lengths (keys length-prefix them).
func TestStateKeyOrder(t *testing.T) {
	names := []string{"profile", "interest", "recovery", "engagement", "chanpref", "cart", "dormancy", "policy", "a", "zz"}
	order := StateKeyOrder(names)
	if len(order) != len(names) {
		t.Fatalf("order %v", order)
	}
	seen := map[int]bool{}
	for k, i := range order {
		seen[i] = true
		if k == 0 {
			continue
		}
		prev, cur := stateKey(0, "c", names[order[k-1]]), stateKey(0, "c", names[i])
		if bytes.Compare(prev, cur) >= 0 {
			t.Errorf("%s's key is not after %s's", names[i], names[order[k-1]])
		}
	}
	if len(seen) != len(names) {
		t.Errorf("order %v is not a permutation", order)
	}
}

// On a logged partition (expiry key by key, of committed keys only), the
// commit that overflows the dedup index while expiring a bucket writes no
// per-id keys for the expiring bucket: nothing would ever delete them.
func TestDedupOverflowWhileExpiringLogged(t *testing.T) {
	s, err := Open("", Options{InMemory: true, DedupWindow: time.Hour, DedupIndexMax: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := part(t, s, 0)
	p.EnableLog()
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	late := t0.Add(3 * time.Hour)
	for _, g := range []struct {
		at  time.Time
		ids []string
	}{{t0, []string{"e0", "e1"}}, {late, []string{"l0", "l1", "l2", "l3"}}} {
		b := p.NewBatch()
		for _, id := range g.ids {
			b.MarkSeen(id, g.at)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if !p.dedup.overflow {
		t.Fatal("index did not overflow")
	}
	lo, hi := keyspace(0, tagDedup)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var ids []string
	for it.First(); it.Valid(); it.Next() {
		id, _, _ := readString(it.Key()[13:])
		ids = append(ids, id)
	}
	if fmt.Sprint(ids) != "[l0 l1 l2 l3]" {
		t.Fatalf("per-id keys %v, want the late bucket's only", ids)
	}
	for _, id := range []string{"l0", "l3"} {
		if ok, err := p.Seen(id, late); err != nil || !ok {
			t.Fatalf("%s not seen (%v)", id, err)
		}
	}
}

// memPartition opens an in-memory store with o (closed when the test
// ends) and returns its partition 0.
func memPartition(tb testing.TB, o Options) *Partition {
	tb.Helper()
	o.InMemory = true
	s, err := Open("", o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	p, err := s.Partition(0)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkSeenOverflowed: a round's dedup work per event (look the id up,
// mark it; a commit every 4,096) on a partition whose index has overflowed,
// as it does in production once the dedup window holds more ids than
// state.memory_limit's share: 200,000 ids committed before, every id new.
func BenchmarkSeenOverflowed(b *testing.B) {
	p := memPartition(b, Options{DedupWindow: 24 * time.Hour, DedupIndexMax: 10_000})
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	n := 0
	round := func(k int) {
		batch := p.NewBatch()
		for range k {
			id := fmt.Sprintf("msg-%08d-aaaa-bbbb-cccc-dddddddddddd", n)
			n++
			if dup, err := batch.Seen(id, t0); err != nil || dup {
				b.Fatalf("new id %s: seen %v, %v", id, dup, err)
			}
			batch.MarkSeen(id, t0)
		}
		if err := batch.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	for range 50 {
		round(4096)
	}
	if !p.dedup.overflow {
		b.Fatal("the index did not overflow")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 4096 {
		round(min(4096, b.N-i))
	}
}
