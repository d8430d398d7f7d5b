package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// The changelog side of the store (DESIGN.md, "Scale-out: the changelog
// protocol"). A partition's writes are logged, as raw Pebble keys and
// values, to a compacted Kafka topic before they are committed here, so
// any instance can rebuild the partition. The store knows nothing of Kafka:
// it hands out a round's writes as LogRecords and applies restored
// ones; pkg/pipeline produces and fetches them.

// LogRecord is one logged write: a set of Key to Value, or a deletion.
type LogRecord struct {
	Key, Value []byte
	Delete     bool
}

// LogPosition is where a partition's local copy stands in its changelog.
type LogPosition struct {
	// Next is the changelog offset after the last record applied here (or
	// produced by this store's worker and committed with it).
	Next int64
	// At is when the position was last written (wall clock), so a copy too
	// old for the topic's tombstone retention can be refused.
	At time.Time
	// Found is false when the partition never had a position.
	Found bool
}

// ErrUnloggedBatch is returned when a batch holds a write the changelog
// cannot express.
var ErrUnloggedBatch = errors.New("state: batch holds a range deletion, which a changelog cannot express")

// EnableLog makes the partition's batches expressible as a changelog:
// expiring dedup buckets are deleted key by key instead of with one range
// deletion. Call it before the first batch.
func (p *Partition) EnableLog() { p.logged = true }

// LogRecords returns every write of the batch, in order, as changelog
// records. It seals the batch (the writes Commit adds itself are in it).
// The slices alias the batch's memory: use them before Commit or Abort.
func (b *Batch) LogRecords() ([]LogRecord, error) {
	if err := b.seal(); err != nil {
		return nil, err
	}
	recs := make([]LogRecord, 0, b.b.Count()+uint32(len(b.extra)))
	r := b.b.Reader()
	for {
		kind, k, v, ok, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("state: partition %d: read batch: %w", b.p.id, err)
		}
		if !ok {
			break
		}
		switch kind {
		case pebble.InternalKeyKindSet:
			if len(k) > 4 && k[4] == tagDedup {
				continue // in the batch's pack (MarkSeen)
			}
			recs = append(recs, LogRecord{Key: k, Value: v})
		case pebble.InternalKeyKindDelete, pebble.InternalKeyKindSingleDelete:
			recs = append(recs, LogRecord{Key: k, Delete: true})
		default:
			return nil, fmt.Errorf("%w (partition %d, kind %v)", ErrUnloggedBatch, b.p.id, kind)
		}
	}
	return append(recs, b.extra...), nil
}

// LogOnly adds records that go to the changelog but not to this store
// (deletions this store already made on its own, such as delivered outbox
// entries).
func (b *Batch) LogOnly(recs ...LogRecord) { b.extra = append(b.extra, recs...) }

// SetLogPosition records, with the batch, the changelog offset its records
// end at. The position key itself is never logged.
func (b *Batch) SetLogPosition(next int64) {
	_ = b.b.Set(metaKey(b.p.id, metaLog), encodeLogPosition(next, time.Now()), nil)
}

// OutboxLogged is the lowest outbox sequence number whose deletion may not
// be in the changelog yet.
func (p *Partition) OutboxLogged() uint64 { return p.loggedHead }

// OutboxDeleted is the lowest outbox sequence number that may still be in
// the store (delivered entries below HeadSeq wait for DeleteDelivered).
func (p *Partition) OutboxDeleted() uint64 { return p.deletedHead }

// HeadSeq is the lowest outbox sequence number not yet delivered.
func (p *Partition) HeadSeq() uint64 { return p.headSeq.Load() }

// DeleteDelivered adds to the batch the deletion of the outbox entries
// delivered since the last committed batch (MarkDelivered). For a logged
// partition they are ordinary deletions of the batch in the changelog; the
// deletions an older store made on its own and never logged (below its
// logged head) are logged with them. It returns false when there is
// nothing to delete.
func (b *Batch) DeleteDelivered() bool { return b.DeleteDeliveredTo(math.MaxUint64) }

