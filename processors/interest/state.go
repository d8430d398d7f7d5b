package interest

import (
	"slices"
	"strings"
	"time"
)

// State is one customer's recent interest: the views of each category
// within the window and the purchases that suppress them. It is kept
// normalised: after every fold that touches it, nothing in it is older than
// the window or beyond the configured bounds.
type State struct {
	// Latest is the newest event time folded (counted views and
	// purchases); the window ends there. Zero for a customer with none.
	Latest time.Time `json:"latest,omitzero"`
	// Categories are sorted by name.
	Categories []Category `json:"categories,omitempty"`

	// horizon, when set, is at or before every view and purchase time in
	// the state: while the window's start is before it, nothing can
	// expire and normalise need not visit each category's views (on a
	// cold state, a cache miss per category). Set by a full normalise,
	// lowered by every time added (lower); unset in a decoded state.
	horizon    time.Time
	hasHorizon bool
}

// lower records that the state now holds time t (a view, a purchase or a
// refund).
func (s *State) lower(t time.Time) {
	if s.hasHorizon && t.Before(s.horizon) {
		s.horizon = t
	}
}

// Category is the interest in one product category.
type Category struct {
	Name string `json:"category"`
	// Views within the window, oldest first; at most Config.MaxViews.
	Views []View `json:"views,omitempty"`
	// Purchased is the time of the latest purchase in the category within
	// the window, zero when there is none. While it is set and after
	// Refunded, reaching the threshold makes no trigger (see suppressed).
	Purchased time.Time `json:"purchased,omitzero"`
	// Refunded is the time of the latest refund or cancellation of the
	// category within the window, zero when there is none: it reverses
	// every purchase at or before it. It is kept even with no purchase
	// in the state, so that an identity merge with the id the purchase
	// was folded under reverses it there too.
	Refunded time.Time `json:"refunded,omitzero"`
	// Fired is set when a trigger was emitted for the current crossing of
	// the threshold, and cleared when the crossing no longer holds (see
	// Config.holds): one trigger per crossing.
	Fired bool `json:"fired,omitempty"`
}

// View is one counted Product Viewed event.
type View struct {
	At        time.Time `json:"at"`
	EventID   string    `json:"event_id"`
	ProductID string    `json:"product_id,omitempty"`
}

// lastActive is the time of the category's latest view, purchase or
// refund.
func (c *Category) lastActive() time.Time {
	t := c.Purchased
	if c.Refunded.After(t) {
		t = c.Refunded
	}
	if n := len(c.Views); n > 0 && c.Views[n-1].At.After(t) {
		t = c.Views[n-1].At
	}
	return t
}

// suppressed reports whether a purchase suppresses the category's
// triggers: there is one in the window, and no refund at or after it.
func (c *Category) suppressed() bool {
	return !c.Purchased.IsZero() && c.Purchased.After(c.Refunded)
}

// empty reports whether the category holds nothing: no view, purchase or
// refund.
func (c *Category) empty() bool {
	return len(c.Views) == 0 && c.Purchased.IsZero() && c.Refunded.IsZero()
}

// find returns the index of the category name and whether it exists; when
// it does not, the index is where it would be inserted.
func (s *State) find(name string) (int, bool) {
	return slices.BinarySearchFunc(s.Categories, name, func(c Category, n string) int {
		return strings.Compare(c.Name, n)
	})
}

// leastActive returns the index of the category to evict first: the least
// recently active, ties going to the first by name.
func (s *State) leastActive() int {
	victim := 0
	for i := 1; i < len(s.Categories); i++ {
		if s.Categories[i].lastActive().Before(s.Categories[victim].lastActive()) {
			victim = i
		}
	}
	return victim
}

// category returns the category name, adding it when absent. A new
// category active at t evicts the least recently active one when the state
// is full, unless it would itself be the one to go: then category returns
// nil. added reports whether the state changed.
func (s *State) category(name string, t time.Time, maxCategories int) (c *Category, added bool) {
	i, ok := s.find(name)
	if ok {
		return &s.Categories[i], false
	}
	if len(s.Categories) >= maxCategories {
		v := s.leastActive()
		old := &s.Categories[v]
		if oa := old.lastActive(); t.Before(oa) || t.Equal(oa) && name < old.Name {
			return nil, false
		}
		s.Categories = slices.Delete(s.Categories, v, v+1)
		if v < i {
			i--
		}
	}
	s.Categories = slices.Insert(s.Categories, i, Category{Name: name})
	return &s.Categories[i], true
}

