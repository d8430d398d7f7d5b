package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/journey-dev/journey/pkg/journey"
)

// Batch collects one round's writes to a partition: state, dedup
// markers, outbox entries and input offsets. Nothing is visible until
// Commit, which applies everything atomically.
type Batch struct {
	p *Partition
	b *pebble.Batch // not indexed: nothing reads state, dedup or outbox keys through it
	// tb holds the group's timer writes, indexed so that timer reads
	// (Cancel, PopDue) see them; made on the first timer operation and
	// applied to b when the batch is sealed. Indexing every write of b
	// (a skiplist insert per key) cost ~2 % of the CPU in a backlog.
	tb        *pebble.Batch
	seq       uint64 // next outbox seq, applied to p on commit
	appended  int64
	maxBucket uint64
	nextDue   uint64 // lower bound of the earliest timer, applied to p on commit
	// timersAfter, when set, is a key no live timer is below (the last
	// timer popped, and a zero byte): timers often share a fire time (every
	// trigger held to the end of the same quiet hours), and a scan from
	// nextDue would step again over each one popped before it. Applied to p
	// on commit.
	timersAfter []byte
	// seen are the ids this batch added to the partition's dedup index,
	// taken back unless it commits (MarkSeen); pending are the ids it
	// marked while the index has overflowed (lookups then read keys, and
	// this batch's are not in the store yet), handed to the index should
	// its commit end the overflow.
	seen    []seenID
	pending map[string]uint64 // id -> bucket
	// lastID and lastHash are the id Seen looked up last and its hash, for
	// MarkSeen to reuse.
	lastID    string
	lastHash  idHash
	committed bool
	packs     []dedupPack   // the ids marked, per bucket
	packSeq   uint64        // next pack number, applied to p on commit
	overflow  bool          // the dedup index overflows with this batch (seal)
	filters   *filterSet    // with overflow: the filters of the ids it gave keys of their own
	entries   []OutboxEntry // appended, handed to the partition's tail on commit
	watermark time.Time
	wmSet     bool

	sealed      bool
	extra       []LogRecord // changelog-only records (LogOnly, DeleteDelivered)
	loggedHead  uint64      // applied to p on commit
	deletedHead uint64      // applied to p on commit
}

// NewBatch starts a batch. Only the partition's worker goroutine may use it.
func (p *Partition) NewBatch() *Batch {
	// Sized like the largest recent batch, and a quarter more: a batch of a
	// few MB otherwise grows by copying itself (doubling) several times.
	return &Batch{p: p, b: p.s.db.NewBatchWithSize(p.batchHint + p.batchHint/4), seq: p.nextSeq, maxBucket: p.maxBucket,
		nextDue: p.nextDue, timersAfter: p.timersAfter, loggedHead: p.loggedHead, deletedHead: p.deletedHead, packSeq: p.packSeq}
}

