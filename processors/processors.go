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
//
// # Rules
//
// The processors are the default rule set. The rules: list of journey's
// file (BuildWithRules, DecodeRules) adds named rules, each a processor of
// a rule kind (interest, cart, recovery, engagement, dormancy) built from
// the kind's defaults and the rule's settings, under the rule's name (the
// kind's Named: its state, timers, context fields and trigger rule), folding
// the events its Where selects plus those its kind settles with (purchases
// for interest; all but adds for a cart). Its cooldown, quiet, ttl and
// holdout become the policy's rules.<name>. Errors name the rule and field:
// "rules[1] (boots-push).threshold (line 7): must be >= 1, got 0".
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
		{Name: policy.Name, Build: func(node *yaml.Node) (journey.Processor, error) { return buildPolicy(node, nil) }},
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
	return BuildWithRules(sections, nil, enabled)
}

// BuildWithRules is Build with the rules: list of journey's configuration
// (rules nil or null: none; see DecodeRules): each rule is a processor,
// folded after the default ones and before the contact policy, whose
// settings the rules' cooldown, quiet, ttl and holdout join. enabled may
// name rules too; every rule is decoded and checked, enabled or not.
func BuildWithRules(sections map[string]yaml.Node, rules *yaml.Node, enabled []string) ([]journey.Processor, error) {
	specs := All()
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	var errs []error
	rs, err := DecodeRules(rules)
	if err != nil {
		errs = append(errs, config.Split(err)...)
	}
	known := slices.Clone(names)
	for _, r := range rs {
		known = append(known, r.Name)
	}
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
			case !slices.Contains(known, name):
				errs = append(errs, fmt.Errorf("processors_enabled: unknown processor %q (known: %s)", name, strings.Join(known, ", ")))
			case slices.Contains(on, name):
				errs = append(errs, fmt.Errorf("processors_enabled: processor %q given twice", name))
			default:
				on = append(on, name)
			}
		}
	}
	var ps []journey.Processor
	for _, s := range specs {
		if s.Name == policy.Name {
			for _, r := range rs {
				if enabled == nil || slices.Contains(on, r.Name) {
					ps = append(ps, r.Processor)
				}
			}
		}
		if !slices.Contains(on, s.Name) {
			continue
		}
		var node *yaml.Node
		if n, ok := sections[s.Name]; ok {
			node = &n
		}
		build := s.Build
		if s.Name == policy.Name {
			build = func(node *yaml.Node) (journey.Processor, error) { return buildPolicy(node, rs) }
		}
		p, err := build(node)
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

// buildPolicy builds the contact policy from its section, with the
// settings of the rules joining its rules. A rule that policy.rules
// configures too, when it sets some itself, is an error: its settings
// belong in one place.
func buildPolicy(node *yaml.Node, rules []Rule) (journey.Processor, error) {
	cfg := policy.DefaultConfig()
	if err := config.Decode(Path(policy.Name), node, &cfg); err != nil {
		return nil, err
	}
	var errs []error
	for _, r := range rules {
		if !r.HasPolicy {
			continue
		}
		if _, ok := cfg.Rules[r.Name]; ok {
			errs = append(errs, &config.FieldError{Path: r.path, Line: r.line,
				Msg: "processors.policy.rules configures this rule too: give its cooldown, quiet, ttl and holdout in one place"})
			continue
		}
		if cfg.Rules == nil {
			cfg.Rules = policy.Rules{}
		}
		cfg.Rules[r.Name] = r.Policy
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p, err := policy.New(cfg)
	if err != nil {
		return nil, sectionErrors(err)
	}
	return p, nil
}

// sectionErrors places the errors of a processor's New, which name their
// fields from the section ("cart.timeout: must be > 0"), under
// processors.
func sectionErrors(err error) error {
	if err == nil {
		return nil
	}
	var errs []error
	for _, e := range config.Split(err) {
		errs = append(errs, fmt.Errorf("processors.%w", e))
	}
	return errors.Join(errs...)
}

// builder returns the Build func of a processor package.
func builder[C interface{ Validate() error }, P journey.Processor](name string, defaults func() C, build func(C) (P, error)) func(*yaml.Node) (journey.Processor, error) {
	return func(node *yaml.Node) (journey.Processor, error) {
		cfg := defaults()
		if err := config.Decode(Path(name), node, &cfg); err != nil {
			return nil, err // each problem names its field by path and line
		}
		p, err := build(cfg) // validates cfg
		if err != nil {
			return nil, sectionErrors(err)
		}
		return p, nil
	}
}
