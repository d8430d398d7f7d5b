package outbox

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink"
	"github.com/journey-dev/journey/pkg/state"
)

func TestEncodingRoundTrip(t *testing.T) {
	rec := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	triggers := []journey.Trigger{
		{ID: "a1", Rule: "interest.category", CustomerID: "u1", Channel: "call_centre", At: time.Date(2026, 11, 22, 9, 30, 0, 123456789, time.UTC),
			Reason: "viewed_category", Causes: []string{"e1", "e2"}, Payload: map[string]any{"category": "boots", "views": 3.0}},
		{ID: "a2", Rule: "r", CustomerID: "ü-2", Channel: "email"}, // zero time, no causes, no payload
	}
	var es []state.OutboxEntry
	for i := range triggers {
		b, err := EncodeTrigger(&triggers[i], rec)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, state.OutboxEntry{Seq: uint64(len(es)), Kind: KindTrigger, Data: b})
	}
	contexts := []sink.Context{
		{CustomerID: "u1", Fields: map[string]string{"profile.last_channel": "web", "empty": ""}},
		{CustomerID: "u2", Delete: true},
		{CustomerID: "u3", Delete: true, Forget: true},
	}
	for _, c := range contexts {
		b, err := EncodeContext(c, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, state.OutboxEntry{Seq: uint64(len(es)), Kind: KindContext, Data: b})
	}
	d, err := decode(es)
	if err != nil {
		t.Fatal(err)
	}
	// The payload comes back as json.Marshal wrote it, for the sink to
	// write as it is.
	for i := range d.batch.Triggers {
		got := &d.batch.Triggers[i]
		want, _ := json.Marshal(triggers[i].Payload)
		if len(triggers[i].Payload) == 0 {
			want = nil
		}
		if string(got.PayloadJSON) != string(want) || got.Payload != nil {
			t.Errorf("trigger %d: payload %v, JSON %s; want JSON %s", i, got.Payload, got.PayloadJSON, want)
		}
		got.Payload, got.PayloadJSON = triggers[i].Payload, nil
	}
	if !reflect.DeepEqual(d.batch.Triggers, triggers) {
		t.Errorf("triggers:\n got %#v\nwant %#v", d.batch.Triggers, triggers)
	}
	if !reflect.DeepEqual(d.batch.Contexts, contexts) {
		t.Errorf("contexts:\n got %#v\nwant %#v", d.batch.Contexts, contexts)
	}
	if want := []int64{rec.UnixMilli(), rec.UnixMilli(), 0, 0, 0}; !reflect.DeepEqual(d.enqueued, want) {
		t.Errorf("enqueued %v, want %v", d.enqueued, want)
	}
}

// TestDecodeLegacyJSON: an outbox written by a build that encoded entries
// as JSON is still delivered.
func TestDecodeLegacyJSON(t *testing.T) {
	at := time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)
	tb, _ := json.Marshal(trigger{ID: "a1", Rule: "r", CustomerID: "u1", Channel: "web", At: at, Causes: []string{"e1"}, Enqueued: 7})
	cb, _ := json.Marshal(contextUpdate{CustomerID: "u1", Fields: map[string]string{"k": "v"}, Enqueued: 8})
	d, err := decode([]state.OutboxEntry{{Seq: 1, Kind: kindTriggerJSON, Data: tb}, {Seq: 2, Kind: kindContextJSON, Data: cb}})
	if err != nil {
		t.Fatal(err)
	}
	want := journey.Trigger{ID: "a1", Rule: "r", CustomerID: "u1", Channel: "web", At: at, Causes: []string{"e1"}}
	if len(d.batch.Triggers) != 1 || !reflect.DeepEqual(d.batch.Triggers[0], want) || d.batch.Contexts[0].Fields["k"] != "v" ||
		!reflect.DeepEqual(d.enqueued, []int64{7, 8}) {
		t.Fatalf("legacy decode: %#v %v", d.batch, d.enqueued)
	}
}

// FuzzDecodeEntry: any bytes decode to an entry or an error, never a panic
// or a huge allocation; what decodes re-encodes to the same entry.
func FuzzDecodeEntry(f *testing.F) {
	tr := journey.Trigger{ID: "a", Rule: "r", CustomerID: "c", Channel: "web", At: time.Unix(1, 2), Causes: []string{"x"}, Payload: map[string]any{"k": "v"}}
	b, _ := EncodeTrigger(&tr, time.Unix(3, 0))
	f.Add(KindTrigger, b)
	b, _ = EncodeContext(sink.Context{CustomerID: "c", Fields: map[string]string{"a": "b"}}, time.Unix(3, 0))
	f.Add(KindContext, b)
	f.Add(KindContext, []byte{0, 1, 'c', 2, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		d, err := decode([]state.OutboxEntry{{Kind: kind, Data: data}})
		if err != nil {
			return
		}
		switch {
		case len(d.batch.Triggers) == 1 && kind == KindTrigger:
			tr := d.batch.Triggers[0]
			b, err := EncodeTrigger(&tr, time.Time{})
			if err != nil {
				return // a payload JSON cannot hold (e.g. a huge number)
			}
			d2, err := decode([]state.OutboxEntry{{Kind: kind, Data: b}})
			if err != nil || !reflect.DeepEqual(d2.batch.Triggers[0], tr) {
				t.Fatalf("re-encoded trigger differs: %v\n%#v\n%#v", err, d2.batch.Triggers, tr)
			}
		case len(d.batch.Contexts) == 1 && kind == KindContext:
			c := d.batch.Contexts[0]
			b, _ := EncodeContext(c, time.Time{})
			d2, err := decode([]state.OutboxEntry{{Kind: kind, Data: b}})
			if err != nil || !reflect.DeepEqual(d2.batch.Contexts[0], c) {
				t.Fatalf("re-encoded context differs: %v", err)
			}
		}
	})
}

// EncodeContextParts must encode exactly what EncodeContext encodes for the
// merged fields.
func TestEncodeContextParts(t *testing.T) {
	parts := []map[string]string{{"a": "1", "b": "2"}, nil, {"c": "3"}, {"b": "last"}}
	d, err := decode([]state.OutboxEntry{{Kind: KindContext, Data: EncodeContextParts("u1", parts, time.UnixMilli(5))}})
	if err != nil {
		t.Fatal(err)
	}
	want := sink.Context{CustomerID: "u1", Fields: map[string]string{"a": "1", "b": "last", "c": "3"}}
	if !reflect.DeepEqual(d.batch.Contexts, []sink.Context{want}) || d.enqueued[0] != 5 {
		t.Fatalf("got %#v %v, want %#v", d.batch.Contexts, d.enqueued, want)
	}
}