// PutState writes a customer's state for a processor, tagged with version.
func (b *Batch) PutState(customer, processor string, version uint32, data []byte) {
	// Written in place in the batch's memory: no key or value copies.
	klen := 5 + uvarintLen(uint64(len(customer))) + len(customer) + uvarintLen(uint64(len(processor))) + len(processor)
	vlen := uvarintLen(uint64(version)) + len(data)
	op := b.b.SetDeferred(klen, vlen)
	_ = appendString(appendString(append(binary.BigEndian.AppendUint32(op.Key[:0], b.p.id), tagState), customer), processor)
	_ = append(binary.AppendUvarint(op.Value[:0], uint64(version)), data...)
	_ = op.Finish() // errors only when the batch is closed or read-only
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// DeleteState removes a customer's state for a processor.
func (b *Batch) DeleteState(customer, processor string) {
	_ = b.b.Delete(stateKey(b.p.id, customer, processor), nil)
}

type seenID struct {
	bucket uint64
	hash   idHash
}

// dedupPack collects the ids a batch marks in one bucket: uvarint length
// and bytes, one after the other.
type dedupPack struct {
	bucket uint64
	ids    []byte
}

// Seen reports whether an event with this id and event time is a
// duplicate: committed within the dedup window (Partition.Seen), or marked
// earlier in this batch with an event time as near.
func (b *Batch) Seen(eventID string, t time.Time) (bool, error) {
	p := b.p
	bk := p.bucket(t)
	if !p.dedup.overflow {
		// The index holds this batch's marks too (MarkSeen).
		h := p.s.hash(eventID)
		b.lastID, b.lastHash = eventID, h
		return p.dedup.near(bk, h), nil
	}
	if pb, ok := b.pending[eventID]; ok && pb+1 >= bk && pb <= bk+1 {
		return true, nil
	}
	h := p.s.hash(eventID)
	b.lastID, b.lastHash = eventID, h
	return p.seenStored(eventID, h, bk)
}

// MarkSeen records an event id in the dedup window. Until the batch
// commits, Batch.Seen and Partition.Seen find it; when the batch is
// aborted, no longer.
//
// A round writes the ids it marked as one pack per bucket (P D ...),
// the same in the store and in the changelog: one key per group instead of
// one per event (they were most of the store's keys, and of its
// compactions). Lookups use the partition's in-memory index (Seen), loaded
// from the packs. While that index has overflowed, each id also gets a key
// of its own (P d ...) for the lookups to read; the batch that overflows it
// expands every pack into such keys. Expiry deletes both, the packs of a
// logged partition key by key (a compacted topic forgets only what a
// tombstone names).
func (b *Batch) MarkSeen(eventID string, t time.Time) {
	if b.sealed {
		panic("state: MarkSeen on a sealed batch")
	}
	p := b.p
	bk := p.bucket(t)
	h := b.lastHash
	if eventID != b.lastID {
		h = p.s.hash(eventID)
	}
	if p.dedup.overflow {
		// The key written in place in the batch's memory; the filter
		// holds it from now on (an aborted batch leaves it there: a
		// lookup of it reads the store for nothing).
		op := b.b.SetDeferred(dedupKeyLen(eventID), 0)
		_ = appendDedupKey(op.Key[:0], p.id, bk, eventID)
		_ = op.Finish()
		if b.pending == nil {
			b.pending = map[string]uint64{}
		}
		b.pending[eventID] = bk
		p.dedup.filters.add(bk, h, filterIDsPerIndexed*p.s.dedupIndexMax())
	} else {
		if p.dedup.add(bk, h) {
			b.seen = append(b.seen, seenID{bk, h})
		}
	}
	if bk > b.maxBucket {
		b.maxBucket = bk
	}
	i := len(b.packs) - 1
	for i >= 0 && b.packs[i].bucket != bk {
		i--
	}
	if i < 0 {
		b.packs = append(b.packs, dedupPack{bucket: bk})
		i = len(b.packs) - 1
	}
	b.packs[i].ids = appendString(b.packs[i].ids, eventID)
}

// Append adds an outbox entry and returns its sequence number. kind is a
// caller-defined tag stored with the data. The partition keeps data (not a
// copy) for ReadOutbox once the batch commits: the caller must not modify
// it afterwards.
func (b *Batch) Append(kind byte, data []byte) uint64 {
	seq := b.seq
	b.seq++
	op := b.b.SetDeferred(13, 1+len(data))
	_ = binary.BigEndian.AppendUint64(append(binary.BigEndian.AppendUint32(op.Key[:0], b.p.id), tagOutbox), seq)
	op.Value[0] = kind
	copy(op.Value[1:], data)
	_ = op.Finish()
	b.appended++
	b.entries = append(b.entries, OutboxEntry{Seq: seq, Kind: kind, Data: data})
	return seq
}

// SetOffset records the next offset to read from topic.
func (b *Batch) SetOffset(topic string, next int64) {
	_ = b.b.Set(offsetKey(b.p.id, topic), binary.BigEndian.AppendUint64(nil, uint64(next)), nil)
}

// Len is the batch's size in bytes.
func (b *Batch) Len() int {
	if b.tb != nil {
		return b.b.Len() + b.tb.Len()
	}
	return b.b.Len()
}

// timers returns the batch of the group's timer writes, making it. A timer
// operation after the batch was sealed would be lost: it panics.
func (b *Batch) timers() *pebble.Batch {
	if b.sealed {
		panic("state: timer operation on a sealed batch")
	}
	if b.tb == nil {
		b.tb = b.p.s.db.NewIndexedBatch()
	}
	return b.tb
}

// close releases both batches.
func (b *Batch) close() {
	if !b.committed && !b.p.dedup.overflow {
		for _, x := range b.seen {
			b.p.dedup.remove(x.bucket, x.hash)
		}
	}
	b.seen, b.lastID = nil, ""
	_ = b.b.Close()
	if b.tb != nil {
		_ = b.tb.Close()
		b.tb = nil
	}
}

// seal adds the writes Commit makes on its own (next seq, expired dedup
// buckets, watermark). It runs once; later writes are not expected.
func (b *Batch) seal() error {
	if b.sealed {
		return nil
	}
	b.sealed = true
	p := b.p
	if b.tb != nil {
		if err := b.b.Apply(b.tb, nil); err != nil {
			return fmt.Errorf("state: partition %d: timers: %w", p.id, err)
		}
		_ = b.tb.Close()
		b.tb = nil
	}
	if b.appended > 0 {
		_ = b.b.Set(metaKey(p.id, "seq"), binary.BigEndian.AppendUint64(nil, b.seq), nil)
	}
	if len(b.packs) > 0 {
		for _, pk := range b.packs {
			_ = b.b.Set(dedupPackKey(p.id, pk.bucket, b.packSeq), pk.ids, nil)
			b.packSeq++
		}
		_ = b.b.Set(metaKey(p.id, metaPackSeq), binary.BigEndian.AppendUint64(nil, b.packSeq), nil)
	}
	// The index holds this batch's ids already (MarkSeen).
	if len(b.seen) > 0 && !p.dedup.overflow && !p.dedup.fits(p.s.dedupIndexMax(), b.expiresBefore()) {
		// The index overflows: from now on lookups read per-id keys, so
		// every id in the window needs one (before the expiry below,
		// which deletes the expired ones again).
		b.overflow = true
		b.filters = &filterSet{}
		if err := p.expandPacks(b.b, b.packs, b.expiresBefore(), b.filters); err != nil {
			return fmt.Errorf("state: partition %d: dedup overflow: %w", p.id, err)
		}
	}
	if b.maxBucket > p.maxBucket && b.maxBucket >= 2 {
		if err := b.expireDedup(); err != nil {
			return err
		}
	}
	if b.wmSet {
		_ = b.b.Set(metaKey(p.id, "wm"), binary.BigEndian.AppendUint64(nil, timeKey(b.watermark)), nil)
	}
	return nil
}

// expiresBefore is the bucket this batch's commit expires the older ones
// of, or 0.
func (b *Batch) expiresBefore() uint64 {
	if b.maxBucket > b.p.maxBucket && b.maxBucket >= 2 {
		return b.maxBucket - 2
	}
	return 0
}

// expireDedup drops the dedup buckets older than two windows before the
// newest: one range deletion, or (logged partitions) a deletion per key,
// which a compacted changelog can express.
func (b *Batch) expireDedup() error {
	p := b.p
	from := uint64(0)
	if p.logged && p.maxBucket >= 2 {
		from = p.maxBucket - 2 // below it: expired before
	}
	for _, prefix := range [...]func(uint32, uint64) []byte{dedupBucketPrefix, dedupPackBucketPrefix} {
		lo, hi := prefix(p.id, from), prefix(p.id, b.maxBucket-2)
		if !p.logged {
			if err := b.b.DeleteRange(lo, hi, nil); err != nil {
				return err
			}
			continue
		}
		if err := b.deleteEach(lo, hi); err != nil {
			return err
		}
	}
	return nil
}

// deleteEach deletes every committed key in [lo, hi), one by one.
func (b *Batch) deleteEach(lo, hi []byte) error {
	it, err := b.p.s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		_ = b.b.Delete(it.Key(), nil)
	}
	return it.Error()
}

