package processors

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/cart"
	"github.com/journey-dev/journey/processors/dormancy"
	"github.com/journey-dev/journey/processors/engagement"
	"github.com/journey-dev/journey/processors/interest"
	"github.com/journey-dev/journey/processors/policy"
	"github.com/journey-dev/journey/processors/recovery"
)

// Rule is one entry of the rules: list: a processor of one of the rule
// kinds under a name of its own, seeing the events its Where selects.
type Rule struct {
	Name  string
	Kind  string
	Where Where
	// Policy is the rule's entry of the contact policy's rules (its
	// cooldown, quiet, ttl and holdout; target is the kind's).
	Policy policy.Rule
	// HasPolicy says the entry set one of Policy's fields.
	HasPolicy bool
	// Processor is the rule's processor, built and filtered.
	Processor journey.Processor

	path string // "rules[1] (boots-push)", for errors
	line int
}

// ruleKind is one kind of rule: a processor package that can run under
// another name.
type ruleKind struct {
	name string
	// tag goes into the state version of the kind's rules (tag<<16 |
	// the kind's version), so a rule whose kind changed under the same
	// name refuses its old state instead of misreading it.
	tag uint32
	// build decodes the kind's parameters (path names the rule in
	// errors) over its defaults and builds the processor named name.
	build func(path, name string, params *yaml.Node) (journey.Processor, error)
	// settles reports the events that reach a rule of the kind whatever
	// its where says: those that settle what the rule keeps (a purchase
	// for interest; for a cart, everything but an add).
	settles func(ev *journey.Event) bool
}

// ruleKinds are the kinds a rule may have, by name.
func ruleKinds() []ruleKind {
	return []ruleKind{
		{name: interest.Name, tag: 1, build: ruleBuilder(interest.DefaultConfig, interest.New), settles: interestSettles},
		{name: cart.Name, tag: 2, build: ruleBuilder(cart.DefaultConfig, cart.New), settles: cartSettles},
		{name: recovery.Name, tag: 3, build: ruleBuilder(recovery.DefaultConfig, recovery.New)},
		{name: engagement.Name, tag: 4, build: ruleBuilder(engagement.DefaultConfig, engagement.New)},
		{name: dormancy.Name, tag: 5, build: ruleBuilder(dormancy.DefaultConfig, dormancy.New)},
	}
}

// interestSettles: purchases, refunds and cancellations count for an
// interest rule on every channel, whatever their properties, as they do
// for the interest processor.
func interestSettles(ev *journey.Event) bool {
	if ev.Kind != journey.KindTrack {
		return false
	}
	switch ev.Name {
	case interest.EventOrderCompleted, interest.EventOrderRefunded, interest.EventOrderCancelled:
		return true
	}
	return false
}

// cartSettles: only adds open and fill a cart; removals, refreshes and
// checkouts act on the carts the rule has open, wherever they happen.
func cartSettles(ev *journey.Event) bool {
	return ev.Kind != journey.KindTrack || ev.Name != cart.EventProductAdded && ev.Name != cart.EventWishlistToCart
}

// ruleBuilder returns the build func of a rule kind's package.
func ruleBuilder[C interface{ Validate() error }, P interface {
	journey.Processor
	journey.Merger
	journey.ContextSource
	Named(string) P
}](defaults func() C, build func(C) (P, error)) func(string, string, *yaml.Node) (journey.Processor, error) {
	return func(path, name string, params *yaml.Node) (journey.Processor, error) {
		cfg := defaults()
		if err := config.Decode(path, params, &cfg); err != nil {
			return nil, err
		}
		p, err := build(cfg)
		if err != nil {
			// "interest.threshold: must be >= 1" -> "rules[0] (x).threshold".
			var errs []error
			for _, e := range config.Split(err) {
				_, rest, _ := strings.Cut(e.Error(), ".")
				field, msg, _ := strings.Cut(rest, ": ")
				errs = append(errs, &config.FieldError{Path: path + "." + field, Line: keyLine(params, field), Msg: msg})
			}
			return nil, errors.Join(errs...)
		}
		return p.Named(name), nil
	}
}

// keyLine is the line of field's key in the mapping n (its first part,
// up to a dot or a bracket), or 0.
func keyLine(n *yaml.Node, field string) int {
	if i := strings.IndexAny(field, ".["); i >= 0 {
		field = field[:i]
	}
	for i := 0; n != nil && i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == field {
			return n.Content[i].Line
		}
	}
	return 0
}

