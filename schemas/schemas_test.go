package schemas_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/journey-dev/journey/schemas"
)

// readJSON decodes an embedded schema file the way a generic validator
// would read it.
func readJSON(t *testing.T, fsys fs.FS, p string) map[string]any {
	t.Helper()
	f, err := fsys.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	m, ok := doc.(map[string]any)
	if !ok {
		t.Fatalf("%s: not a JSON object", p)
	}
	return m
}

func schemaFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := fs.WalkDir(schemas.FS(), ".", func(p string, de fs.DirEntry, err error) error {
		if err == nil && !de.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no embedded schema")
	}
	return out
}

// TestCompileAll compiles every embedded schema with format assertions on,
// as a strict generic validator would, and checks each one's $id and
// $schema.
func TestCompileAll(t *testing.T) {
	c, err := schemas.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	c.AssertFormat()
	for _, p := range schemaFiles(t) {
		t.Run(p, func(t *testing.T) {
			doc := readJSON(t, schemas.FS(), p)
			if got, want := doc["$id"], schemas.URL(p); got != want {
				t.Errorf("$id = %v, want %s", got, want)
			}
			if got := doc["$schema"]; got != "https://json-schema.org/draft/2020-12/schema" {
				t.Errorf("$schema = %v, want draft 2020-12", got)
			}
			if _, err := c.Compile(schemas.URL(p)); err != nil {
				t.Fatalf("compile: %v", err)
			}
		})
	}
}

// TestEventTable checks the one table from event name to schema against
// the files under events/: every file listed once, every listed file
// present, and each schema titled with its event name.
func TestEventTable(t *testing.T) {
	files, err := fs.Glob(schemas.FS(), "events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	names := map[string]bool{}
	for _, e := range schemas.Events() {
		if names[e.Name] {
			t.Errorf("%q listed twice", e.Name)
		}
		names[e.Name] = true
		listed = append(listed, e.Path)
		doc := readJSON(t, schemas.FS(), e.Path)
		if doc["title"] != e.Name {
			t.Errorf("%s: title %v, want %q", e.Path, doc["title"], e.Name)
		}
		slug := strings.ToLower(strings.ReplaceAll(e.Name, " ", "_"))
		if want := "events/" + slug + ".json"; e.Path != want {
			t.Errorf("%q: path %s, want %s", e.Name, e.Path, want)
		}
		if p, ok := schemas.EventPath(e.Name); !ok || p != e.Path {
			t.Errorf("EventPath(%q) = %q, %v", e.Name, p, ok)
		}
	}
	slices.Sort(listed)
	slices.Sort(files)
	if !slices.Equal(listed, files) {
		t.Errorf("table lists %v\nfiles are %v", listed, files)
	}
	if _, ok := schemas.EventPath("Something Else"); ok {
		t.Error("EventPath found an unknown event")
	}
}

// TestExamples validates examples/*.json, the messages the README shows,
// with a generic validator: the envelope schema named by the file's prefix
// (segment_, cloudevents_, trigger_), then the event schema of the event
// the message names, against its properties or data.
func TestExamples(t *testing.T) {
	c, err := schemas.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	c.AssertFormat()
	compile := func(p string) *jsonschema.Schema {
		s, err := c.Compile(schemas.URL(p))
		if err != nil {
			t.Fatalf("compile %s: %v", p, err)
		}
		return s
	}
	examples, err := filepath.Glob("examples/*.json")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, file := range examples {
		t.Run(path.Base(file), func(t *testing.T) {
			doc := readJSON(t, os.DirFS("."), filepath.ToSlash(file))
			base := filepath.Base(file)
			var envelope, name, body string
			switch {
			case strings.HasPrefix(base, "segment_"):
				envelope, body = schemas.Segment, "properties"
				if doc["type"] == "track" {
					name, _ = doc["event"].(string)
				}
			case strings.HasPrefix(base, "cloudevents_"):
				envelope, body = schemas.CloudEvents, "data"
				name, _ = doc["type"].(string)
			case strings.HasPrefix(base, "trigger_"):
				envelope = schemas.Trigger
			default:
				t.Fatalf("%s: name it segment_*, cloudevents_* or trigger_*", file)
			}
			if err := compile(envelope).Validate(doc); err != nil {
				t.Fatalf("%s: %v", envelope, err)
			}
			if p, ok := schemas.EventPath(name); ok {
				props := doc[body]
				if props == nil {
					props = map[string]any{}
				}
				if err := compile(p).Validate(props); err != nil {
					t.Fatalf("%s: %v", p, err)
				}
			}
		})
	}
}

// TestSchemasReject is a sanity check that the schemas say no: one bad
// message per schema kind.
func TestSchemasReject(t *testing.T) {
	tests := []struct {
		name, schema, doc string
	}{
		{"segment unknown type", schemas.Segment, `{"type":"click","messageId":"m","userId":"u"}`},
		{"segment track without event", schemas.Segment, `{"type":"track","messageId":"m","userId":"u"}`},
		{"segment no customer", schemas.Segment, `{"type":"page","messageId":"m"}`},
		{"segment consent not bool", schemas.Segment, `{"type":"page","messageId":"m","userId":"u","context":{"consent":{"email":"yes"}}}`},
		{"segment bad timestamp", schemas.Segment, `{"type":"page","messageId":"m","userId":"u","timestamp":"yesterday"}`},
		{"cloudevent wrong version", schemas.CloudEvents, `{"specversion":"0.3","id":"i","source":"s","type":"t"}`},
		{"cloudevent no source", schemas.CloudEvents, `{"specversion":"1.0","id":"i","type":"t"}`},
		{"cloudevent data and data_base64", schemas.CloudEvents, `{"specversion":"1.0","id":"i","source":"s","type":"t","data":{},"data_base64":"e30="}`},
		{"cloudevent bad consent", schemas.CloudEvents, `{"specversion":"1.0","id":"i","source":"s","type":"t","consent":"email:yes"}`},
		{"negative price", "events/product_viewed.json", `{"product_id":"p","price":-1}`},
		{"fractional quantity", "events/product_added.json", `{"product_id":"p","quantity":1.5}`},
		{"product in order without numbers", "events/order_completed.json", `{"order_id":"o","products":[{"price":"12"}]}`},
		{"rating 6", "events/product_reviewed.json", `{"product_id":"p","rating":6}`},
		{"contact bad outcome", "events/contact_ended.json", `{"contact_id":"c","outcome":"hung up"}`},
		{"trigger causes not strings", schemas.Trigger, `{"id":"i","rule":"r","customer_id":"c","channel":"email","at":"2025-01-01T00:00:00Z","reason":"x","causes":[1]}`},
	}
	c, err := schemas.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	c.AssertFormat()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := c.Compile(schemas.URL(tt.schema))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(doc); err == nil {
				t.Errorf("%s accepted %s", tt.schema, tt.doc)
			}
		})
	}
}

