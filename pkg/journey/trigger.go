package journey

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Trigger is a relevance signal for one customer on one channel: what a
// call-centre desktop, an email service or a push service acts on.
//
// A trigger carries ids and reason codes, never raw personal data.
type Trigger struct {
	// ID is deterministic (see TriggerID): replaying the same events gives
	// the same ids, and the Redis write is idempotent on it.
	ID         string
	Rule       string
	CustomerID string
	Channel    string
	// At is the event time of the event (or timer) that caused the trigger.
	At     time.Time
	Reason string
	// Causes are the ids of the events that caused the trigger.
	Causes []string
	// Payload is rule-specific detail (product ids, categories, scores).
	Payload map[string]any
	// PayloadJSON, when not nil, is Payload already encoded as a JSON
	// object, and sinks write it as it is instead of encoding Payload: the
	// outbox keeps payloads encoded, so a trigger on its way from the
	// outbox to Redis is never decoded and encoded again. Processors leave
	// it nil.
	PayloadJSON []byte
}

// TriggerID derives a trigger's id from the rule, the customer and what
// caused it: the causing event id, or a window or timer key. The same inputs
// always give the same id.
func TriggerID(rule, customerID, cause string) string {
	h := sha256.New()
	for _, s := range [...]string{rule, customerID, cause} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var sum [32]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}
