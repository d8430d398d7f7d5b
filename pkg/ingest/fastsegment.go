package ingest

import (
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/journey-dev/journey/pkg/journey"
)

// This file holds the decoder's fast path for the common case: a valid
// Segment message. It reads the top-level members straight into a
// segmentFields in one pass — no top-level map, no schema walk over it, no
// map lookups afterwards — and checks the envelope's rules (schemas/
// segment.json) by hand; the context, properties and traits are built and
// checked as the general path does. Anything it is not sure of (a syntax
// error, a rule broken, a CloudEvent) makes it give up, and Decode takes
// the general path, which gives the error. So it never decides a failure,
// and for what it accepts it must give exactly the general path's event:
// FuzzFastSegment checks both on the same inputs.

// segmentFields are the members of a Segment message the decoder reads,
// as the last of duplicate members has them.
type segmentFields struct {
	typ []byte // the input's bytes
	id  string
	// userID, anonID and name are "" when absent or null.
	userID, anonID, previousID, event, name string
	// The event times, parsed.
	timestamp, original, sentAt, received time.Time
	properties, traits, context           any
	integrations                          any
	// has* are set for members present in the message (even as null).
	hasUserID, hasAnonID, hasPrevious, hasEvent bool
	hasProps, hasTraits, hasIntegrations        bool
	hasTS, hasOrig, hasSent, hasRecv            bool
}

// fastSegment decodes r's value as a valid Segment message, or returns
// false.
func (d *Decoder) fastSegment(r *Record) (journey.Event, bool) {
	p := getParser(r.Value, d.keys, true)
	var f segmentFields
	ok := p.segmentMembers(&f)
	putParser(p)
	if !ok {
		return journey.Event{}, false
	}
	return d.fastSegmentEvent(r, &f)
}

// segmentMembers parses the top-level object into f: true when the whole
// value is one syntactically valid JSON object without a specversion.
func (p *parser) segmentMembers(f *segmentFields) bool {
	p.skipSpace()
	if p.pos >= len(p.data) || p.data[p.pos] != '{' {
		return false
	}
	p.pos++
	p.depth = 1
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		return false // no type: not a Segment message
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return false
		}
		k, err := p.str(true)
		if err != nil {
			return false
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return false
		}
		p.pos++
		var dst *any
		ok := true
		switch k {
		case "specversion":
			return false // a CloudEvent
		case "type":
			f.typ, ok = p.stringMember(false)
		case "messageId":
			f.id, ok = p.textMember(false)
		case "userId":
			f.userID, ok = p.textMember(true)
			f.hasUserID = true
		case "anonymousId":
			f.anonID, ok = p.textMember(true)
			f.hasAnonID = true
		case "previousId":
			f.previousID, ok = p.textMember(false)
			f.hasPrevious = true
		case "groupId":
			_, ok = p.stringMember(true)
		case "event":
			f.event, ok = p.textMember(false)
			f.hasEvent = true
		case "name":
			f.name, ok = p.textMember(true)
		case "timestamp":
			f.timestamp, ok = p.timeMember()
			f.hasTS = true
		case "originalTimestamp":
			f.original, ok = p.timeMember()
			f.hasOrig = true
		case "sentAt":
			f.sentAt, ok = p.timeMember()
			f.hasSent = true
		case "receivedAt":
			f.received, ok = p.timeMember()
			f.hasRecv = true
		case "properties":
			dst, f.hasProps = &f.properties, true
		case "traits":
			dst, f.hasTraits = &f.traits, true
		case "integrations":
			dst, f.hasIntegrations = &f.integrations, true
		case "context":
			p.skipSpace()
			if p.pos >= len(p.data) || p.data[p.pos] != '{' {
				return false // not an object: the general path says so
			}
			v, err := p.objectOf(contextKeep)
			if err != nil {
				return false
			}
			f.context = v
		default:
			// Members the envelope does not name are allowed and not read.
			ok = p.skip() == nil
		}
		if !ok {
			return false
		}
		if dst != nil {
			v, err := p.value()
			if err != nil {
				return false
			}
			*dst = v
		}
		if err := p.next('}'); err != nil {
			if err != errEnd {
				return false
			}
			break
		}
	}
	p.skipSpace()
	return p.pos == len(p.data)
}