// TestCompile checks the one-schema helper the trigger tests use, on a
// value decoded by encoding/json (float64 numbers).
func TestCompile(t *testing.T) {
	s, err := schemas.Compile(schemas.Trigger)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	raw := `{"id":"i","rule":"r","customer_id":"c","channel":"email","at":"2025-01-01T00:00:00Z","reason":"x","causes":["e1"],"payload":{"score":1.5}}`
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(v); err != nil {
		t.Fatal(err)
	}
	if _, err := schemas.Compile("nope.json"); err == nil {
		t.Error("Compile of a missing schema succeeded")
	}
}

// TestEventSchemasRequireNothing checks that no event schema, nor a
// definition they share, requires a property: Segment's spec requires
// none, so a message is never dead-lettered for lacking one (the ingest
// decoder drops what fails a schema, which cannot satisfy a "required").
func TestEventSchemasRequireNothing(t *testing.T) {
	var walk func(p string, v any)
	walk = func(p string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["required"]; ok {
				t.Errorf("%s: requires %v", p, x["required"])
			}
			for k, c := range x {
				walk(p+"/"+k, c)
			}
		case []any:
			for i, c := range x {
				walk(fmt.Sprintf("%s/%d", p, i), c)
			}
		}
	}
	walk(schemas.Defs, readJSON(t, schemas.FS(), schemas.Defs))
	for _, e := range schemas.Events() {
		walk(e.Path, readJSON(t, schemas.FS(), e.Path))
	}
}
