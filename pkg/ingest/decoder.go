package ingest

import (
	"bytes"
	"fmt"
	"maps"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/schemas"
)

// Decoder turns Kafka records into journey events. It is safe for
// concurrent use: one Decoder serves every partition.
type Decoder struct {
	cfg         Config
	segment     *validator
	cloudEvents *validator
	// events maps an event name to the validator of its properties.
	events map[string]*validator
	// keys are the object keys (and event names) the parser shares rather
	// than allocates.
	keys map[string]string
	// parser, when set, parses JSON in place of parse, and Decode skips
	// its Segment fast path: bench/decoders measures JSON libraries through
	// it (decoders.go, built only with that program's build tag).
	parser func(b []byte, what string, event bool) (any, *Error)
}

// NewDecoder validates c and compiles the embedded schemas, once.
func NewDecoder(c Config) (*Decoder, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.setDefaults()
	// The decoder keeps its own maps: the caller may change its own.
	c.TopicChannels = maps.Clone(c.TopicChannels)
	c.CloudEventTypes = maps.Clone(c.CloudEventTypes)

	comp, err := schemas.NewCompiler()
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	red := reducer{keys: map[string]string{}}
	for _, k := range commonKeys {
		red.keys[k] = k
	}
	compile := func(p string) (*validator, error) {
		s, err := comp.Compile(schemas.URL(p))
		if err != nil {
			return nil, fmt.Errorf("ingest: compile schema %s: %w", p, err)
		}
		v := &validator{ref: s}
		if f, ok := red.reduce(s); ok {
			v.fast = f
		}
		return v, nil
	}
	d := &Decoder{cfg: c, events: map[string]*validator{}}
	if d.segment, err = compile(schemas.Segment); err != nil {
		return nil, err
	}
	if d.cloudEvents, err = compile(schemas.CloudEvents); err != nil {
		return nil, err
	}
	for _, e := range schemas.Events() {
		if d.events[e.Name], err = compile(e.Path); err != nil {
			return nil, err
		}
		red.keys[e.Name] = e.Name // a track call's event name is shared too
	}
	d.keys = red.keys
	return d, nil
}

// commonKeys are object keys producers commonly send besides those the
// schemas name: Segment's context and e-commerce fields.
var commonKeys = []string{
	"version", "channel", "library", "name", "page", "path", "referrer", "search", "title", "url",
	"userAgent", "userAgentData", "locale", "ip", "os", "device", "app", "network", "screen",
	"campaign", "source", "medium", "term", "content", "timezone", "traits", "consent", "id",
	"type", "model", "manufacturer", "build", "namespace", "width", "height", "density",
	"email", "first_name", "last_name", "phone", "plan", "category", "value", "currency",
}

// Media types the decoder tells apart.
const (
	ceStructuredType = "application/cloudevents+json"
	ceBatchType      = "application/cloudevents-batch+json"
)

// Decode decodes one record. A rejected record gives an *Error.
func (d *Decoder) Decode(r Record) (journey.Event, error) {
	if n := r.size(); n > d.cfg.MaxBytes {
		return journey.Event{}, errorf(ReasonSize, "record is %d bytes, over the limit of %d", n, d.cfg.MaxBytes)
	}
	ct, hasCT := r.header("content-type")
	structured := false
	if hasCT {
		switch mt := mediaType(ct); {
		case bytes.EqualFold(mt, []byte(ceStructuredType)):
			structured = true
		case bytes.EqualFold(mt, []byte(ceBatchType)):
			return journey.Event{}, newError(ReasonFormat, "content-type: the CloudEvents batch format is not supported")
		}
	}
	if !structured {
		if _, ok := r.header("ce_specversion"); ok {
			return d.decodeBinary(&r, ct, hasCT)
		}
		if d.parser == nil {
			if ev, ok := d.fastSegment(&r); ok {
				return ev, nil
			}
		}
	}
	return d.decodeValue(&r, structured)
}

// decodeValue is Decode's general path for a record's JSON value: a
// Segment message or a structured CloudEvent, or the reason it is neither.
func (d *Decoder) decodeValue(r *Record, structured bool) (journey.Event, error) {
	v, perr := d.parse(r.Value, "value", true)
	if perr != nil {
		return journey.Event{}, perr
	}
	m, ok := v.(map[string]any)
	if !ok {
		return journey.Event{}, newError(ReasonFormat, "value is not a JSON object")
	}
	if structured {
		return d.decodeStructured(r, m)
	}
	if _, ok := m["specversion"]; ok {
		return d.decodeStructured(r, m)
	}
	if t, ok := m["type"].(string); ok {
		if k, ok := segmentKind(t); ok {
			return d.decodeSegment(r, m, k)
		}
		return journey.Event{}, newError(ReasonFormat, "value is not a CloudEvent and its type is not a Segment call type")
	}
	return journey.Event{}, newError(ReasonFormat, "value is neither a Segment message (no type) nor a CloudEvent (no specversion)")
}

