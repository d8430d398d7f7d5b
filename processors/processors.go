// Package processors is the one explicit list of journey's processors and
// builds them from their YAML configuration sections.
//
// Each processor is a package under processors/ exporting Name, Config,
// DefaultConfig, (Config) Validate and New; this package decodes its
// section over the defaults and calls New. A processor is added here, in
// All, and nowhere else: there is no registration by init.
//
// # Configuration
//
// Each processor has one section named after it:
//
//	interest:
//	  window: 168h
//	  threshold: 3
//	profile:
//	  max_anonymous_ids: 5
//	engagement:
//	  weights: {"Product Shared": 5}   # merged over the defaults
//	  tiers: [at_risk, active, advocate]
//	  boundaries: [5, 30]
//	cart:
//	  timeout: 1h
//	dormancy:
//	  after: 720h
//	  kinds: [track, page, screen]
//	policy:
//	  rules: {cart.abandoned: {cooldown: 4h, quiet: hold}}
//	  caps: {email: {max: 2, window: 24h}}   # replaces the default caps
//
// A section is decoded strictly over the processor's defaults: an absent
// section or field keeps its default, an unknown section or field is an
// error naming it, an empty field ("threshold:") is an error, durations
// are Go duration strings ("168h", "30m"). A list replaces the default
// list; a map (engagement.weights, chanpref.responses) is merged over the
// default map, entry by entry, except policy.rules and policy.caps, which
// are decoded strictly entry by entry and replace theirs (a cap left out
// is no cap). Errors name the field as
// "<section>.<field>" with its line.
package processors

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/cart"
	"github.com/journey-dev/journey/processors/chanpref"
	"github.com/journey-dev/journey/processors/dormancy"
	"github.com/journey-dev/journey/processors/engagement"
	"github.com/journey-dev/journey/processors/interest"
	"github.com/journey-dev/journey/processors/policy"
	"github.com/journey-dev/journey/processors/profile"
	"github.com/journey-dev/journey/processors/recovery"
)

// Spec describes one processor.
type Spec struct {
	Name string
	// Build decodes the processor's YAML section strictly (unknown fields
	// are an error naming the field) over its defaults, validates it and
	// builds the processor. node is nil when the section is absent
	// (defaults).
	Build func(node *yaml.Node) (journey.Processor, error)
}

// All returns every processor, in the order events are folded through
// them.
func All() []Spec {
	return []Spec{
		{Name: profile.Name, Build: builder(profile.Name, profile.DefaultConfig, profile.New)},
		{Name: interest.Name, Build: builder(interest.Name, interest.DefaultConfig, interest.New)},
		{Name: recovery.Name, Build: builder(recovery.Name, recovery.DefaultConfig, recovery.New)},
		{Name: engagement.Name, Build: builder(engagement.Name, engagement.DefaultConfig, engagement.New)},
		{Name: chanpref.Name, Build: builder(chanpref.Name, chanpref.DefaultConfig, chanpref.New)},
		{Name: cart.Name, Build: builder(cart.Name, cart.DefaultConfig, cart.New)},
		{Name: dormancy.Name, Build: builder(dormancy.Name, dormancy.DefaultConfig, dormancy.New)},
		// The contact policy: folded after the others, it sees every trigger.
		{Name: policy.Name, Build: builder(policy.Name, policy.DefaultConfig, policy.New)},
	}
}

// Build builds the enabled processors from their sections, in the order of
// All. enabled nil means all of them. An unknown section or enabled name is
// an error naming it; so is every section that fails to build. A section
// of a processor that is not enabled is not decoded.
func Build(sections map[string]yaml.Node, enabled []string) ([]journey.Processor, error) {
	specs := All()
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	var errs []error
	var unknown []string
	for name := range sections {
		if !slices.Contains(names, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		errs = append(errs, fmt.Errorf("processors: unknown section %s (known: %s)", quoteAll(unknown), strings.Join(names, ", ")))
	}
	on := names
	if enabled != nil {
		on = nil
		for _, name := range enabled {
			switch {
			case !slices.Contains(names, name):
				errs = append(errs, fmt.Errorf("processors: unknown processor %q enabled (known: %s)", name, strings.Join(names, ", ")))
			case slices.Contains(on, name):
				errs = append(errs, fmt.Errorf("processors: processor %q enabled twice", name))
			default:
				on = append(on, name)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var ps []journey.Processor
	for _, s := range specs {
		if !slices.Contains(on, s.Name) {
			continue
		}
		var node *yaml.Node
		if n, ok := sections[s.Name]; ok {
			node = &n
		}
		p, err := s.Build(node)
		if err != nil {
			// One line per problem, each naming its field.
			for _, e := range split(err) {
				errs = append(errs, fmt.Errorf("processors: %w", e))
			}
			continue
		}
		ps = append(ps, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ps, nil
}

// split returns the errors joined in err, recursively, or err alone.
func split(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, split(e)...)
	}
	return out
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// builder returns the Build func of a processor package.
func builder[C interface{ Validate() error }, P journey.Processor](name string, defaults func() C, build func(C) (P, error)) func(*yaml.Node) (journey.Processor, error) {
	return func(node *yaml.Node) (journey.Processor, error) {
		cfg := defaults()
		if err := decodeSection(name, node, &cfg); err != nil {
			return nil, err
		}
		p, err := build(cfg) // validates cfg
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

var durationType = reflect.TypeFor[time.Duration]()

// decodeSection decodes node into the struct out points to, strictly, over
// what it holds. Fields are matched by their yaml tag.
func decodeSection(section string, node *yaml.Node, out any) error {
	n := resolve(node)
	if n == nil || isNull(n) {
		return nil
	}
	return decodeStruct(section, n, reflect.ValueOf(out).Elem())
}

// resolve follows documents and aliases to the node that holds the value.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil {
		switch {
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

func decodeStruct(path string, n *yaml.Node, v reflect.Value) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: line %d: want a mapping of fields, got %s", path, n.Line, describe(n))
	}
	var errs []error
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], resolve(n.Content[i+1])
		key := k.Value
		field := path + "." + key
		f, ok := fieldByTag(v, key)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: line %d: unknown field", field, k.Line))
			continue
		case seen[key]:
			errs = append(errs, fmt.Errorf("%s: line %d: field given twice", field, k.Line))
			continue
		case val == nil || isNull(val):
			errs = append(errs, fmt.Errorf("%s: line %d: empty value (leave the field out for its default)", field, k.Line))
			continue
		}
		seen[key] = true
		if f.Kind() == reflect.Struct && f.Type() != reflect.TypeFor[time.Time]() {
			if err := decodeStruct(field, val, f); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := val.Decode(f.Addr().Interface()); err != nil {
			if f.Type() == durationType && val.Kind == yaml.ScalarNode {
				errs = append(errs, fmt.Errorf("%s: line %d: %q is not a duration (want e.g. 168h, 90m, 30s)", field, val.Line, val.Value))
				continue
			}
			var te *yaml.TypeError
			if errors.As(err, &te) {
				err = errors.New(strings.Join(te.Errors, "; "))
			}
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
	}
	return errors.Join(errs...)
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

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the %s %q", strings.TrimPrefix(n.ShortTag(), "!!"), n.Value)
	}
	return "something else"
}
