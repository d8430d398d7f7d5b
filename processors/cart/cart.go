// Package cart is the "cart abandonment" processor: a cart that is not
// checked out within a timeout of its last update makes one "you left
// something in your cart" trigger. It is an absence trigger, driven by a
// durable event-time timer per cart (see journey.Runner).
//
// # Rules
//
//   - An add is a track event "Product Added" with string "cart_id" and
//     "product_id" properties and an event id. It opens the cart when it is
//     not open, adds "quantity" units of the product (a whole number >= 1,
//     at most 1,000,000 per product; 1 when absent or anything else), keeps
//     its "price" (a number >= 0; the newest add that gave one wins) and
//     "currency" (the newest add that named one wins), and arms the cart's
//     timer, "cart:<cart_id>", at the event time plus Config.Timeout. A
//     later add moves the timer (re-arms it); an add older than the cart's
//     last update does not move it back.
//   - A removal is a track event "Product Removed" for an open cart: it
//     removes "quantity" units of the product (all of them when absent or
//     not a whole number >= 1) and re-arms the timer like an add. A removal
//     of a product the cart does not hold changes nothing. A removal that
//     empties the cart closes it and cancels its timer: there is nothing
//     left to abandon. Removals are applied to the cart as it stands, so a
//     removal folded before the add it undoes is ignored.
//   - "Wishlist Product Added to Cart" is an add. An add or a removal
//     without a cart_id or a product_id is ignored and reported so
//     (journey.Output.Ignore: "no_cart_id", "no_product_id").
//   - A refresh is a track event "Cart Viewed", "Checkout Started",
//     "Checkout Step Viewed", "Checkout Step Completed" or "Payment Info
//     Entered": it updates the cart named in "cart_id", else the customer's
//     most recent open cart (of the carts opened at or before it, the one
//     updated last), like an add updates it — moving its deadline — with
//     nothing added. So a customer checking out is not abandoning, and a
//     checkout started that no order completes is still an abandonment,
//     a timeout after the last step. A refresh naming a cart that is not
//     open is remembered (at most Config.MaxCarts of them, the oldest
//     forgotten first) for an identity merge: the cart may be open under
//     another id of the customer (see Merge).
//   - A checkout is a track event "Order Completed" naming the cart in
//     "cart_id". It cancels the timer and closes the cart. One without a
//     cart_id closes the customer's most recent open cart, found as a
//     refresh finds it. A checkout older than the cart's first update does
//     not close it: those adds came after it. (A refund or cancellation
//     reopens nothing: the cart was bought.)
//   - A closed cart is remembered (at most Config.MaxCarts of them, the
//     oldest forgotten first) with the time of its checkout: adds of it at
//     or before that time are late events of a cart already bought and are
//     ignored; a later add opens it again, as a new cart.
//   - When the timer fires — the partition's watermark reached the
//     deadline, so a watermark exactly at the deadline fires it — the cart
//     is abandoned: one trigger, and the cart stays open and abandoned
//     without firing again until it is updated at or after the time it was
//     abandoned, which re-arms it. An update older than that (a late event)
//     is folded into the cart but does not re-arm it: journey applies late
//     events without re-firing.
//   - Duplicates: an add or removal whose event id is among the cart's last
//     20 adds or removals is ignored (the pipeline's dedup window catches
//     older ones).
//   - State is bounded: at most Config.MaxCarts open carts (opening one more
//     evicts the least recently updated and cancels its timer; an add older
//     than every cart kept is ignored instead) of at most Config.MaxItems
//     products (adding one more evicts the least recently added). Cart ids,
//     product ids and event ids longer than 256 bytes, and currencies
//     longer than 16, are ignored. A state written under larger bounds is
//     brought within the current ones by its next cart event.
//
// # Trigger
//
// Rule "cart.abandoned", reason "cart_abandoned", on Config.Target, at the
// time the timer fired (the deadline). Its id is journey.TriggerID(rule,
// customer, "cart:<cart_id>@<fire time, RFC 3339 with nanoseconds>"), so
// each abandonment of a cart has its own. Causes are the ids of the cart's
// last 20 adds in the order they were folded (adds of products since
// removed or evicted included: they are the activity that was abandoned).
// Payload:
//
//	cart_id      the cart
//	product_ids  the products in the cart, in the order first folded
//	items        the number of units (the sum of the quantities)
//	value        the sum of price times quantity, rounded to 4 decimals
//	             (products without a price count 0)
//	currency     the currency, when an add named one
//
// # Context
//
// cart.open is a JSON array of the open carts, abandoned ones included,
// most recently updated first:
// [{"cart_id":"k1","product_ids":["p1"],"items":2,"value":59.8,"currency":"EUR","updated":"2026-11-01T10:00:00Z","abandoned_at":"2026-11-01T11:00:00Z"}]
// (currency and abandoned_at only when set). cart.abandoned_at is the
// newest abandonment time of an open cart still abandoned, RFC 3339, or ""
// when there is none. Both fields are always present, so an update
// replaces stale values.
package cart

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/internal/procstate"
	"github.com/journey-dev/journey/processors/internal/wire"
)

