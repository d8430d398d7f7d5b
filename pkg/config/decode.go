package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// FieldError is one problem with one field of a YAML document, named by
// its YAML path: "kafka.brokerz (line 3): unknown field". The processors'
// sections use it too, so every configuration error reads the same.
type FieldError struct {
	// Path is the field's YAML path: kafka.brokers, processors.cart.timeout,
	// kafka.topic_channels["web.events"], kafka.topics[1].
	Path string
	// Line is the 1-based line of the field in the file; 0 when unknown
	// (a rule broken by a value, whichever source it came from).
	Line int
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s (line %d): %s", e.Path, e.Line, e.Msg)
	}
	return e.Path + ": " + e.Msg
}

// Decode decodes the YAML node n into the value out points to, strictly,
// over what it holds: a field left out, or an empty section or map, keeps
// its value; an unknown field, a field given twice, an empty value
// ("timeout:") or a value of the wrong type is an error naming the field
// by path (path is n's own: "" for a
// document's root, "processors.cart" for a processor's section). Struct
// fields are matched by their yaml tag; durations are Go duration strings
// ("168h", "30m"); a list replaces the list out holds; a map is merged
// over the map out holds, entry by entry; a type with its own
// UnmarshalYAML decodes itself (its yaml.TypeError entries, "sub.path
// (line N): problem" or "line N: problem", are placed under path). Every
// problem is reported: the error joins one *FieldError per problem.
func Decode(path string, n *yaml.Node, out any) error {
	n = resolve(n)
	if n == nil || isNull(n) {
		return nil
	}
	var errs []error
	decodeValue(path, n, reflect.ValueOf(out).Elem(), &errs)
	return errors.Join(errs...)
}

var (
	durationType  = reflect.TypeFor[time.Duration]()
	timeType      = reflect.TypeFor[time.Time]()
	nodeType      = reflect.TypeFor[yaml.Node]()
	unmarshalType = reflect.TypeFor[yaml.Unmarshaler]()
)

// decodeValue decodes n (resolved, not null) into v, appending problems to
// errs.
func decodeValue(path string, n *yaml.Node, v reflect.Value, errs *[]error) {
	fail := func(line int, format string, args ...any) {
		*errs = append(*errs, &FieldError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	switch t := v.Type(); {
	case t == nodeType:
		v.Set(reflect.ValueOf(*n))
	case reflect.PointerTo(t).Implements(unmarshalType):
		if err := n.Decode(v.Addr().Interface()); err != nil {
			*errs = append(*errs, placed(path, n.Line, err)...)
		}
	case t == durationType:
		d, err := time.ParseDuration(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			fail(n.Line, "%s is not a duration (want e.g. 168h, 90m, 30s)", describe(n))
			return
		}
		v.SetInt(int64(d))
	case t == timeType:
		if err := n.Decode(v.Addr().Interface()); err != nil {
			fail(n.Line, "%s is not a time (want e.g. 2026-11-01T10:00:00Z)", describe(n))
		}
	case t.Kind() == reflect.Struct:
		decodeStruct(path, n, v, errs)
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		decodeMap(path, n, v, errs)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			fail(n.Line, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		before := len(*errs)
		for i, item := range n.Content {
			line := item.Line
			if item = resolve(item); item == nil || isNull(item) {
				*errs = append(*errs, &FieldError{Path: fmt.Sprintf("%s[%d]", path, i), Line: line, Msg: "empty item"})
				continue
			}
			decodeValue(fmt.Sprintf("%s[%d]", path, i), item, s.Index(i), errs)
		}
		if len(*errs) == before {
			v.Set(s)
		}
	case t.Kind() == reflect.Pointer:
		e := reflect.New(t.Elem())
		if v.IsNil() {
			decodeValue(path, n, e.Elem(), errs)
		} else {
			e.Elem().Set(v.Elem())
			decodeValue(path, n, e.Elem(), errs)
		}
		v.Set(e)
	default:
		if n.Kind != yaml.ScalarNode {
			fail(n.Line, "want a single value, got %s", describe(n))
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			fail(n.Line, "%s is not %s", describe(n), kindName(t))
		}
	}
}

func decodeStruct(path string, n *yaml.Node, v reflect.Value, errs *[]error) {
	if n.Kind != yaml.MappingNode {
		*errs = append(*errs, &FieldError{Path: orRoot(path), Line: n.Line, Msg: "want a mapping of fields, got " + describe(n)})
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], resolve(n.Content[i+1])
		field := join(path, k.Value)
		f, ok := fieldByTag(v, k.Value)
		msg := ""
		switch {
		case !ok:
			msg = "unknown field"
		case seen[k.Value]:
			msg = "field given twice"
		case (val == nil || isNull(val)) && (f.Kind() == reflect.Struct || f.Kind() == reflect.Map):
			seen[k.Value] = true // an empty section ("processors:" with all commented out) keeps its defaults
			continue
		case val == nil || isNull(val):
			msg = "empty value (leave the field out for its default)"
		}
		if msg != "" {
			*errs = append(*errs, &FieldError{Path: field, Line: k.Line, Msg: msg})
			continue
		}
		seen[k.Value] = true
		decodeValue(field, val, f, errs)
	}
}

// decodeMap merges the mapping n into the map v, entry by entry.
func decodeMap(path string, n *yaml.Node, v reflect.Value, errs *[]error) {
	t := v.Type()
	if n.Kind != yaml.MappingNode {
		*errs = append(*errs, &FieldError{Path: path, Line: n.Line, Msg: "want a mapping, got " + describe(n)})
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], resolve(n.Content[i+1])
		entry := fmt.Sprintf("%s[%q]", path, k.Value)
		if t.Elem() != nodeType && (val == nil || isNull(val)) {
			*errs = append(*errs, &FieldError{Path: entry, Line: k.Line, Msg: "empty value (leave the entry out instead)"})
			continue
		}
		if val == nil {
			val = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: k.Line}
		}
		e := reflect.New(t.Elem()).Elem()
		if old := v.MapIndex(reflect.ValueOf(k.Value).Convert(t.Key())); old.IsValid() {
			e.Set(old)
		}
		before := len(*errs)
		decodeValue(entry, val, e, errs)
		if len(*errs) == before {
			v.SetMapIndex(reflect.ValueOf(k.Value).Convert(t.Key()), e)
		}
	}
}

