// Package seen holds the recent events a processor remembers so that a
// redelivered event is counted once: the newest Max events counted, by
// time then id hash, and a floor at or before which no event is counted,
// as it could be a redelivery of one forgotten.
//
// A state embeds a Window and encodes its events with AppendEvents, after
// the state's own newest time and floor:
//
//	uvarint  number of events
//	per event, by time then hash:
//	  8 bytes  the id hash, little-endian
//	  uvarint  the state's newest time - the event's time, in nanoseconds
package seen

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/journey-dev/journey/processors/internal/wire"
)

// Max bounds Window.Seen.
const Max = 32

// IDHash is the 64-bit FNV-1a hash of an event id. A state keeps hashes,
// not ids: 8 bytes each, whatever the producer's id format.
type IDHash uint64

// Hash returns the IDHash of an event id.
func Hash(id string) IDHash { return IDHash(wire.HashID(id)) }

// MarshalJSON writes the hash as 16 hex digits.
func (h IDHash) MarshalJSON() ([]byte, error) {
	return wire.AppendHashJSON(make([]byte, 0, 18), uint64(h)), nil
}

// Event is a counted event: its time, in nanoseconds since 1970 (so that
// Window.Seen holds no pointers), and the hash of its id.
type Event struct {
	At int64
	ID IDHash
}

// MarshalJSON writes {"at": the time in RFC 3339, "id": the hash}.
func (x Event) MarshalJSON() ([]byte, error) {
	b := append([]byte(`{"at":"`), time.Unix(0, x.At).UTC().Format(time.RFC3339Nano)...)
	b = append(b, `","id":`...)
	id, _ := x.ID.MarshalJSON()
	return append(append(b, id...), '}'), nil
}

func compare(a, b Event) int {
	if c := cmp.Compare(a.At, b.At); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// Window is the part of a state that remembers the events counted. Its
// fields are promoted into the embedding state's JSON as "seen" and
// "floor".
type Window struct {
	// Seen are the most recent events counted (at most Max), by time then
	// id hash: a redelivered event among them is not counted again.
	Seen []Event `json:"seen,omitempty"`
	// Floor is the time of the newest event Seen forgot: events at or
	// before it are not counted, as they could be redeliveries.
	Floor time.Time `json:"floor,omitzero"`
}

// Remember records the event (t, id) as seen and reports whether it is to
// be counted: not at or before Floor, not seen already. When Seen is full
// the oldest is forgotten and becomes the Floor.
func (w *Window) Remember(t time.Time, id IDHash) bool {
	if !w.Floor.IsZero() && !t.After(w.Floor) {
		return false
	}
	for i := range w.Seen {
		if w.Seen[i].ID == id {
			return false
		}
	}
	x := Event{At: t.UnixNano(), ID: id}
	i, _ := slices.BinarySearchFunc(w.Seen, x, compare)
	if len(w.Seen) < Max {
		w.Seen = slices.Insert(w.Seen, i, x)
		return true
	}
	// Full: forget the oldest (x itself when it is older than all), in
	// place.
	old := x
	if i > 0 {
		old = w.Seen[0]
		copy(w.Seen, w.Seen[1:i])
		w.Seen[i-1] = x
	}
	if at := time.Unix(0, old.At).UTC(); at.After(w.Floor) {
		w.Floor = at
	}
	return true
}

// AppendEvents appends Seen as the package comment describes, as ages
// before at, the state's newest time. It fails when Seen is not in time
// then hash order, or an event is after at or before 1970.
func (w *Window) AppendEvents(b []byte, at time.Time) ([]byte, error) {
	b = binary.AppendUvarint(b, uint64(len(w.Seen)))
	for i := range w.Seen {
		x := &w.Seen[i]
		if i > 0 && compare(w.Seen[i-1], *x) >= 0 {
			return nil, fmt.Errorf("seen %d: not in time then hash order", i)
		}
		b = binary.LittleEndian.AppendUint64(b, uint64(x.ID))
		t := time.Unix(0, x.At)
		var ok bool
		if b, ok = wire.AppendAge(b, at, t, wire.Epoch); !ok {
			return nil, fmt.Errorf("seen %d: time %v is after At or before 1970", i, t)
		}
	}
	return b, nil
}

// ReadEvents reads what AppendEvents appends into Seen, which it replaces,
// checking what AppendEvents checks and that no event is before Floor or
// seen twice; failures are r's.
func (w *Window) ReadEvents(r *wire.Reader, at time.Time) {
	w.Seen = nil
	n := r.Uvarint()
	if r.Err() == nil && (n > Max || n*9 > uint64(r.Remaining())) {
		r.Fail("too many seen ids")
	}
	if r.Err() == nil && n > 0 {
		w.Seen = make([]Event, n)
	}
	for i := range w.Seen {
		x := &w.Seen[i]
		if x.ID = IDHash(r.Uint64()); r.Err() != nil {
			break
		}
		x.At = r.Age(at, wire.Epoch).UnixNano()
		switch {
		case r.Err() != nil:
		case i > 0 && compare(w.Seen[i-1], *x) >= 0:
			r.Fail("seen ids not in time then hash order")
		case !w.Floor.IsZero() && x.At < w.Floor.UnixNano():
			r.Fail("seen id before the floor")
		}
		for j := 0; j < i && r.Err() == nil; j++ {
			if w.Seen[j].ID == x.ID {
				r.Fail("seen id twice")
			}
		}
	}
}

// Merge adds o's events to w, as if every event either window counted had
// been remembered by one: the floor is the later of the two, an event at
// or before it is dropped, an id in both is kept once (the earlier), and
// beyond Max the oldest are forgotten, the newest of those becoming the
// floor. It reports whether w changed.
func (w *Window) Merge(o *Window) bool {
	if len(o.Seen) == 0 && !o.Floor.After(w.Floor) {
		return false
	}
	floor := w.Floor
	if o.Floor.After(floor) {
		floor = o.Floor
	}
	all := make([]Event, 0, len(w.Seen)+len(o.Seen))
	all = append(all, w.Seen...)
	all = append(all, o.Seen...)
	slices.SortFunc(all, compare)
	kept := all[:0]
	for _, x := range all {
		if !floor.IsZero() && x.At <= floor.UnixNano() {
			continue
		}
		if slices.ContainsFunc(kept, func(k Event) bool { return k.ID == x.ID }) {
			continue
		}
		kept = append(kept, x)
	}
	if over := len(kept) - Max; over > 0 {
		if at := time.Unix(0, kept[over-1].At).UTC(); at.After(floor) {
			floor = at
		}
		kept = kept[over:]
	}
	changed := !slices.Equal(kept, w.Seen) || !floor.Equal(w.Floor)
	w.Seen, w.Floor = slices.Clone(kept), floor
	return changed
}