// Name is the processor's name, persisted with its state.
const Name = "cart"

// StateVersion is persisted with the state; bump it when the encoding
// changes incompatibly.
const StateVersion = 1

// The trigger's rule and reason, the context fields and the prefix of the
// timer keys.
const (
	Rule               = "cart.abandoned"
	Reason             = "cart_abandoned"
	ContextOpen        = "cart.open"
	ContextAbandonedAt = "cart.abandoned_at"
	TimerPrefix        = "cart:"
)

// Event names folded.
const (
	EventProductAdded    = "Product Added"
	EventProductRemoved  = "Product Removed"
	EventCheckoutStarted = "Checkout Started"
	EventOrderCompleted  = "Order Completed"

	EventWishlistToCart        = "Wishlist Product Added to Cart"
	EventCartViewed            = "Cart Viewed"
	EventCheckoutStepViewed    = "Checkout Step Viewed"
	EventCheckoutStepCompleted = "Checkout Step Completed"
	EventPaymentInfoEntered    = "Payment Info Entered"
)

// Reasons for ignoring an event (journey.Output.Ignore).
const (
	IgnoredNoCartID    = "no_cart_id"    // an add or removal without a cart_id
	IgnoredNoProductID = "no_product_id" // an add or removal without a product_id
)

const (
	// maxKeyLen bounds the cart, product and event ids kept.
	maxKeyLen = 256
	// maxCurrencyLen bounds the currency kept.
	maxCurrencyLen = 16
	// maxEventIDs bounds the add and removal ids kept per cart.
	maxEventIDs = 20
	// maxQuantity bounds an item's quantity.
	maxQuantity = 1_000_000
	// maxPrice bounds the prices kept, so a cart's value stays finite.
	maxPrice = 1e12
)

// ErrState is returned by Fold and OnTimer when given a state they did not
// create.
var ErrState = errors.New("cart: not a cart state")

// Processor is the cart-abandonment processor. It is safe for concurrent
// use: it holds only its configuration.
type Processor struct {
	cfg Config
	// name, rule, ctxOpen and ctxAbandonedAt are Name, Rule, ContextOpen
	// and ContextAbandonedAt, or a rule's (Named).
	name, rule, ctxOpen, ctxAbandonedAt string
}

var (
	_ journey.Processor     = (*Processor)(nil)
	_ journey.TimerHandler  = (*Processor)(nil)
	_ journey.ContextSource = (*Processor)(nil)
)

// New returns a processor for cfg, or the error of cfg.Validate.
func New(cfg Config) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Processor{cfg: cfg, name: Name, rule: Rule, ctxOpen: ContextOpen, ctxAbandonedAt: ContextAbandonedAt}, nil
}

