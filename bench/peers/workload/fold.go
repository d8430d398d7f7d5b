package workload

import "slices"

// The fold every implementation runs, stated once (bench/README.md gives
// the reasons). Per customer, in the order of the customer's partition:
//
//   - count the event under its kind (Kind.String);
//   - a Product Viewed on the web or app with a category adds a view (its
//     event time) to the category; if the category now has threshold views
//     or more, has no purchase, and has not fired, it fires: one trigger,
//     caused by that view;
//   - an Order Completed, for each distinct category of its products,
//     removes the category's views at or before the order's event time,
//     records the purchase (which blocks triggers of the category from then
//     on), and re-arms the category if fewer than threshold views are left.
//
// This is journey's interest processor with half_life 0 (an interest is a
// number of views), a window longer than the workload (no view or purchase
// ever expires) and bounds the workload never reaches, plus the per-name
// counts of the profile processor. Event ids are unique in the workload,
// so no implementation needs journey's de-duplication to agree.

// Snapshot is one customer's folded state as every implementation dumps
// it, one JSON object per line.
type Snapshot struct {
	Customer   string                      `json:"customer"`
	Missing    bool                        `json:"missing,omitempty"` // no state for the customer
	Events     map[string]int64            `json:"events"`
	Categories map[string]CategorySnapshot `json:"categories"`
}

// CategorySnapshot is one category of a Snapshot.
type CategorySnapshot struct {
	Views     int  `json:"views"`     // views counted (since the last purchase of the category)
	Purchased bool `json:"purchased"` // the category was bought
	Fired     bool `json:"fired"`     // a trigger fired and was not re-armed
}

// Trigger is a trigger of the reference fold.
type Trigger struct {
	Customer int
	Category int
	EventID  string // the view that crossed the threshold
}

// Model is the reference fold over every customer, kept compact (a
// 200,000-customer workload takes some tens of MB).
type Model struct {
	threshold int
	customers []customerState
}

type customerState struct {
	kinds [numKinds]int32
	cats  []categoryState
}

type categoryState struct {
	category  uint8
	fired     bool
	purchased int64   // ms; 0: none
	views     []int64 // event times, ms
}

// NewModel returns the reference fold of customers customers.
func NewModel(customers, threshold int) *Model {
	return &Model{threshold: threshold, customers: make([]customerState, customers)}
}

func (s *customerState) category(c int) *categoryState {
	for i := range s.cats {
		if int(s.cats[i].category) == c {
			return &s.cats[i]
		}
	}
	s.cats = append(s.cats, categoryState{category: uint8(c)})
	return &s.cats[len(s.cats)-1]
}

// Fold folds e and returns the trigger it fired, if any.
func (m *Model) Fold(e *Event) (Trigger, bool) {
	s := &m.customers[e.Customer]
	s.kinds[e.Kind]++
	switch e.Kind {
	case ProductViewed:
		if e.Channel != "web" && e.Channel != "app" {
			return Trigger{}, false
		}
		c := s.category(e.Category)
		c.views = append(c.views, e.At)
		if !c.fired && c.purchased == 0 && len(c.views) >= m.threshold {
			c.fired = true
			return Trigger{Customer: e.Customer, Category: e.Category, EventID: e.ID}, true
		}
	case OrderCompleted:
		var done []int
		for _, cat := range e.Bought {
			if slices.Contains(done, cat) {
				continue
			}
			done = append(done, cat)
			c := s.category(cat)
			c.views = slices.DeleteFunc(c.views, func(t int64) bool { return t <= e.At })
			c.purchased = max(c.purchased, e.At)
			if c.fired && len(c.views) < m.threshold {
				c.fired = false
			}
		}
	}
	return Trigger{}, false
}

// Snapshot returns customer n's state.
func (m *Model) Snapshot(n int) Snapshot {
	s := &m.customers[n]
	out := Snapshot{Customer: CustomerID(n), Events: map[string]int64{}, Categories: map[string]CategorySnapshot{}}
	for k, v := range s.kinds {
		if v > 0 {
			out.Events[Kind(k).String()] = int64(v)
		}
	}
	for _, c := range s.cats {
		out.Categories[Categories[c.category]] = CategorySnapshot{Views: len(c.views), Purchased: c.purchased != 0, Fired: c.fired}
	}
	if len(out.Events) == 0 {
		out.Missing = true
	}
	return out
}

// Sample returns n customers spread evenly over customers (all of them
// when n >= customers).
func Sample(customers, n int) []int {
	n = min(n, customers)
	out := make([]int, n)
	for i := range out {
		out[i] = int(int64(i) * int64(customers) / int64(n))
	}
	return out
}