// Commit applies the batch atomically (waiting for fsync when the store
// syncs) and releases it. Dedup buckets older than two windows before the
// newest one are dropped in the same batch.
func (b *Batch) Commit() error {
	defer b.close()
	p := b.p
	if err := b.seal(); err != nil {
		return err
	}
	opts := pebble.NoSync
	if p.s.opts.Sync {
		opts = pebble.Sync
	}
	// The depth counts the new entries before they are visible: whoever
	// sees this batch's offsets (a reader waiting for "all committed and
	// delivered") must not see the outbox empty in between.
	p.depth.Add(b.appended)
	if err := p.s.commit(b.b, opts); err != nil {
		p.depth.Add(-b.appended)
		return err // the store's *WriteError: it names no partition, all are stopped
	}
	b.committed = true
	p.nextSeq = b.seq
	p.tail.push(b.entries, int(p.s.tailMax.Load()))
	p.batchHint = max(b.b.Len(), p.batchHint-p.batchHint/8)
	if bk := b.expiresBefore(); bk > 0 {
		p.dedup.dropBefore(bk)
	}
	p.maxBucket = b.maxBucket
	p.packSeq = b.packSeq
	if b.overflow || p.dedup.overflow {
		// The ids have keys of their own (expanded in seal, or written by
		// MarkSeen): the index resumes once their buckets have expired.
		p.dedup.startOverflow(b.maxBucket, b.filters)
	} else {
		// The overflow ended with this commit (dropBefore above): the ids
		// this batch marked meanwhile go to the index.
		for id, bk := range b.pending {
			p.dedup.add(bk, p.s.hash(id))
		}
	}
	p.nextDue = b.nextDue
	p.timersAfter = b.timersAfter
	if b.wmSet {
		p.watermark = b.watermark
	}
	p.loggedHead = b.loggedHead
	p.deletedHead = b.deletedHead
	return nil
}

