package policy

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/journey-dev/journey/pkg/journey"
)

// Config configures the contact policy. It is the "policy" section of the
// YAML configuration; DefaultConfig gives every field a value.
type Config struct {
	// Consent says which channels need the customer's consent.
	Consent ConsentConfig `yaml:"consent"`
	// FallbackChannel is where a trigger for the customer's preferred
	// channel goes when no preference is known.
	FallbackChannel string `yaml:"fallback_channel"`
	// DefaultCooldown is the cooldown of a rule Rules does not give one:
	// a rule's triggers for one customer are at least this far apart. 0
	// turns it off.
	DefaultCooldown time.Duration `yaml:"default_cooldown"`
	// Rules are per-rule settings, by trigger rule ("cart.abandoned").
	Rules Rules `yaml:"rules"`
	// Caps are the rolling per-channel frequency caps, by channel. A
	// channel not listed is not capped. Giving caps replaces the default
	// list as a whole.
	Caps Caps `yaml:"caps"`
	// QuietHours are the hours of the customer's day when channels stay
	// silent.
	QuietHours QuietHours `yaml:"quiet_hours"`
	// DefaultTimeZone is the IANA zone of a customer whose events never
	// named a valid one.
	DefaultTimeZone string `yaml:"default_time_zone"`
	// MaxHeld bounds the triggers held for the end of quiet hours per
	// customer; beyond it, a trigger to hold is suppressed (hold_full).
	MaxHeld int `yaml:"max_held"`
	// MaxLog bounds the suppressions kept in the customer's state, the
	// oldest going first.
	MaxLog int `yaml:"max_log"`
}

// ConsentConfig is the consent part of Config.
type ConsentConfig struct {
	// Required are the channels that need consent: with no consent
	// recorded for the customer, Default decides. Other channels need
	// none, but a recorded refusal suppresses on any channel.
	Required []string `yaml:"required"`
	// Default is the consent of a customer with none recorded for a
	// required channel: "denied" (opt-in) or "granted" (opt-out).
	Default string `yaml:"default"`
	// Categories maps consent categories an event may carry (Segment's
	// categoryPreferences, e.g. "marketing") to the channels they stand
	// for. A channel named in the same event wins over its category.
	Categories map[string][]string `yaml:"categories"`
}

// Rule holds the settings of one trigger rule. Every field is optional.
type Rule struct {
	// Cooldown replaces DefaultCooldown for the rule when set; 0 turns
	// the rule's cooldown off.
	Cooldown *time.Duration `yaml:"cooldown"`
	// Quiet is what happens to the rule's triggers during quiet hours:
	// "hold" or "drop"; "" is QuietHours.Action.
	Quiet string `yaml:"quiet"`
	// Target replaces the channel of the rule's triggers when set; it may
	// be journey.PreferredChannel.
	Target string `yaml:"target"`
	// TTL, when set, is how late a trigger of the rule may still go out,
	// counted from what caused it: one that quiet hours would hold past
	// it, or that is released past it, is suppressed as expired.
	TTL time.Duration `yaml:"ttl"`
	// Holdout is the share of customers, in [0, 1), kept as the rule's
	// control group: a deterministic hash of (rule, customer) picks them,
	// and a trigger of theirs that every check admits is suppressed as
	// holdout instead, never delivered, so the rule's lift can be
	// measured. YAML: "10%" or 0.1.
	Holdout float64 `yaml:"holdout"`
}

// Rules are per-rule settings by trigger rule.
type Rules map[string]Rule

// Cap is a rolling frequency cap: at most Max triggers on the channel in
// any Window.
type Cap struct {
	Max int `yaml:"max"`
	// Window defaults to 24h when the YAML leaves it out.
	Window time.Duration `yaml:"window"`
}

// Caps are the caps by channel.
type Caps map[string]Cap

