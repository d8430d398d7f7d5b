package ingest

import (
	"time"

	"github.com/journey-dev/journey/pkg/journey"
)

// decodeSegment builds the event of a Segment message m of kind k.
func (d *Decoder) decodeSegment(r *Record, m map[string]any, k journey.Kind) (journey.Event, error) {
	id, err := messageID(m, "messageId")
	if err != nil {
		return journey.Event{}, err
	}
	uid, err := customerKey(m, "userId")
	if err != nil {
		return journey.Event{}, err
	}
	aid, err := customerKey(m, "anonymousId")
	if err != nil {
		return journey.Event{}, err
	}
	if uid == "" && aid == "" {
		return journey.Event{}, newError(ReasonKey, "neither userId nor anonymousId is set")
	}
	if verr := d.segment.validate(m); verr != nil {
		return journey.Event{}, schemaError("segment message", "", verr)
	}

	ev := journey.Event{
		ID:          id,
		Kind:        k,
		CustomerID:  uid,
		UserID:      uid,
		AnonymousID: aid,
		Source:      source(r),
	}
	if ev.CustomerID == "" {
		ev.CustomerID = aid
	}
	switch k {
	case journey.KindTrack:
		ev.Name, _ = m["event"].(string)
	case journey.KindPage, journey.KindScreen:
		ev.Name, _ = m["name"].(string)
	case journey.KindAlias:
		ev.PreviousID, _ = m["previousId"].(string)
	}
	ev.Properties, _ = m["properties"].(map[string]any)
	if k == journey.KindTrack {
		d.conformEvent(ev.Name, ev.Properties)
	}

	ctx, _ := m["context"].(map[string]any)
	ev.Channel = d.channel(ctx["channel"], r.Topic)
	ev.TimeZone, _ = ctx["timezone"].(string)
	ev.Consent = segmentConsent(ctx["consent"])
	if ev.Traits, _ = m["traits"].(map[string]any); ev.Traits == nil {
		ev.Traits, _ = ctx["traits"].(map[string]any)
	}

	t, from, err := segmentTime(m, r.Time)
	if err != nil {
		return journey.Event{}, err
	}
	if ev.Time, err = d.checkTime(t, from); err != nil {
		return journey.Event{}, err
	}
	return ev, nil
}

// segmentTime returns the event time of a Segment message, corrected for
// the device's clock skew when it can be, and the field it came from.
// Every time field present must parse.
func segmentTime(m map[string]any, recordTime time.Time) (time.Time, string, *Error) {
	ts, hasTS, err := eventTime(m, "timestamp")
	if err != nil {
		return time.Time{}, "", err
	}
	orig, hasOrig, err := eventTime(m, "originalTimestamp")
	if err != nil {
		return time.Time{}, "", err
	}
	sent, hasSent, err := eventTime(m, "sentAt")
	if err != nil {
		return time.Time{}, "", err
	}
	recv, hasRecv, err := eventTime(m, "receivedAt")
	if err != nil {
		return time.Time{}, "", err
	}
	switch {
	case hasOrig && hasSent && hasRecv:
		// The device's clock is off by sentAt - receivedAt (less the
		// network time); originalTimestamp is off by as much.
		return recv.Add(-sent.Sub(orig)), "receivedAt - (sentAt - originalTimestamp)", nil
	case hasTS:
		return ts, "timestamp", nil
	case hasOrig:
		return orig, "originalTimestamp", nil
	case hasRecv:
		return recv, "receivedAt", nil
	}
	return recordTime, fromRecord, nil
}

// segmentConsent reads context.consent: channel -> bool, with Segment's
// categoryPreferences merged in under the top-level entries. It returns
// nil when there is no consent to read.
func segmentConsent(v any) map[string]bool {
	m, _ := v.(map[string]any)
	if len(m) == 0 {
		return nil
	}
	pref, _ := m["categoryPreferences"].(map[string]any)
	out := make(map[string]bool, len(m)+len(pref))
	for k, v := range pref {
		if b, ok := v.(bool); ok {
			out[k] = b
		}
	}
	for k, v := range m {
		if b, ok := v.(bool); ok {
			out[k] = b
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
