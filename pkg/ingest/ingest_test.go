package ingest_test

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
)

// now is the wall clock every test decoder sees.
var now = time.Date(2025, 11, 20, 12, 0, 0, 0, time.UTC)

// recordTime is the Kafka timestamp of the test records.
var recordTime = time.Date(2025, 11, 20, 11, 0, 0, 0, time.UTC)

func testConfig() ingest.Config {
	return ingest.Config{
		TopicChannels: map[string]string{
			"web.events":        "web",
			"app.events":        "app",
			"callcentre.events": "call_centre",
		},
		CloudEventTypes: map[string]string{
			"com.shop.product.viewed": "Product Viewed",
			"com.shop.contact.ended":  "Contact Ended",
			"com.shop.order.done":     "Order Completed",
		},
		Now: func() time.Time { return now },
	}
}

func newDecoder(tb testing.TB) *ingest.Decoder {
	tb.Helper()
	d, err := ingest.NewDecoder(testConfig())
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// rec builds a record on topic with value and headers given as key, value
// pairs.
func rec(topic, value string, headers ...string) ingest.Record {
	r := ingest.Record{Topic: topic, Partition: 2, Offset: 77, Value: []byte(value), Time: recordTime}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Headers = append(r.Headers, ingest.Header{Key: headers[i], Value: []byte(headers[i+1])})
	}
	return r
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// checkEvent compares got with want, times by instant and location.
func checkEvent(t *testing.T, got, want journey.Event) {
	t.Helper()
	if !got.Time.Equal(want.Time) || got.Time.Location() != time.UTC {
		t.Errorf("Time = %v, want %v (UTC)", got.Time, want.Time)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event\n got %+v\nwant %+v", got, want)
	}
}

func TestDecodeKinds(t *testing.T) {
	d := newDecoder(t)
	src := journey.Source{Topic: "web.events", Partition: 2, Offset: 77, Time: recordTime}
	csrc := journey.Source{Topic: "callcentre.events", Partition: 2, Offset: 77, Time: recordTime}
	tests := []struct {
		name string
		rec  ingest.Record
		want journey.Event
	}{
		{
			name: "segment track",
			rec: rec("web.events", `{"type":"track","event":"Product Viewed","messageId":"m1","userId":"u1","anonymousId":"a1",
				"timestamp":"2025-11-20T09:14:03.12+01:00","properties":{"product_id":"p1","price":129.9,"quantity":1},
				"context":{"channel":"app","timezone":"Europe/Paris","consent":{"email":true,"sms":false},"traits":{"plan":"gold"}}}`),
			want: journey.Event{ID: "m1", Kind: journey.KindTrack, Name: "Product Viewed", CustomerID: "u1", UserID: "u1", AnonymousID: "a1",
				Channel: "app", Time: at("2025-11-20T08:14:03.12Z"), TimeZone: "Europe/Paris",
				Consent:    map[string]bool{"email": true, "sms": false},
				Properties: map[string]any{"product_id": "p1", "price": 129.9, "quantity": 1.0},
				Traits:     map[string]any{"plan": "gold"}, Source: src},
		},
		{
			name: "segment identify",
			rec: rec("web.events", `{"type":"identify","messageId":"m2","anonymousId":"a1","timestamp":"2025-11-20T09:00:00Z",
				"traits":{"email":"ada@example.com"},"context":{"traits":{"ignored":true},"consent":{"categoryPreferences":{"email":false,"ads":true},"email":true}}}`),
			want: journey.Event{ID: "m2", Kind: journey.KindIdentify, CustomerID: "a1", AnonymousID: "a1", Channel: "web",
				Time: at("2025-11-20T09:00:00Z"), Consent: map[string]bool{"email": true, "ads": true},
				Traits: map[string]any{"email": "ada@example.com"}, Source: src},
		},
		{
			name: "segment page",
			rec:  rec("web.events", `{"type":"page","name":"Winter Boots","messageId":"m3","userId":null,"anonymousId":"a1","timestamp":"2025-11-20T09:00:00Z","properties":{"path":"/c/boots"}}`),
			want: journey.Event{ID: "m3", Kind: journey.KindPage, Name: "Winter Boots", CustomerID: "a1", AnonymousID: "a1", Channel: "web",
				Time: at("2025-11-20T09:00:00Z"), Properties: map[string]any{"path": "/c/boots"}, Source: src},
		},
		{
			name: "segment screen",
			rec:  rec("app.events", `{"type":"screen","name":"Cart","messageId":"m4","userId":"u1","timestamp":"2025-11-20T09:00:00Z"}`),
			want: journey.Event{ID: "m4", Kind: journey.KindScreen, Name: "Cart", CustomerID: "u1", UserID: "u1", Channel: "app",
				Time: at("2025-11-20T09:00:00Z"), Source: journey.Source{Topic: "app.events", Partition: 2, Offset: 77, Time: recordTime}},
		},
		{
			name: "segment alias",
			rec:  rec("web.events", `{"type":"alias","messageId":"m5","userId":"u1","previousId":"a1","timestamp":"2025-11-20T09:00:00Z"}`),
			want: journey.Event{ID: "m5", Kind: journey.KindAlias, CustomerID: "u1", UserID: "u1", PreviousID: "a1", Channel: "web",
				Time: at("2025-11-20T09:00:00Z"), Source: src},
		},
		{
			name: "segment group",
			rec:  rec("web.events", `{"type":"group","messageId":"m6","userId":"u1","groupId":"g1","traits":{"industry":"retail"},"timestamp":"2025-11-20T09:00:00Z"}`),
			want: journey.Event{ID: "m6", Kind: journey.KindGroup, CustomerID: "u1", UserID: "u1", Channel: "web",
				Time: at("2025-11-20T09:00:00Z"), Traits: map[string]any{"industry": "retail"}, Source: src},
		},
		{
			name: "segment track of an unknown event",
			rec:  rec("web.events", `{"type":"track","event":"Wishlist Shared","messageId":"m7","userId":"u1","properties":{"anything":[1,"x"]}}`),
			want: journey.Event{ID: "m7", Kind: journey.KindTrack, Name: "Wishlist Shared", CustomerID: "u1", UserID: "u1", Channel: "web",
				Time: recordTime, Properties: map[string]any{"anything": []any{1.0, "x"}}, Source: src},
		},
		{
			name: "cloudevent structured, mapped type",
			rec: rec("callcentre.events", `{"specversion":"1.0","id":"c1","source":"/cc","type":"com.shop.contact.ended","subject":"u1",
				"time":"2025-11-20T11:02:37Z","timezone":"Europe/Paris","consent":"phone=true,sms=false",
				"data":{"contact_id":"k1","medium":"phone","outcome":"failed","duration":412}}`),
			want: journey.Event{ID: "c1", Kind: journey.KindTrack, Name: "Contact Ended", CustomerID: "u1", Channel: "call_centre",
				Time: at("2025-11-20T11:02:37Z"), TimeZone: "Europe/Paris", Consent: map[string]bool{"phone": true, "sms": false},
				Properties: map[string]any{"contact_id": "k1", "medium": "phone", "outcome": "failed", "duration": 412.0}, Source: csrc},
		},
		{
			name: "cloudevent structured by content-type, unmapped type",
			rec: rec("callcentre.events", `{"specversion":"1.0","id":"c2","source":"/cc","type":"com.shop.queue.joined","userid":"u1",
				"anonymousid":"a1","channel":"chat","data":{"queue":"returns"}}`, "Content-Type", "application/cloudevents+json; charset=utf-8"),
			want: journey.Event{ID: "c2", Kind: journey.KindCloudEvent, Name: "com.shop.queue.joined", CustomerID: "u1", UserID: "u1", AnonymousID: "a1",
				Channel: "chat", Time: recordTime, Properties: map[string]any{"queue": "returns"}, Source: csrc},
		},
		{
			name: "cloudevent structured, data_base64",
			rec: rec("web.events", `{"specversion":"1.0","id":"c3","source":"/web","type":"com.shop.product.viewed","subject":"u1",
				"datacontenttype":"application/json","data_base64":"eyJwcm9kdWN0X2lkIjoicDEiLCJwcmljZSI6MTB9"}`),
			want: journey.Event{ID: "c3", Kind: journey.KindTrack, Name: "Product Viewed", CustomerID: "u1", Channel: "web",
				Time: recordTime, Properties: map[string]any{"product_id": "p1", "price": 10.0}, Source: src},
		},
		{
			name: "cloudevent binary",
			rec: rec("web.events", `{"product_id":"p1","price":10}`,
				"ce_specversion", "1.0", "ce_id", "c4", "ce_source", "/web", "ce_type", "com.shop.product.viewed",
				"ce_subject", "u1", "ce_time", "2025-11-20T10:00:00Z", "ce_channel", "app", "ce_consent", "push=true",
				"content-type", "application/json"),
			want: journey.Event{ID: "c4", Kind: journey.KindTrack, Name: "Product Viewed", CustomerID: "u1", Channel: "app",
				Time: at("2025-11-20T10:00:00Z"), Consent: map[string]bool{"push": true},
				Properties: map[string]any{"product_id": "p1", "price": 10.0}, Source: src},
		},
		{
			name: "cloudevent binary, no data, upper-case header names",
			rec: rec("web.events", "", "CE_SPECVERSION", "1.0", "CE_ID", "c5", "ce_source", "/web", "ce_type", "com.shop.ping",
				"ce_anonymousid", "a1", "ce_traceparent", "00-abc-def-01"),
			want: journey.Event{ID: "c5", Kind: journey.KindCloudEvent, Name: "com.shop.ping", CustomerID: "a1", AnonymousID: "a1",
				Channel: "web", Time: recordTime, Source: src},
		},
		{
			name: "cloudevent binary, data not JSON",
			rec: rec("web.events", "<xml/>", "ce_specversion", "1.0", "ce_id", "c6", "ce_source", "/web", "ce_type", "com.shop.xml",
				"ce_subject", "u1", "content-type", "application/xml"),
			want: journey.Event{ID: "c6", Kind: journey.KindCloudEvent, Name: "com.shop.xml", CustomerID: "u1",
				Channel: "web", Time: recordTime, Source: src},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := d.Decode(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			checkEvent(t, ev, tt.want)
		})
	}
}

// TestClockSkew checks Segment's clock-skew correction and the order in
// which the time fields are read.
//
// The worked example: a phone whose clock is 5 minutes fast records an
// event at 10:00:00 by its clock (originalTimestamp) and sends it 5 s later
// at 10:00:05 by its clock (sentAt). The server receives it at 09:55:06 by
// its own clock (receivedAt). The phone's clock is off by sentAt -
// receivedAt = 4m59s (5 min, less 1 s in transit), so the event happened
// at receivedAt - (sentAt - originalTimestamp) = 09:55:06 - 5s = 09:55:01.
func TestClockSkew(t *testing.T) {
	d := newDecoder(t)
	const (
		orig = `"originalTimestamp":"2025-11-20T10:00:00Z"`
		sent = `"sentAt":"2025-11-20T10:00:05Z"`
		recv = `"receivedAt":"2025-11-20T09:55:06Z"`
		ts   = `"timestamp":"2025-11-20T09:30:00Z"`
	)
	tests := []struct {
		name   string
		fields []string
		want   time.Time
	}{
		{"worked example", []string{orig, sent, recv}, at("2025-11-20T09:55:01Z")},
		{"correction wins over timestamp", []string{ts, orig, sent, recv}, at("2025-11-20T09:55:01Z")},
		{"no sentAt: timestamp", []string{ts, orig, recv}, at("2025-11-20T09:30:00Z")},
		{"no timestamp: originalTimestamp", []string{orig, recv}, at("2025-11-20T10:00:00Z")},
		{"receivedAt alone", []string{recv}, at("2025-11-20T09:55:06Z")},
		{"sentAt alone: record time", []string{sent}, recordTime},
		{"none: record time", nil, recordTime},
		{"offsets become UTC", []string{`"timestamp":"2025-11-20T11:30:00.5+02:00"`}, at("2025-11-20T09:30:00.5Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields := append([]string{`"type":"track","event":"Email Opened","messageId":"m","userId":"u"`}, tt.fields...)
			ev, err := d.Decode(rec("web.events", "{"+strings.Join(fields, ",")+"}"))
			if err != nil {
				t.Fatal(err)
			}
			if !ev.Time.Equal(tt.want) || ev.Time.Location() != time.UTC {
				t.Errorf("Time = %v, want %v", ev.Time, tt.want)
			}
		})
	}
}

func TestChannel(t *testing.T) {
	d := newDecoder(t)
	tests := []struct {
		name string
		rec  ingest.Record
		want string
	}{
		{"segment context.channel wins", rec("web.events", `{"type":"page","messageId":"m","userId":"u","context":{"channel":"store"}}`), "store"},
		{"segment empty context.channel: topic", rec("web.events", `{"type":"page","messageId":"m","userId":"u","context":{"channel":""}}`), "web"},
		{"segment no context: topic", rec("app.events", `{"type":"page","messageId":"m","userId":"u"}`), "app"},
		{"segment unmapped topic: none", rec("misc", `{"type":"page","messageId":"m","userId":"u"}`), ""},
		{"cloudevent extension wins", rec("web.events", `{"specversion":"1.0","id":"i","source":"s","type":"t","subject":"u","channel":"email"}`), "email"},
		{"cloudevent no extension: topic", rec("callcentre.events", `{"specversion":"1.0","id":"i","source":"s","type":"t","subject":"u"}`), "call_centre"},
		{"cloudevent binary: topic", rec("app.events", ``, "ce_specversion", "1.0", "ce_id", "i", "ce_source", "s", "ce_type", "t", "ce_subject", "u"), "app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := d.Decode(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Channel != tt.want {
				t.Errorf("Channel = %q, want %q", ev.Channel, tt.want)
			}
		})
	}
}

