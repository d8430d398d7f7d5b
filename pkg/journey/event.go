package journey

import (
	"time"
)

// Kind is the Segment Spec call type of an event, or KindCloudEvent for a
// CloudEvent whose type did not map onto one.
type Kind string

// Event kinds. Track events carry a Name ("Product Viewed"); page and screen
// events carry the page or screen name in Name.
const (
	KindTrack      Kind = "track"
	KindIdentify   Kind = "identify"
	KindPage       Kind = "page"
	KindScreen     Kind = "screen"
	KindAlias      Kind = "alias"
	KindGroup      Kind = "group"
	KindCloudEvent Kind = "cloudevent"
)

// Source locates the Kafka record an event was decoded from.
type Source struct {
	Topic     string
	Partition int
	Offset    int64
	// Time is the record's Kafka timestamp (zero when unknown): when it was
	// produced, or appended with LogAppendTime. It is part of the record,
	// so it is the same on every replay — a bound on event time a fold may
	// use where it must not trust a producer's clock (the contact policy
	// clamps consent times to it).
	Time time.Time
}

// Event is one customer interaction, normalised from whatever envelope the
// producer used (Segment Spec or CloudEvents).
//
// Time is event time: it drives every fold, so a replay of the same events
// gives the same state and the same triggers. Nothing in a fold may read the
// wall clock.
type Event struct {
	// ID is the producer's message id (Segment messageId, CloudEvents id).
	// It de-duplicates producer retries and names the event in trigger causes.
	ID   string
	Kind Kind
	// Name is the track event name ("Order Completed"), the page/screen name,
	// or the CloudEvents type.
	Name string
	// CustomerID is the key state is folded under: userId, else anonymousId
	// (Segment), or subject (CloudEvents).
	CustomerID  string
	UserID      string
	AnonymousID string
	// PreviousID is set on alias events.
	PreviousID string
	// Channel is where the interaction happened: web, app, email, call_centre,
	// store, social, survey... From the event, else from the topic mapping.
	Channel string
	// Time is the event time after clock-skew correction, in UTC.
	Time time.Time
	// TimeZone is the customer's IANA zone when the producer sent one.
	TimeZone string
	// Consent is the per-channel consent the event carried; nil when it
	// carried none (consent state is then unchanged). Read-only: the
	// decoder hands the same map to events that carried the same consent.
	Consent map[string]bool
	// Properties are the event's properties (track/page/screen) or data
	// (CloudEvents), as decoded JSON: string, float64, bool, nil,
	// []any and map[string]any.
	Properties map[string]any
	// Traits are identify/group traits. They may hold personal data: never
	// log them or copy them into a trigger.
	Traits map[string]any
	Source Source
}

// Str returns the string property k, or "" when it is absent or not a string.
func (e *Event) Str(k string) string {
	s, _ := e.Properties[k].(string)
	return s
}

// Num returns the numeric property k and whether it was present as a number.
func (e *Event) Num(k string) (float64, bool) {
	switch v := e.Properties[k].(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	}
	return 0, false
}