// Named returns a copy of p that runs as the rule name (the rules: list of
// journey's configuration): name is its state's slot and its timers'
// owner, its triggers' rule — so their ids differ from p's — and the
// prefix of its context fields (name.open, name.abandoned_at). Everything else is p's.
func (p *Processor) Named(name string) *Processor {
	q := *p
	q.name, q.rule = name, name
	q.ctxOpen, q.ctxAbandonedAt = name+ContextOpen[len(Name):], name+ContextAbandonedAt[len(Name):]
	return &q
}

// Config returns the processor's configuration.
func (p *Processor) Config() Config { return p.cfg }

// Name implements journey.Processor.
func (p *Processor) Name() string { return p.name }

// StateVersion implements journey.Processor.
func (p *Processor) StateVersion() uint32 { return StateVersion }

// NewState implements journey.Processor: a *State with no cart.
func (p *Processor) NewState() journey.State { return new(State) }

// Fold implements journey.Processor; see the package comment for the rules.
// It returns an error only for a state that is not a *State.
func (p *Processor) Fold(st journey.State, ev *journey.Event, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](st, ErrState)
	if err != nil {
		return false, err
	}
	if ev.Kind != journey.KindTrack {
		return false, nil
	}
	t := ev.Time.UTC()
	if !validTime(t) || !validTime(t.Add(p.cfg.Timeout)) {
		return false, nil
	}
	switch ev.Name {
	case EventProductAdded, EventWishlistToCart:
		return p.add(s, ev, t, out), nil
	case EventProductRemoved:
		return p.remove(s, ev, t, out), nil
	case EventOrderCompleted:
		return p.checkout(s, ev, t, out), nil
	case EventCheckoutStarted, EventCartViewed, EventCheckoutStepViewed, EventCheckoutStepCompleted, EventPaymentInfoEntered:
		return p.refresh(s, ev, t, out), nil
	}
	return false, nil
}

func validKey(s string) bool { return s != "" && len(s) <= maxKeyLen }

// TimerKey is the key of cart id's timer.
func TimerKey(id string) string { return TimerPrefix + id }

func (p *Processor) add(s *State, ev *journey.Event, t time.Time, out *journey.Output) bool {
	id, product := ev.Str("cart_id"), ev.Str("product_id")
	if ignoreUnkeyed(id, product, out) {
		return false
	}
	if !validKey(id) || !validKey(product) || !validKey(ev.ID) {
		return false
	}
	if closed := s.closedAt(id); !closed.IsZero() && !t.After(closed) {
		return false // a late add of a cart already checked out
	}
	changed := p.bound(s, out)
	i, opened := s.cart(id), false
	if i < 0 {
		if len(s.Carts) >= p.cfg.MaxCarts {
			v := s.stalest()
			if t.Before(s.Carts[v].Updated) {
				return changed // it would be the one to go
			}
			p.drop(s, v, out)
		}
		s.Carts = append(s.Carts, Cart{ID: id, Opened: t, Updated: t})
		i, opened = len(s.Carts)-1, true
	}
	c := &s.Carts[i]
	if slices.Contains(c.Adds, ev.ID) {
		return changed
	}
	q := addQuantity(ev)
	price, priced := eventPrice(ev)
	if j := c.item(product); j >= 0 {
		it := &c.Items[j]
		it.Quantity = uint32(min(uint64(it.Quantity)+uint64(q), maxQuantity))
		if priced && !t.Before(it.Added) {
			it.Price = price
		}
		if t.After(it.Added) {
			it.Added = t
		}
	} else {
		add := true
		if len(c.Items) >= p.cfg.MaxItems {
			v := c.oldestItem()
			if add = !t.Before(c.Items[v].Added); add {
				c.Items = slices.Delete(c.Items, v, v+1)
			}
		}
		if add {
			c.Items = append(c.Items, Item{ProductID: product, Quantity: q, Price: price, Added: t})
		}
	}
	if cur := ev.Str("currency"); cur != "" && len(cur) <= maxCurrencyLen && (c.Currency == "" || !t.Before(c.Updated)) {
		c.Currency = cur
	}
	c.Adds = appendBounded(c.Adds, ev.ID, maxEventIDs)
	p.touch(c, t, opened, out)
	return true
}

