package timeline

import (
	"strconv"
	"time"
)

// Kind is what an entry records.
type Kind string

// The kinds of entries.
const (
	KindEvent      Kind = "event"
	KindFired      Kind = "fired"
	KindHeld       Kind = "held"
	KindReleased   Kind = "released"
	KindSuppressed Kind = "suppressed"
)

// kinds are the kinds in their encoding's order (byte i+1 is kinds[i]).
var kinds = []Kind{KindEvent, KindFired, KindHeld, KindReleased, KindSuppressed}

// State is one customer's timeline.
type State struct {
	// Entries, oldest first.
	Entries []Entry `json:"entries,omitempty"`
}

// Entry is one event, or one decision on a trigger.
type Entry struct {
	At   time.Time `json:"at"`
	Kind Kind      `json:"kind"`
	// Channel is the event's channel, or the trigger's (as routed).
	Channel string `json:"channel,omitempty"`
	// Name is the event's name, or the trigger's rule.
	Name string `json:"name,omitempty"`
	// ID is the event's id, or the trigger's.
	ID string `json:"id,omitempty"`
	// Reason is the trigger's reason, or the suppression's.
	Reason string `json:"reason,omitempty"`
	// Causes are the ids of the events that caused the trigger.
	Causes []string `json:"causes,omitempty"`

	ProductID string   `json:"product_id,omitempty"`
	Category  string   `json:"category,omitempty"`
	CartID    string   `json:"cart_id,omitempty"`
	OrderID   string   `json:"order_id,omitempty"`
	ContactID string   `json:"contact_id,omitempty"`
	Rating    *float64 `json:"rating,omitempty"`
	Score     *float64 `json:"score,omitempty"`
}

// IsTrigger reports whether e is a decision on a trigger.
func (e *Entry) IsTrigger() bool { return e.Kind != KindEvent }

func formatNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