// parse parses the JSON text b, named what in errors; event prunes a
// Segment message's context as parseEvent does.
func (d *Decoder) parse(b []byte, what string, event bool) (any, *Error) {
	if d.parser != nil {
		return d.parser(b, what, event)
	}
	return parse(b, what, d.keys, event)
}

// mediaType returns the media type of a content-type value, without
// parameters or surrounding space.
func mediaType(ct []byte) []byte {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return bytes.TrimSpace(ct)
}

// isJSONType reports whether a media type is JSON: application/json,
// text/json or any +json type.
func isJSONType(mt []byte) bool {
	return bytes.EqualFold(mt, []byte("application/json")) || bytes.EqualFold(mt, []byte("text/json")) ||
		len(mt) > 5 && bytes.EqualFold(mt[len(mt)-5:], []byte("+json"))
}

func segmentKind(t string) (journey.Kind, bool) {
	// The constants, not t: the kind never keeps the caller's string (the
	// fast path passes the input's bytes).
	for _, k := range [...]journey.Kind{journey.KindTrack, journey.KindIdentify, journey.KindPage,
		journey.KindScreen, journey.KindAlias, journey.KindGroup} {
		if string(k) == t {
			return k, true
		}
	}
	return "", false
}

// messageID returns the string field key of m, an id_violation when it is
// missing, not a string or empty.
func messageID(m map[string]any, key string) (string, *Error) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", errorf(ReasonID, "%s is missing", key)
	}
	s, ok := v.(string)
	if !ok {
		return "", errorf(ReasonID, "%s is not a string", key)
	}
	if s == "" {
		return "", errorf(ReasonID, "%s is empty", key)
	}
	return s, nil
}

// customerKey returns the string field key of m, "" when it is missing,
// null or empty, a key_violation when it is something else.
func customerKey(m map[string]any, key string) (string, *Error) {
	switch v := m[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	}
	return "", errorf(ReasonKey, "%s is not a string", key)
}

// eventTime parses the RFC 3339 time in field key of m, if present.
func eventTime(m map[string]any, key string) (t time.Time, present bool, _ *Error) {
	v, ok := m[key]
	if !ok {
		return time.Time{}, false, nil
	}
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false, errorf(ReasonTime, "%s is not a string", key)
	}
	t, err := parseTime(s)
	if err != nil {
		return time.Time{}, false, errorf(ReasonTime, "%s is not an RFC 3339 date-time", key)
	}
	return t, true, nil
}

// iso8601Offset is RFC 3339 with the zone offset written without a colon
// ("+0000"), as Java's SimpleDateFormat "Z" writes it and older Segment
// libraries send it.
const iso8601Offset = "2006-01-02T15:04:05.999999999-0700"

// parseTime parses an event time: RFC 3339, or ISO 8601 with a "+hhmm"
// offset.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if t2, err2 := time.Parse(iso8601Offset, s); err2 == nil {
			return t2, nil
		}
	}
	return t, err
}

// checkTime returns t in UTC, or a time_violation when it is missing, before
// the Unix epoch or too far in the future.
func (d *Decoder) checkTime(t time.Time, from string) (time.Time, *Error) {
	if t.Before(unixEpoch) {
		if t.IsZero() && from == fromRecord {
			return time.Time{}, newError(ReasonTime, "no event time: no time field and no record time")
		}
		return time.Time{}, errorf(ReasonTime, "event time (from %s) is before the Unix epoch", from)
	}
	if t.After(d.cfg.Now().Add(d.cfg.MaxFuture)) {
		return time.Time{}, errorf(ReasonTime, "event time (from %s) is more than %s in the future", from, d.cfg.MaxFuture)
	}
	return t.UTC(), nil
}

var unixEpoch = time.Unix(0, 0)

// fromRecord names the Kafka record time as the source of event time.
const fromRecord = "the record time"

// channel returns the event's own channel, else its topic's.
func (d *Decoder) channel(own any, topic string) string {
	if s, ok := own.(string); ok && s != "" {
		return s
	}
	return d.cfg.TopicChannels[topic]
}

func source(r *Record) journey.Source {
	return journey.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Time: r.Time}
}