// normalise moves the window's end to t when t is newer, then drops what
// fell out of the window or exceeds the bounds of cfg. It reports whether
// the state changed.
func (s *State) normalise(t time.Time, cfg *Config) (changed bool) {
	if t.After(s.Latest) {
		s.Latest = t
		changed = true
	}
	cutoff := s.Latest.Add(-cfg.Window)
	if s.hasHorizon && cutoff.Before(s.horizon) && len(s.Categories) <= cfg.MaxCategories && s.onlyFiredMayEnd(cfg) {
		// Nothing is at or before the cutoff: only a fired crossing can
		// end (with decay, as Latest moves on).
		for i := range s.Categories {
			if c := &s.Categories[i]; c.Fired && !cfg.holds(c, s.Latest) {
				c.Fired = false
				changed = true
			}
		}
		return changed
	}
	kept := s.Categories[:0]
	for i := range s.Categories {
		c := &s.Categories[i]
		k := 0
		for k < len(c.Views) && !c.Views[k].At.After(cutoff) {
			k++
		}
		k = max(k, len(c.Views)-cfg.MaxViews)
		if k > 0 {
			c.Views = c.Views[k:]
			changed = true
		}
		if !c.Purchased.IsZero() && !c.Purchased.After(cutoff) {
			c.Purchased = time.Time{}
			changed = true
		}
		if !c.Refunded.IsZero() && !c.Refunded.After(cutoff) {
			c.Refunded = time.Time{}
			changed = true
		}
		if c.Fired && !cfg.holds(c, s.Latest) {
			c.Fired = false
			changed = true
		}
		if c.empty() {
			changed = true
			continue
		}
		kept = append(kept, *c)
	}
	clear(s.Categories[len(kept):])
	s.Categories = kept
	for len(s.Categories) > cfg.MaxCategories {
		v := s.leastActive()
		s.Categories = slices.Delete(s.Categories, v, v+1)
		changed = true
	}
	s.setHorizon()
	return changed
}

// onlyFiredMayEnd reports whether the full pass of normalise could change
// nothing but Fired flags, given that no time expires: no category is
// empty or holds more views than allowed (both are read without touching
// the views).
func (s *State) onlyFiredMayEnd(cfg *Config) bool {
	for i := range s.Categories {
		c := &s.Categories[i]
		if len(c.Views) > cfg.MaxViews || c.empty() {
			return false
		}
	}
	return true
}

// setHorizon sets the horizon to the earliest view or purchase time.
func (s *State) setHorizon() {
	s.hasHorizon = false
	for i := range s.Categories {
		c := &s.Categories[i]
		if len(c.Views) > 0 && (!s.hasHorizon || c.Views[0].At.Before(s.horizon)) {
			s.horizon, s.hasHorizon = c.Views[0].At, true
		}
		if !c.Purchased.IsZero() && (!s.hasHorizon || c.Purchased.Before(s.horizon)) {
			s.horizon, s.hasHorizon = c.Purchased, true
		}
		if !c.Refunded.IsZero() && (!s.hasHorizon || c.Refunded.Before(s.horizon)) {
			s.horizon, s.hasHorizon = c.Refunded, true
		}
	}
}

// addView inserts v in time order, dropping the oldest view when the
// category holds maxViews already (which may be v itself). It reports
// whether the views changed.
func (c *Category) addView(v View, maxViews int) bool {
	pos := len(c.Views)
	for pos > 0 && c.Views[pos-1].At.After(v.At) {
		pos--
	}
	if len(c.Views) >= maxViews {
		if pos == 0 {
			return false // older than every view kept
		}
		// Drop the oldest and shift the older part left, in place.
		copy(c.Views, c.Views[1:pos])
		c.Views[pos-1] = v
		return true
	}
	c.Views = slices.Insert(c.Views, pos, v)
	return true
}

// hasView reports whether the event id is among the category's views.
func (c *Category) hasView(eventID string) bool {
	for i := range c.Views {
		if c.Views[i].EventID == eventID {
			return true
		}
	}
	return false
}

// purchase records a purchase at t: the views up to t are cleared (they
// were the interest the purchase answered) and t becomes the purchase
// time if it is the latest. It reports whether the category changed.
func (c *Category) purchase(t time.Time) bool {
	changed := false
	k := 0
	for k < len(c.Views) && !c.Views[k].At.After(t) {
		k++
	}
	if k > 0 {
		c.Views = c.Views[k:]
		changed = true
	}
	if t.After(c.Purchased) {
		c.Purchased = t
		changed = true
	}
	return changed
}
