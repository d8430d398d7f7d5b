package ingest

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"

	"github.com/journey-dev/journey/pkg/journey"
)

// decodeStructured decodes a CloudEvent in structured mode: m is the whole
// event, attributes and data.
func (d *Decoder) decodeStructured(r *Record, m map[string]any) (journey.Event, error) {
	data, hasData := m["data"]
	b64, hasB64 := m["data_base64"]
	if hasData && hasB64 {
		return journey.Event{}, newError(ReasonSchema, "cloudevent: /: data and data_base64 are mutually exclusive")
	}
	ce := cloudEvent{attrs: m, data: data, hasData: hasData, dataAt: "/data"}
	if hasB64 {
		// Validated as a string by the envelope schema: decoded after it.
		ce.base64, _ = b64.(string)
		ce.hasBase64 = true
		ce.dataAt = "/data_base64"
	}
	return d.decodeCloudEvent(r, &ce)
}

// decodeBinary decodes a CloudEvent in binary mode: the attributes are the
// ce_* headers, the value is the data.
func (d *Decoder) decodeBinary(r *Record, ct []byte, hasCT bool) (journey.Event, error) {
	attrs := make(map[string]any, len(r.Headers)+1)
	for i := range r.Headers {
		h := &r.Headers[i]
		if len(h.Key) <= 3 || !strings.EqualFold(h.Key[:3], "ce_") {
			continue
		}
		name := strings.ToLower(h.Key[3:])
		if name == "data" || name == "data_base64" {
			continue // not attributes: the data is the value
		}
		if _, dup := attrs[name]; dup {
			continue // the first header wins
		}
		if !utf8.Valid(h.Value) {
			return journey.Event{}, errorf(ReasonFormat, "header ce_%s is not UTF-8", safeToken(name))
		}
		attrs[name] = string(h.Value)
	}
	jsonData := true
	if hasCT {
		if !utf8.Valid(ct) {
			return journey.Event{}, newError(ReasonFormat, "header content-type is not UTF-8")
		}
		attrs["datacontenttype"] = string(ct)
		jsonData = isJSONType(mediaType(ct))
	}
	ce := cloudEvent{attrs: attrs, dataAt: "/data"}
	if len(r.Value) > 0 && jsonData {
		v, err := d.parse(r.Value, "value", false)
		if err != nil {
			return journey.Event{}, err
		}
		ce.data, ce.hasData = v, true
	}
	return d.decodeCloudEvent(r, &ce)
}

// cloudEvent is a CloudEvent in either mode, for decodeCloudEvent.
type cloudEvent struct {
	attrs     map[string]any
	data      any
	hasData   bool
	base64    string // data_base64, to decode once the envelope is valid
	hasBase64 bool
	dataAt    string // JSON pointer of the data, for error messages
}

// decodeCloudEvent checks a CloudEvent's envelope and builds its event.
func (d *Decoder) decodeCloudEvent(r *Record, ce *cloudEvent) (journey.Event, error) {
	a := ce.attrs
	ev, err := cloudEventIDs(a)
	if err != nil {
		return journey.Event{}, err
	}
	if verr := d.cloudEvents.validate(a); verr != nil {
		return journey.Event{}, schemaError("cloudevent", "", verr)
	}
	if err := d.decodeBase64(ce); err != nil {
		return journey.Event{}, err
	}

	typ, _ := a["type"].(string)
	ev.Kind, ev.Name, ev.Source = journey.KindCloudEvent, typ, source(r)
	if name, ok := d.cfg.CloudEventTypes[typ]; ok {
		ev.Name, ev.Kind = name, journey.KindTrack
	}
	ev.Properties, _ = ce.data.(map[string]any)
	d.conformEvent(ev.Name, ev.Properties)

	ev.Channel = d.channel(a["channel"], r.Topic)
	ev.TimeZone, _ = a["timezone"].(string)
	if s, ok := a["consent"].(string); ok {
		// The envelope schema checked the syntax.
		ev.Consent = parseConsent(s)
	}

	t, hasTime, err := eventTime(a, "time")
	if err != nil {
		return journey.Event{}, err
	}
	from := "time"
	if !hasTime {
		t, from = r.Time, fromRecord
	}
	if ev.Time, err = d.checkTime(t, from); err != nil {
		return journey.Event{}, err
	}
	return ev, nil
}

// cloudEventIDs returns an event holding the ids of a CloudEvent's
// attributes a: its id, and the customer, the first of subject, userid and
// anonymousid set.
func cloudEventIDs(a map[string]any) (journey.Event, *Error) {
	id, err := messageID(a, "id")
	if err != nil {
		return journey.Event{}, err
	}
	subject, err := customerKey(a, "subject")
	if err != nil {
		return journey.Event{}, err
	}
	uid, err := customerKey(a, "userid")
	if err != nil {
		return journey.Event{}, err
	}
	aid, err := customerKey(a, "anonymousid")
	if err != nil {
		return journey.Event{}, err
	}
	ev := journey.Event{ID: id, CustomerID: subject, UserID: uid, AnonymousID: aid}
	if ev.CustomerID == "" {
		ev.CustomerID = uid
	}
	if ev.CustomerID == "" {
		ev.CustomerID = aid
	}
	if ev.CustomerID == "" {
		return journey.Event{}, newError(ReasonKey, "no subject, userid or anonymousid")
	}
	return ev, nil
}

// decodeBase64 decodes ce's data_base64, once the envelope is valid, into
// its data: parsed when the content type is JSON or not given.
func (d *Decoder) decodeBase64(ce *cloudEvent) *Error {
	if !ce.hasBase64 {
		return nil
	}
	raw, berr := base64.StdEncoding.DecodeString(ce.base64)
	if berr != nil {
		return newError(ReasonFormat, "data_base64 is not valid base64")
	}
	ct, _ := ce.attrs["datacontenttype"].(string)
	if ct == "" || isJSONType(mediaType([]byte(ct))) {
		v, err := d.parse(raw, "data_base64", false)
		if err != nil {
			return err
		}
		ce.data, ce.hasData = v, true
	}
	return nil
}

// parseConsent parses the consent extension, "email=true,sms=false". It
// returns nil when s holds no pair.
func parseConsent(s string) map[string]bool {
	var out map[string]bool
	for pair := range strings.SplitSeq(s, ",") {
		ch, v, ok := strings.Cut(pair, "=")
		if !ok || ch == "" || (v != "true" && v != "false") {
			continue
		}
		if out == nil {
			out = make(map[string]bool, strings.Count(s, ",")+1)
		}
		out[ch] = v == "true"
	}
	return out
}
