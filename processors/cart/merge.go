package cart

import (
	"slices"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/internal/procstate"
)

var _ journey.Merger = (*Processor)(nil)

// Merge implements journey.Merger: every cart of both ids is kept.
//
//   - A cart id open under both becomes one cart: the union of the items
//     (a product in both: the quantities add up, as both adds would have,
//     capped like a fold; price and added time from the newer add), the
//     earlier Opened, the later Updated, the currency of the more recently
//     updated cart that named one, and the add and removal ids of both
//     (the products and ids of the cart opened first first, each once,
//     the last 20 ids kept).
//   - Abandonment: the merged cart stays abandoned (at the later of the
//     two abandonment times) only when it was not updated at or after
//     that time; then no timer is armed and nothing fires again.
//     Otherwise it is open and its timer "cart:<cart_id>" is (re-)armed
//     (out.SetTimer) at the earlier of the two carts' deadlines, as a fold
//     of every update under one id would have left it (an update does not
//     move an armed timer; one that fires early is moved to Updated +
//     Config.Timeout), or at Updated + Config.Timeout when neither had
//     one. A time already passed fires at the next watermark move. A cart
//     open under from alone keeps its state and its timer is set the same
//     way.
//   - Closed carts are the union (the later close of an id wins); a cart
//     open under one id and closed under the other (an Order Completed)
//     at or after its last update is closed (the order covered it), and
//     its timer cancelled.
//   - A refresh (a cart view, a checkout started or one of its steps)
//     under one id naming a cart open under the other only is applied as
//     a fold applies it, when it is no earlier than the cart's opening
//     and later than its close, if any: the latest update wins (Updated
//     moves to it), the abandonment follows (a refresh at or after the
//     abandonment reopens the cart, and its timer is re-armed as below);
//     a checkout started is not a close. The refresh records of both ids
//     of carts open under neither are kept (the later time of an id
//     wins), at most Config.MaxCarts.
//     A refresh without a cart_id went to the most recent cart of its
//     own id; a merge does not move it to the other id's carts.
//   - Carts are ordered by opening time, then the bounds apply as after a
//     fold: at most Config.MaxCarts open carts (the least recently updated
//     go, their timers cancelled), Config.MaxItems items per cart (the
//     least recently added go), Config.MaxCarts closed carts and as many
//     refresh records (the oldest go).
func (p *Processor) Merge(into, from journey.State, customerID string, at time.Time, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](into, ErrState)
	if err != nil {
		return false, err
	}
	f, err := procstate.As[State](from, ErrState)
	if err != nil {
		return false, err
	}
	if len(f.Carts) == 0 && len(f.Closed) == 0 && len(f.Refreshed) == 0 {
		return false, nil
	}
	touched := map[string]bool{}
	for _, fc := range f.Carts {
		touched[fc.ID] = true
		i := s.cart(fc.ID)
		if i < 0 {
			s.Carts = append(s.Carts, cloneCart(fc))
			continue
		}
		p.mergeCart(&s.Carts[i], &fc)
	}
	for _, fc := range f.Closed {
		if at := s.closedAt(fc.ID); at.IsZero() || fc.At.After(at) {
			s.close(fc.ID, fc.At, len(s.Closed)+1) // bounded below
		}
	}
	// A checkout under one id at or after a cart's last update under the
	// other closes it.
	for i := 0; i < len(s.Carts); {
		c := &s.Carts[i]
		if closed := s.closedAt(c.ID); !closed.IsZero() && !closed.Before(c.Updated) {
			out.CancelTimer(TimerKey(c.ID))
			s.Carts = slices.Delete(s.Carts, i, i+1)
			delete(touched, c.ID)
			continue
		}
		i++
	}
	// A refresh under one id of a cart open under the other only (a
	// checkout started on the device the customer logged in on) updates
	// it, as a fold under one id would have; and a refresh record for a
	// cart open under neither is kept for a later merge.
	for _, fr := range f.Refreshed {
		s.refresh(fr.ID, fr.At, len(s.Refreshed)+1) // bounded below
	}
	for i := range s.Carts {
		c := &s.Carts[i]
		r := s.refreshedAt(c.ID)
		if r.IsZero() || r.Before(c.Opened) || !r.After(s.closedAt(c.ID)) {
			continue // the cart was not open then under one id either
		}
		// Under one id the refresh would have found the cart open, and
		// left no record.
		s.Refreshed = slices.DeleteFunc(s.Refreshed, func(r Closed) bool { return r.ID == c.ID })
		if r.After(c.Updated) {
			c.Updated = r
			touched[c.ID] = true
		}
	}
	slices.SortStableFunc(s.Carts, func(a, b Cart) int { return a.Opened.Compare(b.Opened) })
	for len(s.Carts) > p.cfg.MaxCarts {
		v := s.stalest()
		out.CancelTimer(TimerKey(s.Carts[v].ID))
		delete(touched, s.Carts[v].ID)
		s.Carts = slices.Delete(s.Carts, v, v+1)
	}
	p.bound(s, out)
	for i := range s.Carts {
		c := &s.Carts[i]
		if !touched[c.ID] {
			continue
		}
		if !c.Abandoned.IsZero() && c.Updated.Before(c.Abandoned) {
			if !c.Deadline.IsZero() {
				out.CancelTimer(TimerKey(c.ID))
			}
			c.Deadline = time.Time{}
			continue
		}
		c.Abandoned = time.Time{}
		if c.Deadline.IsZero() {
			c.Deadline = c.Updated.Add(p.cfg.Timeout)
		}
		out.SetTimer(TimerKey(c.ID), c.Deadline)
	}
	return true, nil
}

// mergeCart merges f, the same cart under the other id, into c. The
// cart opened first comes first: its items and event ids precede the
// other's, as a fold of both in time order would have them.
func (p *Processor) mergeCart(c, f *Cart) {
	if f.Opened.Before(c.Opened) {
		first, second := cloneCart(*f), *c
		*c, f = first, &second
	}
	for _, it := range f.Items {
		j := c.item(it.ProductID)
		if j < 0 {
			c.Items = append(c.Items, it)
			continue
		}
		ci := &c.Items[j]
		ci.Quantity = uint32(min(uint64(ci.Quantity)+uint64(it.Quantity), maxQuantity))
		if it.Added.After(ci.Added) {
			ci.Added = it.Added
			if it.Price != 0 {
				ci.Price = it.Price
			}
		}
	}
	if f.Currency != "" && (c.Currency == "" || f.Updated.After(c.Updated)) {
		c.Currency = f.Currency
	}
	if f.Opened.Before(c.Opened) {
		c.Opened = f.Opened
	}
	if f.Updated.After(c.Updated) {
		c.Updated = f.Updated
	}
	if f.Abandoned.After(c.Abandoned) {
		c.Abandoned = f.Abandoned
	}
	if c.Deadline.IsZero() || !f.Deadline.IsZero() && f.Deadline.Before(c.Deadline) {
		c.Deadline = f.Deadline
	}
	c.Adds = unionIDs(c.Adds, f.Adds)
	c.Removes = unionIDs(c.Removes, f.Removes)
}

// unionIDs appends the ids of b not in a to a, keeping the last
// maxEventIDs.
func unionIDs(a, b []string) []string {
	for _, id := range b {
		if !slices.Contains(a, id) {
			a = appendBounded(a, id, maxEventIDs)
		}
	}
	return a
}

func cloneCart(c Cart) Cart {
	c.Items = slices.Clone(c.Items)
	c.Adds = slices.Clone(c.Adds)
	c.Removes = slices.Clone(c.Removes)
	return c
}
