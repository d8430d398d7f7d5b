package journey

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// IdentityName is the name of the identity table's processor slot: the
// state an id keeps about the customer it belongs to.
const IdentityName = "identity"

// Identity is the identity table as a processor slot. Folding does nothing
// to it (the pipeline reads and writes it as it routes, links and merges);
// being a processor gives it what every state has: versioned storage with
// the customer's other states (one prefix scan loads both), the changelog,
// restore on handoff, and `journey state get`.
//
// An id's Identity says either where the id went (Parent: the customer it
// was linked to, on that customer's partition) or, for a canonical
// customer, which ids were linked to it.
type Identity struct{}

// Name implements Processor.
func (Identity) Name() string { return IdentityName }

// StateVersion implements Processor.
func (Identity) StateVersion() uint32 { return 1 }

// NewState implements Processor.
func (Identity) NewState() State { return &IdentityState{} }

// Fold implements Processor: events do not change the identity table.
func (Identity) Fold(State, *Event, *Output) (bool, error) { return false, nil }

// IdentityState is one id's entry in the identity table.
type IdentityState struct {
	// Parent is the customer this id was linked to (empty: the id is a
	// canonical customer). A link is permanent.
	Parent string `json:"parent,omitempty"`
	// Linked are the ids linked to this canonical customer, in link
	// order: each either merged (its state moved here) or claimed (the
	// link was sent, the merge has not arrived; or the id turned out to
	// belong to another customer already).
	Linked []LinkedID `json:"linked,omitempty"`
}

// LinkedID is one id linked to a canonical customer.
type LinkedID struct {
	ID     string `json:"id"`
	Merged bool   `json:"merged,omitempty"`
}

// Find returns the index of id in s.Linked, or -1.
func (s *IdentityState) Find(id string) int {
	return slices.IndexFunc(s.Linked, func(l LinkedID) bool { return l.ID == id })
}

// Claim records that id was linked to s's customer (the merge to come);
// it reports whether id is new.
func (s *IdentityState) Claim(id string) bool {
	if s.Find(id) >= 0 {
		return false
	}
	s.Linked = append(s.Linked, LinkedID{ID: id})
	return true
}

// Merged marks id merged, adding it; it reports false when id was merged
// already (a merge delivered twice).
func (s *IdentityState) Merged(id string) bool {
	i := s.Find(id)
	if i < 0 {
		s.Linked = append(s.Linked, LinkedID{ID: id, Merged: true})
		return true
	}
	if s.Linked[i].Merged {
		return false
	}
	s.Linked[i].Merged = true
	return true
}

// MarshalBinary implements State: parent, then the count of linked ids and
// each id with its merged flag.
func (s *IdentityState) MarshalBinary() ([]byte, error) {
	b := appendStr(nil, s.Parent)
	b = binary.AppendUvarint(b, uint64(len(s.Linked)))
	for _, l := range s.Linked {
		b = appendStr(b, l.ID)
		if l.Merged {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return b, nil
}

var errIdentityCorrupt = errors.New("journey: corrupt identity state")

// UnmarshalBinary implements State.
func (s *IdentityState) UnmarshalBinary(b []byte) error {
	var err error
	if s.Parent, b, err = readStr(b); err != nil {
		return err
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return errIdentityCorrupt
	}
	b = b[k:]
	s.Linked = make([]LinkedID, 0, n)
	for range n {
		var id string
		if id, b, err = readStr(b); err != nil {
			return err
		}
		if len(b) == 0 || b[0] > 1 {
			return errIdentityCorrupt
		}
		s.Linked = append(s.Linked, LinkedID{ID: id, Merged: b[0] == 1})
		b = b[1:]
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", errIdentityCorrupt, len(b))
	}
	return nil
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func readStr(b []byte) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, errIdentityCorrupt
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}

// LinkIDs returns the ids an event addressed to route (its CustomerID as
// decoded: the user id, or CloudEvents' subject, when it has one) links to
// its canonical customer: its anonymous id when that is not route, and an
// alias's previous id; none equal to canonical.
func (e *Event) LinkIDs(route, canonical string) []string {
	var ids []string
	if e.AnonymousID != "" && e.AnonymousID != route && e.AnonymousID != canonical {
		ids = append(ids, e.AnonymousID)
	}
	if e.PreviousID != "" && e.PreviousID != canonical && (len(ids) == 0 || ids[0] != e.PreviousID) {
		ids = append(ids, e.PreviousID)
	}
	return ids
}