// fastSegmentEvent checks f against the envelope's rules and builds the
// event as decodeSegment does; false for anything that breaks a rule.
func (d *Decoder) fastSegmentEvent(r *Record, f *segmentFields) (journey.Event, bool) {
	k, ok := segmentKind(string(f.typ))
	if !ok || f.id == "" || f.userID == "" && f.anonID == "" ||
		f.hasPrevious && f.previousID == "" || f.hasEvent && f.event == "" {
		return journey.Event{}, false
	}
	switch {
	case k == journey.KindTrack && !f.hasEvent:
		return journey.Event{}, false
	case k == journey.KindAlias && (!f.hasPrevious || !f.hasUserID):
		return journey.Event{}, false
	}
	// properties, traits and integrations are objects when present (null
	// is not an object).
	if !isObject(f.properties, f.hasProps) || !isObject(f.traits, f.hasTraits) || !isObject(f.integrations, f.hasIntegrations) {
		return journey.Event{}, false
	}
	ctx, _ := f.context.(map[string]any)
	if ctx != nil && !d.contextValid(ctx) {
		return journey.Event{}, false
	}

	ev := journey.Event{
		ID:          f.id,
		Kind:        k,
		CustomerID:  f.userID,
		UserID:      f.userID,
		AnonymousID: f.anonID,
		Source:      source(r),
	}
	if ev.CustomerID == "" {
		ev.CustomerID = f.anonID
	}
	switch k {
	case journey.KindTrack:
		ev.Name = f.event
	case journey.KindPage, journey.KindScreen:
		ev.Name = f.name
	case journey.KindAlias:
		ev.PreviousID = f.previousID
	}
	ev.Properties, _ = f.properties.(map[string]any)
	if k == journey.KindTrack {
		if d.checkEvent(ev.Name, f.properties, f.hasProps, "/properties") != nil {
			return journey.Event{}, false
		}
	}
	ev.Channel = d.channel(ctx["channel"], r.Topic)
	ev.TimeZone, _ = ctx["timezone"].(string)
	ev.Consent = segmentConsent(ctx["consent"])
	if ev.Traits, _ = f.traits.(map[string]any); ev.Traits == nil {
		ev.Traits, _ = ctx["traits"].(map[string]any)
	}

	at, from := fastSegmentTime(f, r.Time)
	var err *Error
	if ev.Time, err = d.checkTime(at, from); err != nil {
		return journey.Event{}, false
	}
	return ev, true
}

// contextValid checks a (pruned) context object against the envelope's
// context schema, when the fast validator is sure.
func (d *Decoder) contextValid(ctx map[string]any) bool {
	if d.segmentContext == nil {
		return false
	}
	unsure := false
	return d.segmentContext.valid(ctx, &unsure) && !unsure
}

// isObject reports whether a member is absent or a JSON object.
func isObject(v any, present bool) bool {
	_, ok := v.(map[string]any)
	return ok || !present
}

// stringMember reads a member's value that must be a string (or null, with
// nullable): the string's bytes — the input's own when it has no escapes,
// so only until the next parse — nil for null; false for anything else.
func (p *parser) stringMember(nullable bool) ([]byte, bool) {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil, false
	}
	switch p.data[p.pos] {
	case 'n':
		return nil, nullable && p.literal("null") == nil
	case '"':
		d := p.data
		for i := p.pos + 1; i < len(d); i++ {
			c := d[i]
			if c == '"' {
				b := d[p.pos+1 : i]
				p.pos = i + 1
				return b, true
			}
			if c == '\\' || c < ' ' || c >= utf8.RuneSelf {
				break
			}
		}
		s, err := p.str(false) // escapes or UTF-8 to check: the general code
		return []byte(s), err == nil
	}
	return nil, false
}

// textMember is stringMember as a string of its own ("" for null).
func (p *parser) textMember(nullable bool) (string, bool) {
	b, ok := p.stringMember(nullable)
	return string(b), ok
}

// timeMember reads an RFC 3339 date-time member as eventTime does.
func (p *parser) timeMember() (time.Time, bool) {
	b, ok := p.stringMember(false)
	if !ok || len(b) == 0 {
		return time.Time{}, false
	}
	// time.Parse keeps nothing of its input in the time it returns (the
	// layout's zone is numeric), so the bytes are not copied.
	t, err := time.Parse(time.RFC3339Nano, unsafe.String(&b[0], len(b)))
	return t, err == nil
}

// fastSegmentTime is segmentTime over f.
func fastSegmentTime(f *segmentFields, recordTime time.Time) (time.Time, string) {
	switch {
	case f.hasOrig && f.hasSent && f.hasRecv:
		return f.received.Add(-f.sentAt.Sub(f.original)), "receivedAt - (sentAt - originalTimestamp)"
	case f.hasTS:
		return f.timestamp, "timestamp"
	case f.hasOrig:
		return f.original, "originalTimestamp"
	case f.hasRecv:
		return f.received, "receivedAt"
	}
	return recordTime, fromRecord
}
