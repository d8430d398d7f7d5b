package ingest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// parseSeeds are JSON texts, valid or not, that differ in ways the parser
// must get right as encoding/json does.
var parseSeeds = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1`, `-1`, `12.5`, `1e3`, `1E+3`, `1e-3`, `-0.0e0`, `123456789012345`,
	`1234567890123456789`, `0.1`, `1e308`, `1e309`, `-1e999`, `1e-400`, `true`, `false`, `null`,
	` {"a" : [1, 2, {"b": null}], "c": "d"} `, `{"a":1,"a":2}`, `[[[[]]]]`,
	`"\u00e9\ud83d\ude00"`, `"\ud800"`, `"\udc00\ud800x"`, `"\ud800\u0041"`, `"\ud800\uZZZZ"`, `"\"\\\/\b\f\n\r\t"`,
	"\"\xff\xfe\"", "\"a\xc3\"", "\"\xed\xa0\x80\"", "{\"\xff\":1}", `{"product_id":"p","price":9.99}`,
	// Invalid.
	``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a"}`, `{"a" 1}`, `{1:2}`, `[1 2]`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`,
	`+1`, `0x10`, `NaN`, `Infinity`, `tru`, `nul`, `"abc`, `"\x"`, `"\'"`, `"\u12"`, "\"a\nb\"", "\"\t\"",
	`{"a":1}x`, `1 2`, `[1]]`, "\xef\xbb\xbf{}", `{"a":"\u0000"}`,
}

// FuzzParseJSON checks parseJSON against encoding/json: the same inputs
// fail, the others give deeply equal values.
func FuzzParseJSON(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)))
	f.Add([]byte(strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)))
	keys := map[string]string{"a": "a", "product_id": "product_id"}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want any
		werr := json.Unmarshal(data, &want)
		got, gerr := parseJSON(data, "value", keys)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: encoding/json says %v, parseJSON says %v", data, werr, gerr)
		}
		if gerr != nil {
			if gerr.Reason != ReasonFormat {
				t.Fatalf("%q: reason %s", data, gerr.Reason)
			}
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nparseJSON    %#v\nencoding/json %#v", data, got, want)
		}
	})
}