// QuietHours is the quiet window of the customer's day, Start (included)
// to End (excluded), local wall-clock times "HH:MM". When Start is after
// End the window spans midnight.
type QuietHours struct {
	Start string `yaml:"start"`
	End   string `yaml:"end"`
	// Channels are the channels kept quiet; none turns quiet hours off.
	Channels []string `yaml:"channels"`
	// Action is the default of Rule.Quiet: "hold" (deliver at the end of
	// the window) or "drop".
	Action string `yaml:"action"`
}

// Quiet actions and consent defaults.
const (
	QuietHold    = "hold"
	QuietDrop    = "drop"
	ConsentGrant = "granted"
	ConsentDeny  = "denied"
)

// Bounds of the size fields: they bound the state of one customer, read
// and written on every event.
const (
	maxMaxHeld = 100
	maxMaxLog  = 1000
	maxCapMax  = 100
)

// defaultCapWindow is a cap's window when the YAML gives none.
const defaultCapWindow = 24 * time.Hour

// DefaultConfig returns the defaults: email, push and sms need opt-in
// consent; preferred-channel triggers fall back to email; one trigger per
// rule per 24h; at most 2 emails, 3 pushes and 1 sms in any 24h; email,
// push and sms quiet from 21:00 to 08:00 in the customer's zone (UTC when
// unknown), triggers held until then.
func DefaultConfig() Config {
	return Config{
		Consent:         ConsentConfig{Required: []string{"email", "push", "sms"}, Default: ConsentDeny},
		FallbackChannel: "email",
		DefaultCooldown: 24 * time.Hour,
		Caps: Caps{
			"email": {Max: 2, Window: 24 * time.Hour},
			"push":  {Max: 3, Window: 24 * time.Hour},
			"sms":   {Max: 1, Window: 24 * time.Hour},
		},
		QuietHours: QuietHours{
			Start:    "21:00",
			End:      "08:00",
			Channels: []string{"email", "push", "sms"},
			Action:   QuietHold,
		},
		DefaultTimeZone: "UTC",
		MaxHeld:         10,
		MaxLog:          20,
	}
}

// Validate reports every invalid field, each error naming its field as it
// is written in YAML ("policy.caps.email.max: must be >= 1, got 0").
func (c Config) Validate() error {
	var p problems
	c.Consent.validate(&p)
	switch {
	case !validKey(c.FallbackChannel):
		p.add("fallback_channel", "must name a channel of 1 to %d bytes", maxKeyLen)
	case c.FallbackChannel == journey.PreferredChannel:
		p.add("fallback_channel", "cannot be %q", journey.PreferredChannel)
	}
	if c.DefaultCooldown < 0 {
		p.add("default_cooldown", "must be >= 0, got %s", c.DefaultCooldown)
	}
	c.Rules.validate(&p)
	c.Caps.validate(&p)
	c.QuietHours.validate(&p)
	if _, err := loadZone(c.DefaultTimeZone); err != nil {
		p.add("default_time_zone", "%v", err)
	}
	if c.MaxHeld < 1 || c.MaxHeld > maxMaxHeld {
		p.add("max_held", "must be between 1 and %d, got %d", maxMaxHeld, c.MaxHeld)
	}
	if c.MaxLog < 1 || c.MaxLog > maxMaxLog {
		p.add("max_log", "must be between 1 and %d, got %d", maxMaxLog, c.MaxLog)
	}
	return errors.Join(p...)
}

// problems collects the invalid fields Validate reports, in order.
type problems []error

// add records that field (its YAML path below "policy.") is invalid.
func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s.%s: %s", Name, field, fmt.Sprintf(format, args...)))
}

