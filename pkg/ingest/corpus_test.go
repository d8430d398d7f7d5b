package ingest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/schemas"
)

// TestSegmentCorpus decodes testdata/corpus/segment.jsonl (written by
// gen.py there): every Segment e-commerce v2 event as analytics.js, the
// iOS and Android libraries and five server libraries send it, with all,
// none and all but one of its properties, and oddly typed ones (numeric
// strings, numeric ids, nulls, a products object). Every message is valid
// under Segment's spec, so none may be rejected. Besides:
//
//   - the fast path takes each one and gives the general path's event;
//   - the decoded properties meet the event's schema (conform.go);
//   - properties that met it already come out unchanged: nothing a valid
//     producer sent is lost;
//   - the corpus holds every event of the e-commerce spec.
func TestSegmentCorpus(t *testing.T) {
	d := newDecoder(t)
	eventSchemas := compileEventSchemas(t)
	f, err := os.Open("testdata/corpus/segment.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	seen := map[string]int{}
	line, coerced := 0, 0
	for sc.Scan() {
		line++
		value := bytes.Clone(sc.Bytes())
		r := ingest.Record{Topic: "web.events", Value: value, Time: recordTime}
		ev, err := d.Decode(r)
		if err != nil {
			t.Errorf("line %d: dead-lettered: %v\n%s", line, err, value)
			continue
		}
		if !checkFast(t, d, r) {
			t.Errorf("line %d: the fast path gave up on a valid Segment message", line)
		}
		seen[ev.Name]++
		s := eventSchemas[ev.Name]
		if s == nil || ev.Kind != "track" {
			continue
		}
		var props any = map[string]any{}
		if ev.Properties != nil {
			props = toJSONValue(t, ev.Properties)
		}
		if err := s.Validate(props); err != nil {
			t.Errorf("line %d: decoded properties fail the %s schema: %v", line, ev.Name, err)
		}
		var raw struct {
			Properties map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(value, &raw); err != nil {
			t.Fatal(err)
		}
		if raw.Properties == nil {
			continue
		}
		if s.Validate(toJSONValue(t, raw.Properties)) != nil {
			coerced++
			continue
		}
		if !reflect.DeepEqual(ev.Properties, raw.Properties) {
			t.Errorf("line %d: valid properties changed:\nsent %v\ngot  %v", line, raw.Properties, ev.Properties)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if line < 500 {
		t.Fatalf("only %d messages in the corpus", line)
	}
	if coerced < 10 {
		t.Errorf("only %d messages with oddly typed properties: the coercion is barely exercised", coerced)
	}
	for _, name := range ecommerceSpec {
		if _, ok := schemas.EventPath(name); !ok {
			t.Errorf("%s has no schema", name)
		}
		if seen[name] < 16 {
			t.Errorf("%s: %d messages in the corpus, want one with and one without properties per SDK shape", name, seen[name])
		}
	}
}

// ecommerceSpec is every event of Segment's e-commerce spec v2.
var ecommerceSpec = []string{
	"Products Searched", "Product List Viewed", "Product List Filtered", "Promotion Viewed", "Promotion Clicked",
	"Product Clicked", "Product Viewed", "Product Added", "Product Removed", "Cart Viewed", "Checkout Started",
	"Checkout Step Viewed", "Checkout Step Completed", "Payment Info Entered", "Order Updated", "Order Completed",
	"Order Refunded", "Order Cancelled", "Coupon Entered", "Coupon Applied", "Coupon Denied", "Coupon Removed",
	"Product Added to Wishlist", "Product Removed from Wishlist", "Wishlist Product Added to Cart",
	"Product Shared", "Cart Shared", "Product Reviewed",
}

// compileEventSchemas compiles every event schema, by event name, with the
// generic validator the decoder's reference is.
func compileEventSchemas(tb testing.TB) map[string]*jsonschema.Schema {
	tb.Helper()
	comp, err := schemas.NewCompiler()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]*jsonschema.Schema{}
	for _, e := range schemas.Events() {
		if out[e.Name], err = comp.Compile(schemas.URL(e.Path)); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// toJSONValue round-trips v through JSON into what jsonschema validates.
func toJSONValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}
