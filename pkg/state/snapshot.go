package state

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// iterReader is what the read helpers read through: the live database
// (each iterator its own point in time) or a Snapshot (one point in time
// for all of them).
type iterReader interface {
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

// Snapshot is a consistent, read-only view of a live store at one point
// in time: what the worker had committed when it was taken. Taking and
// reading it takes no lock the worker waits on (Pebble's sequence
// numbers); it pins the versions it sees until Close, so hold it for one
// request, not longer. Safe for concurrent use; Close before the store.
type Snapshot struct {
	s    *Store
	snap *pebble.Snapshot
}

// Snapshot returns a view of what the store holds now.
func (s *Store) Snapshot() *Snapshot { return &Snapshot{s: s, snap: s.db.NewSnapshot()} }

// Customer is Store.Customer as of the snapshot.
func (sn *Snapshot) Customer(customer string) ([]CustomerState, error) {
	return sn.s.customerIn(sn.snap, customer)
}

// CustomerOn is what partition id holds of a customer as of the snapshot
// (ok false: nothing): the reads of one partition, where Customer makes
// those of every partition — for a caller that knows where the customer
// lives (identity routing: murmur2(id) mod N).
func (sn *Snapshot) CustomerOn(id int, customer string) (cs CustomerState, ok bool, err error) {
	if id < 0 {
		return cs, false, fmt.Errorf("state: negative partition %d", id)
	}
	return sn.s.customerOn(sn.snap, id, customer)
}

// Close releases the snapshot.
func (sn *Snapshot) Close() error { return sn.snap.Close() }