// channels checks a list of channel names: valid, not the preferred
// channel, none twice, and at least one unless allowEmpty.
func (p *problems) channels(field string, list []string, allowEmpty bool) {
	if len(list) == 0 && !allowEmpty {
		p.add(field, "must name at least one channel")
	}
	for i, ch := range list {
		switch {
		case !validKey(ch):
			p.add(field, "entry %d must be a channel name of 1 to %d bytes", i, maxKeyLen)
		case ch == journey.PreferredChannel:
			p.add(field, "%q is not a channel here (it is resolved before the policy applies)", ch)
		case slices.Index(list, ch) < i:
			p.add(field, "%q is listed twice", ch)
		}
	}
}

func (c ConsentConfig) validate(p *problems) {
	p.channels("consent.required", c.Required, true)
	if c.Default != ConsentGrant && c.Default != ConsentDeny {
		p.add("consent.default", "must be %q or %q, got %q", ConsentGrant, ConsentDeny, c.Default)
	}
	for _, cat := range sortedKeys(c.Categories) {
		if !validKey(cat) {
			p.add("consent.categories", "category %q must be 1 to %d bytes", cat, maxKeyLen)
			continue
		}
		p.channels("consent.categories."+cat, c.Categories[cat], false)
	}
}

func (rs Rules) validate(p *problems) {
	for _, name := range sortedKeys(rs) {
		if !validKey(name) {
			p.add("rules", "rule name %q must be 1 to %d bytes", name, maxKeyLen)
			continue
		}
		rs[name].check(func(field, format string, args ...any) { p.add("rules."+name+"."+field, format, args...) })
	}
}

// Validate reports every invalid field of r, each error naming its field
// ("ttl: must be >= 0, got -1h"): the check Config.Validate makes of each
// entry of Rules, for a rule configured elsewhere (journey's rules: list).
func (r Rule) Validate() error {
	var errs []error
	r.check(func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	})
	return errors.Join(errs...)
}

// check calls bad for each invalid field of r.
func (r Rule) check(bad func(field, format string, args ...any)) {
	if r.Cooldown != nil && *r.Cooldown < 0 {
		bad("cooldown", "must be >= 0, got %s", *r.Cooldown)
	}
	if r.Quiet != "" && r.Quiet != QuietHold && r.Quiet != QuietDrop {
		bad("quiet", "must be %q or %q, got %q", QuietHold, QuietDrop, r.Quiet)
	}
	if len(r.Target) > maxKeyLen {
		bad("target", "must be at most %d bytes", maxKeyLen)
	}
	if r.TTL < 0 {
		bad("ttl", "must be >= 0, got %s", r.TTL)
	}
	if r.Holdout < 0 || r.Holdout >= 1 || r.Holdout != r.Holdout {
		bad("holdout", "must be a share from 0%% to under 100%%, got %v", r.Holdout)
	}
}

func (cs Caps) validate(p *problems) {
	for _, ch := range sortedKeys(cs) {
		cp := cs[ch]
		switch {
		case !validKey(ch):
			p.add("caps", "channel %q must be 1 to %d bytes", ch, maxKeyLen)
			continue
		case ch == journey.PreferredChannel:
			p.add("caps", "%q is not a channel here (it is resolved before the policy applies)", ch)
			continue
		}
		switch {
		case cp.Max < 1:
			p.add("caps."+ch+".max", "must be >= 1, got %d", cp.Max)
		case cp.Max > maxCapMax:
			p.add("caps."+ch+".max", "must be <= %d, got %d", maxCapMax, cp.Max)
		}
		if cp.Window <= 0 {
			p.add("caps."+ch+".window", "must be > 0, got %s", cp.Window)
		}
	}
}

func (q QuietHours) validate(p *problems) {
	start, startErr := parseClock(q.Start)
	end, endErr := parseClock(q.End)
	if startErr != nil {
		p.add("quiet_hours.start", "%q is not HH:MM (00:00 to 23:59)", q.Start)
	}
	if endErr != nil {
		p.add("quiet_hours.end", "%q is not HH:MM (00:00 to 23:59)", q.End)
	}
	if startErr == nil && endErr == nil && start == end && len(q.Channels) > 0 {
		p.add("quiet_hours.end", "must differ from start (%s); to turn quiet hours off, list no channels", q.Start)
	}
	p.channels("quiet_hours.channels", q.Channels, true)
	if q.Action != QuietHold && q.Action != QuietDrop {
		p.add("quiet_hours.action", "must be %q or %q, got %q", QuietHold, QuietDrop, q.Action)
	}
}