// ruleNameRE is what a rule's name may be: it names the rule's triggers
// in Redis, its state, timers and context fields, and metric labels.
var ruleNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// The fields of a rule that are not its kind's parameters.
const (
	fieldName  = "name"
	fieldKind  = "kind"
	fieldWhere = "where"
)

// policyFields are a rule's fields that go to its contact-policy entry.
var policyFields = []string{"cooldown", "quiet", "ttl", "holdout"}

// RulesPath is the YAML path of the rules list in journey's configuration.
const RulesPath = "rules"

// DecodeRules decodes and builds the rules: list n (nil or null: none).
// Every problem is a *config.FieldError naming the rule by its index and
// name, rules[1] (boots-push), and the field: an entry that is not a
// mapping, a missing or invalid name, a name taken by a processor, a
// default trigger rule or another rule, an unknown kind, an unknown where
// field, an invalid parameter of the kind or policy setting.
func DecodeRules(n *yaml.Node) ([]Rule, error) {
	n = resolveNode(n)
	if n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, &config.FieldError{Path: RulesPath, Line: n.Line, Msg: "want a list of rules"}
	}
	taken := reservedNames()
	var rules []Rule
	var errs []error
	for i, item := range n.Content {
		r, err := decodeRule(i, resolveNode(item), taken)
		if err != nil {
			errs = append(errs, config.Split(err)...)
			continue
		}
		taken[r.Name] = fmt.Sprintf("rules[%d]", i)
		rules = append(rules, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rules, nil
}

// reservedNames are the names a rule cannot take, with what took them:
// the processors', and the trigger rules of the default processors (a rule
// of that name would share their policy settings).
func reservedNames() map[string]string {
	taken := map[string]string{journey.IdentityName: "the identity table"}
	for _, s := range All() {
		taken[s.Name] = "processor " + s.Name
	}
	for _, r := range []string{interest.Rule, cart.Rule, recovery.Rule, engagement.Rule, dormancy.Rule} {
		taken[r] = "the trigger rule of processor " + strings.SplitN(r, ".", 2)[0]
	}
	return taken
}

// decodeRule decodes the i-th entry of the list.
func decodeRule(i int, n *yaml.Node, taken map[string]string) (Rule, error) {
	path := fmt.Sprintf("rules[%d]", i)
	if n == nil || n.Kind != yaml.MappingNode {
		line := 0
		if n != nil {
			line = n.Line
		}
		return Rule{}, &config.FieldError{Path: path, Line: line, Msg: "want a mapping: name, kind, where and the kind's settings"}
	}
	r := Rule{Name: scalarField(n, fieldName)}
	nameLine := keyLine(n, fieldName)
	switch {
	case nameLine == 0:
		return r, &config.FieldError{Path: path, Line: n.Line, Msg: "a rule needs a name"}
	case !ruleNameRE.MatchString(r.Name):
		return r, &config.FieldError{Path: path + ".name", Line: nameLine,
			Msg: fmt.Sprintf("%q is not a rule name: 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", r.Name)}
	case taken[r.Name] != "":
		return r, &config.FieldError{Path: path + ".name", Line: nameLine,
			Msg: fmt.Sprintf("%q is taken by %s", r.Name, taken[r.Name])}
	}
	path = fmt.Sprintf("%s (%s)", path, r.Name)
	r.path, r.line = path, n.Line
	fields := map[string]*yaml.Node{}
	params := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line}
	pol := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line}
	var errs []error
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		switch {
		case fields[k.Value] != nil:
			errs = append(errs, &config.FieldError{Path: path + "." + k.Value, Line: k.Line, Msg: "field given twice"})
			continue
		case k.Value == fieldName || k.Value == fieldKind || k.Value == fieldWhere:
		case slices.Contains(policyFields, k.Value):
			pol.Content = append(pol.Content, k, v)
		default:
			params.Content = append(params.Content, k, v)
		}
		fields[k.Value] = k
	}
	r.Kind = scalarField(n, fieldKind)
	kinds := ruleKinds()
	k := slices.IndexFunc(kinds, func(k ruleKind) bool { return k.name == r.Kind })
	if k < 0 {
		names := make([]string, len(kinds))
		for i, k := range kinds {
			names[i] = k.name
		}
		line := n.Line
		if f := fields[fieldKind]; f != nil {
			line = f.Line
		}
		errs = append(errs, &config.FieldError{Path: path + ".kind", Line: line,
			Msg: fmt.Sprintf("unknown kind %q (known: %s)", r.Kind, strings.Join(names, ", "))})
	}
	if f := fields[fieldWhere]; f != nil {
		w, err := decodeWhere(path+".where", valueOf(n, fieldWhere))
		if err != nil {
			errs = append(errs, config.Split(err)...)
		}
		r.Where = w
	}
	if len(pol.Content) > 0 {
		r.HasPolicy = true
		if err := config.Decode(path, pol, &r.Policy); err != nil {
			errs = append(errs, config.Split(err)...)
		} else if err := r.Policy.Validate(); err != nil {
			for _, e := range config.Split(err) {
				field, msg, _ := strings.Cut(e.Error(), ": ")
				errs = append(errs, &config.FieldError{Path: path + "." + field, Line: keyLine(pol, field), Msg: msg})
			}
		}
	}
	if k < 0 || len(errs) > 0 {
		return r, errors.Join(errs...)
	}
	kind := kinds[k]
	p, err := kind.build(path, r.Name, params)
	if err != nil {
		return r, err
	}
	if ip, ok := p.(*interest.Processor); ok {
		// A where channel interest never counts views on would make a
		// rule that never fires: say so rather than run it.
		chans := ip.Config().Channels
		for _, ch := range r.Where.Channels {
			if !slices.Contains(chans, ch) {
				return r, &config.FieldError{Path: path + ".where.channel", Line: keyLine(valueOf(n, fieldWhere), whereChannel),
					Msg: fmt.Sprintf("%q is not among the rule's channels (%s), the only ones whose views interest counts: list it in channels too", ch, strings.Join(chans, ", "))}
			}
		}
	}
	r.Processor = newRuleProcessor(p, kind, r.Where)
	return r, nil
}

