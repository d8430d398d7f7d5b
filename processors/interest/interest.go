// Package interest is the "recent interest" processor: it follows the
// product categories a customer views on the web and in the app and, when
// the interest in one category — its views within a sliding window, old
// views weighing less — reaches a threshold with no purchase in that
// category, emits one "we saw you looking at X" trigger.
//
// # Rules
//
//   - A view is a track event "Product Viewed" on one of Config.Channels,
//     for its string "category" property or, when it has none, the
//     category its "product_id" was last viewed in (its "product_id" is
//     kept too). A view with neither is ignored, reported as "no_category"
//     (journey.Output.Ignore); so are, silently, views whose category or
//     event id is longer than 256 bytes; a product id that long is not
//     kept. A view whose event id is already counted in its category is a
//     duplicate and ignored.
//   - A wishlist add, "Product Added to Wishlist", is a view that counts
//     WishlistViews (2) times: a stronger signal. It is kept as that many
//     views with its event id (and time), so its event id is among the
//     trigger's causes as many times, and a merge keeps its weight.
//   - A purchase is a track event "Order Completed", on any channel. Each of
//     its "products" counts for its "category", or, when it has none, for
//     the category its "product_id" was last viewed in. A purchase clears
//     the category's views up to its time and records the purchase. One
//     whose products name no category is ignored ("no_products").
//   - A refund or cancellation, "Order Refunded" or "Order Cancelled",
//     reverses the purchases of its products' categories (found as a
//     purchase's): its time is recorded in each category (the latest
//     wins; a category is added for it, like a purchase's), and a
//     purchase at or before it no longer suppresses the category, whose
//     next crossing fires. A purchase after it suppresses again. The
//     views the purchase cleared stay cleared. One whose products name no
//     category is ignored ("no_products"): the state keeps no order, so a
//     refund naming only its order_id cannot be traced to categories.
//   - The window ends at the newest event time folded for the customer
//     (views, purchases and refunds; never the wall clock). A view counts
//     while it is less than Config.Window older than that; a purchase
//     suppresses, and a refund reverses, while it is. An event older than that is ignored, so late and
//     out-of-order events never bring back what the window dropped; one
//     within the window is folded in its time order.
//   - Interest: with Config.HalfLife 0, a category's interest is its number
//     of views in the window. Otherwise each view counts
//     2^(-age/half_life), age being its age at the end of the window, and
//     the sum is rounded to one decimal (the figure the payload and the
//     context show): three views within about three hours make 3.0, three
//     spread over two days about 2.4, and need a fourth.
//   - When a view brings a category's interest to Config.Threshold or
//     more, no purchase of it is within the window, and no trigger was
//     emitted for the current crossing, a trigger is emitted. The category
//     can make another only once the crossing no longer holds: with no
//     decay, when its count has fallen below the threshold (views left the
//     window, or a purchase cleared them); with decay, when its interest
//     has fallen below half the threshold (a half-life after the crossing
//     if no view followed), so a customer who keeps looking is not
//     re-triggered on every view. A crossing suppressed by a purchase is
//     not reported late: the first view after the purchase has left the
//     window, with the interest still at the threshold, fires.
//   - State is bounded: at most Config.MaxCategories categories (the least
//     recently viewed or purchased goes first) of at most Config.MaxViews
//     views (the oldest goes first).
//
// # Trigger
//
// Rule "interest.category", reason "category_interest", on Config.Target,
// at the time of the view that crossed. Its id is
// journey.TriggerID(rule, customer, that view's event id). Causes are the
// event ids of the views counted, oldest first. Payload:
//
//	category     the category
//	views        the number of views counted
//	product_ids  the products viewed, most recent first, deduplicated, at most 5
//	window       Config.Window ("168h")
//	interest     the interest, one decimal (with decay only)
//	half_life    Config.HalfLife ("72h") (with decay only)
//
// # Context
//
// interest.top is a JSON array of up to 5 categories with views, by
// interest (with decay) then number of views, ties broken by the most
// recent view, then by name:
// [{"category":"boots","views":3,"last_seen":"2026-11-01T12:00:00Z","interest":2.4}]
// ("interest" with decay only). It is always present ("[]" when there is
// none), so an update replaces a stale list.
//
// # Encoding
//
// State is encoded in a compact binary form (see MarshalBinary): times are
// kept relative to State.Latest, strings are length-prefixed, and decoding
// allocates three times whatever the state's size. Decay is computed from
// the views' times: it needs nothing more in the state.
package interest