// clone returns a deep copy of c, so a Processor shares nothing with its
// caller.
func (c Config) clone() Config {
	c.Consent.Required = slices.Clone(c.Consent.Required)
	if c.Consent.Categories != nil {
		cats := make(map[string][]string, len(c.Consent.Categories))
		for k, v := range c.Consent.Categories {
			cats[k] = slices.Clone(v)
		}
		c.Consent.Categories = cats
	}
	if c.Rules != nil {
		rules := make(Rules, len(c.Rules))
		for k, r := range c.Rules {
			if r.Cooldown != nil {
				d := *r.Cooldown
				r.Cooldown = &d
			}
			rules[k] = r
		}
		c.Rules = rules
	}
	if c.Caps != nil {
		caps := make(Caps, len(c.Caps))
		for k, v := range c.Caps {
			caps[k] = v
		}
		c.Caps = caps
	}
	c.QuietHours.Channels = slices.Clone(c.QuietHours.Channels)
	return c
}

// parseClock parses "HH:MM" into minutes after midnight.
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, errors.New("not HH:MM")
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 || h[0] == '+' || m[0] == '+' {
		return 0, errors.New("not HH:MM")
	}
	return hh*60 + mm, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// UnmarshalYAML decodes the rules mapping strictly: an unknown field, a
// rule given twice or a value of the wrong type is an error naming the
// rule and the field. The decoded mapping replaces r.
func (r *Rules) UnmarshalYAML(n *yaml.Node) error {
	out := Rules{}
	errs := decodeMapping(n, "rule", func(name string, v *yaml.Node) []string {
		rule, errs := decodeRule(entryPath(name), v)
		out[name] = rule
		return errs
	})
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	*r = out
	return nil
}

// UnmarshalYAML decodes one rule's settings strictly, as an entry of
// Rules is decoded: an unknown field or a value of the wrong type is an
// error naming the field.
func (r *Rule) UnmarshalYAML(n *yaml.Node) error {
	rule, errs := decodeRule("", resolveNode(n))
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	*r = rule
	return nil
}

// decodeRule decodes the settings of the rule at path ("" for the
// document's root).
func decodeRule(path string, v *yaml.Node) (Rule, []string) {
	var rule Rule
	var errs []string
	forFields(path, v, &errs, func(key string, val *yaml.Node) bool {
		field := subPath(path, key)
		switch key {
		case "cooldown":
			if d, ok := decodeDuration(field, val, &errs); ok {
				rule.Cooldown = &d
			}
		case "quiet":
			decodeScalar(field, val, &rule.Quiet, &errs)
		case "target":
			decodeScalar(field, val, &rule.Target, &errs)
		case "ttl":
			if d, ok := decodeDuration(field, val, &errs); ok {
				rule.TTL = d
			}
		case "holdout":
			if share, err := parseShare(val.Value); err != nil || val.Kind != yaml.ScalarNode {
				errs = append(errs, fmt.Sprintf("%s (line %d): want a share such as 10%% or 0.1, got %q", field, val.Line, val.Value))
			} else {
				rule.Holdout = share
			}
		default:
			return false
		}
		return true
	})
	return rule, errs
}

// subPath is the path of field key under path ("" for the root).
func subPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// parseShare reads "12.5%" or a fraction ("0.125").
func parseShare(s string) (float64, error) {
	if pct, ok := strings.CutSuffix(strings.TrimSpace(s), "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
		return v / 100, err
	}
	return strconv.ParseFloat(strings.TrimSpace(s), 64)
}

