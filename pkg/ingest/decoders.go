//go:build journey_decoders

package ingest

import (
	"time"
	"unicode/utf8"

	"github.com/journey-dev/journey/pkg/journey"
)

// This file is built only with the journey_decoders tag, by bench/decoders,
// which compares JSON libraries with the package's parser. It is not part
// of the package's API.

// WithUnmarshal returns a copy of d that parses JSON with unmarshal (into
// an any, as encoding/json.Unmarshal does) instead of the package's parser.
// The Segment fast path is off: each record takes the general path, its
// schema checks and event construction.
func (d *Decoder) WithUnmarshal(unmarshal func([]byte, *any) error) *Decoder {
	c := *d
	c.parser = func(b []byte, what string, _ bool) (any, *Error) {
		var v any
		if err := unmarshal(b, &v); err != nil {
			if len(trimSpace(b)) == 0 {
				return nil, errorf(ReasonFormat, "%s is empty", what)
			}
			return nil, errorf(ReasonFormat, "%s is not valid JSON", what)
		}
		return v, nil
	}
	return &c
}

// WithoutFastPath returns a copy of d that keeps the package's parser but
// not the Segment fast path: the general path for every record.
func (d *Decoder) WithoutFastPath() *Decoder {
	c := *d
	c.parser = func(b []byte, what string, event bool) (any, *Error) {
		return parse(b, what, d.keys, event)
	}
	return &c
}

// ParseJSON parses b with the package's parser as the decoder parses
// CloudEvents data: the whole value, keys shared.
func (d *Decoder) ParseJSON(b []byte) (any, error) {
	v, err := parseJSON(b, "value", d.keys)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Absent is the value a SegmentEnvelope field holds for a member the
// message does not have: set every field to it before unmarshalling.
type Absent struct{}

// SegmentEnvelope is a Segment message as a library unmarshals it into a
// struct, each member as an any (Absent when missing) so that its type
// and presence are checked as the fast path checks them.
type SegmentEnvelope struct {
	Type              any             `json:"type"`
	Specversion       any             `json:"specversion"`
	MessageID         any             `json:"messageId"`
	UserID            any             `json:"userId"`
	AnonymousID       any             `json:"anonymousId"`
	PreviousID        any             `json:"previousId"`
	GroupID           any             `json:"groupId"`
	Event             any             `json:"event"`
	Name              any             `json:"name"`
	Timestamp         any             `json:"timestamp"`
	OriginalTimestamp any             `json:"originalTimestamp"`
	SentAt            any             `json:"sentAt"`
	ReceivedAt        any             `json:"receivedAt"`
	Properties        any             `json:"properties"`
	Traits            any             `json:"traits"`
	Integrations      any             `json:"integrations"`
	Context           *SegmentContext `json:"context"`
}

// SegmentContext is the part of a Segment message's context the decoder
// reads; members not named are skipped by the library.
type SegmentContext struct {
	Channel  any `json:"channel"`
	Timezone any `json:"timezone"`
	Consent  any `json:"consent"`
	Traits   any `json:"traits"`
}

// NewSegmentEnvelope returns an envelope with every member Absent.
func NewSegmentEnvelope() *SegmentEnvelope {
	a := Absent{}
	return &SegmentEnvelope{a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, &SegmentContext{a, a, a, a}}
}

// DecodeSegmentEnvelope builds r's event from e as the fast path builds
// it from the members it reads; false when e breaks a rule the fast path
// checks, for the caller to take the general path.
func (d *Decoder) DecodeSegmentEnvelope(r Record, e *SegmentEnvelope) (journey.Event, bool) {
	if r.size() > d.cfg.MaxBytes {
		return journey.Event{}, false
	}
	var f segmentFields
	ok := e.Specversion == (Absent{}) && e.Context != nil
	str := func(v any, nullable bool) (string, bool) {
		s, isStr := v.(string)
		return s, isStr || nullable && v == nil
	}
	member := func(v any, nullable bool) (s string, present, ok bool) {
		if v == (Absent{}) {
			return "", false, true
		}
		s, ok = str(v, nullable)
		return s, true, ok
	}
	var typ, user, anon string
	var sok bool
	typ, _, sok = member(e.Type, false)
	ok = ok && sok
	f.typ = []byte(typ)
	f.id, _, sok = member(e.MessageID, false)
	ok = ok && sok
	user, f.hasUserID, sok = member(e.UserID, true)
	ok = ok && sok
	anon, f.hasAnonID, sok = member(e.AnonymousID, true)
	ok = ok && sok
	if e.UserID != nil {
		f.user = []byte(user)
	}
	if e.AnonymousID != nil {
		f.anon = []byte(anon)
	}
	f.previousID, f.hasPrevious, sok = member(e.PreviousID, false)
	ok = ok && sok
	_, _, sok = member(e.GroupID, true)
	ok = ok && sok
	f.event, f.hasEvent, sok = member(e.Event, false)
	ok = ok && sok
	f.name, _, sok = member(e.Name, true)
	ok = ok && sok
	for _, t := range []struct {
		v   any
		at  *time.Time
		has *bool
	}{{e.Timestamp, &f.timestamp, &f.hasTS}, {e.OriginalTimestamp, &f.original, &f.hasOrig},
		{e.SentAt, &f.sentAt, &f.hasSent}, {e.ReceivedAt, &f.received, &f.hasRecv}} {
		s, present, sok := member(t.v, false)
		if present {
			var err error
			*t.at, err = time.Parse(time.RFC3339Nano, s)
			sok = sok && s != "" && err == nil
		}
		*t.has, ok = present, ok && sok
	}
	if f.hasProps = e.Properties != (Absent{}); f.hasProps {
		f.properties = e.Properties
	}
	if f.hasTraits = e.Traits != (Absent{}); f.hasTraits {
		f.traits = e.Traits
	}
	if _, isObj := e.Integrations.(map[string]any); e.Integrations != (Absent{}) && !isObj {
		ok = false
	}
	if !ok {
		return journey.Event{}, false
	}
	if f.context, ok = envelopeContext(e.Context); !ok {
		return journey.Event{}, false
	}
	return d.fastSegmentEvent(&r, &f)
}

// envelopeContext checks c as contextMember does.
func envelopeContext(c *SegmentContext) (segmentContext, bool) {
	var out segmentContext
	if c.Channel != (Absent{}) {
		s, ok := c.Channel.(string)
		if !ok {
			return out, false
		}
		out.channel = s
	}
	if c.Timezone != (Absent{}) {
		s, ok := c.Timezone.(string)
		if !ok || utf8.RuneCountInString(s) > 64 {
			return out, false
		}
		out.timezone = s
	}
	if c.Consent != (Absent{}) {
		m, ok := c.Consent.(map[string]any)
		if !ok {
			return out, false
		}
		for k, v := range m {
			if p, isObj := v.(map[string]any); k == "categoryPreferences" && isObj {
				for _, pv := range p {
					if _, isBool := pv.(bool); !isBool {
						return out, false
					}
				}
			} else if _, isBool := v.(bool); !isBool {
				return out, false
			}
		}
		out.consent = segmentConsent(m)
	}
	if c.Traits != (Absent{}) {
		m, ok := c.Traits.(map[string]any)
		if !ok {
			return out, false
		}
		out.traits = m
	}
	return out, true
}