import (
	"cmp"
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
const Name = "interest"

// StateVersion is persisted with the state; bump it when the encoding
// changes incompatibly.
const StateVersion = 1

// The trigger's rule and reason, and the context field.
const (
	Rule       = "interest.category"
	Reason     = "category_interest"
	ContextTop = "interest.top"
)

// Event names folded.
const (
	EventProductViewed  = "Product Viewed"
	EventWishlistAdded  = "Product Added to Wishlist"
	EventOrderCompleted = "Order Completed"
	EventOrderRefunded  = "Order Refunded"
	EventOrderCancelled = "Order Cancelled"
)

// WishlistViews is how many views a wishlist add counts for: it is a
// stronger signal than a view.
const WishlistViews = 2

// Reasons for ignoring an event (journey.Output.Ignore).
const (
	IgnoredNoCategory = "no_category" // a view or wishlist add with no category, and a product never viewed
	IgnoredNoProducts = "no_products" // an order, refund or cancellation whose products name no category
)

const (
	// maxKeyLen bounds the categories, event ids and product ids kept.
	maxKeyLen = 256
	// maxPayloadProducts bounds the trigger payload's product_ids.
	maxPayloadProducts = 5
	// maxTop bounds the context's interest.top.
	maxTop = 5
)

// ErrState is returned by Fold when given a state it did not create.
var ErrState = errors.New("interest: not an interest state")

// Processor is the recent-interest processor. It is safe for concurrent
// use: it holds only its configuration.
type Processor struct {
	cfg      Config
	window   string // cfg.Window as in the payload
	halfLife string // cfg.HalfLife as in the payload
	// name, rule and ctxTop are Name, Rule and ContextTop, or a rule's
	// (Named).
	name, rule, ctxTop string
}

var (
	_ journey.Processor     = (*Processor)(nil)
	_ journey.ContextSource = (*Processor)(nil)
)

// New returns a processor for cfg, or the error of cfg.Validate.
func New(cfg Config) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Channels = slices.Clone(cfg.Channels)
	return &Processor{cfg: cfg, window: formatDuration(cfg.Window), halfLife: formatDuration(cfg.HalfLife),
		name: Name, rule: Rule, ctxTop: ContextTop}, nil
}

// Named returns a copy of p that runs as the rule name (the rules: list of
// journey's configuration): name is its state's slot and its timers'
// owner, its triggers' rule — so their ids differ from p's — and the
// prefix of its context fields (name.top). Everything else is p's.
func (p *Processor) Named(name string) *Processor {
	q := *p
	q.name, q.rule, q.ctxTop = name, name, name+ContextTop[len(Name):]
	return &q
}

// Config returns the processor's configuration.
func (p *Processor) Config() Config {
	c := p.cfg
	c.Channels = slices.Clone(c.Channels)
	return c
}

// Name implements journey.Processor.
func (p *Processor) Name() string { return p.name }

// StateVersion implements journey.Processor.
func (p *Processor) StateVersion() uint32 { return StateVersion }

// NewState implements journey.Processor: a *State with no interest.
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
	switch ev.Name {
	case EventProductViewed, EventWishlistAdded:
		return p.foldView(s, ev, out), nil
	case EventOrderCompleted:
		return p.foldPurchase(s, ev, out), nil
	case EventOrderRefunded, EventOrderCancelled:
		return p.foldRefund(s, ev, out), nil
	}
	return false, nil
}

// inWindow reports whether an event at t is within the customer's window.
// Times the state cannot hold (before year 1, after 9999) never are.
func (p *Processor) inWindow(s *State, t time.Time) bool {
	if t.IsZero() || !wire.InUnixRange(t) {
		return false
	}
	return s.Latest.IsZero() || t.After(s.Latest.Add(-p.cfg.Window))
}

