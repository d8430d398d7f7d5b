package ingest

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/journey-dev/journey/pkg/journey"
)

// This file holds the decoder's fast path for the common case: a valid
// Segment message. It reads the top-level members and the context's
// straight into a segmentFields in one pass — no top-level or context map,
// no schema walk over them, no map lookups afterwards — and checks the
// envelope's rules (schemas/segment.json) by hand; properties and traits
// are built as the general parser builds them, and a track event's
// properties checked by its schema. Anything it is not sure of (a syntax
// error, a rule broken, a CloudEvent) makes it give up, and Decode takes
// the general path, which gives the error. So it never decides a failure,
// and for what it accepts it must give exactly the general path's event:
// TestFastSegment and FuzzDecode check both on the same inputs (if
// schemas/segment.json changes, this file must change with it).

// segmentFields are the members of a Segment message the decoder reads,
// as the last of duplicate members has them.
type segmentFields struct {
	typ []byte // the input's bytes
	id  string
	// user and anon are the input's bytes (or a copy, unescaped) of userId
	// and anonymousId, nil when absent or null; event names are interned.
	user, anon []byte
	// previousID, event and name are "" when absent or null.
	previousID, event, name string
	// The event times, parsed.
	timestamp, original, sentAt, received time.Time
	properties, traits                    any
	context                               segmentContext
	// has* are set for members present in the message (even as null).
	hasUserID, hasAnonID, hasPrevious, hasEvent bool
	hasProps, hasTraits                         bool
	hasTS, hasOrig, hasSent, hasRecv            bool
}