// SetWatermark records the partition's watermark with the batch.
func (b *Batch) SetWatermark(t time.Time) { b.watermark, b.wmSet = t, true }

// Set implements journey.TimerStore: it arms (or moves) a timer.
func (b *Batch) Set(t journey.Timer) error {
	if err := b.Cancel(t.Customer, t.Processor, t.Key); err != nil {
		return err
	}
	at := timeKey(t.At)
	tb := b.timers()
	k := timerKey(b.p.id, at, t.Customer, t.Processor, t.Key)
	_ = tb.Set(k, nil, nil)
	_ = tb.Set(timerRevKey(b.p.id, t.Customer, t.Processor, t.Key), binary.BigEndian.AppendUint64(nil, at), nil)
	if at < b.nextDue {
		b.nextDue = at
	}
	if b.timersAfter != nil && bytes.Compare(k, b.timersAfter) < 0 {
		b.timersAfter = nil
	}
	return nil
}

// Cancel implements journey.TimerStore.
func (b *Batch) Cancel(customer, processor, key string) error {
	rk := timerRevKey(b.p.id, customer, processor, key)
	tb := b.timers()
	v, closer, err := tb.Get(rk)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(v) != 8 {
		closer.Close()
		return fmt.Errorf("state: partition %d: corrupt timer entry", b.p.id)
	}
	at := binary.BigEndian.Uint64(v)
	closer.Close()
	_ = tb.Delete(timerKey(b.p.id, at, customer, processor, key), nil)
	_ = tb.Delete(rk, nil)
	return nil
}

// PopDue implements journey.TimerStore: it removes and returns the first
// timer due by upTo. Without a timer due it costs one comparison.
func (b *Batch) PopDue(upTo time.Time) (journey.Timer, bool, error) {
	limit := timeKey(upTo)
	if limit < b.nextDue {
		return journey.Timer{}, false, nil
	}
	// No timer is armed before nextDue: starting the scan there skips the
	// tombstones of every timer already fired, cancelled or moved (an LSM
	// queue's classic cost), instead of stepping over them on each call.
	lo, hi := keyspace(b.p.id, tagTimer)
	if b.nextDue != noTimer {
		lo = binary.BigEndian.AppendUint64(lo, b.nextDue)
	}
	if b.timersAfter != nil && bytes.Compare(b.timersAfter, lo) > 0 {
		lo = b.timersAfter
	}
	tb := b.timers()
	it, err := tb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return journey.Timer{}, false, err
	}
	defer it.Close()
	if !it.First() {
		b.nextDue = noTimer
		return journey.Timer{}, false, it.Error()
	}
	at, customer, processor, key, err := decodeTimerKey(it.Key())
	if err != nil {
		return journey.Timer{}, false, err
	}
	if at > limit {
		b.nextDue = at
		return journey.Timer{}, false, nil
	}
	_ = tb.Delete(it.Key(), nil)
	_ = tb.Delete(timerRevKey(b.p.id, customer, processor, key), nil)
	// The next timer is at or after this one: a safe lower bound; and
	// after its key (a fresh slice: the next batch may keep it).
	b.nextDue = at
	b.timersAfter = append(append(make([]byte, 0, len(it.Key())+1), it.Key()...), 0)
	return journey.Timer{At: time.Unix(0, int64(at)).UTC(), Customer: customer, Processor: processor, Key: key}, true, nil
}

