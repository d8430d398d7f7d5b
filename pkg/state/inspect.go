package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/journey-dev/journey/pkg/journey"
)

// This file is the read side used by `journey state get | diff | promote`:
// it reads a store without loading any partition (Partition loads the
// partition's dedup index and outbox position, which costs time and memory
// on a large store and is only needed to write), and never writes.

var (
	// ErrInUse reports a state directory that an open Store holds (a
	// running journey, usually): Pebble locks the directory, and a store
	// can be opened, even read-only, by one Store at a time.
	ErrInUse = errors.New("state: directory in use")
	// ErrNoStore reports a directory that holds no state store.
	ErrNoStore = errors.New("state: no state store")
)

// OpenReadOnly opens the existing store in dir for reading. Its error wraps
// ErrNoStore when dir holds no store (nothing is created in it) and
// ErrInUse when another Store has dir open.
func OpenReadOnly(dir string) (*Store, error) {
	if err := hasStore(dir); err != nil {
		return nil, err
	}
	s, err := Open(dir, Options{ReadOnly: true, CacheBytes: 64 << 20})
	if err != nil && lockHeld(err) {
		return nil, fmt.Errorf("%w: %s", ErrInUse, dir)
	}
	return s, err
}

// LockDir takes the lock an open Store holds on dir, so that no Store opens
// dir until the returned Closer is closed (`journey state promote` holds
// the locks of both directories while it renames them). Its error wraps
// ErrNoStore or ErrInUse as OpenReadOnly's does.
//
// The lock is a POSIX record lock, which a process holds once per file:
// never LockDir a directory this process has open as a Store.
func LockDir(dir string) (io.Closer, error) {
	if err := hasStore(dir); err != nil {
		return nil, err
	}
	l, err := pebble.LockDirectory(dir, vfs.Default)
	if err != nil {
		if lockHeld(err) {
			return nil, fmt.Errorf("%w: %s", ErrInUse, dir)
		}
		return nil, fmt.Errorf("state: lock %s: %w", dir, err)
	}
	return l, nil
}

// hasStore checks that dir holds a Pebble store: Pebble creates its LOCK
// file when it creates the store and never removes it.
func hasStore(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s does not exist", ErrNoStore, dir)
	case err != nil:
		return fmt.Errorf("state: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("%w: %s is not a directory", ErrNoStore, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "LOCK")); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w in %s (no Pebble LOCK file)", ErrNoStore, dir)
	} else if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// lockHeld reports whether err is Pebble failing to take a directory lock
// that someone holds: another process (the fcntl lock's EAGAIN or EACCES,
// as opposed to a file that cannot be created) or this one.
func lockHeld(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return false
	}
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		strings.Contains(err.Error(), "lock held by current process")
}

// PartitionIDs returns, in order, the partitions that have anything in the
// store. It seeks from one partition's prefix to the next, so it costs a
// seek per partition however large the store.
func (s *Store) PartitionIDs() ([]int, error) { return partitionIDs(s.db) }

func partitionIDs(r iterReader) ([]int, error) {
	// Store-wide entries sort after every partition (storeMetaPrefix).
	it, err := r.NewIter(&pebble.IterOptions{UpperBound: storeMetaPrefix[:4]})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var ids []int
	for valid := it.First(); valid; {
		k := it.Key()
		if len(k) < 5 {
			return nil, fmt.Errorf("%w: %d bytes", errBadKey, len(k))
		}
		id := binary.BigEndian.Uint32(k)
		ids = append(ids, int(id))
		// id < 0xffffffff: the upper bound excludes the store-wide prefix.
		valid = it.SeekGE(partitionPrefix(id + 1))
	}
	return ids, it.Error()
}

// view is partition id's key space for the read methods that use nothing
// Partition.load sets (Offsets, States, CustomerTimers). It is never
// registered in s.parts, and nothing may write through it.
func (s *Store) view(id int) *Partition { return &Partition{s: s, id: uint32(id)} }

// CustomerTimers returns a customer's armed timers in firing order, from
// the reverse timer index (one prefix scan).
func (p *Partition) CustomerTimers(customer string) ([]journey.Timer, error) {
	return p.customerTimersIn(p.s.db, customer)
}

func (p *Partition) customerTimersIn(r iterReader, customer string) ([]journey.Timer, error) {
	lo := appendString(append(partitionPrefix(p.id), tagTimerRev), customer)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []journey.Timer
	for it.First(); it.Valid(); it.Next() {
		proc, rest, err := readString(it.Key()[len(lo):])
		if err != nil {
			return nil, fmt.Errorf("state: partition %d: corrupt timer entry of %q", p.id, customer)
		}
		key, rest, err := readString(rest)
		if err != nil || len(rest) != 0 || len(it.Value()) != 8 {
			return nil, fmt.Errorf("state: partition %d: corrupt timer entry of %q", p.id, customer)
		}
		at := time.Unix(0, int64(binary.BigEndian.Uint64(it.Value()))).UTC()
		out = append(out, journey.Timer{At: at, Customer: customer, Processor: proc, Key: key})
	}
	slices.SortFunc(out, journey.Compare)
	return out, it.Error()
}

