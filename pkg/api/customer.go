package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/state"
	"github.com/journey-dev/journey/processors/timeline"
)

// ErrNotFound is Customer's error for an id the store holds nothing of.
var ErrNotFound = errors.New("api: no such customer")

// Customer reads customer id's journey from one snapshot of the store,
// following the identity table to the canonical customer; limit bounds
// the timeline (< 0: all of it). With a Cluster, a customer on a partition
// another instance owns is an error isElsewhere recognises.
func (h *Handler) Customer(id string, limit int) (*Customer, error) {
	snap := h.store.Snapshot()
	defer snap.Close()
	canonical := id
	var cs state.CustomerState
	for hop := 0; ; hop++ {
		found, err := h.lookup(snap, canonical)
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			if hop == 0 {
				return nil, ErrNotFound
			}
			if h.cluster != nil {
				if p, ok := h.cluster.Partition(canonical); ok {
					if _, local := h.cluster.Local(p); !local {
						return nil, &errElsewhere{canonical: canonical}
					}
				}
			}
			break // linked to a customer this store holds nothing of (yet)
		}
		cs = found[0] // more than one only if the inputs were re-partitioned
		parent := identity(cs).Parent
		if parent == "" || parent == canonical || hop == maxHops {
			break
		}
		canonical = parent
	}
	return h.view(id, canonical, cs, limit), nil
}

// lookup reads what the snapshot holds of id: on its partition when the
// cluster knows it (identity routing puts every id on murmur2(id) mod N),
// else on every partition (8 partitions: 17 iterators where this takes 2).
func (h *Handler) lookup(snap *state.Snapshot, id string) ([]state.CustomerState, error) {
	if h.cluster != nil {
		if p, ok := h.cluster.Partition(id); ok {
			cs, found, err := snap.CustomerOn(p, id)
			if err != nil || !found {
				return nil, err
			}
			return []state.CustomerState{cs}, nil
		}
	}
	return snap.Customer(id)
}

// identity decodes cs's identity slot (empty when it has none).
func identity(cs state.CustomerState) journey.IdentityState {
	var st journey.IdentityState
	if s, ok := cs.States[journey.IdentityName]; ok {
		_ = st.UnmarshalBinary(s.Data)
	}
	return st
}

func (h *Handler) view(requested, canonical string, cs state.CustomerState, limit int) *Customer {
	c := &Customer{
		CustomerID: canonical, RequestedID: requested, IDs: []string{canonical}, Partition: cs.Partition,
		Processors: map[string]StateJSON{}, Timers: []TimerJSON{}, Timeline: []timeline.Entry{}, Triggers: []timeline.Entry{},
	}
	for _, l := range identity(cs).Linked {
		c.IDs = append(c.IDs, l.ID)
	}
	// States are encoded as part of the answer, not marshalled apart
	// first (a second pass over each, to check and compact it), and the
	// timeline is read from its decoded state.
	var tl *timeline.State
	for _, name := range slices.Sorted(maps.Keys(cs.States)) {
		st := cs.States[name]
		v, note := decode(name, h.processor(name), st.Version, st.Data)
		c.Processors[name] = StateJSON{Version: st.Version, State: v, Error: note}
		if t, ok := v.(*timeline.State); ok {
			tl = t
		}
	}
	for _, t := range cs.Timers {
		c.Timers = append(c.Timers, TimerJSON{At: t.At, Processor: t.Processor, Key: t.Key})
	}
	if tl == nil {
		tl = &timeline.State{}
	}
	for i := len(tl.Entries) - 1; i >= 0; i-- {
		e := tl.Entries[i]
		if limit < 0 || len(c.Timeline) < limit {
			c.Timeline = append(c.Timeline, e)
		}
		if e.IsTrigger() {
			c.Triggers = append(c.Triggers, e)
		}
	}
	return c
}

// encodeEach encodes each state apart, and replaces one that cannot be
// (a NaN, say) by a note: one bad state must not hide the others.
func (c *Customer) encodeEach() {
	for name, sj := range c.Processors {
		if sj.State == nil {
			continue
		}
		b, err := json.Marshal(sj.State)
		if err != nil {
			sj.State, sj.Error = nil, fmt.Sprintf("not shown: %v", err)
		} else {
			sj.State = json.RawMessage(b)
		}
		c.Processors[name] = sj
	}
}

func (h *Handler) processor(name string) journey.Processor {
	for _, p := range h.procs {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

// Decoded is a stored state decoded for display.
type Decoded struct {
	Processor string
	Version   uint32
	// JSON is the decoded state marshalled; nil when Note says why it
	// could not be decoded.
	JSON json.RawMessage
	Note string
}

// Decode decodes a stored state with p (nil: a processor the
// configuration does not have). A state it cannot read is described, not
// an error: one bad state must not hide the others. `journey state get`
// and the API show states through it.
func Decode(name string, p journey.Processor, version uint32, data []byte) Decoded {
	d := Decoded{Processor: name, Version: version}
	st, note := decode(name, p, version, data)
	if st == nil {
		d.Note = note
		return d
	}
	b, err := json.Marshal(st)
	if err != nil {
		d.Note = fmt.Sprintf("not shown: %v", err)
		return d
	}
	d.JSON = b
	return d
}

// decode decodes a stored state with p; nil and why when it cannot.
func decode(name string, p journey.Processor, version uint32, data []byte) (journey.State, string) {
	switch {
	case p == nil:
		return nil, fmt.Sprintf("not decoded: %q is not a processor of this configuration (%d bytes)", name, len(data))
	case version != p.StateVersion():
		return nil, fmt.Sprintf("not decoded: stored as state version %d, this build reads version %d (%d bytes)",
			version, p.StateVersion(), len(data))
	}
	st := p.NewState()
	if err := st.UnmarshalBinary(data); err != nil {
		return nil, fmt.Sprintf("not decoded: %v (%d bytes)", err, len(data))
	}
	return st, ""
}