// Abort releases the batch without writing anything.
func (b *Batch) Abort() { b.close() }

// OutboxEntry is one undelivered outbox entry.
type OutboxEntry struct {
	Seq  uint64
	Kind byte
	Data []byte
}

// ReadOutbox returns up to max entries in sequence order, starting at the
// oldest undelivered one. The entries' Data must not be modified (those of
// a batch just committed are the slices given to Append).
func (p *Partition) ReadOutbox(max int) ([]OutboxEntry, error) {
	return p.ReadOutboxFrom(0, max)
}

// ReadOutboxFrom is ReadOutbox starting at sequence from, or at the oldest
// undelivered entry if that is later: the dispatcher reads past entries it
// holds (see package outbox).
func (p *Partition) ReadOutboxFrom(from uint64, max int) ([]OutboxEntry, error) {
	head := p.headSeq.Load()
	if from > head {
		head = from
	}
	if es := p.tail.read(head, max); es != nil {
		return es, nil
	}
	if p.depth.Load() <= 0 {
		// Everything committed is delivered (a commit counts its entries
		// before they are visible): the dispatcher's read after each
		// delivery, which would otherwise seek every level of the LSM to
		// find nothing (~4 % of journey's CPU in live traffic).
		return nil, nil
	}
	lo := outboxKey(p.id, head)
	_, hi := keyspace(p.id, tagOutbox)
	it, err := p.s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []OutboxEntry
	for it.First(); it.Valid() && len(out) < max; it.Next() {
		seq, err := outboxSeq(it.Key())
		if err != nil {
			return nil, err
		}
		v := it.Value()
		if len(v) == 0 {
			return nil, fmt.Errorf("state: partition %d: empty outbox entry %d", p.id, seq)
		}
		out = append(out, OutboxEntry{Seq: seq, Kind: v[0], Data: append([]byte(nil), v[1:]...)})
	}
	return out, it.Error()
}

// MarkDelivered records that the entries with seq <= through, count of
// them, are in the sink: ReadOutbox no longer returns them and the depth
// drops. Called only by the partition's dispatcher. It writes nothing: the
// worker's next batch deletes them (DeleteDelivered), so a delivery costs
// no Pebble commit of its own — that commit queued behind the workers'
// synced ones. A crash before that batch commits means a redelivery, which
// the sink ignores by trigger id (and a context is set again to the same
// or a newer value).
func (p *Partition) MarkDelivered(through uint64, count int) {
	if through < p.headSeq.Load() {
		return
	}
	p.headSeq.Store(through + 1)
	p.depth.Add(-int64(count))
	p.tail.trim(through + 1)
}

// TakeTimers disarms every timer of customer and returns them, in firing
// order: a customer merged into another takes its timers along.
func (b *Batch) TakeTimers(customer string) ([]journey.Timer, error) {
	lo := appendString(append(partitionPrefix(b.p.id), tagTimerRev), customer)
	tb := b.timers()
	it, err := tb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return nil, err
	}
	var out []journey.Timer
	for it.First(); it.Valid(); it.Next() {
		proc, rest, err := readString(it.Key()[len(lo):])
		var key string
		if err == nil {
			key, rest, err = readString(rest)
		}
		if err != nil || len(rest) != 0 || len(it.Value()) != 8 {
			_ = it.Close()
			return nil, fmt.Errorf("state: partition %d: corrupt timer entry", b.p.id)
		}
		at := time.Unix(0, int64(binary.BigEndian.Uint64(it.Value()))).UTC()
		out = append(out, journey.Timer{At: at, Customer: customer, Processor: proc, Key: key})
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	for _, t := range out {
		if err := b.Cancel(customer, t.Processor, t.Key); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, journey.Compare)
	return out, nil
}

// HasTimer reports whether customer has the timer (processor, key) armed.
func (b *Batch) HasTimer(customer, processor, key string) (bool, error) {
	_, closer, err := b.timers().Get(timerRevKey(b.p.id, customer, processor, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	closer.Close()
	return true, nil
}