func (p *Processor) remove(s *State, ev *journey.Event, t time.Time, out *journey.Output) bool {
	id, product := ev.Str("cart_id"), ev.Str("product_id")
	if ignoreUnkeyed(id, product, out) {
		return false
	}
	if !validKey(id) || !validKey(product) || !validKey(ev.ID) {
		return false
	}
	changed := p.bound(s, out)
	i := s.cart(id)
	if i < 0 {
		return changed
	}
	c := &s.Carts[i]
	j := c.item(product)
	if j < 0 || slices.Contains(c.Removes, ev.ID) {
		return changed
	}
	if q, ok := wholeNumber(ev, "quantity"); ok && q < c.Items[j].Quantity {
		c.Items[j].Quantity -= q
	} else {
		c.Items = slices.Delete(c.Items, j, j+1)
	}
	if len(c.Items) == 0 {
		p.drop(s, i, out)
		return true
	}
	c.Removes = appendBounded(c.Removes, ev.ID, maxEventIDs)
	p.touch(c, t, false, out)
	return true
}

func (p *Processor) checkout(s *State, ev *journey.Event, t time.Time, out *journey.Output) bool {
	changed := p.bound(s, out)
	id := ev.Str("cart_id")
	if id == "" {
		if ev.Name != EventOrderCompleted {
			return changed
		}
		i := s.latestOpenedBy(t)
		if i < 0 {
			return changed
		}
		id = s.Carts[i].ID
	}
	if !validKey(id) {
		return changed
	}
	if i := s.cart(id); i >= 0 && !t.Before(s.Carts[i].Opened) {
		p.drop(s, i, out)
		changed = true
	}
	if s.close(id, t, p.cfg.MaxCarts) {
		changed = true
	}
	return changed
}

// ignoreUnkeyed reports an add or removal that lacks its cart or product
// as ignored, and whether it did.
func ignoreUnkeyed(id, product string, out *journey.Output) bool {
	switch {
	case id == "":
		out.Ignore(IgnoredNoCartID)
	case product == "":
		out.Ignore(IgnoredNoProductID)
	default:
		return false
	}
	return true
}

// refresh records activity on a cart that is not an add or a removal (a
// cart view, a checkout started or one of its steps): the cart named by
// "cart_id", else the customer's most recent open cart, is updated at t
// like an add updates it, which re-arms its timer (a named cart that is
// not open is recorded in s.Refreshed). Nothing else changes: a
// checkout that is not completed is still an abandonment, only later.
func (p *Processor) refresh(s *State, ev *journey.Event, t time.Time, out *journey.Output) bool {
	changed := p.bound(s, out)
	i := -1
	if id := ev.Str("cart_id"); id != "" {
		if i = s.cart(id); i < 0 {
			if !validKey(id) {
				return changed
			}
			// Remembered for a merge: the cart may be open under
			// another id of the customer.
			return s.refresh(id, t, p.cfg.MaxCarts) || changed
		}
	} else {
		i = s.latestOpenedBy(t)
	}
	if i < 0 {
		return changed
	}
	c := &s.Carts[i]
	before := *c
	p.touch(c, t, false, out)
	return changed || !c.Opened.Equal(before.Opened) || !c.Updated.Equal(before.Updated) ||
		!c.Abandoned.Equal(before.Abandoned) || !c.Deadline.Equal(before.Deadline)
}