// ce is a valid structured CloudEvent with extra attributes spliced in.
func ce(extra string) string {
	return `{"specversion":"1.0","id":"i","source":"/s","type":"t","subject":"u"` + extra + `}`
}

// seg is a valid Segment track call with extra fields spliced in.
func seg(extra string) string {
	return `{"type":"track","event":"Thing Done","messageId":"m","userId":"u"` + extra + `}`
}

func TestDecodeErrors(t *testing.T) {
	big := `{"type":"track","event":"x","messageId":"m","userId":"u","properties":{"pad":"` + strings.Repeat("x", 1<<20) + `"}}`
	tests := []struct {
		name   string
		rec    ingest.Record
		reason ingest.Reason
		msg    string // a substring of Msg
	}{
		{"size: value over 1 MiB", rec("t", big), ingest.ReasonSize, "over the limit of 1048576"},
		{"size: headers count", rec("t", seg(""), "pad", strings.Repeat("x", 1<<20)), ingest.ReasonSize, "over the limit"},

		{"format: not JSON", rec("t", `{"type":"track",`), ingest.ReasonFormat, "not valid JSON"},
		{"format: empty value", rec("t", ``), ingest.ReasonFormat, "value is empty"},
		{"format: array", rec("t", `[{"type":"track"}]`), ingest.ReasonFormat, "not a JSON object"},
		{"format: no envelope", rec("t", `{"event":"Order Completed"}`), ingest.ReasonFormat, "neither a Segment message"},
		{"format: unknown Segment type", rec("t", `{"type":"Track","messageId":"m","userId":"u"}`), ingest.ReasonFormat, "not a Segment call type"},
		{"format: bad base64", rec("t", ce(`,"data_base64":"%%%"`)), ingest.ReasonFormat, "data_base64 is not valid base64"},
		{"format: base64 of bad JSON", rec("t", ce(`,"data_base64":"e3g="`)), ingest.ReasonFormat, "data_base64 is not valid JSON"},
		{"format: batch", rec("t", `[]`, "content-type", "application/cloudevents-batch+json"), ingest.ReasonFormat, "batch"},
		{"format: binary data not JSON", rec("t", `{"a":`, "ce_specversion", "1.0", "ce_id", "i", "ce_source", "s", "ce_type", "t", "ce_subject", "u"), ingest.ReasonFormat, "not valid JSON"},
		{"format: huge number", rec("t", seg(`,"properties":{"n":1e999}`)), ingest.ReasonFormat, "out of range"},

		{"schema: track without event", rec("t", `{"type":"track","messageId":"m","userId":"u"}`), ingest.ReasonSchema, "segment message: /: required event"},
		{"schema: alias without previousId", rec("t", `{"type":"alias","messageId":"m","userId":"u"}`), ingest.ReasonSchema, "required previousId"},
		{"schema: consent not boolean", rec("t", seg(`,"context":{"consent":{"email":"yes"}}`)), ingest.ReasonSchema, "/context/consent/email: type: want boolean, got string"},
		{"schema: properties not an object", rec("t", seg(`,"properties":[1]`)), ingest.ReasonSchema, "/properties: type: want object"},
		{"schema: cloudevent version", rec("t", `{"specversion":"0.3","id":"i","source":"s","type":"t","subject":"u"}`), ingest.ReasonSchema, `cloudevent: /specversion: const: want "1.0"`},
		{"schema: cloudevent without source", rec("t", `{"specversion":"1.0","id":"i","type":"t","subject":"u"}`), ingest.ReasonSchema, "cloudevent: /: required source"},
		{"schema: binary cloudevent without type", rec("t", `{}`, "ce_specversion", "1.0", "ce_id", "i", "ce_source", "s", "ce_subject", "u"), ingest.ReasonSchema, "required type"},
		{"schema: data and data_base64", rec("t", ce(`,"data":{},"data_base64":"e30="`)), ingest.ReasonSchema, "mutually exclusive"},
		{"schema: consent extension syntax", rec("t", ce(`,"consent":"email"`)), ingest.ReasonSchema, "/consent: pattern"},
		{"schema: extension object", rec("t", ce(`,"myext":{"a":1}`)), ingest.ReasonSchema, "/myext: type"},

		{"id: no messageId", rec("t", `{"type":"track","event":"x","userId":"u"}`), ingest.ReasonID, "messageId is missing"},
		{"id: empty messageId", rec("t", `{"type":"track","event":"x","userId":"u","messageId":""}`), ingest.ReasonID, "messageId is empty"},
		{"id: numeric messageId", rec("t", `{"type":"track","event":"x","userId":"u","messageId":7}`), ingest.ReasonID, "messageId is not a string"},
		{"id: cloudevent without id", rec("t", `{"specversion":"1.0","source":"s","type":"t","subject":"u"}`), ingest.ReasonID, "id is missing"},
		{"id: binary without ce_id", rec("t", `{}`, "ce_specversion", "1.0", "ce_source", "s", "ce_type", "t", "ce_subject", "u"), ingest.ReasonID, "id is missing"},

		{"key: no userId or anonymousId", rec("t", `{"type":"track","event":"x","messageId":"m"}`), ingest.ReasonKey, "neither userId nor anonymousId"},
		{"key: null and empty", rec("t", `{"type":"track","event":"x","messageId":"m","userId":null,"anonymousId":""}`), ingest.ReasonKey, "neither userId nor anonymousId"},
		{"key: numeric userId", rec("t", `{"type":"track","event":"x","messageId":"m","userId":42}`), ingest.ReasonKey, "userId is not a string"},
		{"key: cloudevent without subject", rec("t", `{"specversion":"1.0","id":"i","source":"s","type":"t"}`), ingest.ReasonKey, "no subject, userid or anonymousid"},
		{"key: binary without subject", rec("t", `{}`, "ce_specversion", "1.0", "ce_id", "i", "ce_source", "s", "ce_type", "t"), ingest.ReasonKey, "no subject"},

		{"time: bad timestamp", rec("t", seg(`,"timestamp":"20/11/2025"`)), ingest.ReasonTime, "timestamp is not an RFC 3339 date-time"},
		{"time: bad sentAt though unused", rec("t", seg(`,"timestamp":"2025-11-20T09:00:00Z","sentAt":"2025-11-20 09:00"`)), ingest.ReasonTime, "sentAt is not an RFC 3339"},
		{"time: too far in the future", rec("t", seg(`,"timestamp":"2025-11-21T12:00:01Z"`)), ingest.ReasonTime, "more than 24h0m0s in the future"},
		{"time: future after correction", rec("t", seg(`,"originalTimestamp":"2025-11-20T10:00:00Z","sentAt":"2025-11-18T10:00:00Z","receivedAt":"2025-11-20T10:00:00Z"`)),
			ingest.ReasonTime, "from receivedAt - (sentAt - originalTimestamp)"},
		{"time: before the epoch", rec("t", seg(`,"timestamp":"0001-01-01T00:00:00Z"`)), ingest.ReasonTime, "before the Unix epoch"},
		{"time: cloudevent time", rec("t", ce(`,"time":"yesterday"`)), ingest.ReasonTime, "time is not an RFC 3339 date-time"},
		{"time: no time at all", ingest.Record{Topic: "t", Value: []byte(ce(""))}, ingest.ReasonTime, "no event time"},
	}
	d := newDecoder(t)
	count := map[ingest.Reason]int{}
	for _, tt := range tests {
		count[tt.reason]++
		t.Run(tt.name, func(t *testing.T) {
			ev, err := d.Decode(tt.rec)
			var ie *ingest.Error
			if !errors.As(err, &ie) {
				t.Fatalf("Decode = %+v, %v; want an *ingest.Error", ev, err)
			}
			if ie.Reason != tt.reason || !strings.Contains(ie.Msg, tt.msg) {
				t.Errorf("got %s: %s\nwant %s: ...%s...", ie.Reason, ie.Msg, tt.reason, tt.msg)
			}
			if !reflect.DeepEqual(ev, journey.Event{}) {
				t.Errorf("Decode returned an event with its error: %+v", ev)
			}
			if want := "ingest: " + string(ie.Reason) + ": " + ie.Msg; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
	for _, r := range ingest.Reasons() {
		if count[r] < 2 {
			t.Errorf("%s: %d cases, want at least 2", r, count[r])
		}
	}
}

// TestMsgHoldsNoValues feeds personal data into the fields that fail and
// checks that no error message repeats it.
func TestMsgHoldsNoValues(t *testing.T) {
	const (
		email = "ada.lovelace@example.com"
		phone = "+33 6 12 34 56 78"
		name  = "Ada Lovelace"
	)
	tests := []struct {
		name string
		rec  ingest.Record
	}{
		{"email as a channel", rec("t", seg(`,"context":{"channel":{"`+email+`":1}}`))},
		{"name as a timezone", rec("t", seg(`,"context":{"timezone":"`+strings.Repeat(name, 10)+`"}`))},
		{"phone as traits", rec("t", seg(`,"traits":"`+phone+`"`))},
		{"email as a specversion", rec("t", `{"specversion":"`+email+`","id":"i","source":"s","type":"t","subject":"u"}`)},
		{"email as a consent key", rec("t", seg(`,"context":{"consent":{"`+email+`":"`+name+`"}}`))},
		{"email as consent extension", rec("t", ce(`,"consent":"`+email+`"`))},
		{"email as a timestamp", rec("t", seg(`,"timestamp":"`+email+`"`))},
		{"name as a Segment type", rec("t", `{"type":"`+name+`","messageId":"m","userId":"u"}`)},
		{"phone in bad JSON", rec("t", `{"type":"track","userId":"`+phone+`",}`)},
		{"email as a header name", rec("t", `{}`, "ce_specversion", "1.0", "ce_"+email, "\xff")},
		{"email as an event name", rec("t", `{"type":"track","event":"`+email+`","messageId":"m","userId":"u","properties":7}`)},
	}
	d := newDecoder(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Decode(tt.rec)
			if err == nil {
				t.Fatal("Decode succeeded")
			}
			for _, pii := range []string{email, "lovelace", phone, "12 34", name} {
				if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(pii)) {
					t.Errorf("%q repeats %q", err, pii)
				}
			}
		})
	}
}

