package state

import (
	"fmt"
	"hash/maphash"
	"testing"
	"time"
)

// TestIDFilter: every id added is "maybe" (no false negatives) across the
// segments the filter grows; few others are; past its bound a filter says
// "maybe" to everything; dropping a bucket gives its capacity back.
func TestIDFilter(t *testing.T) {
	seeds := [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}
	h := func(s string) idHash { return idHash{maphash.String(seeds[0], s), maphash.String(seeds[1], s)} }
	var fs filterSet
	const n = 100_000 // past three segments (16k, 32k, 64k)
	for i := range n {
		fs.add(7, h(fmt.Sprint("in-", i)), 1<<30)
	}
	if segs := len(fs.byBucket[7].segs); segs < 3 {
		t.Fatalf("%d segments for %d ids", segs, n)
	}
	for i := range n {
		if !fs.mayHave(7, h(fmt.Sprint("in-", i))) {
			t.Fatalf("id %d added but not found", i)
		}
	}
	fp := 0
	for i := range n {
		if fs.mayHave(7, h(fmt.Sprint("out-", i))) {
			fp++
		}
	}
	if rate := float64(fp) / n; rate > 0.02 {
		t.Fatalf("false positives %.2f%% of ids never added (want about 0.5%%, a segment each)", 100*rate)
	}
	if fs.mayHave(8, h("in-1")) {
		t.Fatal("a bucket without a filter answered maybe")
	}

	// A bound of 20,000 ids: the first segment fits, the second does not.
	var small filterSet
	for i := range 20_000 {
		small.add(1, h(fmt.Sprint("in-", i)), 20_000)
	}
	if f := small.byBucket[1]; !f.full || small.ids != 0 {
		t.Fatalf("past the bound: full %v, capacity %d", f.full, small.ids)
	}
	if !small.mayHave(1, h("never added")) {
		t.Fatal("a full filter answered no")
	}
	fs.add(9, h("x"), 1<<30)
	fs.dropBefore(8)
	if fs.ids != filterFirstIDs || fs.byBucket[7] != nil {
		t.Fatalf("after dropping bucket 7: capacity %d, want %d", fs.ids, filterFirstIDs)
	}
}

// TestDedupOverflowFiltered: an overflowed index reads the store only for
// ids its filters may hold: a new id costs no read, a duplicate is found
// (committed, in the batch, or after a reopen that overflows the load).
func TestDedupOverflowFiltered(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	s, err := Open(dir, Options{DedupWindow: time.Hour, DedupIndexMax: 2000})
	if err != nil {
		t.Fatal(err)
	}
	p := part(t, s, 0)
	const n = 5000
	b := p.NewBatch()
	for i := range n / 2 {
		b.MarkSeen(fmt.Sprint("e", i), t0)
	}
	if err := b.Commit(); err != nil { // overflows: the packs expanded
		t.Fatal(err)
	}
	if !p.dedup.overflow {
		t.Fatal("index of 2,000 ids did not overflow with 2,500")
	}
	b = p.NewBatch() // while overflowed: keys of their own
	for i := n / 2; i < n; i++ {
		b.MarkSeen(fmt.Sprint("e", i), t0)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	check := func(p *Partition) {
		t.Helper()
		p.dedupReads = 0
		for i := range n {
			if got, err := p.Seen(fmt.Sprint("e", i), t0); err != nil || !got {
				t.Fatalf("e%d not found (%v)", i, err)
			}
		}
		if p.dedupReads < n {
			t.Fatalf("%d reads for %d duplicates", p.dedupReads, n)
		}
		p.dedupReads = 0
		b := p.NewBatch()
		defer b.close()
		for i := range n {
			id := fmt.Sprint("new", i)
			if got, err := b.Seen(id, t0); err != nil || got {
				t.Fatalf("%s reported seen (%v)", id, err)
			}
			b.MarkSeen(id, t0)
			if got, _ := b.Seen(id, t0); !got {
				t.Fatalf("%s marked in the batch, not found", id)
			}
		}
		if p.dedupReads > n/20 {
			t.Fatalf("%d store reads for %d new ids: the filter did not spare them", p.dedupReads, n)
		}
	}
	check(p)
	s.Close()
	s, err = Open(dir, Options{DedupWindow: time.Hour, DedupIndexMax: 2000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p = part(t, s, 0)
	if !p.dedup.overflow {
		t.Fatal("the reopened index did not overflow")
	}
	check(p)
}

// TestRelease: a partition no longer held is forgotten, memory and all; it
// loads again, with every id of its dedup window, when it is opened again.
// A held one stays as it is.
func TestRelease(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	s, err := Open(t.TempDir(), Options{DedupWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p0, p1 := part(t, s, 0), part(t, s, 1)
	for _, p := range []*Partition{p0, p1} {
		b := p.NewBatch()
		b.MarkSeen(fmt.Sprint("e-", p.id), t0)
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	s.Release(func(id int) bool { return id == 0 })
	if part(t, s, 0) != p0 {
		t.Fatal("a held partition was reloaded")
	}
	again := part(t, s, 1)
	if again == p1 {
		t.Fatal("a released partition was kept")
	}
	if p1.dedup.n == 0 || again.dedup.n != 1 {
		t.Fatalf("dedup index: %d ids before the release, %d after the reload (want 1)", p1.dedup.n, again.dedup.n)
	}
	if seen, err := again.Seen("e-1", t0); err != nil || !seen {
		t.Fatalf("id committed before the release not found after it (%v)", err)
	}
}