// UnmarshalYAML decodes the caps mapping strictly, like Rules. A cap's
// window defaults to 24h. The decoded mapping replaces c.
func (c *Caps) UnmarshalYAML(n *yaml.Node) error {
	out := Caps{}
	errs := decodeMapping(n, "channel", func(ch string, v *yaml.Node) []string {
		cp := Cap{Window: defaultCapWindow}
		var errs []string
		forFields(entryPath(ch), v, &errs, func(key string, val *yaml.Node) bool {
			switch key {
			case "max":
				decodeScalar(entryPath(ch)+".max", val, &cp.Max, &errs)
			case "window":
				if d, ok := decodeDuration(entryPath(ch)+".window", val, &errs); ok {
					cp.Window = d
				}
			default:
				return false
			}
			return true
		})
		out[ch] = cp
		return errs
	})
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	*c = out
	return nil
}

// decodeMapping calls entry for each key of the mapping n, collecting the
// errors. what names the keys in messages.
func decodeMapping(n *yaml.Node, what string, entry func(key string, v *yaml.Node) []string) []string {
	n = resolveNode(n)
	if n == nil || n.Kind != yaml.MappingNode {
		line := 0
		if n != nil {
			line = n.Line
		}
		return []string{fmt.Sprintf("line %d: want a mapping of %s names to their settings", line, what)}
	}
	var errs []string
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveNode(n.Content[i+1])
		switch {
		case seen[k.Value]:
			errs = append(errs, fmt.Sprintf("%s (line %d): %s given twice", entryPath(k.Value), k.Line, what))
			continue
		case v == nil || isNullNode(v):
			errs = append(errs, fmt.Sprintf("%s (line %d): empty value (leave the %s out instead)", entryPath(k.Value), k.Line, what))
			continue
		}
		seen[k.Value] = true
		errs = append(errs, entry(k.Value, v)...)
	}
	return errs
}

// forFields calls field for each key of the mapping v; a false return
// means the key is unknown.
func forFields(path string, v *yaml.Node, errs *[]string, field func(key string, val *yaml.Node) bool) {
	if v.Kind != yaml.MappingNode {
		*errs = append(*errs, fmt.Sprintf("%s (line %d): want a mapping of fields", path, v.Line))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], resolveNode(v.Content[i+1])
		p := subPath(path, k.Value)
		switch {
		case seen[k.Value]:
			*errs = append(*errs, fmt.Sprintf("%s (line %d): field given twice", p, k.Line))
			continue
		case val == nil || isNullNode(val):
			*errs = append(*errs, fmt.Sprintf("%s (line %d): empty value (leave the field out for its default)", p, k.Line))
			continue
		}
		seen[k.Value] = true
		if !field(k.Value, val) {
			*errs = append(*errs, fmt.Sprintf("%s (line %d): unknown field", p, k.Line))
		}
	}
}

func decodeScalar(path string, val *yaml.Node, out any, errs *[]string) {
	if val.Kind != yaml.ScalarNode {
		*errs = append(*errs, fmt.Sprintf("%s (line %d): want a single value", path, val.Line))
		return
	}
	if err := val.Decode(out); err != nil {
		*errs = append(*errs, fmt.Sprintf("%s (line %d): %q is not a valid value", path, val.Line, val.Value))
	}
}

func decodeDuration(path string, val *yaml.Node, errs *[]string) (time.Duration, bool) {
	d, err := time.ParseDuration(val.Value)
	if val.Kind != yaml.ScalarNode || err != nil {
		*errs = append(*errs, fmt.Sprintf("%s (line %d): %q is not a duration (want e.g. 24h, 90m, 30s)", path, val.Line, val.Value))
		return 0, false
	}
	return d, true
}

// entryPath names a rule or a channel in errors, as the path of a map
// entry: ["cart.abandoned"] (a rule's name has dots).
func entryPath(key string) string { return fmt.Sprintf("[%q]", key) }

func resolveNode(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNullNode(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }
