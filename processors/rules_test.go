package processors_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors"
	"github.com/journey-dev/journey/processors/cart"
	"github.com/journey-dev/journey/processors/interest"
	"github.com/journey-dev/journey/processors/policy"
	"github.com/journey-dev/journey/processors/processortest"
)

// rulesNode parses the document doc and returns its rules: node (nil when
// absent) and its processors: sections.
func rulesNode(t *testing.T, doc string) (map[string]yaml.Node, *yaml.Node) {
	t.Helper()
	var cfg struct {
		Processors map[string]yaml.Node `yaml:"processors"`
		Rules      yaml.Node            `yaml:"rules"`
	}
	if err := yaml.Unmarshal([]byte(doc), &cfg); err != nil {
		t.Fatalf("bad test YAML: %v", err)
	}
	return cfg.Processors, &cfg.Rules
}

// twoInterestRules are the two rules: boots to push at 2 views,
// any category to email at 3.
const twoInterestRules = `
processors:
  policy:
    consent: {default: granted}
    quiet_hours: {channels: []}
    default_cooldown: 0s
rules:
  - name: boots-push
    kind: interest
    where:
      properties: {category: boots}
    threshold: 2
    half_life: 0s
    target: push
    cooldown: 12h
    holdout: 0%
  - name: any-email
    kind: interest
    threshold: 3
    half_life: 0s
    target: email
`

func TestRulesConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		enabled []string
		errs    []string
	}{
		{name: "not a list", yaml: "rules: {name: x}\n",
			errs: []string{"rules (line 1): want a list of rules"}},
		{name: "entry not a mapping", yaml: "rules:\n  - boots\n",
			errs: []string{"rules[0] (line 2): want a mapping"}},
		{name: "no name", yaml: "rules:\n  - kind: interest\n",
			errs: []string{"rules[0] (line 2): a rule needs a name"}},
		{name: "bad name", yaml: "rules:\n  - name: Boots Push\n    kind: interest\n",
			errs: []string{`rules[0].name (line 2): "Boots Push" is not a rule name`}},
		{name: "name of a processor", yaml: "rules:\n  - name: cart\n    kind: cart\n",
			errs: []string{`rules[0].name (line 2): "cart" is taken by processor cart`}},
		{name: "name of a default trigger rule", yaml: "rules:\n  - name: interest.category\n    kind: interest\n",
			errs: []string{`rules[0].name (line 2): "interest.category" is taken by the trigger rule of processor interest`}},
		{name: "name twice", yaml: "rules:\n  - {name: a, kind: interest}\n  - {name: a, kind: cart}\n",
			errs: []string{`rules[1].name (line 3): "a" is taken by rules[0]`}},
		{name: "unknown kind", yaml: "rules:\n  - name: a\n    kind: intrest\n",
			errs: []string{`rules[0] (a).kind (line 3): unknown kind "intrest" (known: interest, cart, recovery, engagement, dormancy)`}},
		{name: "no kind", yaml: "rules:\n  - name: a\n",
			errs: []string{`rules[0] (a).kind (line 2): unknown kind ""`}},
		{name: "unknown where field", yaml: "rules:\n  - name: a\n    kind: interest\n    where: {chanel: web}\n",
			errs: []string{"rules[0] (a).where.chanel (line 4): unknown field (known: channel, event, type, properties)"}},
		{name: "where channel interest never counts", yaml: "rules:\n  - name: a\n    kind: interest\n    where:\n      channel: [web, call_centre]\n",
			errs: []string{`rules[0] (a).where.channel (line 5): "call_centre" is not among the rule's channels (web, app)`}},
		{name: "unknown where type", yaml: "rules:\n  - name: a\n    kind: interest\n    where: {type: [track, click]}\n",
			errs: []string{`rules[0] (a).where.type (line 4): unknown type "click"`}},
		{name: "empty where list", yaml: "rules:\n  - name: a\n    kind: interest\n    where: {event: []}\n",
			errs: []string{"rules[0] (a).where.event (line 4): an empty list matches nothing"}},
		{name: "empty property value", yaml: "rules:\n  - name: a\n    kind: interest\n    where:\n      properties:\n        category:\n",
			errs: []string{`rules[0] (a).where.properties["category"]`, "empty value"}},
		{name: "property value a mapping", yaml: "rules:\n  - name: a\n    kind: interest\n    where:\n      properties: {category: {x: 1}}\n",
			errs: []string{`rules[0] (a).where.properties["category"] (line 5): want a value or a list of values`}},
		{name: "bad parameter", yaml: "rules:\n  - name: a\n    kind: interest\n    threshold: 0\n",
			errs: []string{"rules[0] (a).threshold (line 4): must be >= 1, got 0"}},
		{name: "unknown parameter", yaml: "rules:\n  - name: a\n    kind: cart\n    treshold: 2\n",
			errs: []string{"rules[0] (a).treshold (line 4): unknown field"}},
		{name: "parameter of the wrong type", yaml: "rules:\n  - name: a\n    kind: cart\n    timeout: soon\n",
			errs: []string{`rules[0] (a).timeout (line 4): "soon" is not a duration`}},
		{name: "bad policy settings", yaml: "rules:\n  - name: a\n    kind: recovery\n    ttl: -1h\n    quiet: later\n",
			errs: []string{"rules[0] (a).ttl (line 4): must be >= 0, got -1h0m0s", `rules[0] (a).quiet (line 5): must be "hold" or "drop", got "later"`}},
		{name: "bad duration", yaml: "rules:\n  - name: a\n    kind: recovery\n    cooldown: x\n",
			errs: []string{`rules[0] (a).cooldown (line 4): "x" is not a duration`}},
		{name: "holdout out of range", yaml: "rules:\n  - name: a\n    kind: engagement\n    holdout: 150%\n",
			errs: []string{"rules[0] (a).holdout (line 4): must be a share from 0% to under 100%, got 1.5"}},
		{name: "field twice", yaml: "rules:\n  - name: a\n    kind: dormancy\n    after: 1h\n    after: 2h\n",
			errs: []string{"rules[0] (a).after (line 5): field given twice"}},
		{name: "settings in two places",
			yaml: "processors:\n  policy:\n    rules: {a: {cooldown: 1h}}\nrules:\n  - name: a\n    kind: interest\n    cooldown: 2h\n",
			errs: []string{"rules[0] (a) (line 5): processors.policy.rules configures this rule too"}},
		{name: "second rule's errors too", yaml: "rules:\n  - {name: a, kind: interest}\n  - {name: b, kind: cart, timeout: 0s}\n",
			errs: []string{"rules[1] (b).timeout (line 3): must be > 0"}},
		{name: "enabled names an unknown rule", yaml: "rules:\n  - {name: a, kind: interest}\n", enabled: []string{"a", "b"},
			errs: []string{`processors_enabled: unknown processor "b"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secs, rules := rulesNode(t, tc.yaml)
			_, err := processors.BuildWithRules(secs, rules, tc.enabled)
			if err == nil {
				t.Fatalf("BuildWithRules succeeded, want an error containing %q", tc.errs)
			}
			for _, w := range tc.errs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("BuildWithRules error = %q\nwant it to contain %q", err, w)
				}
			}
			if tc.enabled != nil {
				return
			}
			for _, e := range config.Split(err) {
				if fe := (*config.FieldError)(nil); !errors.As(e, &fe) {
					t.Errorf("error %q is not a *config.FieldError: the file's name would not prefix it", e)
				}
			}
		})
	}
}

func TestRulesBuild(t *testing.T) {
	secs, rules := rulesNode(t, twoInterestRules)
	ps, err := processors.BuildWithRules(secs, rules, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The rules run after the default processors, before the policy.
	if got, want := names(ps), "profile,interest,recovery,engagement,chanpref,cart,dormancy,boots-push,any-email,policy"; got != want {
		t.Errorf("processors = %s, want %s", got, want)
	}
	def, _ := processors.Build(nil, nil)
	if got := names(def); got != "profile,interest,recovery,engagement,chanpref,cart,dormancy,policy" {
		t.Errorf("with no rules, processors = %s, want the default set", got)
	}
	for _, p := range ps {
		switch p.Name() {
		case "boots-push", "any-email":
			if p.StateVersion() != 1<<16|interest.StateVersion {
				t.Errorf("%s: StateVersion = %#x, want the kind's tagged with it", p.Name(), p.StateVersion())
			}
			if _, ok := p.(journey.Merger); !ok {
				t.Errorf("%s is no Merger", p.Name())
			}
			if _, ok := p.(journey.TimerHandler); ok {
				t.Errorf("%s handles timers: interest sets none", p.Name())
			}
		case policy.Name:
			cfg := p.(*policy.Processor).Config()
			r, ok := cfg.Rules["boots-push"]
			if !ok || r.Cooldown == nil || *r.Cooldown != 12*time.Hour || r.Holdout != 0 {
				t.Errorf("policy rules = %+v, want boots-push's cooldown 12h", cfg.Rules)
			}
			if _, ok := cfg.Rules["any-email"]; ok {
				t.Errorf("any-email set no policy setting, yet the policy has %+v", cfg.Rules["any-email"])
			}
		}
	}
	// processors_enabled may name rules.
	ps, err = processors.BuildWithRules(secs, rules, []string{"any-email", policy.Name})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ps); got != "any-email,policy" {
		t.Errorf("enabled any-email and policy: processors = %s", got)
	}
}

func TestWhereMatch(t *testing.T) {
	view := func(ch string, props map[string]any) *journey.Event {
		return &journey.Event{Kind: journey.KindTrack, Name: "Product Viewed", Channel: ch, Properties: props}
	}
	for _, tc := range []struct {
		name  string
		where processors.Where
		ev    *journey.Event
		want  bool
	}{
		{"empty matches all", processors.Where{}, view("web", nil), true},
		{"channel", processors.Where{Channels: []string{"web"}}, view("web", nil), true},
		{"other channel", processors.Where{Channels: []string{"web"}}, view("app", nil), false},
		{"channel list", processors.Where{Channels: []string{"web", "app"}}, view("app", nil), true},
		{"event", processors.Where{Events: []string{"Product Viewed"}}, view("web", nil), true},
		{"other event", processors.Where{Events: []string{"Product Added"}}, view("web", nil), false},
		{"page name", processors.Where{Events: []string{"Checkout"}, Types: []journey.Kind{journey.KindPage}},
			&journey.Event{Kind: journey.KindPage, Name: "Checkout"}, true},
		{"type", processors.Where{Types: []journey.Kind{journey.KindPage}}, view("web", nil), false},
		{"equality", processors.Where{Properties: []processors.PropertyMatch{{Name: "category", Values: []any{"boots"}}}},
			view("web", map[string]any{"category": "boots"}), true},
		{"not equal", processors.Where{Properties: []processors.PropertyMatch{{Name: "category", Values: []any{"boots"}}}},
			view("web", map[string]any{"category": "sneakers"}), false},
		{"in list", processors.Where{Properties: []processors.PropertyMatch{{Name: "category", Values: []any{"boots", "sneakers"}}}},
			view("web", map[string]any{"category": "sneakers"}), true},
		{"missing property", processors.Where{Properties: []processors.PropertyMatch{{Name: "category", Values: []any{"boots"}}}},
			view("web", map[string]any{"product_id": "p1"}), false},
		{"number", processors.Where{Properties: []processors.PropertyMatch{{Name: "price", Values: []any{10.0}}}},
			view("web", map[string]any{"price": 10}), true},
		{"number is not its string", processors.Where{Properties: []processors.PropertyMatch{{Name: "price", Values: []any{"10"}}}},
			view("web", map[string]any{"price": 10.0}), false},
		{"bool", processors.Where{Properties: []processors.PropertyMatch{{Name: "gift", Values: []any{true}}}},
			view("web", map[string]any{"gift": true}), true},
		{"a list property matches nothing", processors.Where{Properties: []processors.PropertyMatch{{Name: "category", Values: []any{"boots"}}}},
			view("web", map[string]any{"category": []any{"boots"}}), false},
		{"all fields must match", processors.Where{Channels: []string{"web"}, Properties: []processors.PropertyMatch{{Name: "category", Values: []any{"boots"}}}},
			view("app", map[string]any{"category": "boots"}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.where.Match(tc.ev); got != tc.want {
				t.Errorf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestWhereDecodes checks the YAML forms of where: a value or a list, and
// YAML's types for property values.
func TestWhereDecodes(t *testing.T) {
	_, rules := rulesNode(t, `
rules:
  - name: a
    kind: engagement
    where:
      channel: web
      event: [Product Shared, Product Reviewed]
      type: track
      properties: {rating: [4, 5], shared_to: "5", verified: true}
`)
	rs, err := processors.DecodeRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	w := rs[0].Where
	want := processors.Where{Channels: []string{"web"}, Events: []string{"Product Shared", "Product Reviewed"},
		Types: []journey.Kind{journey.KindTrack}, Properties: []processors.PropertyMatch{
			{Name: "rating", Values: []any{4.0, 5.0}}, {Name: "shared_to", Values: []any{"5"}}, {Name: "verified", Values: []any{true}}}}
	if !slices.Equal(w.Channels, want.Channels) || !slices.Equal(w.Events, want.Events) || !slices.Equal(w.Types, want.Types) ||
		!slices.EqualFunc(w.Properties, want.Properties, func(a, b processors.PropertyMatch) bool {
			return a.Name == b.Name && slices.Equal(a.Values, b.Values)
		}) {
		t.Errorf("where = %+v\nwant %+v", w, want)
	}
}

// TestTwoInterestRules folds one stream through the two rules:
// they fire independently, each at its own threshold, under its own name
// and with its own ids; a customer who viewed only sneakers gets only the
// second; a purchase settles a filtered rule though it carries no
// category property.
func TestTwoInterestRules(t *testing.T) {
	secs, rules := rulesNode(t, twoInterestRules)
	ps, err := processors.BuildWithRules(secs, rules, []string{"boots-push", "any-email", policy.Name})
	if err != nil {
		t.Fatal(err)
	}
	e, err := journey.NewEngine(ps...)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	customers := map[string]*journey.Customer{}
	fold := func(id, cust, name string, props map[string]any) []journey.Trigger {
		c := customers[cust]
		if c == nil {
			c = e.NewCustomer(cust)
			if err := e.Load(c, func(string, journey.Processor, journey.State) (bool, error) { return false, nil }); err != nil {
				t.Fatal(err)
			}
			customers[cust] = c
		}
		t0 = t0.Add(time.Minute)
		var out journey.Output
		ev := &journey.Event{ID: id, Kind: journey.KindTrack, Name: name, CustomerID: cust, Channel: "web", Time: t0, Properties: props}
		if err := e.Fold(c, ev, &out); err != nil {
			t.Fatal(err)
		}
		return out.Triggers
	}
	boots := map[string]any{"category": "boots"}
	sneakers := map[string]any{"category": "sneakers"}
	rulesOf := func(ts []journey.Trigger) []string {
		var r []string
		for _, tr := range ts {
			r = append(r, tr.Rule+"->"+tr.Channel)
		}
		return r
	}
	check := func(got []journey.Trigger, want ...string) {
		t.Helper()
		if !slices.Equal(rulesOf(got), want) {
			t.Errorf("triggers = %v, want %v", rulesOf(got), want)
		}
	}
	check(fold("b1", "c1", "Product Viewed", boots))
	b2 := fold("b2", "c1", "Product Viewed", boots)
	check(b2, "boots-push->push")
	b3 := fold("b3", "c1", "Product Viewed", boots)
	check(b3, "any-email->email")
	if len(b2) == 1 && len(b3) == 1 {
		if b2[0].ID != journey.TriggerID("boots-push", "c1", "b2") || b3[0].ID != journey.TriggerID("any-email", "c1", "b3") {
			t.Errorf("ids = %s, %s, want TriggerID(rule name, customer, event)", b2[0].ID, b3[0].ID)
		}
	}
	// Only sneakers: the boots rule never fires.
	check(fold("s1", "c2", "Product Viewed", sneakers))
	check(fold("s2", "c2", "Product Viewed", sneakers))
	check(fold("s3", "c2", "Product Viewed", sneakers), "any-email->email")
	check(fold("x3", "c4", "Product Viewed", boots))
	// A purchase of boots (its category is in its products, not in a
	// property the where names) still reaches boots-push and suppresses it.
	check(fold("o1", "c4", "Order Completed", map[string]any{"products": []any{map[string]any{"category": "boots"}}}))
	check(fold("x4", "c4", "Product Viewed", boots))
	check(fold("x5", "c4", "Product Viewed", boots))
	// Context fields are the rule's.
	ctx := e.Context(customers["c1"])
	if _, ok := ctx["boots-push.top"]; !ok {
		t.Errorf("context = %v, want boots-push.top", ctx)
	}
	if _, ok := ctx["any-email.top"]; !ok {
		t.Errorf("context = %v, want any-email.top", ctx)
	}
}

// TestCartRuleWhere: a cart rule filtered to the web opens carts from web
// adds only, but an order on another channel still checks its cart out.
func TestCartRuleWhere(t *testing.T) {
	_, rules := rulesNode(t, `
rules:
  - name: web-cart
    kind: cart
    where: {channel: web}
    timeout: 30m
`)
	ps, err := processors.BuildWithRules(nil, rules, []string{"web-cart"})
	if err != nil {
		t.Fatal(err)
	}
	p := ps[0]
	if _, ok := p.(journey.TimerHandler); !ok {
		t.Fatal("a cart rule handles no timers")
	}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	ev := func(id, name, ch string, props map[string]any) *journey.Event {
		return &journey.Event{ID: id, Kind: journey.KindTrack, Name: name, CustomerID: "c1", Channel: ch, Time: t0, Properties: props}
	}
	e, _ := journey.NewEngine(p)
	c := e.NewCustomer("c1")
	c.States[0] = p.NewState()
	var out journey.Output
	for _, x := range []*journey.Event{
		ev("a1", cart.EventProductAdded, "app", map[string]any{"cart_id": "k-app", "product_id": "p1"}),
		ev("a2", cart.EventProductAdded, "web", map[string]any{"cart_id": "k-web", "product_id": "p2"}),
	} {
		if err := e.Fold(c, x, &out); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.Context(c)["web-cart.open"]; !strings.Contains(got, `"k-web"`) || strings.Contains(got, `"k-app"`) {
		t.Errorf("web-cart.open = %s, want the web cart only", got)
	}
	if len(out.Timers) != 1 || out.Timers[0].Processor != "web-cart" || out.Timers[0].Key != cart.TimerKey("k-web") {
		t.Errorf("timers = %+v, want the web cart's, owned by the rule", out.Timers)
	}
	out.Reset()
	if err := e.Fold(c, ev("o1", cart.EventOrderCompleted, "call_centre", map[string]any{"cart_id": "k-web"}), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Timers) != 1 || !out.Timers[0].Cancel {
		t.Errorf("timers = %+v, want the web cart's cancelled by an order on another channel", out.Timers)
	}
	if got := e.Context(c)["web-cart.open"]; got != "[]" {
		t.Errorf("web-cart.open = %s after the order, want []", got)
	}
	// The trigger of an abandonment is the rule's.
	out.Reset()
	if err := e.Fold(c, ev("a3", cart.EventProductAdded, "web", map[string]any{"cart_id": "k2", "product_id": "p3"}), &out); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := e.FireTimer(c, "web-cart", cart.TimerKey("k2"), t0.Add(30*time.Minute), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Triggers) != 1 || out.Triggers[0].Rule != "web-cart" ||
		out.Triggers[0].ID != journey.TriggerID("web-cart", "c1", cart.TimerKey("k2")+"@"+t0.Add(30*time.Minute).Format(time.RFC3339Nano)) {
		t.Errorf("triggers = %+v, want one web-cart abandonment", out.Triggers)
	}
}

// TestGoldenRules runs testdata/rules: the two interest rules beside the
// default interest processor, through the contact policy.
func TestGoldenRules(t *testing.T) {
	secs, rules := rulesNode(t, twoInterestRules)
	ps, err := processors.BuildWithRules(secs, rules, []string{interest.Name, "boots-push", "any-email", policy.Name})
	if err != nil {
		t.Fatal(err)
	}
	processortest.RunEngine(t, ps, "testdata/rules")
}

// TestExampleRules: the commented rules: of journey.example.yaml build.
func TestExampleRules(t *testing.T) {
	b, err := os.ReadFile("../journey.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "\n# rules:\n")
	if !ok {
		t.Fatal("journey.example.yaml has no commented rules: example")
	}
	doc := "rules:\n"
	for _, line := range strings.Split(block, "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		doc += strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ") + "\n"
	}
	_, rules := rulesNode(t, doc)
	ps, err := processors.BuildWithRules(nil, rules, nil)
	if err != nil {
		t.Fatalf("example rules:\n%s\n%v", doc, err)
	}
	if got := names(ps); !strings.Contains(got, "boots-push,any-email,policy") {
		t.Errorf("processors = %s", got)
	}
}

// TestRuleMerges: an identity merge joins a rule's states like its kind's,
// and a crossing the merged views make fires under the rule's name.
func TestRuleMerges(t *testing.T) {
	secs, rules := rulesNode(t, twoInterestRules)
	ps, err := processors.BuildWithRules(secs, rules, []string{"boots-push"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := journey.NewEngine(ps...)
	if err != nil {
		t.Fatal(err)
	}
	if nm := e.NotMergers(); len(nm) != 0 {
		t.Fatalf("not mergers: %v", nm)
	}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var out journey.Output
	fold := func(c *journey.Customer, id string, min int) {
		ev := &journey.Event{ID: id, Kind: journey.KindTrack, Name: "Product Viewed", CustomerID: c.ID, Channel: "web",
			Time: t0.Add(time.Duration(min) * time.Minute), Properties: map[string]any{"category": "boots"}}
		if err := e.Fold(c, ev, &out); err != nil {
			t.Fatal(err)
		}
	}
	anon, user := e.NewCustomer("anon-1"), e.NewCustomer("u-1")
	for _, c := range []*journey.Customer{anon, user} {
		c.States[0] = ps[0].NewState()
	}
	fold(anon, "b1", 0)
	fold(user, "b2", 1)
	if len(out.Triggers) != 0 {
		t.Fatalf("triggers before the merge: %+v", out.Triggers)
	}
	if err := e.Merge(user, anon.States, t0.Add(2*time.Minute), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Triggers) != 1 || out.Triggers[0].Rule != "boots-push" || out.Triggers[0].ID != journey.TriggerID("boots-push", "u-1", "b2") {
		t.Errorf("merge triggers = %+v, want boots-push's at b2 under u-1", out.Triggers)
	}
}

// TestEveryKindAsRule: a rule of each kind triggers, keeps context fields
// and sets timers under its own name, its where selecting its events.
func TestEveryKindAsRule(t *testing.T) {
	_, rules := rulesNode(t, `
rules:
  - {name: r-interest, kind: interest, threshold: 1, where: {channel: app}}
  - {name: r-cart, kind: cart, where: {channel: app}}
  - {name: r-recovery, kind: recovery, where: {channel: app}}
  - {name: r-engagement, kind: engagement, where: {channel: app}}
  - {name: r-dormancy, kind: dormancy, where: {channel: app}}
`)
	ps, err := processors.BuildWithRules(nil, rules, []string{"r-interest", "r-cart", "r-recovery", "r-engagement", "r-dormancy"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := journey.NewEngine(ps...)
	if err != nil {
		t.Fatal(err)
	}
	c := e.NewCustomer("c1")
	for i, p := range ps {
		c.States[i] = p.NewState()
	}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	events := func(ch string) []*journey.Event {
		return []*journey.Event{
			{ID: ch + "v", Name: "Product Viewed", Properties: map[string]any{"category": "boots"}},
			{ID: ch + "a", Name: "Product Added", Properties: map[string]any{"cart_id": "k" + ch, "product_id": "p1"}},
			{ID: ch + "c", Name: "Complaint Submitted"},
			{ID: ch + "o", Name: "Product Shared"},
			{ID: ch + "o2", Name: "Product Reviewed", Properties: map[string]any{"rating": 5.0}},
		}
	}
	var out journey.Output
	for _, ch := range []string{"web", "app"} {
		for _, ev := range events(ch) {
			ev.Kind, ev.CustomerID, ev.Channel, ev.Time = journey.KindTrack, "c1", ch, t0
			if err := e.Fold(c, ev, &out); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []string
	for _, tr := range out.Triggers {
		got = append(got, tr.Rule+"@"+tr.Causes[len(tr.Causes)-1])
	}
	// The web events feed nothing; the app events feed every rule.
	want := []string{"r-interest@appv", "r-recovery@appc", "r-engagement@appo"}
	if !slices.Equal(got, want) {
		t.Errorf("triggers = %v, want %v", got, want)
	}
	var timers []string
	for _, op := range out.Timers {
		timers = append(timers, op.Processor+"/"+op.Key)
	}
	if !slices.Contains(timers, "r-cart/cart:kapp") || slices.Contains(timers, "r-cart/cart:kweb") || !slices.Contains(timers, "r-dormancy/dormant") {
		t.Errorf("timers = %v, want r-cart's of the app cart and r-dormancy's", timers)
	}
	ctx := e.Context(c)
	for _, k := range []string{"r-interest.top", "r-cart.open", "r-cart.abandoned_at", "r-recovery.last",
		"r-engagement.score", "r-engagement.tier", "r-engagement.at", "r-dormancy.last_engaged"} {
		if _, ok := ctx[k]; !ok {
			t.Errorf("context has no %s: %v", k, ctx)
		}
	}
	for k := range ctx {
		if !strings.HasPrefix(k, "r-") {
			t.Errorf("context field %s is not a rule's", k)
		}
	}
	out.Reset()
	if err := e.FireTimer(c, "r-dormancy", "dormant", t0.Add(720*time.Hour), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Triggers) != 1 || out.Triggers[0].Rule != "r-dormancy" {
		t.Errorf("dormancy timer triggers = %+v, want one r-dormancy", out.Triggers)
	}
}