// scalarField is the value of the scalar field key of mapping n, or "".
func scalarField(n *yaml.Node, key string) string {
	if v := valueOf(n, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// valueOf is the value of field key of mapping n, resolved, or nil.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return resolveNode(n.Content[i+1])
		}
	}
	return nil
}

func resolveNode(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode && len(n.Content) == 1) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else {
			n = n.Content[0]
		}
	}
	if n != nil && n.Kind == 0 {
		return nil
	}
	return n
}

// ruleProcessor is a rule's processor: its kind's, Named, folding only
// the events its where selects (and those its kind settles with). Every
// rule kind is a Merger and a ContextSource; timerRule adds the
// TimerHandler of those that set timers.
type ruleProcessor struct {
	journey.Processor
	version uint32
	where   Where
	settles func(ev *journey.Event) bool
}

type timerRule struct{ *ruleProcessor }

var (
	_ journey.Merger        = (*ruleProcessor)(nil)
	_ journey.ContextSource = (*ruleProcessor)(nil)
	_ journey.TimerHandler  = timerRule{}
)

func newRuleProcessor(p journey.Processor, kind ruleKind, w Where) journey.Processor {
	r := &ruleProcessor{Processor: p, version: kind.tag<<16 | p.StateVersion(), where: w, settles: kind.settles}
	if _, ok := p.(journey.TimerHandler); ok {
		return timerRule{r}
	}
	return r
}

// StateVersion implements journey.Processor: the kind's, tagged with the
// kind.
func (r *ruleProcessor) StateVersion() uint32 { return r.version }

// Fold implements journey.Processor: the kind's fold of the events the
// where selects, and of those the kind settles with.
func (r *ruleProcessor) Fold(st journey.State, ev *journey.Event, out *journey.Output) (bool, error) {
	if !r.where.Match(ev) && (r.settles == nil || !r.settles(ev)) {
		return false, nil
	}
	return r.Processor.Fold(st, ev, out)
}

// Context implements journey.ContextSource.
func (r *ruleProcessor) Context(st journey.State) map[string]string {
	return r.Processor.(journey.ContextSource).Context(st)
}

// Merge implements journey.Merger: the kind's merge, as an identity merge
// concerns every event the rule folded.
func (r *ruleProcessor) Merge(into, from journey.State, customerID string, at time.Time, out *journey.Output) (bool, error) {
	return r.Processor.(journey.Merger).Merge(into, from, customerID, at, out)
}

// OnTimer implements journey.TimerHandler.
func (t timerRule) OnTimer(st journey.State, customerID, key string, at time.Time, out *journey.Output) (bool, error) {
	return t.Processor.(journey.TimerHandler).OnTimer(st, customerID, key, at, out)
}
