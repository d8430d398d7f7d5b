package cart

import (
	"math"
	"slices"
	"time"
)

// State is one customer's carts: the open ones, and the recently closed
// ones so that late events of a cart already checked out do not reopen it.
type State struct {
	// Carts are the open carts (abandoned ones included), in the order
	// they were opened; at most Config.MaxCarts.
	Carts []Cart `json:"carts,omitempty"`
	// Closed are the carts recently closed by an order, oldest first; at
	// most Config.MaxCarts.
	Closed []Closed `json:"closed,omitempty"`
	// Refreshed are the carts recently refreshed by name (a cart view, a
	// checkout started or one of its steps) while not open under this id,
	// each with the time of its newest such refresh, oldest first; at
	// most Config.MaxCarts. Only Merge reads them: the cart may be open
	// under another id of the customer (a checkout on the device the
	// customer logged in on), and a fold under one id would have
	// refreshed it.
	Refreshed []Closed `json:"refreshed,omitempty"`
}

// Cart is one open cart.
type Cart struct {
	ID string `json:"cart_id"`
	// Opened and Updated are the times of the cart's oldest and newest
	// update (add or removal) folded.
	Opened  time.Time `json:"opened"`
	Updated time.Time `json:"updated"`
	// Deadline is when the armed timer fires, at or before Updated +
	// Config.Timeout: an update does not move an armed timer (that would
	// cost a timer write per event); a timer that fires early is re-armed
	// at the real deadline. Zero once the cart is abandoned.
	Deadline time.Time `json:"deadline,omitzero"`
	// Abandoned is when the abandonment fired; zero until then, and again
	// once the cart is updated at or after that time.
	Abandoned time.Time `json:"abandoned,omitzero"`
	// Currency is the currency of the newest add that named one.
	Currency string `json:"currency,omitempty"`
	// Items, in the order they were first folded; at most Config.MaxItems.
	Items []Item `json:"items"`
	// Adds and Removes are the ids of the cart's last adds and removals,
	// in the order folded, at most maxEventIDs each: the trigger's causes, and
	// how a duplicate event is recognised.
	Adds    []string `json:"adds,omitempty"`
	Removes []string `json:"removes,omitempty"`
}

// Item is one product in a cart.
type Item struct {
	ProductID string `json:"product_id"`
	// Quantity is at least 1 and at most maxQuantity.
	Quantity uint32 `json:"quantity"`
	// Price is the unit price of the newest add that gave one, 0 when none
	// did.
	Price float64 `json:"price,omitempty"`
	// Added is the time of the newest add of the product.
	Added time.Time `json:"added"`
}

// Closed is a cart closed by an order at At (or, in State.Refreshed,
// refreshed at At).
type Closed struct {
	ID string    `json:"cart_id"`
	At time.Time `json:"at"`
}

// cart returns the index of the open cart id, or -1.
func (s *State) cart(id string) int {
	return slices.IndexFunc(s.Carts, func(c Cart) bool { return c.ID == id })
}

// closedAt returns when cart id was last closed, zero when it was not.
func (s *State) closedAt(id string) time.Time { return recordedAt(s.Closed, id) }

// close records that cart id was closed at t, forgetting the oldest closed
// cart beyond maxCarts. It reports whether the state changed.
func (s *State) close(id string, t time.Time, maxCarts int) bool {
	return record(&s.Closed, id, t, maxCarts)
}

// refreshedAt returns when cart id was last refreshed while not open, zero
// when it was not (or it was forgotten).
func (s *State) refreshedAt(id string) time.Time { return recordedAt(s.Refreshed, id) }

// refresh records that cart id, not open, was refreshed at t, forgetting
// the oldest such record beyond maxCarts. It reports whether the state
// changed.
func (s *State) refresh(id string, t time.Time, maxCarts int) bool {
	return record(&s.Refreshed, id, t, maxCarts)
}

// record sets the time of id in rs to t unless it is already as late,
// forgetting the oldest entries beyond n. It reports whether rs changed.
func record(rs *[]Closed, id string, t time.Time, n int) bool {
	for i := range *rs {
		if c := &(*rs)[i]; c.ID == id {
			if !t.After(c.At) {
				return false
			}
			c.At = t
			return true
		}
	}
	*rs = append(*rs, Closed{ID: id, At: t})
	for len(*rs) > n {
		v := oldest(*rs)
		*rs = slices.Delete(*rs, v, v+1)
	}
	return true
}

func recordedAt(rs []Closed, id string) time.Time {
	for _, c := range rs {
		if c.ID == id {
			return c.At
		}
	}
	return time.Time{}
}

// oldest returns the index of the entry of rs with the earliest time,
// ties going to the first.
func oldest(rs []Closed) int {
	v := 0
	for i := range rs {
		if rs[i].At.Before(rs[v].At) {
			v = i
		}
	}
	return v
}

// stalest returns the index of the cart to evict first: the least recently
// updated, ties going to the first opened.
func (s *State) stalest() int {
	v := 0
	for i := range s.Carts {
		if s.Carts[i].Updated.Before(s.Carts[v].Updated) {
			v = i
		}
	}
	return v
}

// latestOpenedBy returns the index of the open cart opened at or before t
// whose last update is the newest (ties going to the first opened), or -1.
func (s *State) latestOpenedBy(t time.Time) int {
	v := -1
	for i := range s.Carts {
		c := &s.Carts[i]
		if !c.Opened.After(t) && (v < 0 || c.Updated.After(s.Carts[v].Updated)) {
			v = i
		}
	}
	return v
}

// item returns the index of product in the cart, or -1.
func (c *Cart) item(product string) int {
	return slices.IndexFunc(c.Items, func(it Item) bool { return it.ProductID == product })
}

// oldestItem returns the index of the least recently added item, ties
// going to the first.
func (c *Cart) oldestItem() int {
	v := 0
	for i := range c.Items {
		if c.Items[i].Added.Before(c.Items[v].Added) {
			v = i
		}
	}
	return v
}

// Units is the number of units in the cart: the sum of the quantities.
func (c *Cart) Units() uint64 {
	var n uint64
	for _, it := range c.Items {
		n += uint64(it.Quantity)
	}
	return n
}

// Value is the sum of price times quantity over the items, rounded to
// four decimal places (the finest minor unit of any currency) to drop
// floating-point noise.
func (c *Cart) Value() float64 {
	var v float64
	for _, it := range c.Items {
		v += it.Price * float64(it.Quantity)
	}
	return math.Round(v*1e4) / 1e4
}

// ProductIDs are the cart's products in the order they were first folded.
func (c *Cart) ProductIDs() []string {
	ids := make([]string, len(c.Items))
	for i, it := range c.Items {
		ids[i] = it.ProductID
	}
	return ids
}

// appendBounded appends id to ids, dropping the oldest beyond n.
func appendBounded(ids []string, id string, n int) []string {
	if len(ids) >= n {
		ids = slices.Delete(ids, 0, len(ids)-n+1)
	}
	return append(ids, id)
}