// touch records an update of c at t: it moves the cart's times and arms
// the timer when the update is the newest, unless the cart was abandoned
// after t.
func (p *Processor) touch(c *Cart, t time.Time, opened bool, out *journey.Output) {
	if t.Before(c.Opened) {
		c.Opened = t
	}
	switch {
	case opened:
	case !c.Abandoned.IsZero():
		if t.Before(c.Abandoned) {
			// A late update from before the abandonment: folded, not re-armed.
			if t.After(c.Updated) {
				c.Updated = t
			}
			return
		}
		c.Abandoned = time.Time{}
		c.Updated = t
	case t.After(c.Updated):
		c.Updated = t
	default:
		return // not newer: the timer stays where it is
	}
	if c.Deadline.IsZero() {
		c.Deadline = c.Updated.Add(p.cfg.Timeout)
		out.SetTimer(TimerKey(c.ID), c.Deadline)
	}
}

// drop closes cart i without a checkout (evicted, or emptied), cancelling
// its timer.
func (p *Processor) drop(s *State, i int, out *journey.Output) {
	if !s.Carts[i].Deadline.IsZero() {
		out.CancelTimer(TimerKey(s.Carts[i].ID))
	}
	s.Carts = slices.Delete(s.Carts, i, i+1)
}

// bound brings a state written under larger bounds within the current
// ones. It reports whether the state changed.
func (p *Processor) bound(s *State, out *journey.Output) bool {
	changed := false
	for len(s.Carts) > p.cfg.MaxCarts {
		p.drop(s, s.stalest(), out)
		changed = true
	}
	for i := range s.Carts {
		c := &s.Carts[i]
		for len(c.Items) > p.cfg.MaxItems {
			v := c.oldestItem()
			c.Items = slices.Delete(c.Items, v, v+1)
			changed = true
		}
	}
	for _, rs := range []*[]Closed{&s.Closed, &s.Refreshed} {
		for len(*rs) > p.cfg.MaxCarts {
			v := oldest(*rs)
			*rs = slices.Delete(*rs, v, v+1)
			changed = true
		}
	}
	return changed
}

// addQuantity is an add's quantity: a whole number >= 1, else 1.
func addQuantity(ev *journey.Event) uint32 {
	if q, ok := wholeNumber(ev, "quantity"); ok {
		return q
	}
	return 1
}

// wholeNumber returns property k when it is a whole number >= 1, capped at
// maxQuantity.
func wholeNumber(ev *journey.Event, k string) (uint32, bool) {
	v, ok := ev.Num(k)
	if !ok || v < 1 || v != math.Trunc(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return uint32(min(v, maxQuantity)), true
}

// eventPrice returns the "price" property when it is a number between 0
// and maxPrice.
func eventPrice(ev *journey.Event) (float64, bool) {
	v, ok := ev.Num("price")
	if !ok || !(v >= 0 && v <= maxPrice) {
		return 0, false
	}
	return v + 0, true // +0 turns -0 into 0
}

// OnTimer implements journey.TimerHandler: the cart's timer fired. A timer
// of a cart that is closed, or already abandoned, changes nothing; one
// that fires before the cart's deadline (it was updated since the timer
// was armed) is moved to it.
func (p *Processor) OnTimer(st journey.State, customerID, key string, at time.Time, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](st, ErrState)
	if err != nil {
		return false, err
	}
	id, ok := strings.CutPrefix(key, TimerPrefix)
	if !ok {
		return false, nil
	}
	i := s.cart(id)
	if i < 0 || s.Carts[i].Deadline.IsZero() {
		return false, nil
	}
	c := &s.Carts[i]
	at = at.UTC()
	if deadline := c.Updated.Add(p.cfg.Timeout); at.Before(deadline) {
		moved := !deadline.Equal(c.Deadline)
		c.Deadline = deadline
		out.SetTimer(key, deadline)
		return moved, nil
	}
	c.Deadline, c.Abandoned = time.Time{}, at
	out.Emit(p.trigger(c, customerID, at))
	return true, nil
}