// CustomerState is what one partition holds of a customer.
type CustomerState struct {
	Partition int
	// States are keyed by processor name; data are copies.
	States map[string]StoredState
	// Timers are the customer's armed timers, in firing order.
	Timers []journey.Timer
}

// Customer returns what each partition holds of a customer (state or
// timers): nothing for a customer never seen, normally one partition, more
// than one only if the input topics were re-partitioned.
func (s *Store) Customer(customer string) ([]CustomerState, error) {
	return s.customerIn(s.db, customer)
}

func (s *Store) customerIn(r iterReader, customer string) ([]CustomerState, error) {
	ids, err := partitionIDs(r)
	if err != nil {
		return nil, err
	}
	var out []CustomerState
	for _, id := range ids {
		cs, ok, err := s.customerOn(r, id, customer)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, cs)
		}
	}
	return out, nil
}

// customerOn is what partition id holds of a customer; ok is false for
// nothing.
func (s *Store) customerOn(r iterReader, id int, customer string) (cs CustomerState, ok bool, err error) {
	p := s.view(id)
	states, err := p.statesIn(r, customer)
	if err != nil {
		return cs, false, err
	}
	timers, err := p.customerTimersIn(r, customer)
	if err != nil {
		return cs, false, err
	}
	if len(states) == 0 && len(timers) == 0 {
		return cs, false, nil
	}
	return CustomerState{Partition: id, States: states, Timers: timers}, true, nil
}

// PartitionSummary is a partition's position and backlog.
type PartitionSummary struct {
	ID int
	// Offsets are the next offsets to read, by input topic.
	Offsets   map[string]int64
	Watermark time.Time
	// Timers counts the armed timers; Outbox the undelivered outbox
	// entries (triggers and context updates).
	Timers, Outbox int
}

// Summary reads partition id's summary. It counts keys, so it costs a scan
// of the partition's timers and outbox.
func (s *Store) Summary(id int) (PartitionSummary, error) {
	if id < 0 {
		return PartitionSummary{}, fmt.Errorf("state: negative partition %d", id)
	}
	p := s.view(id)
	sum := PartitionSummary{ID: id}
	var err error
	if sum.Offsets, err = p.Offsets(); err != nil {
		return sum, err
	}
	wm, err := p.getUint64(metaKey(p.id, "wm"))
	if err != nil {
		return sum, err
	}
	if wm > 0 {
		sum.Watermark = time.Unix(0, int64(wm)).UTC()
	}
	if sum.Timers, err = s.count(keyspace(p.id, tagTimer)); err != nil {
		return sum, err
	}
	sum.Outbox, err = s.count(keyspace(p.id, tagOutbox))
	return sum, err
}

// count counts the keys in [lo, hi).
func (s *Store) count(lo, hi []byte) (int, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	n := 0
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	return n, it.Error()
}

// StateIter walks every customer state of a store, all partitions, in key
// order: by partition, then customer, then processor (ids ordered as
// length-prefixed bytes: shorter first). Two stores' iterators merge with
// Compare, in one pass and without a point read (`journey state diff`).
//
//	it, err := store.IterStates()
//	...
//	defer it.Close()
//	for it.Next() {
//		... it.Customer(), it.Processor(), it.Version(), it.Data()
//	}
//	if err := it.Err(); err != nil { ... }
type StateIter struct {
	it      *pebble.Iterator
	started bool
	valid   bool
	err     error
	part    uint32
	version uint32
	data    []byte
	// customer and processor point into the current key.
	customer, processor []byte
}

// IterStates returns an iterator over every customer state in the store,
// positioned before the first. The caller must Close it.
func (s *Store) IterStates() (*StateIter, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{UpperBound: storeMetaPrefix[:4]})
	if err != nil {
		return nil, err
	}
	return &StateIter{it: it}, nil
}

// Next moves to the next state and reports whether there is one. After it
// returns false, Err tells an error from the end.
func (i *StateIter) Next() bool {
	if i.err != nil {
		return false
	}
	if !i.started {
		i.started = true
		i.valid = i.it.SeekGE(append(partitionPrefix(0), tagState))
	} else if i.valid {
		i.valid = i.it.Next()
	}
	return i.settle()
}