func validKey(s string) bool { return s != "" && len(s) <= maxKeyLen }

func (p *Processor) foldView(s *State, ev *journey.Event, out *journey.Output) bool {
	if !slices.Contains(p.cfg.Channels, ev.Channel) {
		return false
	}
	name := ev.Str("category")
	if name == "" {
		name = s.viewedCategory(ev.Str("product_id"))
	}
	if name == "" {
		out.Ignore(IgnoredNoCategory)
		return false
	}
	t := ev.Time.UTC()
	if !validKey(name) || !validKey(ev.ID) || !p.inWindow(s, t) {
		return false
	}
	changed := s.normalise(t, &p.cfg)
	c, added := s.category(name, t, p.cfg.MaxCategories)
	if c == nil || c.hasView(ev.ID) {
		return changed || added
	}
	product := ev.Str("product_id")
	if len(product) > maxKeyLen {
		product = ""
	}
	if !c.addView(View{At: t, EventID: ev.ID, ProductID: product}, p.cfg.MaxViews) {
		return changed || added
	}
	if ev.Name == EventWishlistAdded {
		for range WishlistViews - 1 {
			c.addView(View{At: t, EventID: ev.ID, ProductID: product}, p.cfg.MaxViews)
		}
	}
	s.lower(t)
	if !c.Fired && !c.suppressed() && p.cfg.reached(c, s.Latest) {
		c.Fired = true
		out.Emit(p.trigger(c, ev, t, s.Latest))
	}
	return true
}

func (p *Processor) foldPurchase(s *State, ev *journey.Event, out *journey.Output) bool {
	t := ev.Time.UTC()
	if !p.inWindow(s, t) {
		return false
	}
	names := s.orderCategories(ev)
	if len(names) == 0 {
		out.Ignore(IgnoredNoProducts)
		return false
	}
	changed := s.normalise(t, &p.cfg)
	for _, name := range names {
		c, added := s.category(name, t, p.cfg.MaxCategories)
		if added {
			changed = true
		}
		if c != nil && c.purchase(t) {
			s.lower(t)
			changed = true
		}
		if c != nil && c.Fired && !p.cfg.holds(c, s.Latest) {
			c.Fired = false
			changed = true
		}
	}
	return changed
}