// TestPropertiesAreFloat64 checks that every number in Properties and
// Traits, however deep, is a float64, as journey.Event.Num expects.
func TestPropertiesAreFloat64(t *testing.T) {
	d := newDecoder(t)
	for _, r := range []ingest.Record{
		rec("t", seg(`,"properties":{"i":3,"f":2.5,"neg":-1,"big":12345678901234,"nested":{"a":[1,{"b":2}]}},"traits":{"age":42}`)),
		rec("t", `{"i":3,"nested":[1,2]}`, "ce_specversion", "1.0", "ce_id", "i", "ce_source", "s", "ce_type", "t", "ce_subject", "u"),
	} {
		ev, err := d.Decode(r)
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := ev.Num("i"); !ok || n != 3 {
			t.Errorf("Num(i) = %v, %v", n, ok)
		}
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, e := range v {
					walk(path+"/"+k, e)
				}
			case []any:
				for i, e := range v {
					walk(fmt.Sprint(path, "/", i), e)
				}
			case string, float64, bool, nil:
			default:
				t.Errorf("%s is a %T", path, v)
			}
		}
		walk("properties", ev.Properties)
		walk("traits", ev.Traits)
	}
}

// TestEventOwnsItsMemory checks that the event shares no memory with the
// record: a consumer may reuse its buffers.
func TestEventOwnsItsMemory(t *testing.T) {
	d := newDecoder(t)
	for _, r := range []ingest.Record{
		rec("t", seg(`,"properties":{"p":"value"}`)),
		rec("t", `{"p":"value"}`, "ce_specversion", "1.0", "ce_id", "id", "ce_source", "s", "ce_type", "type", "ce_subject", "u"),
	} {
		ev, err := d.Decode(r)
		if err != nil {
			t.Fatal(err)
		}
		before := fmt.Sprintf("%+v", ev)
		for i := range r.Value {
			r.Value[i] = 'X'
		}
		for _, h := range r.Headers {
			for i := range h.Value {
				h.Value[i] = 'X'
			}
		}
		if after := fmt.Sprintf("%+v", ev); after != before {
			t.Errorf("event changed with its record:\n%s\n%s", before, after)
		}
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*ingest.Config)
		field string // named in the error; "" for a valid config
	}{
		{"zero value", func(c *ingest.Config) { *c = ingest.Config{} }, ""},
		{"test config", func(*ingest.Config) {}, ""},
		{"negative MaxBytes", func(c *ingest.Config) { c.MaxBytes = -1 }, "MaxBytes"},
		{"negative MaxFuture", func(c *ingest.Config) { c.MaxFuture = -time.Second }, "MaxFuture"},
		{"empty topic", func(c *ingest.Config) { c.TopicChannels[""] = "web" }, "TopicChannels"},
		{"empty channel", func(c *ingest.Config) { c.TopicChannels["x"] = "" }, "TopicChannels"},
		{"empty type", func(c *ingest.Config) { c.CloudEventTypes[""] = "Order Completed" }, "CloudEventTypes"},
		{"empty name", func(c *ingest.Config) { c.CloudEventTypes["x"] = "" }, "CloudEventTypes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			tt.edit(&c)
			err := c.Validate()
			_, nerr := ingest.NewDecoder(c)
			if tt.field == "" {
				if err != nil || nerr != nil {
					t.Fatalf("Validate = %v, NewDecoder = %v", err, nerr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "Config."+tt.field) {
				t.Errorf("Validate = %v, want an error naming %s", err, tt.field)
			}
			if nerr == nil {
				t.Error("NewDecoder accepted an invalid config")
			}
		})
	}
}