// segmentContext is what the decoder reads of a Segment message's context,
// as the last "context" member has it.
type segmentContext struct {
	channel, timezone string
	consent           map[string]bool // merged as segmentConsent does; nil for none
	traits            map[string]any
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
// value is one syntactically valid JSON object without a specversion whose
// members have the types the envelope gives them.
func (p *parser) segmentMembers(f *segmentFields) bool {
	ok := p.eachMember(func(k []byte) bool {
		var dst *any
		ok := true
		switch string(k) {
		case "specversion":
			return false // a CloudEvent: the general path
		case "type":
			f.typ, ok = p.stringMember(false)
		case "messageId":
			f.id, ok = p.textMember(false)
		case "userId":
			f.user, ok = p.stringMember(true)
			f.hasUserID = true
		case "anonymousId":
			f.anon, ok = p.stringMember(true)
			f.hasAnonID = true
		case "previousId":
			f.previousID, ok = p.textMember(false)
			f.hasPrevious = true
		case "groupId":
			_, ok = p.stringMember(true)
		case "event":
			var b []byte
			b, ok = p.stringMember(false)
			f.event, f.hasEvent = p.intern(b), true
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
			// An object, never read: checked, not built.
			p.skipSpace()
			ok = p.pos < len(p.data) && p.data[p.pos] == '{' && p.skip() == nil
		case "context":
			f.context, ok = p.contextMember()
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
		return true
	})
	p.skipSpace()
	return ok && p.pos == len(p.data)
}

// fastSegmentEvent checks f against the envelope's rules and builds the
// event as decodeSegment does; false for anything that breaks a rule.
func (d *Decoder) fastSegmentEvent(r *Record, f *segmentFields) (journey.Event, bool) {
	k, ok := segmentKind(string(f.typ))
	if !ok || f.id == "" || len(f.user) == 0 && len(f.anon) == 0 ||
		f.hasPrevious && f.previousID == "" || f.hasEvent && f.event == "" {
		return journey.Event{}, false
	}
	switch {
	case k == journey.KindTrack && !f.hasEvent:
		return journey.Event{}, false
	case k == journey.KindAlias && (!f.hasPrevious || !f.hasUserID):
		return journey.Event{}, false
	}
	// properties and traits are objects when present (null is not an
	// object).
	if !isObject(f.properties, f.hasProps) || !isObject(f.traits, f.hasTraits) {
		return journey.Event{}, false
	}
	// userId and anonymousId share one allocation: both die with the event
	// unless the customer is new, and then they are a few bytes.
	var sb strings.Builder
	sb.Grow(len(f.user) + len(f.anon))
	sb.Write(f.user)
	sb.Write(f.anon)
	ids := sb.String()
	ev := journey.Event{
		ID:          f.id,
		Kind:        k,
		UserID:      ids[:len(f.user)],
		AnonymousID: ids[len(f.user):],
		Source:      source(r),
	}
	if ev.CustomerID = ev.UserID; ev.CustomerID == "" {
		ev.CustomerID = ev.AnonymousID
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
		d.conformEvent(ev.Name, ev.Properties)
	}
	ev.Channel = f.context.channel
	if ev.Channel == "" {
		ev.Channel = d.cfg.TopicChannels[r.Topic]
	}
	ev.TimeZone = f.context.timezone
	ev.Consent = f.context.consent
	if ev.Traits, _ = f.traits.(map[string]any); ev.Traits == nil {
		ev.Traits = f.context.traits
	}

	at, from := fastSegmentTime(f, r.Time)
	var err *Error
	if ev.Time, err = d.checkTime(at, from); err != nil {
		return journey.Event{}, false
	}
	return ev, true
}

// contextMember reads a context object by the envelope's rules (channel a
// string, timezone a string of at most 64 characters, consent an object of
// booleans and a categoryPreferences object of booleans, traits an
// object), skipping the members the decoder does not read; false for
// anything else. Depth is counted as the general parser counts it.
func (p *parser) contextMember() (segmentContext, bool) {
	var c segmentContext
	ok := p.eachMember(func(k []byte) bool {
		switch string(k) {
		case "channel":
			b, ok := p.stringMember(false)
			c.channel = p.recall(b)
			return ok
		case "timezone":
			b, ok := p.stringMember(false)
			c.timezone = p.recall(b)
			return ok && utf8.RuneCount(b) <= 64
		case "consent":
			var ok bool
			c.consent, ok = p.consentMember()
			return ok
		case "traits":
			v, err := p.value()
			c.traits, _ = v.(map[string]any)
			return err == nil && c.traits != nil
		}
		return p.skip() == nil
	})
	return c, ok
}

// consentMember reads context.consent into the map segmentConsent makes
// of it: categoryPreferences (the last one) under the top-level entries.
// A producer sends the same few consent objects again and again, so the
// parser remembers the maps it made by the object's bytes and hands out
// the same map for the same bytes (Event.Consent is read-only).
func (p *parser) consentMember() (map[string]bool, bool) {
	p.skipSpace()
	start := p.pos
	if p.skip() != nil {
		return nil, false
	}
	raw := p.data[start:p.pos]
	if c, ok := p.consents[string(raw)]; ok {
		return c, true
	}
	p.pos = start
	c, ok := p.parseConsent()
	if ok && len(raw) <= maxConsentBytes && len(p.consents) < maxConsents {
		if p.consents == nil {
			p.consents = map[string]map[string]bool{}
		}
		p.consents[string(raw)] = c
	}
	return c, ok
}

// recall returns b as a string, the same one as before for the same
// bytes: for values of few distinct strings, such as channels and time
// zones.
func (p *parser) recall(b []byte) string {
	if s, ok := p.recalled[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(b) <= maxRecalledBytes && len(p.recalled) < maxRecalled {
		if p.recalled == nil {
			p.recalled = map[string]string{}
		}
		p.recalled[s] = s
	}
	return s
}

// The bounds of a parser's memories (consentMember, recall).
const (
	maxConsents      = 256
	maxConsentBytes  = 512
	maxRecalled      = 1024
	maxRecalledBytes = 64
)

func (p *parser) parseConsent() (map[string]bool, bool) {
	var top, prefs map[string]bool
	ok := p.eachMember(func(k []byte) bool {
		if string(k) == "categoryPreferences" {
			prefs = map[string]bool{}
			return p.eachMember(func(k []byte) bool {
				b, ok := p.boolMember()
				prefs[p.own(k)] = b
				return ok
			})
		}
		b, ok := p.boolMember()
		if top == nil {
			top = map[string]bool{}
		}
		top[p.own(k)] = b
		return ok
	})
	if !ok || len(top)+len(prefs) == 0 {
		return nil, ok
	}
	if prefs == nil {
		return top, true
	}
	for k, b := range top {
		prefs[k] = b
	}
	return prefs, true
}

// boolMember reads a member's value that must be true or false.
func (p *parser) boolMember() (bool, bool) {
	p.skipSpace()
	if p.pos < len(p.data) {
		switch p.data[p.pos] {
		case 't':
			return true, p.literal("true") == nil
		case 'f':
			return false, p.literal("false") == nil
		}
	}
	return false, false
}

// eachMember parses an object, calling member for each key with the
// position at the value (which member must consume); false when the value
// is not an object, on a syntax error, or when member returns false. The
// key may be the input's own bytes (see key): a member that keeps it keeps
// p.own(k).
func (p *parser) eachMember(member func(k []byte) bool) bool {
	p.skipSpace()
	if p.pos >= len(p.data) || p.data[p.pos] != '{' {
		return false
	}
	p.pos++
	if p.depth++; p.depth > maxDepth {
		return false
	}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return true
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return false
		}
		k, err := p.key()
		if err != nil {
			return false
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return false
		}
		p.pos++
		if !member(k) {
			return false
		}
		if err := p.next('}'); err != nil {
			if err != errEnd {
				return false
			}
			p.depth--
			return true
		}
	}
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
		if b, ok := p.plain(); ok {
			return b, true
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
	t, err := parseTime(string(b))
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