// settle skips to the first state key at or after the iterator's position:
// from another tag of a partition, one seek to its state keys or to the
// next partition.
func (i *StateIter) settle() bool {
	for i.valid {
		k := i.it.Key()
		if len(k) < 5 {
			i.err = fmt.Errorf("%w: %d bytes", errBadKey, len(k))
			break
		}
		p := binary.BigEndian.Uint32(k)
		switch {
		case k[4] < tagState:
			i.valid = i.it.SeekGE(append(partitionPrefix(p), tagState))
		case k[4] > tagState:
			// p < 0xffffffff: the upper bound excludes the store-wide prefix.
			i.valid = i.it.SeekGE(append(partitionPrefix(p+1), tagState))
		default:
			c, proc, ok := splitStateKey(k)
			v := i.it.Value()
			version, n := binary.Uvarint(v)
			if !ok || n <= 0 {
				i.err = fmt.Errorf("state: partition %d: corrupt state entry %q", p, k)
				i.valid = false
				break
			}
			i.part, i.customer, i.processor = p, c, proc
			i.version, i.data = uint32(version), v[n:]
			return true
		}
	}
	if i.err == nil {
		i.err = i.it.Error()
	}
	i.valid = false
	return false
}

// Compare orders the current entries of two iterators (over two stores) by
// key: negative when i's comes first, 0 when both are the same customer's
// state of the same processor in the same partition.
func (i *StateIter) Compare(j *StateIter) int { return bytes.Compare(i.it.Key(), j.it.Key()) }

// Partition is the current state's partition.
func (i *StateIter) Partition() int { return int(i.part) }

// Customer is the current state's customer id.
func (i *StateIter) Customer() string { return string(i.customer) }

// Processor is the name of the current state's processor.
func (i *StateIter) Processor() string { return string(i.processor) }

// Version is the processor state version the current state was written with.
func (i *StateIter) Version() uint32 { return i.version }

// Data is the current state's encoding: valid until the next call to Next.
func (i *StateIter) Data() []byte { return i.data }

// Err is the error that ended the iteration, if any.
func (i *StateIter) Err() error { return i.err }

// Close releases the iterator.
func (i *StateIter) Close() error { return i.it.Close() }

// splitStateKey is decodeStateKey without copying: the ids point into k.
func splitStateKey(k []byte) (customer, processor []byte, ok bool) {
	if len(k) < 5 || k[4] != tagState {
		return nil, nil, false
	}
	if customer, k, ok = cutString(k[5:]); !ok {
		return nil, nil, false
	}
	if processor, k, ok = cutString(k); !ok || len(k) != 0 {
		return nil, nil, false
	}
	return customer, processor, true
}

// cutString is readString without copying.
func cutString(b []byte) (s, rest []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return nil, nil, false
	}
	return b[w : w+int(n)], b[w+int(n):], true
}

// StateDiff is a customer state that differs between two stores. A or B is
// nil when only the other store has it; their Data are valid only during
// the DiffStates callback.
type StateDiff struct {
	Partition           int
	Customer, Processor string
	A, B                *StoredState
}

// DiffStates calls fn, in key order, with every customer state that differs
// between a and b: present in one only, or written with another version or
// other bytes. It merges the two stores' states in one pass, with no point
// read, and returns how many states it compared (those in a or b). It
// stops at fn's first error, or ctx's.
func DiffStates(ctx context.Context, a, b *Store, fn func(StateDiff) error) (compared int, err error) {
	ia, err := a.IterStates()
	if err != nil {
		return 0, err
	}
	defer ia.Close()
	ib, err := b.IterStates()
	if err != nil {
		return 0, err
	}
	defer ib.Close()
	okA, okB := ia.Next(), ib.Next()
	for ; okA || okB; compared++ {
		if err := errors.Join(ia.Err(), ib.Err()); err != nil {
			return compared, err // not a side's end: don't report the other's states as differences
		}
		if compared%65536 == 0 && ctx.Err() != nil {
			return compared, ctx.Err()
		}
		c := 0
		switch {
		case !okB:
			c = -1
		case !okA:
			c = 1
		default:
			c = ia.Compare(ib)
		}
		var err error
		switch {
		case c < 0:
			err = fn(StateDiff{Partition: ia.Partition(), Customer: ia.Customer(), Processor: ia.Processor(), A: ia.stored()})
			okA = ia.Next()
		case c > 0:
			err = fn(StateDiff{Partition: ib.Partition(), Customer: ib.Customer(), Processor: ib.Processor(), B: ib.stored()})
			okB = ib.Next()
		default:
			if ia.Version() != ib.Version() || !bytes.Equal(ia.Data(), ib.Data()) {
				err = fn(StateDiff{Partition: ia.Partition(), Customer: ia.Customer(), Processor: ia.Processor(),
					A: ia.stored(), B: ib.stored()})
			}
			okA, okB = ia.Next(), ib.Next()
		}
		if err != nil {
			return compared, err
		}
	}
	return compared, errors.Join(ia.Err(), ib.Err())
}

func (i *StateIter) stored() *StoredState { return &StoredState{Version: i.version, Data: i.data} }
