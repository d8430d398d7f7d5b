package ingest_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/generate"
	"github.com/journey-dev/journey/pkg/ingest"
)

// checkFast decodes r's value on the fast path and, when that accepts it,
// on the general path, and fails t unless both give the same event. It
// reports whether the fast path accepted the value.
func checkFast(t *testing.T, d *ingest.Decoder, r ingest.Record) bool {
	t.Helper()
	r.Headers = nil
	ev, ok := d.FastSegment(r)
	if !ok {
		return false
	}
	want, err := d.DecodeGeneral(r)
	if err != nil {
		t.Fatalf("the fast path accepts what the general path rejects (%v):\n%s", err, r.Value)
	}
	if !reflect.DeepEqual(ev, want) {
		t.Fatalf("the paths disagree on\n%s\nfast:    %+v\ngeneral: %+v", r.Value, ev, want)
	}
	return true
}

// TestFastSegment runs every golden record, and every way of breaking an
// envelope member of the valid ones, through both paths; and checks that
// the fast path is taken for the valid Segment messages, so the check is
// not vacuous.
func TestFastSegment(t *testing.T) {
	d := newDecoder(t)
	files, err := filepath.Glob("testdata/decode/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	var valid [][]byte
	for _, file := range files {
		for _, c := range readGolden(t, file) {
			fast := checkFast(t, d, c.rec)
			var m map[string]any
			isSegment := json.Unmarshal(c.rec.Value, &m) == nil && m["specversion"] == nil && len(c.rec.Headers) == 0
			if _, err := d.Decode(c.rec); err == nil && isSegment {
				if !fast {
					t.Errorf("%s:%d: a valid Segment message took the general path", file, c.line)
				}
				valid = append(valid, c.rec.Value)
			}
		}
	}
	if len(valid) < 5 {
		t.Fatalf("only %d valid Segment messages in the golden files", len(valid))
	}

	// Every envelope member absent, null, of each JSON type, and empty.
	members := []string{"type", "messageId", "userId", "anonymousId", "previousId", "groupId", "event", "name",
		"timestamp", "originalTimestamp", "sentAt", "receivedAt", "properties", "traits", "integrations", "context",
		"specversion"}
	replacements := []any{nil, "", "x", "track", "alias", "page", "2025-11-20T10:00:00Z", "2025-11-20", 1.5, true,
		[]any{}, map[string]any{}, map[string]any{"channel": 1}, map[string]any{"timezone": "Europe/Paris", "consent": map[string]any{"email": "yes"}},
		map[string]any{"category": "Shoes", "product_id": 7}}
	g, err := generate.New(generate.Config{Customers: 50, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for range 40 {
		valid = append(valid, g.Next(now).Value)
	}
	// And 20,000 generated records as they are: every one without headers
	// is a Segment message the fast path must take, with the general
	// path's event.
	for i := range 20_000 {
		m := g.Next(now.Add(time.Duration(i-20_000) * 50 * time.Millisecond))
		if len(m.Headers) > 0 {
			continue
		}
		if !checkFast(t, d, ingest.Record{Topic: "web.events", Partition: 1, Offset: int64(i), Value: m.Value, Time: recordTime}) {
			t.Fatalf("a generated Segment message took the general path:\n%s", m.Value)
		}
	}
	fastAccepted := 0
	for _, v := range valid {
		var base map[string]any
		if json.Unmarshal(v, &base) != nil {
			continue
		}
		for _, k := range members {
			variants := []map[string]any{}
			without := cloneMap(base)
			delete(without, k)
			variants = append(variants, without)
			for _, r := range replacements {
				m := cloneMap(base)
				m[k] = r
				variants = append(variants, m)
			}
			for _, m := range variants {
				b, err := json.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				if checkFast(t, d, ingest.Record{Topic: "web.events", Partition: 1, Offset: 2, Value: b, Time: recordTime}) {
					fastAccepted++
				}
			}
		}
	}
	if fastAccepted == 0 {
		t.Fatal("the fast path accepted none of the variants")
	}
	// The context's rules, one member at a time, on a valid base.
	long := strings.Repeat("x", 64)
	ctxFast := 0
	for _, ctx := range []string{
		`{}`, `null`, `[]`, `"web"`, `{"channel":null}`, `{"channel":7}`, `{"channel":""}`, `{"channel":"app","x":{"y":[1,2]}}`,
		`{"timezone":"` + long + `"}`, `{"timezone":"` + long + `x"}`, `{"timezone":"` + strings.Repeat("é", 64) + `"}`,
		`{"timezone":"` + strings.Repeat("é", 65) + `"}`, `{"timezone":"Europe\/Paris"}`, `{"timezone":null}`,
		`{"consent":{}}`, `{"consent":null}`, `{"consent":[]}`, `{"consent":{"email":true,"sms":false}}`,
		`{"consent":{"email":"yes"}}`, `{"consent":{"email":null}}`, `{"consent":{"email":true,"email":false}}`,
		`{"consent":{"categoryPreferences":{"email":true,"push":false},"email":false}}`,
		`{"consent":{"email":false,"categoryPreferences":{"email":true}}}`,
		`{"consent":{"categoryPreferences":{"a":true},"categoryPreferences":{"b":true}}}`,
		`{"consent":{"categoryPreferences":{}}}`, `{"consent":{"categoryPreferences":null}}`,
		`{"consent":{"categoryPreferences":{"a":1}}}`, `{"consent":{"categoryPreferences":true}}`,
		`{"traits":{"plan":"gold"}}`, `{"traits":null}`, `{"traits":[]}`, `{"traits":{"a":{"b":{}}}}`,
		`{"channel":"web","timezone":"Asia/Tokyo","consent":{"email":true},"traits":{"x":1},"library":{"name":"n"}}`,
	} {
		for _, top := range []string{``, `"traits":{"t":1},`} {
			s := `{"type":"track","event":"E","messageId":"m","userId":"u",` + top + `"context":` + ctx + `}`
			if checkFast(t, d, ingest.Record{Topic: "web.events", Value: []byte(s), Time: recordTime}) {
				ctxFast++
			}
		}
		s := `{"type":"track","event":"E","messageId":"m","userId":"u","context":{"channel":"a","timezone":"Z"},"context":` + ctx + `}`
		checkFast(t, d, ingest.Record{Topic: "web.events", Value: []byte(s), Time: recordTime})
	}
	if ctxFast < 30 {
		t.Errorf("the fast path took %d of the context variants, want the valid ones (30 or more)", ctxFast)
	}
	// Nesting at encoding/json's limit (10000, the root and context
	// counting as two levels), inside the context and the properties.
	for _, depth := range []int{9999, 10000, 10001} {
		nest := strings.Repeat("[", depth-3) + strings.Repeat("]", depth-3)
		for _, s := range []string{
			`{"type":"track","event":"E","messageId":"m","userId":"u","context":{"traits":{"x":` + nest + `}}}`,
			`{"type":"track","event":"E","messageId":"m","userId":"u","context":{"consent":{"categoryPreferences":{}},"page":{"x":` + nest + `}}}`,
			`{"type":"track","event":"E","messageId":"m","userId":"u","properties":{"x":` + nest + `}}`,
		} {
			checkFast(t, d, ingest.Record{Topic: "web.events", Value: []byte(s), Time: recordTime})
		}
	}
	// A duplicate member: the last wins on both paths.
	for _, s := range []string{
		`{"type":"page","type":"track","event":"Product Viewed","messageId":"m","userId":"u","properties":{"category":"c"}}`,
		`{"type":"track","event":"E","messageId":"m","userId":"u","context":{"channel":"web"},"context":{"channel":"app"}}`,
		`{"type":"track","event":"E","messageId":"m","userId":"u","userId":null,"anonymousId":"a"}`,
		`{"type":"track","event":"E","messageId":"m","userId":"u","context":{"channel":"web"},"context":7}`,
	} {
		checkFast(t, d, ingest.Record{Topic: "web.events", Value: []byte(s), Time: recordTime})
	}
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestFastSegmentMemories decodes events whose consent, channel and time
// zone repeat, as a producer's do, with collections in between: the maps
// and strings the parser hands out again for the same bytes must stay what
// the general path makes of them, and different bytes must never get an
// earlier event's map; the property strings must survive the collections
// once the events that held them are gone.
func TestFastSegmentMemories(t *testing.T) {
	d := newDecoder(t)
	consents := []string{
		`{"categoryPreferences":{"email":true,"push":false,"sms":false}}`,
		`{"categoryPreferences":{"email":false,"push":false,"sms":false}}`,
		`{"email":true,"categoryPreferences":{"email":false,"push":true}}`,
		`{"email":true}`, `{}`,
	}
	channels := []string{"web", "app", "email", `we\u0062`}
	var kept []string
	for i := range 3000 {
		ctx := `{"channel":"` + channels[i%len(channels)] + `","consent":` + consents[i%len(consents)] +
			`,"timezone":"Europe/Paris"}`
		v := `{"type":"track","event":"Product Viewed","messageId":"m` + strconv.Itoa(i) + `","userId":"u` +
			strconv.Itoa(i%7) + `","anonymousId":"a","properties":{"product_id":"sku-` + strconv.Itoa(i) +
			`","category":"Footwear/Boots","price":` + strconv.Itoa(i) + `},"context":` + ctx + `}`
		r := ingest.Record{Topic: "web.events", Value: []byte(v), Time: recordTime}
		if !checkFast(t, d, r) {
			t.Fatalf("the fast path refused %s", v)
		}
		ev, _ := d.FastSegment(r)
		if i%100 == 0 {
			kept = append(kept, ev.Str("product_id"))
			runtime.GC()
		}
	}
	runtime.GC()
	for j, s := range kept {
		if want := "sku-" + strconv.Itoa(j*100); s != want {
			t.Fatalf("kept property %d reads %q after collections, want %q", j, s, want)
		}
	}
}
