// Package state holds journey's durable state in Pebble: per-customer
// processor state, the input offsets that state reflects, the event-id
// de-duplication window and the outbox of triggers waiting for delivery.
//
// Each input partition has its own key space (see keys.go), and everything a
// group of events produced — state, offsets, dedup markers, outbox entries —
// is written in ONE Pebble batch, so after a crash the store holds either all
// of a group's effects or none of them.
//
// Concurrency: a Partition's write methods (NewBatch/Commit) are called by
// one goroutine, the partition's worker. Outbox reads and MarkDelivered are
// called by one other goroutine, the partition's dispatcher. Pebble itself
// is safe for concurrent use.
package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable/block"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"

	"github.com/journey-dev/journey/pkg/journey"
)

// ErrVersion reports state written by a processor version this build cannot
// read. It is fatal: the operator must migrate or drop the state.
var ErrVersion = errors.New("state: processor state version mismatch")

// Options configure a Store.
type Options struct {
	// InMemory keeps everything in memory (tests, `journey dev`).
	InMemory bool
	// Sync makes every batch commit wait for fsync. Without it a crash
	// (of the process or the machine) can lose the last committed batches:
	// Pebble keeps the WAL's last partial block in memory until it fills or
	// a synced write comes. The store stays a prefix of its batches (each
	// with its offsets), so the lost tail is applied again from the
	// changelog or re-read from Kafka.
	Sync bool
	// DedupWindow is how long, in event time, an event id is remembered.
	DedupWindow time.Duration
	// CacheBytes is Pebble's block cache size.
	CacheBytes int64
	// MemTableSize is the size of one Pebble memtable (default 64 MiB);
	// up to four queue for flushing before writes stall.
	MemTableSize int64
	// DedupIndexMax bounds the event-id hashes a partition keeps in memory
	// (about 48 bytes each; default 4M), until Share divides it between
	// the partitions an instance holds. Past it, dedup lookups read
	// per-id keys in Pebble (bloom-filtered) instead: slower, never wrong.
	DedupIndexMax int
	// TailBytes bounds the just-committed outbox entries the partitions
	// keep in memory for their dispatchers, once Share divides it (0: 32
	// MiB each). Past it a dispatcher reads them from Pebble.
	TailBytes int
	// ReadOnly opens an existing store for reading only (`journey state`):
	// writes fail, and Pebble neither compacts nor flushes (a WAL left by
	// a crash is replayed in memory). Pebble still locks the directory, so
	// a store another process has open cannot be opened read-only either.
	ReadOnly bool
	// FS, when set, is the file system Pebble uses (tests inject write
	// errors with Pebble's errorfs); InMemory overrides it.
	FS     vfs.FS
	Logger *zap.Logger
}

