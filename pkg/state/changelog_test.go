package state

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
)

// dump returns every key and value of partition id except its changelog
// position and processor versions (what the changelog carries).
func dump(t *testing.T, p *Partition) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := p.ScanLocal(func(k, v []byte) error {
		out[string(k)] = string(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Applying a logged partition's changelog records, batch by batch, to an
// empty store rebuilds exactly its key space: states, timers fired and
// moved, dedup markers expiring key by key, outbox entries and the
// deletions of delivered ones, offsets, watermark.
func TestChangelogRebuildsThePartition(t *testing.T) {
	src, err := Open("", Options{InMemory: true, DedupWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	dst, err := Open("", Options{InMemory: true, DedupWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	sp, dp := part(t, src, 3), part(t, dst, 3)
	sp.EnableLog()
	var next int64
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 12 {
		b := sp.NewBatch()
		at := t0.Add(time.Duration(i) * 45 * time.Second) // crosses dedup buckets: old ones expire
		for c := range 5 {
			cust := fmt.Sprintf("c%d", (i+c)%7)
			b.PutState(cust, "counter", 1, []byte(fmt.Sprintf("%d-%d", i, c)))
			b.MarkSeen(fmt.Sprintf("e%d-%d", i, c), at)
			if err := b.Set(journey.Timer{At: at.Add(time.Duration(c) * time.Minute), Customer: cust, Processor: "cart", Key: "k"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, ok, err := b.PopDue(at); err != nil {
			t.Fatal(err)
		} else if !ok && i > 0 {
			t.Fatalf("batch %d: no timer due", i)
		}
		b.Append('T', []byte(fmt.Sprintf("trigger %d", i)))
		b.SetOffset("events", int64(i*5+5))
		b.SetWatermark(at)
		b.DeleteDelivered()
		recs, err := b.LogRecords()
		if err != nil {
			t.Fatal(err)
		}
		// The group's dedup markers travel as one pack, not a record each.
		packs := 0
		for _, r := range recs {
			switch {
			case r.Delete:
			case r.Key[4] == tagDedup:
				t.Errorf("batch %d: dedup marker %x logged on its own", i, r.Key)
			case r.Key[4] == tagDedupPack:
				packs++
			}
		}
		if packs != 1 {
			t.Errorf("batch %d: %d dedup packs logged, want 1", i, packs)
		}
		rb := dp.NewRestoreBatch()
		for _, r := range recs {
			if err := rb.Apply(r.Key, r.Value, r.Delete); err != nil {
				t.Fatal(err)
			}
		}
		next += int64(len(recs))
		if err := rb.Commit(next); err != nil {
			t.Fatal(err)
		}
		b.SetLogPosition(next)
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		// The dispatcher delivers every other batch's entry.
		if i%2 == 1 {
			sp.MarkDelivered(sp.nextSeq-1, int(sp.OutboxDepth()))
		}
	}
	// The last deliveries are logged by a commit of their own.
	b := sp.NewBatch()
	if !b.DeleteDelivered() {
		t.Fatal("delivered entries not logged")
	}
	recs, err := b.LogRecords()
	if err != nil {
		t.Fatal(err)
	}
	rb := dp.NewRestoreBatch()
	for _, r := range recs {
		if err := rb.Apply(r.Key, r.Value, r.Delete); err != nil {
			t.Fatal(err)
		}
	}
	if err := rb.Commit(next + int64(len(recs))); err != nil {
		t.Fatal(err)
	}
	b.SetLogPosition(next + int64(len(recs)))
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}

	want, got := dump(t, sp), dump(t, dp)
	if len(want) == 0 {
		t.Fatal("nothing written")
	}
	lo, hi := keyspace(sp.id, tagOutbox)
	for k := range want {
		if k >= string(lo) && k < string(hi) {
			t.Errorf("outbox entry %x left in the source after every entry was delivered and deleted", k)
		}
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("key %x: restored %q (present %v), want %q", k, g, ok, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("key %x restored but not in the source", k)
		}
	}
	// The expiry really happened (the test would pass vacuously otherwise),
	// to the packs; the ids live only in packs (no per-id keys while the
	// index holds them).
	lo, _ = keyspace(3, tagDedup)
	plo, _ := keyspace(3, tagDedupPack)
	var dedup, packs int
	for k := range want {
		if bytes.HasPrefix([]byte(k), lo) {
			dedup++
		}
		if bytes.HasPrefix([]byte(k), plo) {
			packs++
		}
	}
	if dedup != 0 {
		t.Errorf("%d per-id dedup keys written, want none (the index did not overflow)", dedup)
	}
	if packs == 0 || packs >= 12 {
		t.Errorf("%d dedup packs: none expired, or none left", packs)
	}
	// The restored markers are found by the restored partition.
	if err := dp.Reload(); err != nil {
		t.Fatal(err)
	}
	if ok, err := dp.Seen("e11-4", t0.Add(11*45*time.Second)); err != nil || !ok {
		t.Errorf("restored partition: the last event id not seen (%v, %v)", ok, err)
	}
	if err := dp.Reload(); err != nil {
		t.Fatal(err)
	}
	if dp.OutboxDepth() != sp.OutboxDepth() || !dp.Watermark().Equal(sp.Watermark()) || dp.nextSeq != sp.nextSeq {
		t.Errorf("reloaded view: depth %d seq %d wm %v; source: depth %d seq %d wm %v",
			dp.OutboxDepth(), dp.nextSeq, dp.Watermark(), sp.OutboxDepth(), sp.nextSeq, sp.Watermark())
	}
	pos, err := dp.LogPosition()
	if err != nil || !pos.Found || pos.Next == 0 {
		t.Errorf("position %+v, %v", pos, err)
	}
}

// A record of another partition's key space is refused.
func TestRestoreRefusesForeignKeys(t *testing.T) {
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	rb := part(t, s, 1).NewRestoreBatch()
	defer rb.Abort()
	if err := rb.Apply(stateKey(2, "c", "p"), []byte{1}, false); err == nil {
		t.Fatal("a key of partition 2 was applied to partition 1")
	}
}
