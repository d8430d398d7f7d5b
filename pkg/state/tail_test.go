package state

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// readStored is ReadOutbox without the tail: what Pebble holds.
func readStored(t *testing.T, p *Partition, max int) []OutboxEntry {
	t.Helper()
	lo := outboxKey(p.id, p.headSeq.Load())
	_, hi := keyspace(p.id, tagOutbox)
	it, err := p.s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []OutboxEntry
	for it.First(); it.Valid() && len(out) < max; it.Next() {
		seq, err := outboxSeq(it.Key())
		if err != nil {
			t.Fatal(err)
		}
		v := it.Value()
		out = append(out, OutboxEntry{Seq: seq, Kind: v[0], Data: append([]byte(nil), v[1:]...)})
	}
	return out
}

func sameEntries(a, b []OutboxEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Seq != b[i].Seq || a[i].Kind != b[i].Kind || string(a[i].Data) != string(b[i].Data) {
			return false
		}
	}
	return true
}

// TestTailReadsWhatPebbleHolds drives a partition through random commits,
// deliveries, aborted batches, drops and overflows of the in-memory tail,
// and requires every ReadOutbox to return exactly what the store holds
// from the head, and the tail to have answered most reads (not vacuous).
func TestTailReadsWhatPebbleHolds(t *testing.T) {
	defer func(e, b int) { tailMaxEntries, tailMaxBytes = e, b }(tailMaxEntries, tailMaxBytes)
	tailMaxEntries, tailMaxBytes = 40, 1<<20
	forEach(t, func(t *testing.T, s *Store, reopen func() *Store) {
		rng := rand.New(rand.NewPCG(1, 2))
		p := part(t, s, 2)
		fromTail, reads, n := 0, 0, 0
		for step := range 3000 {
			switch r := rng.IntN(100); {
			case r < 45: // a round of 0..9 entries (sometimes aborted)
				b := p.NewBatch()
				for range rng.IntN(10) {
					b.Append(byte('a'+rng.IntN(3)), fmt.Appendf(nil, "entry %d of step %d", n, step))
					n++
				}
				if rng.IntN(10) == 0 {
					b.Abort()
					continue
				}
				b.DeleteDelivered() // as the worker's round does
				if err := b.Commit(); err != nil {
					t.Fatal(err)
				}
			case r < 95: // the dispatcher reads and delivers some
				max := 1 + rng.IntN(30)
				want := readStored(t, p, max)
				inTail := p.tail.read(p.headSeq.Load(), max) != nil
				got, err := p.ReadOutbox(max)
				if err != nil {
					t.Fatal(err)
				}
				// The tail's run may end before the stored entries do (a
				// batch after it was not added): a shorter read, never an
				// empty one while entries wait.
				if len(got) > len(want) || !sameEntries(got, want[:len(got)]) || len(want) > 0 && len(got) == 0 {
					t.Fatalf("step %d: ReadOutbox(%d) = %d entries %v, the store holds %d from the head: %v", step, max, len(got), got, len(want), want)
				}
				reads++
				if inTail {
					fromTail++
				}
				if len(got) > 0 {
					k := 1 + rng.IntN(len(got))
					p.MarkDelivered(got[k-1].Seq, k)
				}
			case r < 97 && reopen != nil: // a restart: the tail is gone
				s = reopen()
				p = part(t, s, 2)
			case r < 98: // the key space replaced under the partition
				if err := p.Drop(); err != nil {
					t.Fatal(err)
				}
			}
			if d := p.OutboxDepth(); d != int64(len(readStored(t, p, 1<<30))) {
				t.Fatalf("step %d: depth %d, the store holds %d undelivered", step, d, len(readStored(t, p, 1<<30)))
			}
		}
		if fromTail < reads/2 {
			t.Fatalf("the tail answered %d of %d reads", fromTail, reads)
		}
		t.Logf("%d reads, %d from the tail", reads, fromTail)
	})
}

// TestTailShare: Options.TailBytes is the instance's; Share divides it
// between the owned partitions, and a batch that would take a partition's
// tail past its share is left to Pebble.
func TestTailShare(t *testing.T) {
	s, err := Open("", Options{InMemory: true, TailBytes: 4000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Share(4) // 1000 bytes each
	if got := s.tailMax.Load(); got != 1000 {
		t.Fatalf("share %d bytes, want 1000", got)
	}
	var tl tail
	entry := func(seq uint64) []OutboxEntry { return []OutboxEntry{{Seq: seq, Data: make([]byte, 400)}} }
	tl.push(entry(1), int(s.tailMax.Load()))
	tl.push(entry(2), int(s.tailMax.Load()))
	tl.push(entry(3), int(s.tailMax.Load())) // 1200 > 1000
	if got := tl.read(1, 10); len(got) != 2 {
		t.Fatalf("tail holds %d entries, want the 2 within its share", len(got))
	}
	if tl.read(3, 10) != nil {
		t.Fatal("the entry past the share is in the tail")
	}
}
