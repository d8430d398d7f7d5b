package processors

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/journey"
)

// Where selects the events a rule folds (a rule's where: in YAML). Every
// field given must match; within a field, any of its values does. The
// zero Where matches every event.
type Where struct {
	// Channels match Event.Channel.
	Channels []string
	// Events match Event.Name: a track event's name, a page's or a
	// screen's name.
	Events []string
	// Types match Event.Kind: track, page, screen, identify, ...
	Types []journey.Kind
	// Properties match the event's top-level properties, in order of
	// name.
	Properties []PropertyMatch
}

// PropertyMatch matches an event whose property Name equals one of
// Values: a string equals the same string, a number the same number (42
// and 42.0 alike), a bool the same bool. An event without the property,
// or with a value of another type, does not match.
type PropertyMatch struct {
	Name   string
	Values []any // string, float64 or bool
}

// Match reports whether w selects ev.
func (w *Where) Match(ev *journey.Event) bool {
	if len(w.Channels) > 0 && !slices.Contains(w.Channels, ev.Channel) ||
		len(w.Events) > 0 && !slices.Contains(w.Events, ev.Name) ||
		len(w.Types) > 0 && !slices.Contains(w.Types, ev.Kind) {
		return false
	}
	for i := range w.Properties {
		if !w.Properties[i].match(ev) {
			return false
		}
	}
	return true
}

func (m *PropertyMatch) match(ev *journey.Event) bool {
	v, ok := ev.Properties[m.Name]
	if !ok {
		return false
	}
	if _, isStr := v.(string); !isStr {
		if f, ok := ev.Num(m.Name); ok {
			v = f
		}
	}
	switch v.(type) {
	case string, float64, bool:
		return slices.Contains(m.Values, v)
	}
	return false
}

// The fields of a where.
const (
	whereChannel    = "channel"
	whereEvent      = "event"
	whereType       = "type"
	whereProperties = "properties"
)

// eventKinds are the values of where.type.
var eventKinds = []journey.Kind{journey.KindTrack, journey.KindPage, journey.KindScreen, journey.KindIdentify,
	journey.KindAlias, journey.KindGroup, journey.KindCloudEvent}

// decodeWhere decodes a rule's where mapping strictly: an unknown field,
// an empty value or list, a value of the wrong type is a
// *config.FieldError under path.
func decodeWhere(path string, n *yaml.Node) (Where, error) {
	var w Where
	var errs []error
	fail := func(p string, line int, format string, args ...any) {
		errs = append(errs, &config.FieldError{Path: p, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	if n == nil || n.Kind != yaml.MappingNode {
		line := 0
		if n != nil {
			line = n.Line
		}
		return w, &config.FieldError{Path: path, Line: line, Msg: "want a mapping of channel, event, type and properties"}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveNode(n.Content[i+1])
		p := path + "." + k.Value
		if seen[k.Value] {
			fail(p, k.Line, "field given twice")
			continue
		}
		seen[k.Value] = true
		switch k.Value {
		case whereChannel:
			w.Channels = stringList(p, v, &errs)
		case whereEvent:
			w.Events = stringList(p, v, &errs)
		case whereType:
			for _, t := range stringList(p, v, &errs) {
				if !slices.Contains(eventKinds, journey.Kind(t)) {
					fail(p, v.Line, "unknown type %q (known: %s)", t, joinKinds(eventKinds))
				}
				w.Types = append(w.Types, journey.Kind(t))
			}
		case whereProperties:
			w.Properties = decodeProperties(p, v, &errs)
		default:
			fail(p, k.Line, "unknown field (known: channel, event, type, properties)")
		}
	}
	return w, errors.Join(errs...)
}

// stringList decodes a string or a list of strings, none empty, none twice.
func stringList(path string, n *yaml.Node, errs *[]error) []string {
	vals := scalars(path, n, errs)
	var out []string
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			s = fmt.Sprint(v) // a channel named 1 is "1"
		}
		switch {
		case s == "":
			*errs = append(*errs, &config.FieldError{Path: path, Line: n.Line, Msg: "an empty name matches nothing"})
		case slices.Contains(out, s):
			*errs = append(*errs, &config.FieldError{Path: path, Line: n.Line, Msg: fmt.Sprintf("%q is listed twice", s)})
		default:
			out = append(out, s)
		}
	}
	return out
}

// decodeProperties decodes the properties mapping: name -> a value or a
// list of values.
func decodeProperties(path string, n *yaml.Node, errs *[]error) []PropertyMatch {
	if n == nil || n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		line := 0
		if n != nil {
			line = n.Line
		}
		*errs = append(*errs, &config.FieldError{Path: path, Line: line, Msg: "want a mapping of property names to a value or a list of values"})
		return nil
	}
	var out []PropertyMatch
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveNode(n.Content[i+1])
		p := fmt.Sprintf("%s[%q]", path, k.Value)
		if slices.ContainsFunc(out, func(m PropertyMatch) bool { return m.Name == k.Value }) {
			*errs = append(*errs, &config.FieldError{Path: p, Line: k.Line, Msg: "property given twice"})
			continue
		}
		if k.Value == "" {
			*errs = append(*errs, &config.FieldError{Path: p, Line: k.Line, Msg: "a property needs a name"})
			continue
		}
		out = append(out, PropertyMatch{Name: k.Value, Values: scalars(p, v, errs)})
	}
	slices.SortFunc(out, func(a, b PropertyMatch) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// scalars decodes a scalar or a non-empty list of scalars: a string
// (quoted or not), a number (float64) or a bool.
func scalars(path string, n *yaml.Node, errs *[]error) []any {
	fail := func(line int, msg string) {
		*errs = append(*errs, &config.FieldError{Path: path, Line: line, Msg: msg})
	}
	switch {
	case n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
		line := 0
		if n != nil {
			line = n.Line
		}
		fail(line, "empty value (leave the field out to match every event)")
		return nil
	case n.Kind == yaml.ScalarNode:
		v, err := scalar(n)
		if err != nil {
			fail(n.Line, err.Error())
			return nil
		}
		return []any{v}
	case n.Kind != yaml.SequenceNode:
		fail(n.Line, "want a value or a list of values")
		return nil
	case len(n.Content) == 0:
		fail(n.Line, "an empty list matches nothing")
		return nil
	}
	out := make([]any, 0, len(n.Content))
	for _, item := range n.Content {
		item = resolveNode(item)
		if item == nil || item.Kind != yaml.ScalarNode || item.ShortTag() == "!!null" {
			fail(n.Line, "a list of values holds single values only")
			continue
		}
		v, err := scalar(item)
		if err != nil {
			fail(item.Line, err.Error())
			continue
		}
		out = append(out, v)
	}
	return out
}

// scalar decodes a YAML scalar by its tag.
func scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!int", "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, fmt.Errorf("%q is not a number", n.Value)
		}
		return f, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("%q is not true or false", n.Value)
		}
		return b, nil
	case "!!str":
		return n.Value, nil
	}
	return nil, fmt.Errorf("%q is not a string, a number or a bool", n.Value)
}

func joinKinds(ks []journey.Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}