// checkParseEvent: parseEvent fails exactly where parseJSON fails, with the
// same message (the same offset), and otherwise gives its values less the
// context members the decoder does not read.
func checkParseEvent(t *testing.T, data []byte, keys map[string]string) {
	t.Helper()
	want, werr := parseJSON(data, "value", keys)
	got, gerr := parseEvent(data, "value", keys)
	if !reflect.DeepEqual(werr, gerr) {
		t.Fatalf("%q: parseJSON says %v, parseEvent says %v", data, werr, gerr)
	}
	if m, ok := want.(map[string]any); ok {
		if c, ok := m["context"].(map[string]any); ok {
			for k := range c {
				if !contextKeep[k] {
					delete(c, k)
				}
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nparseEvent %#v\nwant       %#v", data, got, want)
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, s := range append(slices.Clone(parseSeeds), contextSeeds...) {
		f.Add([]byte(s))
	}
	keys := map[string]string{"context": "context", "channel": "channel"}
	f.Fuzz(func(t *testing.T, data []byte) { checkParseEvent(t, data, keys) })
}

// contextSeeds exercise the pruned context: skipped members fail where
// built ones would.
var contextSeeds = []string{
	`{"context":{"channel":"web","timezone":"Europe/Paris","page":{"path":"/p","n":[1,2.5,-3e2,true,false,null]},"userAgent":"a\"b\u00e9"}}`,
	`{"context":{"consent":{"email":true},"traits":{"x":1},"library":{"name":"x"}},"context":{"ip":"1.2.3.4"}}`,
	`{"context":"not an object"}`, `{"context":[1,{"a":2}]}`, `{"properties":{"context":{"page":1}}}`,
	`{"context":{"x":1e999}}`, `{"context":{"x":"\uZZZZ"}}`, `{"context":{"x":"\q"}}`, "{\"context\":{\"x\":\"a\nb\"}}",
	`{"context":{"x":[1,]}}`, `{"context":{"x":{"a" 1}}}`, `{"context":{"x":{1:2}}}`, `{"context":{"x":tru}}`,
	`{"context":{"x":"\ud800"}}`, "{\"context\":{\"x\":\"\xff\"}}", `{"context":{"x":{}}}`, `{"context":{"x":[]}}`,
	`{"context":{"x":01}}`, `{"context":{"x":{"a":1}`, `{"context":{"x":"abc`, `{"context":{}}`, `{"context":{"x":1},}`,
}

func TestParseEvent(t *testing.T) {
	keys := map[string]string{"context": "context"}
	for _, s := range append(slices.Clone(parseSeeds), contextSeeds...) {
		checkParseEvent(t, []byte(s), keys)
	}
	for _, depth := range []int{maxDepth - 1, maxDepth, maxDepth + 1} { // the root and context are two levels
		doc := `{"context":{"x":` + strings.Repeat("[", depth-2) + strings.Repeat("]", depth-2) + `}}`
		checkParseEvent(t, []byte(doc), keys)
	}
}

func TestParseJSONDepth(t *testing.T) {
	for _, tt := range []struct {
		depth int
		ok    bool
	}{{maxDepth, true}, {maxDepth + 1, false}} {
		doc := strings.Repeat(`{"a":`, tt.depth-1) + "[]" + strings.Repeat("}", tt.depth-1)
		if _, err := parseJSON([]byte(doc), "value", nil); (err == nil) != tt.ok {
			t.Errorf("depth %d: %v", tt.depth, err)
		}
	}
}

// TestParseJSONInterns checks that keys the schemas name are shared
// rather than allocated, and that no parse leaves references behind in
// the pooled parser.
func TestParseJSONInterns(t *testing.T) {
	keys := map[string]string{"product_id": strings.Clone("product_id")}
	doc := []byte(`{"product_id":"p","other":[1,{"x":2}]}`)
	v, err := parseJSON(doc, "value", keys)
	if err != nil {
		t.Fatal(err)
	}
	for k := range v.(map[string]any) {
		shared := reflect.ValueOf(k).Pointer() == reflect.ValueOf(keys["product_id"]).Pointer()
		if (k == "product_id") != shared {
			t.Errorf("key %q: shared %v", k, shared)
		}
	}
	p := parsers.Get().(*parser)
	defer parsers.Put(p)
	for _, e := range p.elems[:cap(p.elems)] {
		if e != nil {
			t.Fatal("pooled parser holds a value")
		}
	}
	for _, m := range p.members[:cap(p.members)] {
		if m != (member{}) {
			t.Fatal("pooled parser holds a member")
		}
	}
}

func BenchmarkParseJSON(b *testing.B) {
	doc := []byte(`{"type":"track","event":"Product Viewed","messageId":"ajs-next-1f0c3a9e6b7d4c2a","userId":"user-1042",
"properties":{"product_id":"sku-boots-231","category":"Footwear/Winter Boots","price":129.9,"quantity":1},
"context":{"channel":"web","timezone":"Europe/Paris","consent":{"email":true,"sms":false},"userAgent":"Mozilla/5.0 (X11; Linux x86_64)"}}`)
	keys := map[string]string{}
	for _, k := range commonKeys {
		keys[k] = k
	}
	// interned: the document of TestParseJSONInterns, whose key
	// product_id is interned and costs no allocation; allocs/op is the
	// figure to watch.
	b.Run("interned", func(b *testing.B) {
		doc := []byte(`{"product_id":"p","other":[1,{"x":2}]}`)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseJSON(doc, "value", keys); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parseJSON", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseJSON(doc, "value", keys); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := json.Unmarshal(doc, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestBoxedValues checks the parser's memory of boxed string values: many
// distinct values (far more than its slots, so slots are shared and
// replaced) each parse back to themselves, whether seen before or not, and
// a repeated short value is the same boxed string.
func TestBoxedValues(t *testing.T) {
	var p parser
	parse := func(s string) string {
		p.data, p.pos = []byte(`"`+s+`"`), 0
		v, err := p.strValue()
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return v.(string)
	}
	for round := range 2 {
		for i := range 4 * boxedSlots {
			want := fmt.Sprintf("value-%d", i)
			if i%7 == 0 {
				want = strings.Repeat("x", maxBoxedBytes+1) + want // too long to keep
			}
			if got := parse(want); got != want {
				t.Fatalf("round %d: parsed %q as %q", round, want, got)
			}
		}
	}
	a, b := parse("boots"), parse("boots")
	if reflect.ValueOf(a).Pointer() != reflect.ValueOf(b).Pointer() {
		t.Error("a repeated short value was boxed twice")
	}
}