// orderCategories returns the categories of an order event's "products":
// each product's "category", or, when it has none, the category its
// "product_id" was last viewed in.
func (s *State) orderCategories(ev *journey.Event) []string {
	products, _ := ev.Properties["products"].([]any)
	var names []string
	for _, x := range products {
		m, _ := x.(map[string]any)
		name, _ := m["category"].(string)
		if name == "" {
			id, _ := m["product_id"].(string)
			name = s.viewedCategory(id)
		}
		if validKey(name) && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// foldRefund reverses the purchases of the categories of a refund's or a
// cancellation's products: it records the refund's time in each, and a
// purchase at or before it no longer suppresses the category, so its next
// crossing fires.
func (p *Processor) foldRefund(s *State, ev *journey.Event, out *journey.Output) bool {
	t := ev.Time.UTC()
	if !p.inWindow(s, t) {
		return false
	}
	names := s.orderCategories(ev)
	if len(names) == 0 {
		out.Ignore(IgnoredNoProducts)
		return false
	}
	changed := s.normalise(t, &p.cfg)
	for _, name := range names {
		c, added := s.category(name, t, p.cfg.MaxCategories)
		if added {
			changed = true
		}
		if c != nil && t.After(c.Refunded) {
			c.Refunded = t
			s.lower(t)
			changed = true
		}
	}
	return changed
}

// viewedCategory returns the category product id was last viewed in, or "".
func (s *State) viewedCategory(id string) string {
	if id == "" {
		return ""
	}
	var (
		name string
		at   time.Time
	)
	for i := range s.Categories {
		c := &s.Categories[i]
		for j := range c.Views {
			if v := &c.Views[j]; v.ProductID == id && (name == "" || v.At.After(at)) {
				name, at = c.Name, v.At
			}
		}
	}
	return name
}

func (p *Processor) trigger(c *Category, ev *journey.Event, at, latest time.Time) journey.Trigger {
	causes := make([]string, len(c.Views))
	products := make([]string, 0, maxPayloadProducts)
	for i := len(c.Views) - 1; i >= 0; i-- {
		v := &c.Views[i]
		causes[i] = v.EventID
		if v.ProductID != "" && len(products) < maxPayloadProducts && !slices.Contains(products, v.ProductID) {
			products = append(products, v.ProductID)
		}
	}
	payload := map[string]any{
		"category":    c.Name,
		"views":       len(c.Views),
		"product_ids": products,
		"window":      p.window,
	}
	if p.cfg.HalfLife > 0 {
		payload["interest"] = p.cfg.interest(c, latest)
		payload["half_life"] = p.halfLife
	}
	return journey.Trigger{
		ID:         journey.TriggerID(p.rule, ev.CustomerID, ev.ID),
		Rule:       p.rule,
		CustomerID: ev.CustomerID,
		Channel:    p.cfg.Target,
		At:         at,
		Reason:     Reason,
		Causes:     causes,
		Payload:    payload,
	}
}

// TopCategory is one entry of the interest.top context field.
type TopCategory struct {
	Category string    `json:"category"`
	Views    int       `json:"views"`
	LastSeen time.Time `json:"last_seen"`
	// Interest is the decayed interest, rounded to one decimal; 0 (and
	// left out of the JSON) without decay.
	Interest float64 `json:"interest,omitempty"`
}

// Top returns up to n categories with views, by interest (decayed with
// halfLife at s.Latest; 0 for no decay) then number of views, ties broken
// by the most recent view, then by name.
func (s *State) Top(n int, halfLife time.Duration) []TopCategory {
	cfg := Config{HalfLife: halfLife}
	top := make([]TopCategory, 0, min(n, len(s.Categories)))
	for i := range s.Categories {
		c := &s.Categories[i]
		if len(c.Views) == 0 {
			continue
		}
		t := TopCategory{Category: c.Name, Views: len(c.Views), LastSeen: c.Views[len(c.Views)-1].At}
		if halfLife > 0 {
			t.Interest = cfg.interest(c, s.Latest)
		}
		top = append(top, t)
	}
	slices.SortFunc(top, func(a, b TopCategory) int {
		switch {
		case a.Interest != b.Interest:
			return cmp.Compare(b.Interest, a.Interest)
		case a.Views != b.Views:
			return b.Views - a.Views
		case !a.LastSeen.Equal(b.LastSeen):
			return b.LastSeen.Compare(a.LastSeen)
		}
		return strings.Compare(a.Category, b.Category)
	})
	return top[:min(n, len(top))]
}

// Context implements journey.ContextSource: the interest.top field.
func (p *Processor) Context(st journey.State) map[string]string {
	s, ok := st.(*State)
	if !ok || s == nil {
		return nil
	}
	top := s.Top(maxTop, p.cfg.HalfLife)
	b := make([]byte, 0, 16+len(top)*96)
	b = append(b, '[')
	for i := range top {
		t := &top[i]
		if !wire.JSONTimeOK(t.LastSeen) || math.IsNaN(t.Interest) || math.IsInf(t.Interest, 0) {
			return nil // as json.Marshal fails on them; event times are checked long before
		}
		if i > 0 {
			b = append(b, ',')
		}
		// As json.Marshal writes a TopCategory (TestContextIsMarshal).
		b = append(b, `{"category":`...)
		b = wire.AppendJSONString(b, t.Category)
		b = append(b, `,"views":`...)
		b = strconv.AppendInt(b, int64(t.Views), 10)
		b = append(b, `,"last_seen":`...)
		b = wire.AppendJSONTime(b, t.LastSeen)
		if t.Interest != 0 {
			b = append(b, `,"interest":`...)
			b = wire.AppendJSONFloat(b, t.Interest)
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	return map[string]string{p.ctxTop: string(b)}
}

// formatDuration formats d as time.Duration.String does, less zero
// minutes and seconds: 168h, 1h30m, 30m, 1.5s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