func (p *Processor) trigger(c *Cart, customerID string, at time.Time) journey.Trigger {
	payload := map[string]any{
		"cart_id":     c.ID,
		"product_ids": c.ProductIDs(),
		"items":       c.Units(),
		"value":       c.Value(),
	}
	if c.Currency != "" {
		payload["currency"] = c.Currency
	}
	return journey.Trigger{
		ID:         journey.TriggerID(p.rule, customerID, TimerKey(c.ID)+"@"+at.Format(time.RFC3339Nano)),
		Rule:       p.rule,
		CustomerID: customerID,
		Channel:    p.cfg.Target,
		At:         at,
		Reason:     Reason,
		Causes:     slices.Clone(c.Adds),
		Payload:    payload,
	}
}

// OpenCart is one entry of the cart.open context field.
type OpenCart struct {
	CartID      string    `json:"cart_id"`
	ProductIDs  []string  `json:"product_ids"`
	Items       uint64    `json:"items"`
	Value       float64   `json:"value"`
	Currency    string    `json:"currency,omitempty"`
	Updated     time.Time `json:"updated"`
	AbandonedAt time.Time `json:"abandoned_at,omitzero"`
}

// Open returns the open carts, most recently updated first (ties in the
// order they were opened).
func (s *State) Open() []OpenCart {
	open := make([]OpenCart, len(s.Carts))
	for i := range s.Carts {
		c := &s.Carts[i]
		open[i] = OpenCart{
			CartID: c.ID, ProductIDs: c.ProductIDs(), Items: c.Units(), Value: c.Value(),
			Currency: c.Currency, Updated: c.Updated, AbandonedAt: c.Abandoned,
		}
	}
	slices.SortStableFunc(open, func(a, b OpenCart) int { return b.Updated.Compare(a.Updated) })
	return open
}

// AbandonedAt is the newest abandonment time of an open cart still
// abandoned, zero when there is none.
func (s *State) AbandonedAt() time.Time {
	var t time.Time
	for i := range s.Carts {
		if a := s.Carts[i].Abandoned; a.After(t) {
			t = a
		}
	}
	return t
}

// Context implements journey.ContextSource: the cart.open and
// cart.abandoned_at fields.
func (p *Processor) Context(st journey.State) map[string]string {
	s, err := procstate.As[State](st, ErrState)
	if err != nil {
		return nil
	}
	open := s.Open()
	b := make([]byte, 0, 8+160*len(open))
	b = append(b, '[')
	for i := range open {
		c := &open[i]
		if !wire.JSONTimeOK(c.Updated) || !wire.JSONTimeOK(c.AbandonedAt) || math.IsNaN(c.Value) || math.IsInf(c.Value, 0) {
			return nil // as json.Marshal fails on them; event times are checked long before
		}
		if i > 0 {
			b = append(b, ',')
		}
		// As json.Marshal writes an OpenCart (TestContextIsMarshal).
		b = append(b, `{"cart_id":`...)
		b = wire.AppendJSONString(b, c.CartID)
		b = append(b, `,"product_ids":`...)
		b = wire.AppendJSONStrings(b, c.ProductIDs)
		b = append(b, `,"items":`...)
		b = strconv.AppendUint(b, c.Items, 10)
		b = append(b, `,"value":`...)
		b = wire.AppendJSONFloat(b, c.Value)
		if c.Currency != "" {
			b = append(b, `,"currency":`...)
			b = wire.AppendJSONString(b, c.Currency)
		}
		b = append(b, `,"updated":`...)
		b = wire.AppendJSONTime(b, c.Updated)
		if !c.AbandonedAt.IsZero() {
			b = append(b, `,"abandoned_at":`...)
			b = wire.AppendJSONTime(b, c.AbandonedAt)
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	abandoned := ""
	if t := s.AbandonedAt(); !t.IsZero() {
		abandoned = t.Format(time.RFC3339Nano)
	}
	return map[string]string{p.ctxOpen: string(b), p.ctxAbandonedAt: abandoned}
}