// TestConfigLimits checks MaxBytes and MaxFuture are honoured, and that the
// decoder keeps its own copy of the maps.
func TestConfigLimits(t *testing.T) {
	small := seg(`,"timestamp":"2025-11-20T12:01:00Z"`)
	c := testConfig()
	c.MaxBytes = len(small)
	c.MaxFuture = time.Minute
	d, err := ingest.NewDecoder(c)
	if err != nil {
		t.Fatal(err)
	}
	c.TopicChannels["web.events"] = "changed"
	if _, err := d.Decode(rec("web.events", small)); err != nil {
		t.Errorf("at the limits: %v", err)
	}
	if _, err := d.Decode(rec("t", small+" ")); !isReason(err, ingest.ReasonSize) {
		t.Errorf("over MaxBytes: %v", err)
	}
	if _, err := d.Decode(rec("t", seg(`,"timestamp":"2025-11-20T12:01:01Z"`))); !isReason(err, ingest.ReasonTime) {
		t.Errorf("past MaxFuture: %v", err)
	}
	if ev, err := d.Decode(rec("web.events", seg(""))); err != nil || ev.Channel != "web" {
		t.Errorf("channel %q, %v: the decoder shares the caller's map", ev.Channel, err)
	}
}

func isReason(err error, r ingest.Reason) bool {
	var ie *ingest.Error
	return errors.As(err, &ie) && ie.Reason == r
}

