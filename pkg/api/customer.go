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
		found, err := snap.Customer(canonical)
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
	for _, name := range slices.Sorted(maps.Keys(cs.States)) {
		st := cs.States[name]
		d := Decode(name, h.processor(name), st.Version, st.Data)
		c.Processors[name] = StateJSON{Version: d.Version, State: d.JSON, Error: d.Note}
	}
	for _, t := range cs.Timers {
		c.Timers = append(c.Timers, TimerJSON{At: t.At, Processor: t.Processor, Key: t.Key})
	}
	var tl timeline.State
	if d, ok := c.Processors[timeline.Name]; ok && d.State != nil {
		_ = json.Unmarshal(d.State, &tl)
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
	switch {
	case p == nil:
		d.Note = fmt.Sprintf("not decoded: %q is not a processor of this configuration (%d bytes)", name, len(data))
	case version != p.StateVersion():
		d.Note = fmt.Sprintf("not decoded: stored as state version %d, this build reads version %d (%d bytes)",
			version, p.StateVersion(), len(data))
	default:
		st := p.NewState()
		if err := st.UnmarshalBinary(data); err != nil {
			d.Note = fmt.Sprintf("not decoded: %v (%d bytes)", err, len(data))
			break
		}
		b, err := json.Marshal(st)
		if err != nil {
			d.Note = fmt.Sprintf("not shown: %v", err)
			break
		}
		d.JSON = b
	}
	return d
}
