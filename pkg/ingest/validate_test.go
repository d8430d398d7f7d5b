package ingest

import (
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/journey-dev/journey/schemas"
)

// keywordSchema uses every keyword fastSchema handles, so that
// FuzzValidate compares the two validators on all of them.
const keywordSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["k"],
  "minProperties": 1,
  "maxProperties": 6,
  "properties": {
    "k": { "enum": ["a", "b", true, null] },
    "c": { "const": "x" },
    "n": { "type": ["number", "null"], "minimum": -1.5, "maximum": 100, "exclusiveMaximum": 99 },
    "i": { "type": "integer", "exclusiveMinimum": 0 },
    "s": { "type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[a-z]+$" },
    "a": { "type": "array", "minItems": 1, "maxItems": 3, "items": { "$ref": "#/$defs/leaf" } },
    "o": { "oneOf": [ { "type": "string" }, { "type": "number", "minimum": 0 }, { "type": "number", "maximum": 10 } ] },
    "f": false,
    "t": true
  },
  "additionalProperties": { "type": ["boolean", "object"], "additionalProperties": false, "properties": { "z": {} } },
  "not": { "required": ["c", "s"] },
  "anyOf": [ { "required": ["n"] }, { "required": ["i"] }, { "properties": { "k": { "const": "b" } } } ],
  "if": { "properties": { "k": { "const": "a" } } },
  "then": { "required": ["a"] },
  "else": { "properties": { "a": { "maxItems": 1 } } },
  "$defs": { "leaf": { "type": ["string", "integer"], "minLength": 1, "minimum": 0 } }
}`

type testValidator struct {
	name string
	v    *validator
}

var (
	validatorsOnce sync.Once
	validators     []testValidator
	validatorsErr  error
)

// allValidators returns a validator for every embedded schema and for
// keywordSchema.
func allValidators(tb testing.TB) []testValidator {
	tb.Helper()
	validatorsOnce.Do(func() {
		c, err := schemas.NewCompiler()
		if err != nil {
			validatorsErr = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(keywordSchema))
		if err != nil {
			validatorsErr = err
			return
		}
		if err := c.AddResource("test:keywords.json", doc); err != nil {
			validatorsErr = err
			return
		}
		red := reducer{keys: map[string]string{}}
		urls := []string{"test:keywords.json", schemas.URL(schemas.Segment), schemas.URL(schemas.CloudEvents), schemas.URL(schemas.Trigger)}
		for _, e := range schemas.Events() {
			urls = append(urls, schemas.URL(e.Path))
		}
		for _, u := range urls {
			s, err := c.Compile(u)
			if err != nil {
				validatorsErr = err
				return
			}
			f, ok := red.reduce(s)
			if !ok {
				validatorsErr = &Error{Msg: u + " does not reduce to a fastSchema"}
				return
			}
			validators = append(validators, testValidator{u, &validator{ref: s, fast: f}})
		}
	})
	if validatorsErr != nil {
		tb.Fatal(validatorsErr)
	}
	return validators
}

// TestSchemasReduce checks that every embedded schema gets the fast
// validator: a keyword fastSchema does not handle would silently slow
// decoding down.
func TestSchemasReduce(t *testing.T) {
	if n := len(allValidators(t)); n != len(schemas.Events())+4 {
		t.Fatalf("%d validators", n)
	}
}

func compileTest(t *testing.T, schema string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("test:s.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("test:s.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReduceRecursive checks a schema that refers to itself for nested
// values reduces, and validates as the reference does.
func TestReduceRecursive(t *testing.T) {
	s := compileTest(t, `{"type":"object","required":["id"],"properties":{"id":{"type":"string"},
		"children":{"type":"array","items":{"$ref":"#"}}}}`)
	red := reducer{keys: map[string]string{}}
	f, ok := red.reduce(s)
	if !ok {
		t.Fatal("a recursive schema did not reduce")
	}
	for _, doc := range []string{`{"id":"a","children":[{"id":"b","children":[{"id":"c"}]}]}`, `{"id":"a","children":[{"children":[]}]}`} {
		v, perr := parseJSON([]byte(doc), "value", nil)
		if perr != nil {
			t.Fatal(perr)
		}
		unsure := false
		if fast, ref := f.valid(v, &unsure), s.Validate(v); fast != (ref == nil) || unsure {
			t.Errorf("%s: fast %v, reference %v", doc, fast, ref)
		}
	}
}

func TestReduceRefusesWhatItCannotCheck(t *testing.T) {
	for _, schema := range []string{
		`{"type":"array","uniqueItems":true}`,
		`{"type":"number","multipleOf":3}`,
		`{"minimum":0.1}`,
		`{"enum":[1,2]}`,
		`{"patternProperties":{"^a":{}}}`,
		`{"$ref":"#"}`,
		`{"allOf":[{"$ref":"#"}]}`,
		`{"properties":{"a":{"$ref":"#/$defs/x"}},"$defs":{"x":{"anyOf":[{"$ref":"#/$defs/y"}]},"y":{"not":{"$ref":"#/$defs/x"}}}}`,
		`{"properties":{"a":{"$ref":"#"},"b":{"enum":[{"x":1}]}}}`,
	} {
		s := compileTest(t, schema)
		red := reducer{keys: map[string]string{}}
		if _, ok := red.reduce(s); ok {
			t.Errorf("%s reduced", schema)
		}
	}
}

var validateSeeds = []string{
	`{"k":"a","a":["x",1],"n":5}`, `{"k":"b"}`, `{"k":"a","n":99}`, `{"k":null,"i":1,"o":"s"}`, `{"k":true,"i":0}`,
	`{"k":"b","o":5}`, `{"k":"b","o":11}`, `{"k":"b","o":-1}`, `{"k":"b","s":"abc","c":"x"}`, `{"k":"b","s":"ABC"}`,
	`{"k":"b","x":{"z":1}}`, `{"k":"b","x":{"y":1}}`, `{"k":"b","x":1}`, `{"k":"b","f":1}`, `{"k":"c","a":[]}`,
	`{"k":"b","n":-1.5}`, `{"k":"b","n":-1.6}`, `{"k":"b","a":["",-1,1.5]}`, `{"k":"b","i":2.0}`, `{"k":"b","i":1e300}`,
	`{"type":"track","event":"Order Completed","messageId":"m","userId":"u","properties":{"order_id":"o","revenue":-0}}`,
	`{"type":"alias","messageId":"m","userId":"u","previousId":"p","context":{"consent":{"email":true,"categoryPreferences":{"a":false}}}}`,
	`{"specversion":"1.0","id":"i","source":"s","type":"t","consent":"a=true,b=false","data":{}}`,
	`{"specversion":"1.0","id":"i","source":"s","type":"t","data":{},"data_base64":""}`,
	`{"product_id":"p","price":0,"quantity":3,"products":[{"price":1,"quantity":0}],"rating":5,"score":0,"scale":10,"contact_id":"c","outcome":"failed","order_id":"o"}`,
	`{"id":"i","rule":"r","customer_id":"c","channel":"e","at":"2025-01-01T00:00:00Z","reason":"x","causes":["a"],"payload":{}}`,
	`[1,"a",null]`, `"x"`, `3.5`, `null`,
}

// FuzzValidate checks that the fast validator and the reference one agree
// on every schema: the decoder's verdicts are the reference's.
func FuzzValidate(f *testing.F) {
	for i, s := range validateSeeds {
		f.Add([]byte(s), uint8(i))
	}
	vs := allValidators(f)
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		v, perr := parseJSON(data, "value", nil)
		if perr != nil {
			return
		}
		// Each input is checked against every schema: the fuzzer's which
		// only picks which one to report first.
		for i := range vs {
			tv := vs[(int(which)+i)%len(vs)]
			unsure := false
			fast := tv.v.fast.valid(v, &unsure)
			ref := tv.v.ref.Validate(v)
			if unsure {
				t.Fatalf("%s: unsure of a parsed value %q", tv.name, data)
			}
			if fast != (ref == nil) {
				t.Fatalf("%s: %q: fast says %v, reference says %v", tv.name, data, fast, ref)
			}
		}
	})
}

func TestValidateUnsure(t *testing.T) {
	vs := allValidators(t)
	unsure := false
	if vs[0].v.fast.valid(map[string]any{"k": "b", "i": 3}, &unsure); !unsure {
		t.Error("an int went unnoticed")
	}
	// The reference still decides: 3 is an integer > 0.
	if err := vs[0].v.validate(map[string]any{"k": "b", "i": 3}); err != nil {
		t.Error(err)
	}
}

func BenchmarkValidate(b *testing.B) {
	vs := allValidators(b)
	doc, perr := parseJSON([]byte(validateSeeds[24]), "value", nil)
	if perr != nil {
		b.Fatal(perr)
	}
	v := vs[len(vs)-1] // an event schema
	for _, tt := range []struct {
		name string
		run  func(any) error
	}{{"fast", v.v.validate}, {"reference", v.v.ref.Validate}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := tt.run(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
