package interest

import (
	"slices"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/internal/procstate"
)

var _ journey.Merger = (*Processor)(nil)

// Merge implements journey.Merger: from's interest joins into's as if
// every view and purchase of both had been folded under the canonical id.
//
//   - The window ends at the later Latest of the two. Each category's
//     views are the union of both's (a view whose event id is in both is
//     kept once; a wishlist add, kept as WishlistViews views of one event
//     id, keeps its weight: an event id has as many views as it had under
//     either id), in time order; its purchase is the later of the two,
//     and a view at or before it is dropped (the purchase answered it);
//     its refund is the later of the two, so a refund under one id
//     reverses a purchase at or before it under the other. Then
//     the window and the bounds apply as after a fold: views older than
//     the window go, at most Config.MaxViews per category (the oldest go
//     first), at most Config.MaxCategories categories (the least recently
//     active go first).
//   - A category for which either id had fired keeps its crossing (a
//     trigger already sent is not sent again under the canonical id)
//     while the crossing holds.
//   - A category that had fired under neither id is replayed view by
//     view in time order: when a view brought the merged views to the
//     threshold (its interest at that view's time, counting the views up
//     to it) while no purchase suppressed it (a view after a purchase and
//     not after its refund did not fire), and that crossing still holds
//     at the merged Latest, with no purchase left unrefunded in the
//     window, the category fires at at. The trigger is
//     the one a fold of that view would have made: id
//     journey.TriggerID(rule, customerID, the view's event id), causes
//     the views up to it, payload as of its time; so a replay gives the
//     same id, and the state is the one a fold under one id would have
//     left.
func (p *Processor) Merge(into, from journey.State, customerID string, at time.Time, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](into, ErrState)
	if err != nil {
		return false, err
	}
	f, err := procstate.As[State](from, ErrState)
	if err != nil {
		return false, err
	}
	if len(f.Categories) == 0 {
		return false, nil
	}
	if f.Latest.After(s.Latest) {
		s.Latest = f.Latest
	}
	for i := range f.Categories {
		fc := &f.Categories[i]
		j, ok := s.find(fc.Name)
		if !ok {
			s.Categories = slices.Insert(s.Categories, j, Category{Name: fc.Name})
		}
		c := &s.Categories[j]
		c.unionViews(fc.Views)
		if fc.Purchased.After(c.Purchased) {
			c.Purchased = fc.Purchased
		}
		if fc.Refunded.After(c.Refunded) {
			c.Refunded = fc.Refunded
		}
		if !c.Purchased.IsZero() {
			c.Views = slices.DeleteFunc(c.Views, func(v View) bool { return !v.At.After(c.Purchased) })
		}
		c.Fired = c.Fired || fc.Fired
	}
	s.hasHorizon = false // a full normalise: the merge may have brought anything
	s.normalise(s.Latest, &p.cfg)
	for i := range s.Categories {
		c := &s.Categories[i]
		if c.Fired || c.suppressed() || len(c.Views) == 0 {
			continue
		}
		// Replay the crossings a fold of the views in time order would
		// have made: a crossing fires at a view that reaches the
		// threshold (a wishlist add's copies count together, at the
		// last), and ends once it no longer holds. A view after a
		// purchase (the views before it are gone) and not after its
		// refund was folded while the purchase suppressed the category:
		// it fired nothing, and the next view to reach the threshold did.
		cross := -1
		for j := range c.Views {
			if j+1 < len(c.Views) && c.Views[j+1].EventID == c.Views[j].EventID {
				continue
			}
			sub := Category{Views: c.Views[:j+1]}
			t := c.Views[j].At
			if cross >= 0 && !p.cfg.holds(&sub, t) {
				cross = -1
			}
			if cross < 0 && p.cfg.reached(&sub, t) && (c.Purchased.IsZero() || t.After(c.Refunded)) {
				cross = j
			}
		}
		if cross < 0 || !p.cfg.holds(c, s.Latest) {
			continue
		}
		c.Fired = true
		v := &c.Views[cross]
		crossed := &Category{Name: c.Name, Views: c.Views[:cross+1]}
		out.Emit(p.trigger(crossed, &journey.Event{ID: v.EventID, CustomerID: customerID}, at.UTC(), v.At))
	}
	return true, nil
}

// unionViews adds the views of vs to c's, in time order: an event id gets
// as many views as it has in either (a wishlist add is WishlistViews views
// of one event id; an event folded under both ids counts once), its
// copies kept together.
func (c *Category) unionViews(vs []View) {
	for _, v := range vs {
		if count(c.Views, v.EventID) >= count(vs, v.EventID) {
			continue
		}
		if k := slices.IndexFunc(c.Views, func(o View) bool { return o.EventID == v.EventID }); k >= 0 {
			c.Views = slices.Insert(c.Views, k+1, v)
			continue
		}
		c.Views = append(c.Views, v)
	}
	slices.SortStableFunc(c.Views, func(a, b View) int { return a.At.Compare(b.At) })
}

// count is the number of views of event id in vs.
func count(vs []View, id string) int {
	n := 0
	for i := range vs {
		if vs[i].EventID == id {
			n++
		}
	}
	return n
}