// subError is an entry of a yaml.TypeError a type's UnmarshalYAML
// returned: "sub.path (line N): problem" or "line N: problem".
var (
	subError  = regexp.MustCompile(`^(\S.*?) \(line (\d+)\): (.*)$`)
	lineError = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// placed turns the error of a type's own UnmarshalYAML into FieldErrors
// under path.
func placed(path string, line int, err error) []error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []error{&FieldError{Path: path, Line: line, Msg: err.Error()}}
	}
	out := make([]error, 0, len(te.Errors))
	for _, e := range te.Errors {
		fe := &FieldError{Path: path, Line: line, Msg: e}
		if m := subError.FindStringSubmatch(e); m != nil {
			fe.Path, fe.Msg = join(path, m[1]), m[3]
			fe.Line, _ = strconv.Atoi(m[2])
		} else if m := lineError.FindStringSubmatch(e); m != nil {
			fe.Msg = m[2]
			fe.Line, _ = strconv.Atoi(m[1])
		}
		out = append(out, fe)
	}
	return out
}

// join appends a field or a sub-path to path: "kafka" + "brokers", or
// "policy.rules" + `["cart.abandoned"].cooldown`.
func join(path, sub string) string {
	switch {
	case path == "":
		return sub
	case strings.HasPrefix(sub, "["):
		return path + sub
	}
	return path + "." + sub
}

func orRoot(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

// fieldByTag returns the field of struct v whose yaml tag names key.
func fieldByTag(v reflect.Value, key string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if sf.IsExported() && name != "" && name != "-" && name == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// resolve follows documents and aliases to the node that holds the value.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil {
		switch {
		case n.Kind == 0: // an empty document
			return nil
		case n.Kind == yaml.DocumentNode && len(n.Content) == 1:
			n = n.Content[0]
		case n.Kind == yaml.DocumentNode:
			return nil
		case n.Kind == yaml.AliasNode:
			n = n.Alias
		default:
			return n
		}
	}
	return nil
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// describe names what a node holds, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "something else"
}

// kindName is what a scalar of type t must be, for "X is not Y" messages.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return "a " + t.String()
}