// DeleteDeliveredTo is DeleteDelivered of the entries below seq limit only
// (a replay's forwards stay until their receivers have committed them).
func (b *Batch) DeleteDeliveredTo(limit uint64) bool {
	p := b.p
	head := min(p.headSeq.Load(), limit)
	if head <= b.deletedHead && (!p.logged || head <= b.loggedHead) {
		return false
	}
	for seq := b.deletedHead; seq < head; seq++ {
		_ = b.b.Delete(outboxKey(p.id, seq), nil)
	}
	if p.logged {
		for seq := b.loggedHead; seq < min(b.deletedHead, head); seq++ {
			b.extra = append(b.extra, LogRecord{Key: outboxKey(p.id, seq), Delete: true})
		}
		b.loggedHead = head
		_ = b.b.Set(metaKey(p.id, metaLoggedHead), binary.BigEndian.AppendUint64(nil, head), nil)
	}
	b.deletedHead = max(b.deletedHead, head)
	return true
}

const (
	metaLog        = "clog"  // LogPosition: 8 bytes next offset BE, 8 bytes unix nanos BE
	metaLoggedHead = "lhead" // 8 bytes BE: outbox deletions below it are in the changelog
	metaRepublish  = "boot"  // present while a republish of local state is incomplete
	metaPackSeq    = "dpack" // 8 bytes BE: the next dedup pack number
)

func encodeLogPosition(next int64, at time.Time) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(next))
	return binary.BigEndian.AppendUint64(v, uint64(at.UnixNano()))
}

// LogPosition returns where the partition's local copy stands in its
// changelog.
func (p *Partition) LogPosition() (LogPosition, error) {
	return p.s.logPosition(p.id)
}

func (s *Store) logPosition(id uint32) (LogPosition, error) {
	v, closer, err := s.db.Get(metaKey(id, metaLog))
	if errors.Is(err, pebble.ErrNotFound) {
		return LogPosition{}, nil
	}
	if err != nil {
		return LogPosition{}, err
	}
	defer closer.Close()
	if len(v) != 16 {
		return LogPosition{}, fmt.Errorf("state: partition %d: corrupt changelog position", id)
	}
	return LogPosition{
		Next:  int64(binary.BigEndian.Uint64(v)),
		At:    time.Unix(0, int64(binary.BigEndian.Uint64(v[8:]))),
		Found: true,
	}, nil
}

// LogPositions returns the changelog position of every partition this
// store holds a copy of (what a member advertises when it joins the group).
func (s *Store) LogPositions() (map[int]int64, error) {
	ids, err := s.PartitionIDs()
	if err != nil {
		return nil, err
	}
	out := make(map[int]int64, len(ids))
	for _, id := range ids {
		pos, err := s.logPosition(uint32(id))
		if err != nil {
			return nil, err
		}
		if pos.Found {
			out[id] = pos.Next
		}
	}
	return out, nil
}

// HasUnloggedState reports whether the partition holds state that no
// changelog position covers: written by a build or run without the
// changelog, or promoted from a replay. Processor versions do not count.
func (p *Partition) HasUnloggedState() (bool, error) {
	pos, err := p.LogPosition()
	if err != nil || pos.Found {
		return false, err
	}
	it, err := p.s.db.NewIter(&pebble.IterOptions{LowerBound: partitionPrefix(p.id), UpperBound: partitionPrefix(p.id + 1)})
	if err != nil {
		return false, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		if k := it.Key(); len(k) > 4 && k[4] != tagProcessor {
			return true, nil
		}
	}
	return false, it.Error()
}

// Republishing reports whether a republish of this partition's local state
// to its changelog was started and not finished.
func (p *Partition) Republishing() (bool, error) {
	_, closer, err := p.s.db.Get(metaKey(p.id, metaRepublish))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	closer.Close()
	return true, nil
}

// RepublishMarker is the changelog record that opens (Delete false) or
// closes (Delete true) a republish: a restore that ends with it set has
// read an unfinished one.
func (p *Partition) RepublishMarker(done bool) LogRecord {
	if done {
		return LogRecord{Key: metaKey(p.id, metaRepublish), Delete: true}
	}
	return LogRecord{Key: metaKey(p.id, metaRepublish), Value: []byte{1}}
}

