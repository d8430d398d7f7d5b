package generate

import (
	"encoding/json"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"time"
)

// CloudEvents types the generator emits, and the event names journey is to
// map them to (ingest.cloudevent_types). A CloudEvent whose type is not
// mapped is decoded as a "cloudevent" event that no processor folds.
const (
	TypeProductViewed   = "com.example.product.viewed"
	TypeSurveySubmitted = "com.example.survey.submitted"
	TypeContactStarted  = "com.example.contact.started"
	TypeContactEnded    = "com.example.contact.ended"
)

// CloudEventTypes returns the ingest.cloudevent_types journey needs for the
// generator's CloudEvents: type -> event name.
func CloudEventTypes() map[string]string {
	return map[string]string{
		TypeProductViewed:   "Product Viewed",
		TypeSurveySubmitted: "Survey Submitted",
		TypeContactStarted:  "Contact Started",
		TypeContactEnded:    "Contact Ended",
	}
}

// timeFormat is how event times are written: RFC 3339, UTC, milliseconds,
// as Segment's libraries write them.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// library names the producer in Segment's context, as SDKs do.
var library = map[string]any{"name": "journey-generate", "version": "1"}

// segment renders a Segment Spec call of kind typ ("track", "page"...) by
// c on channel. fields are the call's own fields (event, name,
// properties, traits, previousId).
func (g *Generator) segment(c *customer, at time.Time, typ, channel string, fields map[string]any) Message {
	id := g.nextID()
	m := map[string]any{
		"type":        typ,
		"messageId":   id,
		"anonymousId": c.anonID,
		"timestamp":   at.Format(timeFormat),
	}
	if c.identified {
		m["userId"] = c.userID
	}
	ctx := map[string]any{
		"channel":  channel,
		"timezone": c.tz,
		"library":  library,
		"consent":  map[string]any{"categoryPreferences": c.consent()},
	}
	if channel == "web" {
		ctx["userAgent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
		ctx["page"] = map[string]any{"path": "/", "url": "https://shop.example/"}
	}
	if channel == "app" {
		ctx["app"] = map[string]any{"name": "Shop", "version": "4.2.0", "build": "420"}
		ctx["os"] = map[string]any{"name": []string{"iOS", "Android"}[c.n%2]}
	}
	m["context"] = ctx
	maps.Copy(m, fields)
	name := typ
	if typ == "track" {
		name, _ = fields["event"].(string)
	}
	return Message{Key: segmentKey(c, id), Value: g.marshal(m), Name: name}
}

// segmentKey is the record key of Segment message id by c: userId, else
// anonymousId, as SDKs and Segment's destinations key them — but none for
// one message in twenty (a server-side source that keys nothing), chosen by
// the id so the random sequence, and every workload built on it, is
// unchanged. journey routes each to its customer (README, Identity).
func segmentKey(c *customer, id string) []byte {
	h := fnv.New32a()
	h.Write([]byte(id))
	if h.Sum32()%20 == 0 {
		return nil
	}
	return []byte(c.key())
}

// track renders a Segment track call.
func (g *Generator) track(c *customer, at time.Time, channel, event string, props map[string]any) Message {
	return g.segment(c, at, "track", channel, map[string]any{"event": event, "properties": props})
}

// view renders a page call on the web and a screen call in the app.
func (g *Generator) view(c *customer, at time.Time, channel, name string, props map[string]any) Message {
	typ := "page"
	if channel == "app" {
		typ = "screen"
	}
	return g.segment(c, at, typ, channel, map[string]any{"name": name, "properties": props})
}

// cloudEvent renders a CloudEvent by c: in structured mode (the whole
// event is the JSON value, content-type application/cloudevents+json) or
// in binary mode (attributes in ce_* headers, the value is the data).
func (g *Generator) cloudEvent(c *customer, at time.Time, typ, source, channel string, data map[string]any, binary bool) Message {
	attrs := [][2]string{
		{"specversion", "1.0"},
		{"id", g.nextID()},
		{"source", source},
		{"type", typ},
		{"subject", c.key()},
		{"time", at.Format(timeFormat)},
		{"channel", channel},
		{"timezone", c.tz},
		{"consent", c.consentAttr()},
	}
	name := CloudEventTypes()[typ]
	if binary {
		hs := make([]Header, 0, len(attrs)+1)
		for _, a := range attrs {
			hs = append(hs, Header{Key: "ce_" + a[0], Value: []byte(a[1])})
		}
		hs = append(hs, Header{Key: "content-type", Value: []byte("application/json")})
		return Message{Key: []byte(c.key()), Value: g.marshal(data), Headers: hs, Name: name}
	}
	m := make(map[string]any, len(attrs)+2)
	for _, a := range attrs {
		m[a[0]] = a[1]
	}
	m["datacontenttype"] = "application/json"
	m["data"] = data
	hs := []Header{{Key: "content-type", Value: []byte("application/cloudevents+json")}}
	return Message{Key: []byte(c.key()), Value: g.marshal(m), Headers: hs, Name: name}
}

// marshal encodes v as JSON. Maps are written with sorted keys, so the
// bytes depend only on the values.
func (g *Generator) marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen: strings, numbers, bools, maps and slices
		panic("generate: " + err.Error())
	}
	return b
}

// consent returns the customer's consent per channel, as Segment's
// categoryPreferences.
func (c *customer) consent() map[string]bool {
	return map[string]bool{"email": c.emailOK, "push": c.pushOK, "sms": false}
}

// consentAttr returns the consent as the CloudEvents consent extension:
// "email=true,push=false,sms=false".
func (c *customer) consentAttr() string {
	cs := c.consent()
	parts := make([]string, 0, len(cs))
	for _, ch := range slices.Sorted(maps.Keys(cs)) {
		v := "false"
		if cs[ch] {
			v = "true"
		}
		parts = append(parts, ch+"="+v)
	}
	return strings.Join(parts, ",")
}
