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
//	timeline:
//	  max_events: 200
//	  max_age: 2160h
//
// A section is decoded strictly over the processor's defaults: an absent
// section or field keeps its default, an unknown section or field is an
// error naming it, an empty field ("threshold:") is an error, durations
// are Go duration strings ("168h", "30m"). A list replaces the default
// list; a map (engagement.weights, chanpref.responses) is merged over the
// default map, entry by entry, except policy.rules and policy.caps, which
// are decoded strictly entry by entry and replace theirs (a cap left out
// is no cap). Errors name the field by its path in journey's file,
// "processors.<section>.<field> (line N): problem" (config.FieldError).
package processors

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/cart"
	"github.com/journey-dev/journey/processors/chanpref"
	"github.com/journey-dev/journey/processors/dormancy"
	"github.com/journey-dev/journey/processors/engagement"
	"github.com/journey-dev/journey/processors/interest"
	"github.com/journey-dev/journey/processors/policy"
	"github.com/journey-dev/journey/processors/profile"
	"github.com/journey-dev/journey/processors/recovery"
	"github.com/journey-dev/journey/processors/timeline"
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
		// The read side's record: every event, and what the policy decided
		// on every trigger (journey.TriggerObserver).
		{Name: timeline.Name, Build: builder(timeline.Name, timeline.DefaultConfig, timeline.New)},
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
	for _, name := range slices.Sorted(maps.Keys(sections)) {
		if !slices.Contains(names, name) {
			errs = append(errs, &config.FieldError{Path: Path(name), Msg: "unknown processor (known: " + strings.Join(names, ", ") + ")"})
		}
	}
	on := names
	if enabled != nil {
		on = nil
		for _, name := range enabled {
			switch {
			case !slices.Contains(names, name):
				errs = append(errs, fmt.Errorf("processors_enabled: unknown processor %q (known: %s)", name, strings.Join(names, ", ")))
			case slices.Contains(on, name):
				errs = append(errs, fmt.Errorf("processors_enabled: processor %q given twice", name))
			default:
				on = append(on, name)
			}
		}
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
			errs = append(errs, config.Split(err)...) // one line per problem, each naming its field
			continue
		}
		if d, ok := p.(interface{ Disabled() bool }); ok && d.Disabled() && enabled == nil {
			continue // off by its own setting (timeline.enabled), unless processors_enabled names it
		}
		ps = append(ps, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ps, nil
}

// Path is the YAML path of a processor's section in journey's
// configuration file: processors.<name>.
func Path(name string) string { return "processors." + name }

// builder returns the Build func of a processor package.
func builder[C interface{ Validate() error }, P journey.Processor](name string, defaults func() C, build func(C) (P, error)) func(*yaml.Node) (journey.Processor, error) {
	return func(node *yaml.Node) (journey.Processor, error) {
		cfg := defaults()
		if err := config.Decode(Path(name), node, &cfg); err != nil {
			return nil, err // each problem names its field by path and line
		}
		p, err := build(cfg) // validates cfg
		if err != nil {
			// A processor names its fields from its section:
			// "cart.timeout: must be > 0".
			var errs []error
			for _, e := range config.Split(err) {
				errs = append(errs, fmt.Errorf("processors.%w", e))
			}
			return nil, errors.Join(errs...)
		}
		return p, nil
	}
}