func (o *Options) setDefaults() {
	if o.DedupWindow == 0 {
		o.DedupWindow = 24 * time.Hour
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = 512 << 20
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.DedupIndexMax == 0 {
		o.DedupIndexMax = 4 << 20
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = 64 << 20
	}
}

// Store is a Pebble database holding the state of any number of partitions.
type Store struct {
	db      *pebble.DB
	opts    Options
	dir     string
	failure failure
	open    atomic.Bool // pebble.Open returned: guardFS reports write errors

	mu    sync.Mutex
	parts map[uint32]*Partition
	seeds [2]maphash.Seed
	// dedupMax and tailMax are each partition's share of
	// Options.DedupIndexMax and Options.TailBytes (Share).
	dedupMax, tailMax atomic.Int64
}

// Share divides Options.DedupIndexMax and Options.TailBytes between the
// partitions an instance holds (active and standby; call it before they
// open): each partition's dedup index keeps at most its share of hashes
// (one over it overflows at its next commit), and its outbox tail at most
// its share of bytes.
func (s *Store) Share(owned int) {
	s.dedupMax.Store(int64(s.opts.DedupIndexMax / max(owned, 1)))
	if s.opts.TailBytes > 0 {
		s.tailMax.Store(int64(s.opts.TailBytes / max(owned, 1)))
	}
}

func (s *Store) dedupIndexMax() int { return int(s.dedupMax.Load()) }

// Release forgets the partitions held returns false for (revoked, no
// longer standing by): what they keep in memory, their dedup index and
// outbox tail above all, is dropped, and a later Partition(id) loads them
// again. Nothing may use them meanwhile: the pipeline calls it between
// generations, before Share.
func (s *Store) Release(held func(id int) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.parts {
		if !held(int(id)) {
			delete(s.parts, id)
		}
	}
}

func (s *Store) hash(id string) idHash {
	return idHash{maphash.String(s.seeds[0], id), maphash.String(s.seeds[1], id)}
}

func (s *Store) hashBytes(id []byte) idHash {
	return idHash{maphash.Bytes(s.seeds[0], id), maphash.Bytes(s.seeds[1], id)}
}

// Open opens (creating if needed) the store in dir. Pebble locks dir: a
// second process opening the same dir fails.
func Open(dir string, o Options) (*Store, error) {
	o.setDefaults()
	s := &Store{opts: o, dir: dir, parts: map[uint32]*Partition{}, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	s.failure.done = make(chan struct{})
	s.dedupMax.Store(int64(o.DedupIndexMax))
	s.tailMax.Store(math.MaxInt)
	if o.TailBytes > 0 {
		s.tailMax.Store(int64(o.TailBytes))
	}
	cache := pebble.NewCache(o.CacheBytes)
	defer cache.Unref()
	po := &pebble.Options{
		// Most point reads miss (an event id never seen, a customer's first
		// event): bloom filters answer those without reading blocks.
		Cache:                       cache,
		MemTableSize:                uint64(o.MemTableSize),
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       24,
		MaxOpenFiles:                1000,
		BytesPerSync:                1 << 20,
		Logger:                      pebbleLogger{o.Logger.Sugar(), s},
		EventListener: &pebble.EventListener{BackgroundError: func(err error) {
			o.Logger.Error("pebble background error", zap.Error(err))
			if diskError(err) {
				s.fail(err)
			}
		}},
		ReadOnly: o.ReadOnly,
		// Pinned, not FormatNewest: a Pebble upgrade must not ratchet
		// stores on its own (the ratchet is one-way). This one writes
		// columnar blocks and allows MinLZ; older stores are upgraded on
		// their first writable open.
		FormatMajorVersion: pebble.FormatValueSeparation,
	}
	// MinLZ at its fastest level, instead of Snappy: the state is
	// rewritten by every flush and compaction, so block compression is on
	// the write path and the cheaper codec wins (bench/README.md has the
	// figures). L0 is not compressed at all: every flush writes it
	// and the next compaction reads it back, a few memtables' worth that
	// lives seconds.
	po.ApplyCompressionSettings(func() pebble.DBCompressionSettings {
		cs := pebble.DBCompressionFastest
		cs.Name = "journey"
		cs.Levels[0] = block.NoCompression
		return cs
	})
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	po.FS = o.FS
	if po.FS == nil {
		po.FS = vfs.Default
	}
	if o.InMemory {
		po.FS = vfs.NewMem()
	}
	if !o.ReadOnly {
		po.FS = guardFS{FS: po.FS, s: s}
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	s.db = db
	s.open.Store(true)
	return s, nil
}

// Close closes the database. Partitions must not be used afterwards.
// After a write failure (Err) Pebble may not close: Close then waits
// for it at most 10 s and returns the failure.
func (s *Store) Close() error {
	if s.Err() == nil {
		return s.db.Close()
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		defer func() { _ = recover() }() // Pebble's state after the failure is its own
		_ = s.db.Close()
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		s.opts.Logger.Warn("state store not closed after its write failure; leaving it to the process exit")
	}
	return s.Err()
}

// Partition returns the key space of input partition id, loading its
// outbox position the first time.
func (s *Store) Partition(id int) (*Partition, error) {
	if id < 0 {
		return nil, fmt.Errorf("state: negative partition %d", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.parts[uint32(id)]; ok {
		return p, nil
	}
	p := &Partition{s: s, id: uint32(id)}
	if err := p.load(); err != nil {
		return nil, err
	}
	s.parts[uint32(id)] = p
	return p, nil
}

// Partition is one input partition's key space.
type Partition struct {
	s  *Store
	id uint32

	nextSeq     uint64        // next outbox sequence number (worker only)
	packSeq     uint64        // next dedup pack number (worker only)
	batchHint   int           // the largest recent batch's size (decaying), to size the next (worker only)
	maxBucket   uint64        // highest dedup bucket written (worker only)
	nextDue     uint64        // lower bound of the earliest armed timer (worker only)
	timersAfter []byte        // no armed timer's key is below it, when set (Batch.timersAfter; worker only)
	watermark   time.Time     // as of the last commit (worker only)
	dedup       dedupIndex    // hashes of the event ids in the dedup window (worker only)
	dedupReads  int           // store reads of overflowed lookups (worker only; tests)
	depth       atomic.Int64  // outbox entries not yet delivered
	headSeq     atomic.Uint64 // lowest seq not yet delivered (dispatcher)
	tail        tail          // the newest committed outbox entries (worker pushes, dispatcher reads)
	deletedHead uint64        // lowest seq possibly still in the store (worker only)
	logged      bool          // writes go to a changelog (EnableLog)
	loggedHead  uint64        // outbox deletions below it are logged (worker only)
	stale       atomic.Bool   // restored records were applied since load (Reload)
}

// ID is the partition number.
func (p *Partition) ID() int { return int(p.id) }

func (p *Partition) load() error {
	p.tail.reset()
	v, err := p.getUint64(metaKey(p.id, "seq"))
	if err != nil {
		return err
	}
	p.nextSeq = v
	if p.packSeq, err = p.getUint64(metaKey(p.id, metaPackSeq)); err != nil {
		return err
	}
	wm, err := p.getUint64(metaKey(p.id, "wm"))
	if err != nil {
		return err
	}
	if wm > 0 {
		p.watermark = time.Unix(0, int64(wm)).UTC()
	}
	if err := p.loadNextDue(); err != nil {
		return err
	}
	if err := p.loadDedup(); err != nil {
		return err
	}
	lo, hi := keyspace(p.id, tagOutbox)
	it, err := p.s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer it.Close()
	var n int64
	first := true
	for it.First(); it.Valid(); it.Next() {
		if first {
			seq, err := outboxSeq(it.Key())
			if err != nil {
				return err
			}
			p.headSeq.Store(seq)
			first = false
		}
		n++
	}
	if first {
		p.headSeq.Store(p.nextSeq)
	}
	p.deletedHead = p.headSeq.Load()
	p.depth.Store(n)
	if err := it.Error(); err != nil {
		return err
	}
	// Outbox deletions below the logged head are in the changelog; without
	// one recorded, nothing below the current head was ever logged as an
	// entry (a store that ran without the changelog).
	lh, found, err := p.getUint64Found(metaKey(p.id, metaLoggedHead))
	if err != nil {
		return err
	}
	if !found {
		lh = p.headSeq.Load()
	}
	p.loggedHead = lh
	return nil
}

// noTimer is nextDue when no timer is armed.
const noTimer = ^uint64(0)

func (p *Partition) loadNextDue() error {
	lo, hi := keyspace(p.id, tagTimer)
	it, err := p.s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer it.Close()
	p.nextDue, p.timersAfter = noTimer, nil
	if it.First() {
		at, _, _, _, err := decodeTimerKey(it.Key())
		if err != nil {
			return err
		}
		p.nextDue = at
	}
	return it.Error()
}

// Watermark is the partition's watermark as of the last commit (zero if
// none was ever recorded).
func (p *Partition) Watermark() time.Time { return p.watermark }

// Timers calls fn with every armed timer of the partition in firing order.
func (p *Partition) Timers(fn func(journey.Timer) error) error {
	lo, hi := keyspace(p.id, tagTimer)
	it, err := p.s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		at, c, proc, key, err := decodeTimerKey(it.Key())
		if err != nil {
			return err
		}
		if err := fn(journey.Timer{At: time.Unix(0, int64(at)).UTC(), Customer: c, Processor: proc, Key: key}); err != nil {
			return err
		}
	}
	return it.Error()
}

func (p *Partition) getUint64(k []byte) (uint64, error) {
	v, closer, err := p.s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("state: value of %q is %d bytes, want 8", k, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Offsets returns the next offset to read for each input topic, as of the
// last committed batch. A topic with no entry has never been read.
func (p *Partition) Offsets() (map[string]int64, error) {
	lo, hi := keyspace(p.id, tagOffset)
	it, err := p.s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := map[string]int64{}
	for it.First(); it.Valid(); it.Next() {
		topic, rest, err := readString(it.Key()[5:])
		if err != nil || len(rest) != 0 || len(it.Value()) != 8 {
			return nil, fmt.Errorf("state: partition %d: corrupt offset entry", p.id)
		}
		out[topic] = int64(binary.BigEndian.Uint64(it.Value()))
	}
	return out, it.Error()
}

// Register checks that the state of each processor (name -> version) in
// this partition was written by the same version, and records the versions
// for a partition seen for the first time. A mismatch wraps ErrVersion.
func (p *Partition) Register(versions map[string]uint32) error {
	b := p.s.db.NewBatch()
	defer b.Close()
	for name, want := range versions {
		k := processorKey(p.id, name)
		v, closer, err := p.s.db.Get(k)
		switch {
		case errors.Is(err, pebble.ErrNotFound):
			_ = b.Set(k, binary.AppendUvarint(nil, uint64(want)), nil)
			continue
		case err != nil:
			return err
		}
		got, n := binary.Uvarint(v)
		closer.Close()
		if n <= 0 {
			return fmt.Errorf("state: partition %d: corrupt version of processor %q", p.id, name)
		}
		if uint32(got) != want {
			return fmt.Errorf("%w: partition %d holds state of processor %q version %d, this build reads version %d",
				ErrVersion, p.id, name, got, want)
		}
	}
	return p.s.commit(b, pebble.Sync)
}

// State returns a customer's state for one processor, or found=false. The
// stored version must equal version (else an error wrapping ErrVersion).
// The returned bytes are a copy the caller owns.
func (p *Partition) State(customer, processor string, version uint32) (data []byte, found bool, err error) {
	v, closer, err := p.s.db.Get(stateKey(p.id, customer, processor))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer closer.Close()
	got, n := binary.Uvarint(v)
	if n <= 0 {
		return nil, false, fmt.Errorf("state: partition %d: corrupt state of processor %q", p.id, processor)
	}
	if uint32(got) != version {
		return nil, false, fmt.Errorf("%w: processor %q state is version %d, this build reads version %d",
			ErrVersion, processor, got, version)
	}
	return append([]byte(nil), v[n:]...), true, nil
}

// StoredState is one processor's stored state of a customer.
type StoredState struct {
	Version uint32
	Data    []byte
}

// States reads every processor's state of one customer with a single
// prefix scan (cheaper than a point read per processor). The map is keyed
// by processor name; data are copies the caller owns.
func (p *Partition) States(customer string) (map[string]StoredState, error) {
	return p.statesIn(p.s.db, customer)
}

func (p *Partition) statesIn(r iterReader, customer string) (map[string]StoredState, error) {
	lo := stateKeyPrefix(p.id, customer)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out map[string]StoredState
	for it.First(); it.Valid(); it.Next() {
		proc, rest, err := readString(it.Key()[len(lo):])
		if err != nil || len(rest) != 0 {
			return nil, fmt.Errorf("state: partition %d: corrupt state key", p.id)
		}
		v := it.Value()
		version, n := binary.Uvarint(v)
		if n <= 0 {
			return nil, fmt.Errorf("state: partition %d: corrupt state of processor %q", p.id, proc)
		}
		if out == nil {
			out = make(map[string]StoredState, 8)
		}
		out[proc] = StoredState{Version: uint32(version), Data: append([]byte(nil), v[n:]...)}
	}
	return out, it.Error()
}

// prefixEnd is the smallest key greater than every key starting with k.
func prefixEnd(k []byte) []byte {
	end := append([]byte(nil), k...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // k is all 0xff: no upper bound
}

// Customers calls fn with each customer that has state in the partition,
// in key order, with the processors it has state for.
func (p *Partition) Customers(fn func(customer string, processors []string) error) error {
	lo, hi := keyspace(p.id, tagState)
	it, err := p.s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer it.Close()
	var cur string
	var procs []string
	for it.First(); it.Valid(); it.Next() {
		_, c, proc, err := decodeStateKey(it.Key())
		if err != nil {
			return err
		}
		if c != cur && procs != nil {
			if err := fn(cur, procs); err != nil {
				return err
			}
			procs = nil
		}
		cur = c
		procs = append(procs, proc)
	}
	if procs != nil {
		if err := fn(cur, procs); err != nil {
			return err
		}
	}
	return it.Error()
}

func (p *Partition) bucket(t time.Time) uint64 {
	s := t.Unix()
	if s < 0 {
		s = 0
	}
	return uint64(s) / uint64(p.s.opts.DedupWindow/time.Second)
}

// Seen reports whether an event with this id and event time was committed
// within the dedup window (or marked by the batch being built: see
// Batch.Seen). An event id is found when the two event times are less than
// one window apart (and sometimes up to two windows apart).
//
// The partition keeps a 128-bit hash of every id in the window in memory,
// so a lookup reads nothing: two given ids share a hash with probability 2^-128
// (the seeds are random per process), far below the odds of a memory
// error. Past DedupIndexMax ids the index overflows and lookups read the
// per-id keys written meanwhile (see Batch.MarkSeen).
func (p *Partition) Seen(eventID string, t time.Time) (bool, error) {
	b := p.bucket(t)
	h := p.s.hash(eventID)
	if !p.dedup.overflow {
		return p.dedup.near(b, h), nil
	}
	return p.seenStored(eventID, h, b)
}

// seenStored looks an event id (hash h) up in the per-id keys of an
// overflowed index, around bucket b: in the buckets whose filter may hold
// it.
func (p *Partition) seenStored(eventID string, h idHash, b uint64) (bool, error) {
	for _, bk := range [...]uint64{b, b - 1, b + 1} {
		if bk == ^uint64(0) || !p.dedup.filters.mayHave(bk, h) {
			continue
		}
		p.dedupReads++
		_, closer, err := p.s.db.Get(dedupKey(p.id, bk, eventID))
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		closer.Close()
		return true, nil
	}
	return false, nil
}

// loadDedup fills the in-memory dedup index from the stored packs (and
// the per-id keys of an overflow or of older builds). When they hold more
// ids than the index may, it overflows: every pack is expanded into per-id
// keys for the lookups.
func (p *Partition) loadDedup() error {
	over := false
	err := p.eachStoredID(func(bk uint64, id, _ []byte, _ bool) error {
		p.maxBucket = maxU64(p.maxBucket, bk)
		if p.dedup.n >= p.s.dedupIndexMax() {
			over = true // keep reading: maxBucket
		} else if !over {
			p.dedup.add(bk, p.s.hashBytes(id))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if over {
		from := uint64(0)
		if p.maxBucket >= 2 {
			from = p.maxBucket - 2
		}
		fs := filterSet{unfiltered: p.s.opts.ReadOnly}
		if !p.s.opts.ReadOnly {
			b := p.s.db.NewBatch()
			defer b.Close()
			if err := p.expandPacks(b, nil, from, &fs); err != nil {
				return err
			}
			if err := p.s.commit(b, pebble.NoSync); err != nil {
				return err
			}
		}
		p.dedup.startOverflow(p.maxBucket, &fs)
	} else if p.maxBucket >= 2 {
		p.dedup.dropBefore(p.maxBucket - 2)
	}
	return nil
}

// eachStoredID calls fn with every event id the partition's dedup keys
// hold: the per-id keys (packed false) and the ids of every pack (packed
// true), with its bucket and its bytes as a key spells them (uvarint
// length + bytes). The slices are valid only during the call.
func (p *Partition) eachStoredID(fn func(bucket uint64, id, spelled []byte, packed bool) error) error {
	for _, tag := range [...]byte{tagDedupPack, tagDedup} {
		lo, hi := keyspace(p.id, tag)
		it, err := p.s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
		if err != nil {
			return err
		}
		for it.First(); it.Valid(); it.Next() {
			k := it.Key()
			if len(k) < 13 || (tag == tagDedupPack && len(k) != 21) {
				it.Close()
				return fmt.Errorf("state: partition %d: corrupt dedup key %x", p.id, k)
			}
			bk := binary.BigEndian.Uint64(k[5:13])
			if tag == tagDedup {
				id, _, err := readString(k[13:])
				if err == nil {
					err = fn(bk, []byte(id), k[13:], false)
				}
				if err != nil {
					it.Close()
					return err
				}
				continue
			}
			v, err := it.ValueAndErr()
			if err == nil {
				err = eachPackedID(v, func(id, spelled []byte) error { return fn(bk, id, spelled, true) })
			}
			if err != nil {
				it.Close()
				return fmt.Errorf("state: partition %d: dedup pack %x: %w", p.id, k, err)
			}
		}
		if err := it.Close(); err != nil {
			return err
		}
	}
	return nil
}

// eachPackedID calls fn with each id of a dedup pack and its spelling
// (uvarint length + bytes, as a key spells it).
func eachPackedID(pack []byte, fn func(id, spelled []byte) error) error {
	for len(pack) > 0 {
		n, w := binary.Uvarint(pack)
		if w <= 0 || uint64(len(pack)-w) < n {
			return errors.New("corrupt dedup pack")
		}
		end := w + int(n)
		if err := fn(pack[w:end], pack[:end]); err != nil {
			return err
		}
		pack = pack[end:]
	}
	return nil
}

// expandPacks writes to b a per-id key for every id of the partition's
// committed packs and of extra (a batch's own, not committed yet), in the
// buckets from on (older ones are expired or expiring: on a logged
// partition the expiry deletes only committed keys, so a key written for
// them here would stay). Every id with a per-id key then, written here or
// before, goes to fs, the filters of the overflowed index.
func (p *Partition) expandPacks(b *pebble.Batch, extra []dedupPack, from uint64, fs *filterSet) error {
	var k []byte
	maxIDs := filterIDsPerIndexed * p.s.dedupIndexMax()
	set := func(bk uint64, id, spelled []byte) error {
		fs.add(bk, p.s.hashBytes(id), maxIDs)
		k = append(binary.BigEndian.AppendUint64(append(binary.BigEndian.AppendUint32(k[:0], p.id), tagDedup), bk), spelled...)
		return b.Set(k, nil, nil) // Set copies k
	}
	err := p.eachStoredID(func(bk uint64, id, spelled []byte, packed bool) error {
		if bk < from {
			return nil // expired, or expiring with this batch
		}
		if !packed {
			fs.add(bk, p.s.hashBytes(id), maxIDs) // a key already
			return nil
		}
		return set(bk, id, spelled)
	})
	if err != nil {
		return err
	}
	for _, pk := range extra {
		if pk.bucket < from {
			continue
		}
		if err := eachPackedID(pk.ids, func(id, spelled []byte) error { return set(pk.bucket, id, spelled) }); err != nil {
			return err
		}
	}
	return nil
}

// idHash is a 128-bit hash of an event id (Store.hash).
type idHash [2]uint64

// dedupIndex holds the hashes of committed event ids per dedup bucket.
//
// When it would grow past its bound it overflows: it forgets every hash
// and lookups read the per-id keys instead, until the buckets it may have
// missed have expired. Meanwhile a Bloom filter per bucket (filters) spares
// the reads of ids no key can hold.
type dedupIndex struct {
	buckets    map[uint64]map[idHash]struct{}
	n          int
	overflow   bool
	overflowAt uint64    // the newest bucket with an id not recorded
	filters    filterSet // while overflowed: every id with a per-id key
}

func (d *dedupIndex) has(bucket uint64, h idHash) bool {
	_, ok := d.buckets[bucket][h]
	return ok
}

// near reports whether h is in bucket b or a neighbour.
func (d *dedupIndex) near(b uint64, h idHash) bool {
	return d.has(b, h) || (b > 0 && d.has(b-1, h)) || d.has(b+1, h)
}

// fits reports whether the index keeps within max ids once the buckets
// before expire are dropped.
func (d *dedupIndex) fits(max int, expire uint64) bool {
	if d.overflow {
		return false
	}
	n := d.n
	for bk, m := range d.buckets {
		if bk < expire {
			n -= len(m)
		}
	}
	return n <= max
}

// add records h in bucket; false when it was there already.
func (d *dedupIndex) add(bucket uint64, h idHash) bool {
	if d.buckets == nil {
		d.buckets = map[uint64]map[idHash]struct{}{}
	}
	m := d.buckets[bucket]
	if m == nil {
		m = map[idHash]struct{}{}
		d.buckets[bucket] = m
	}
	if _, ok := m[h]; ok {
		return false
	}
	m[h] = struct{}{}
	d.n++
	return true
}

// remove takes back what add recorded.
func (d *dedupIndex) remove(bucket uint64, h idHash) {
	if m := d.buckets[bucket]; m != nil {
		if _, ok := m[h]; ok {
			delete(m, h)
			d.n--
		}
	}
}

// startOverflow forgets every hash: ids up to bucket newest are not
// recorded. An index that was not overflowed takes fs, the filters of the
// ids given keys of their own.
func (d *dedupIndex) startOverflow(newest uint64, fs *filterSet) {
	if !d.overflow {
		d.overflow, d.buckets, d.n, d.overflowAt = true, nil, 0, newest
		d.filters = *fs
	}
	d.overflowAt = maxU64(d.overflowAt, newest)
}

// dropBefore forgets the buckets before b. An overflowed index starts
// over once every bucket it may have missed has expired.
func (d *dedupIndex) dropBefore(b uint64) {
	for bk, m := range d.buckets {
		if bk < b {
			d.n -= len(m)
			delete(d.buckets, bk)
		}
	}
	d.filters.dropBefore(b)
	if d.overflow && b > d.overflowAt {
		d.overflow, d.filters = false, filterSet{}
	}
}

// OutboxDepth is the number of outbox entries not yet delivered.
func (p *Partition) OutboxDepth() int64 { return p.depth.Load() }

// Drop deletes the partition's whole key space.
func (p *Partition) Drop() error {
	lo := partitionPrefix(p.id)
	hi := partitionPrefix(p.id + 1)
	if p.id == ^uint32(0) {
		hi = []byte{0xff, 0xff, 0xff, 0xff, 0xff}
	}
	if err := p.s.write(func() error { return p.s.db.DeleteRange(lo, hi, pebble.Sync) }); err != nil {
		return err
	}
	p.stale.Store(true)
	p.nextSeq, p.maxBucket, p.nextDue, p.watermark, p.timersAfter = 0, 0, noTimer, time.Time{}, nil
	p.dedup = dedupIndex{}
	p.depth.Store(0)
	p.headSeq.Store(0)
	p.tail.reset()
	p.deletedHead = 0
	return nil
}

// pebbleLogger sends Pebble's own messages to zap. A fatal one (a log or
// MANIFEST write that failed) fails the store instead of exiting: the
// pipeline then stops cleanly (Store.Failed) and the process exits with
// the store's error. Nothing is written after it (Store.write).
type pebbleLogger struct {
	l *zap.SugaredLogger
	s *Store
}

func (l pebbleLogger) Infof(format string, args ...any)  { l.l.Debugf(format, args...) }
func (l pebbleLogger) Errorf(format string, args ...any) { l.l.Errorf(format, args...) }
func (l pebbleLogger) Fatalf(format string, args ...any) {
	err := error(fatalError(fmt.Sprintf(format, args...)))
	for _, a := range args {
		if e, ok := a.(error); ok {
			err = fmt.Errorf("%s: %w", err, e) // keeps ENOSPC matchable
			break
		}
	}
	l.s.fail(err)
}

// fatalError is the message of a fatal Pebble error.
type fatalError string

func (e fatalError) Error() string { return string(e) }

func maxU64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

func (p *Partition) getUint64Found(k []byte) (uint64, bool, error) {
	v, closer, err := p.s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, false, fmt.Errorf("state: value of %q is %d bytes, want 8", k, len(v))
	}
	return binary.BigEndian.Uint64(v), true, nil
}