// Has reports whether key is set in the committed store.
func (p *Partition) Has(key []byte) (bool, error) {
	_, closer, err := p.s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	closer.Close()
	return true, nil
}

// ScanLocal calls fn with every key and value of the partition except its
// changelog position and processor versions (what a republish logs). The
// slices are valid during the call only.
func (p *Partition) ScanLocal(fn func(k, v []byte) error) error {
	it, err := p.s.db.NewIter(&pebble.IterOptions{LowerBound: partitionPrefix(p.id), UpperBound: partitionPrefix(p.id + 1)})
	if err != nil {
		return err
	}
	defer it.Close()
	skip := metaKey(p.id, metaLog)
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if string(k) == string(skip) || (len(k) > 4 && k[4] == tagProcessor) {
			continue
		}
		if err := fn(k, it.Value()); err != nil {
			return err
		}
	}
	return it.Error()
}

// RestoreBatch applies changelog records to a partition's local copy.
// Only the partition's owner (a restoring worker or a standby) may use it,
// and the Partition must be reloaded (Reload) before a worker uses it.
type RestoreBatch struct {
	p   *Partition
	b   *pebble.Batch
	n   int
	pos []byte // the position key, which a record never sets
}

// NewRestoreBatch starts a batch of restored records.
func (p *Partition) NewRestoreBatch() *RestoreBatch {
	return &RestoreBatch{p: p, b: p.s.db.NewBatch(), pos: metaKey(p.id, metaLog)}
}

// Apply adds one record. A key outside the partition's key space is an
// error: the changelog is not this partition's.
func (r *RestoreBatch) Apply(key, value []byte, del bool) error {
	if len(key) < 5 || binary.BigEndian.Uint32(key) != r.p.id {
		return fmt.Errorf("state: partition %d: changelog record key %x belongs to another partition", r.p.id, key)
	}
	if string(key) == string(r.pos) {
		return nil
	}
	r.n++
	if del {
		return r.b.Delete(key, nil)
	}
	return r.b.Set(key, value, nil)
}

// Len is the batch's size in bytes; Count its records.
func (r *RestoreBatch) Len() int   { return r.b.Len() }
func (r *RestoreBatch) Count() int { return r.n }

// Commit applies the records with the position they reach, without fsync
// (a lost tail is restored again), and releases the batch.
func (r *RestoreBatch) Commit(next int64) error {
	defer r.b.Close()
	_ = r.b.Set(metaKey(r.p.id, metaLog), encodeLogPosition(next, time.Now()), nil)
	r.p.stale.Store(true)
	return r.p.s.commit(r.b, pebble.NoSync)
}

// Abort releases the batch.
func (r *RestoreBatch) Abort() { _ = r.b.Close() }

// CommitRepublished records, after a republish, the position the
// changelog reached and removes the marker.
func (p *Partition) CommitRepublished(next int64) error {
	b := p.s.db.NewBatch()
	defer b.Close()
	_ = b.Set(metaKey(p.id, metaLog), encodeLogPosition(next, time.Now()), nil)
	_ = b.Delete(metaKey(p.id, metaRepublish), nil)
	_ = b.Set(metaKey(p.id, metaLoggedHead), binary.BigEndian.AppendUint64(nil, p.headSeq.Load()), nil)
	return p.s.commit(b, pebble.Sync)
}

// Reload re-reads what the partition keeps in memory (outbox position,
// watermark, timers bound, dedup index) after its key space changed under
// it: a restore, or a drop.
func (p *Partition) Reload() error {
	p.stale.Store(false)
	p.dedup = dedupIndex{}
	p.maxBucket = 0
	p.loggedHead = 0
	return p.load()
}

// ReloadIfStale reloads the partition if restored records were applied to
// it since it was last loaded.
func (p *Partition) ReloadIfStale() error {
	if !p.stale.Load() {
		return nil
	}
	return p.Reload()
}

// Stale reports whether restored records were applied to the partition
// since it was last loaded.
func (p *Partition) Stale() bool { return p.stale.Load() }