// TestSchemaExamples decodes the example messages of schemas/examples,
// the ones the README shows.
func TestSchemaExamples(t *testing.T) {
	d := newDecoder(t)
	files, err := filepath.Glob("../../schemas/examples/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "trigger_") {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := d.Decode(ingest.Record{Topic: "web.events", Value: b, Time: recordTime})
			if err != nil {
				t.Fatal(err)
			}
			if ev.ID == "" || ev.CustomerID == "" || ev.Channel == "" {
				t.Errorf("incomplete event %+v", ev)
			}
		})
	}
}

// TestConcurrentDecode runs one decoder from several goroutines; run it
// with -race.
func TestConcurrentDecode(t *testing.T) {
	d := newDecoder(t)
	recs := benchRecords(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				for _, r := range recs {
					if _, err := d.Decode(r); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// benchRecords are the named cases of testdata/decode/bench.txt, the
// inputs bench/decoders times too.
func benchRecords(tb testing.TB) map[string]ingest.Record {
	tb.Helper()
	recs := map[string]ingest.Record{}
	for _, c := range readGolden(tb, "testdata/decode/bench.txt") {
		for line := range strings.Lines(c.input) {
			if name, ok := strings.CutPrefix(strings.TrimSpace(line), "# bench "); ok {
				recs[name] = c.rec
				break
			}
		}
	}
	if len(recs) == 0 {
		tb.Fatal("no bench cases")
	}
	return recs
}

func BenchmarkDecode(b *testing.B) {
	d := newDecoder(b)
	recs := benchRecords(b)
	for _, name := range slices.Sorted(maps.Keys(recs)) {
		r := recs[name]
		b.Run(name, func(b *testing.B) {
			if _, err := d.Decode(r); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(r.Value)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.Decode(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
