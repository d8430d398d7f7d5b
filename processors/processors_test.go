package processors_test

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors"
	"github.com/journey-dev/journey/processors/cart"
	"github.com/journey-dev/journey/processors/chanpref"
	"github.com/journey-dev/journey/processors/dormancy"
	"github.com/journey-dev/journey/processors/engagement"
	"github.com/journey-dev/journey/processors/interest"
	"github.com/journey-dev/journey/processors/policy"
	// Defines -update, so `go test ./processors/... -update` runs here too.
	_ "github.com/journey-dev/journey/processors/processortest"
	"github.com/journey-dev/journey/processors/profile"
	"github.com/journey-dev/journey/processors/recovery"
)

func sections(t *testing.T, doc string) map[string]yaml.Node {
	t.Helper()
	var m map[string]yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("bad test YAML: %v", err)
	}
	return m
}

func names(ps []journey.Processor) string {
	var n []string
	for _, p := range ps {
		n = append(n, p.Name())
	}
	return strings.Join(n, ",")
}

func TestAll(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range processors.All() {
		if seen[s.Name] {
			t.Errorf("processor %q listed twice", s.Name)
		}
		seen[s.Name] = true
		p, err := s.Build(nil)
		if err != nil {
			t.Fatalf("%s: Build(nil) = %v, want the defaults to build", s.Name, err)
		}
		if p.Name() != s.Name {
			t.Errorf("Spec %q builds a processor named %q", s.Name, p.Name())
		}
		if p.StateVersion() == 0 {
			t.Errorf("%s: StateVersion 0", s.Name)
		}
	}
}

func TestBuild(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string // the sections; "" for none
		enabled []string
		want    string   // processor names, when no error
		errs    []string // substrings of the error
	}{
		{name: "no sections, all but the timeline (timeline.enabled is off)", want: "profile,interest,recovery,engagement,chanpref,cart,dormancy,policy"},
		{name: "null sections are defaults", yaml: "interest:\nprofile: ~\nrecovery:\nengagement: ~\nchanpref:\ncart:\ndormancy: ~\n", want: "profile,interest,recovery,engagement,chanpref,cart,dormancy,policy"},
		{name: "timeline on", yaml: "timeline:\n  enabled: true\n", want: "profile,interest,recovery,engagement,chanpref,cart,dormancy,policy,timeline"},
		{name: "enabled subset, in registry order", yaml: "", enabled: []string{"interest", "profile"}, want: "profile,interest"},
		{name: "only interest", enabled: []string{"interest"}, want: "interest"},
		{name: "none enabled", enabled: []string{}, want: ""},
		{name: "full interest section", yaml: `
interest:
  window: 72h
  threshold: 2
  channels: [web]
  target: call_centre
  max_categories: 10
  max_views: 5
profile:
  max_event_names: 10
  max_channels: 5
  max_anonymous_ids: 2
`, enabled: []string{"profile", "interest"}, want: "profile,interest"},
		{name: "full sections of recovery, engagement, chanpref", yaml: `
interest:
  half_life: 48h
recovery:
  target: call_centre
  signals: [complaint, low_rating, failed_contacts]
  low_survey_score: 3
  survey_scale: 5
  low_rating: 1
  failed_contacts: 2
  failed_contacts_window: 24h
  debounce: 12h
  history: 240h
  max_signals: 5
engagement:
  weights: {"Product Shared": 5, page: 0}
  half_life: 168h
  tiers: [dormant, casual, fan, advocate]
  boundaries: [2, 10, 40]
  hysteresis: 0.2
  target: push
chanpref:
  responses: {"SMS Link Clicked": sms, "Email Opened": ""}
  half_life: 360h
  min_score: 0.5
`, want: "profile,interest,recovery,engagement,chanpref,cart,dormancy,policy"},
		{name: "unknown section", yaml: "interset:\n  threshold: 3\nzzz: 1\n", errs: []string{"processors.interset: unknown processor (known: profile, interest, recovery, engagement, chanpref, cart, dormancy, policy, timeline)", "processors.zzz: unknown processor"}},
		{name: "unknown enabled", enabled: []string{"intrest"}, errs: []string{`processors_enabled: unknown processor "intrest"`}},
		{name: "enabled twice", enabled: []string{"profile", "profile"}, errs: []string{`processors_enabled: processor "profile" given twice`}},
		{name: "unknown field", yaml: "interest:\n  treshold: 3\n", errs: []string{"processors.interest.treshold (line 2): unknown field"}},
		{name: "unknown fields in two sections", yaml: "interest:\n  treshold: 3\nprofile:\n  max_ids: 1\n", errs: []string{"processors.interest.treshold (line 2)", "processors.profile.max_ids (line 4)"}},
		{name: "bad duration", yaml: "interest:\n  window: 7d\n", errs: []string{`processors.interest.window (line 2): "7d" is not a duration`}},
		{name: "duration as a number", yaml: "interest:\n  window: 3600\n", errs: []string{`processors.interest.window (line 2): "3600" is not a duration`}},
		{name: "wrong type", yaml: "interest:\n  threshold: three\n", errs: []string{`processors.interest.threshold (line 2): "three" is not an integer`}},
		{name: "list for a string", yaml: "interest:\n  target: [email]\n", errs: []string{"processors.interest.target (line 2): want a single value, got a list"}},
		{name: "empty field", yaml: "interest:\n  channels:\n", errs: []string{"processors.interest.channels (line 2): empty value"}},
		{name: "field twice", yaml: "interest:\n  threshold: 2\n  threshold: 4\n", errs: []string{"processors.interest.threshold (line 3): field given twice"}},
		{name: "section not a mapping", yaml: "interest: [1, 2]\n", errs: []string{"processors.interest (line 1): want a mapping of fields, got a list"}},
		{name: "invalid value", yaml: "interest:\n  threshold: 0\n", errs: []string{"interest.threshold: must be >= 1, got 0"}},
		{name: "invalid against a default", yaml: "interest:\n  threshold: 30\n", errs: []string{"interest.max_views: must be >= threshold (30), got 20"}},
		{name: "disabled section not decoded", yaml: "interest:\n  threshold: 0\n", enabled: []string{"profile"}, want: "profile"},
		{name: "interest half_life negative", yaml: "interest:\n  half_life: -1h\n", errs: []string{"interest.half_life: must be >= 0 (0 disables decay), got -1h0m0s"}},
		{name: "engagement half_life zero", yaml: "engagement:\n  half_life: 0s\n", errs: []string{"engagement.half_life: must be > 0, got 0s"}},
		{name: "engagement weight not a number", yaml: "engagement:\n  weights: {page: lots}\n", errs: []string{`processors.engagement.weights["page"] (line 2): "lots" is not a number`}},
		{name: "engagement weight negative", yaml: "engagement:\n  weights: {page: -1}\n", errs: []string{`engagement.weights["page"]: must be between 0 and 1000, got -1`}},
		{name: "engagement tiers without boundaries", yaml: "engagement:\n  tiers: [a, b, c, d]\n", errs: []string{"engagement.boundaries: must hold one score per tier after the first (3), got 2"}},
		{name: "engagement unknown field", yaml: "engagement:\n  halflife: 24h\n", errs: []string{"processors.engagement.halflife (line 2): unknown field"}},
		{name: "recovery unknown signal", yaml: "recovery:\n  signals: [complaint, refund]\n", errs: []string{`recovery.signals: unknown signal "refund"`}},
		{name: "recovery history below debounce", yaml: "recovery:\n  debounce: 800h\n", errs: []string{"recovery.history: must be >= debounce (800h0m0s), got 720h0m0s"}},
		{name: "recovery bad duration", yaml: "recovery:\n  failed_contacts_window: 3d\n", errs: []string{`processors.recovery.failed_contacts_window (line 2): "3d" is not a duration`}},
		{name: "chanpref preferred", yaml: "chanpref:\n  responses: {\"Call Answered\": preferred}\n", errs: []string{`chanpref.responses["Call Answered"]: "preferred" is not a channel`}},
		{name: "chanpref min_score zero", yaml: "chanpref:\n  min_score: 0\n", errs: []string{"chanpref.min_score: must be > 0 and <= 1000, got 0"}},
		{name: "errors in three sections", yaml: "recovery:\n  max_signals: 0\nengagement:\n  hysteresis: 1\nchanpref:\n  half_life: 0s\n", errs: []string{
			"recovery.max_signals:", "engagement.hysteresis:", "chanpref.half_life:",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var secs map[string]yaml.Node
			if tc.yaml != "" {
				secs = sections(t, tc.yaml)
			}
			ps, err := processors.Build(secs, tc.enabled)
			if len(tc.errs) > 0 {
				if err == nil {
					t.Fatalf("Build succeeded with %s, want an error", names(ps))
				}
				for _, w := range tc.errs {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("Build error = %q\nwant it to contain %q", err, w)
					}
				}
				if !strings.HasPrefix(err.Error(), "processors") {
					t.Errorf("Build error %q does not start with the package name", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if got := names(ps); got != tc.want {
				t.Errorf("Build built %q, want %q", got, tc.want)
			}
		})
	}
}

// TestBuildAppliesSection checks decoded values reach the processors and
// that fields left out keep their defaults.
func TestBuildAppliesSection(t *testing.T) {
	secs := sections(t, "interest:\n  window: 90m\n  channels: [app]\nprofile:\n  max_channels: 7\ntimeline:\n  enabled: true\n")
	ps, err := processors.Build(secs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != len(processors.All()) {
		t.Fatalf("built %s, want every processor", names(ps))
	}
	pc := ps[0].(*profile.Processor).Config()
	if want := (profile.Config{MaxEventNames: 100, MaxChannels: 7, MaxAnonymousIDs: 5}); pc != want {
		t.Errorf("profile config = %+v, want %+v", pc, want)
	}
	ic := ps[1].(*interest.Processor).Config()
	want := interest.DefaultConfig()
	want.Window = 90 * time.Minute
	want.Channels = []string{"app"}
	if ic.Window != want.Window || strings.Join(ic.Channels, ",") != "app" || ic.Threshold != want.Threshold ||
		ic.Target != want.Target || ic.MaxCategories != want.MaxCategories || ic.MaxViews != want.MaxViews ||
		ic.HalfLife != 72*time.Hour {
		t.Errorf("interest config = %+v, want %+v", ic, want)
	}
}

// TestBuildMergesMaps checks a map in a section (engagement.weights,
// chanpref.responses) is merged over the default map, and a list
// (engagement.tiers, recovery.signals) replaces the default list.
func TestBuildMergesMaps(t *testing.T) {
	secs := sections(t, `
recovery:
  signals: [complaint]
engagement:
  weights: {"Product Shared": 5, page: 0, "Wishlist Added": 1.5}
  tiers: [cold, warm, hot]
chanpref:
  responses: {"SMS Link Clicked": sms, "Email Opened": ""}
`)
	ps, err := processors.Build(secs, []string{"recovery", "engagement", "chanpref"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ps[0].(*recovery.Processor).Config().Signals; strings.Join(got, ",") != "complaint" {
		t.Errorf("recovery.signals = %v, want [complaint]", got)
	}
	ec := ps[1].(*engagement.Processor).Config()
	for k, want := range map[string]float64{"Product Shared": 5, "page": 0, "Wishlist Added": 1.5, "Order Completed": 10, "Product Viewed": 1} {
		if got, ok := ec.Weights[k]; !ok || got != want {
			t.Errorf("engagement.weights[%q] = %v (present %v), want %v", k, got, ok, want)
		}
	}
	if strings.Join(ec.Tiers, ",") != "cold,warm,hot" || len(ec.Boundaries) != 2 {
		t.Errorf("engagement tiers %v boundaries %v", ec.Tiers, ec.Boundaries)
	}
	cc := ps[2].(*chanpref.Processor).Config()
	for k, want := range map[string]string{"SMS Link Clicked": "sms", "Email Opened": "", "Email Link Clicked": "email", "Call Answered": "call_centre"} {
		if got := cc.Responses[k]; got != want {
			t.Errorf("chanpref.responses[%q] = %q, want %q", k, got, want)
		}
	}
}

// TestSpecBuildDocument checks Spec.Build accepts a whole YAML document
// node as well as the section's value.
func TestSpecBuildDocument(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("threshold: 5\nmax_views: 5\n"), &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range processors.All() {
		if s.Name != interest.Name {
			continue
		}
		p, err := s.Build(&doc)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.(*interest.Processor).Config().Threshold; got != 5 {
			t.Errorf("threshold = %d, want 5", got)
		}
	}
}

// TestBuildCartDormancy checks the cart and dormancy sections: decoded
// over the defaults, a list replacing the default list, and every invalid
// field named.
func TestBuildCartDormancy(t *testing.T) {
	secs := sections(t, `
cart:
  timeout: 45m
  target: preferred
  max_items: 10
dormancy:
  after: 336h
  kinds: [track]
  events: [Order Completed, Application Opened]
  exclude: []
`)
	ps, err := processors.Build(secs, []string{"cart", "dormancy"})
	if err != nil {
		t.Fatal(err)
	}
	cc := ps[0].(*cart.Processor).Config()
	if want := (cart.Config{Timeout: 45 * time.Minute, Target: "preferred", MaxCarts: 5, MaxItems: 10}); cc != want {
		t.Errorf("cart config = %+v, want %+v", cc, want)
	}
	dc := ps[1].(*dormancy.Processor).Config()
	if dc.After != 336*time.Hour || dc.Target != "email" || len(dc.Kinds) != 1 || dc.Kinds[0] != journey.KindTrack ||
		strings.Join(dc.Events, ",") != "Order Completed,Application Opened" || len(dc.Exclude) != 0 {
		t.Errorf("dormancy config = %+v", dc)
	}

	ps, err = processors.Build(sections(t, "dormancy:\n  exclude: [Email Sent]\n"), []string{"dormancy"})
	if err != nil {
		t.Fatal(err)
	}
	if ex := ps[0].(*dormancy.Processor).Config().Exclude; strings.Join(ex, ",") != "Email Sent" {
		t.Errorf("dormancy.exclude = %q, want the list given to replace the default list", ex)
	}

	for _, tc := range []struct {
		name, yaml string
		errs       []string
	}{
		{"cart timeout zero", "cart:\n  timeout: 0s\n", []string{"processors.cart.timeout: must be > 0, got 0s"}},
		{"cart timeout not a duration", "cart:\n  timeout: 1 hour\n", []string{`processors.cart.timeout (line 2): "1 hour" is not a duration`}},
		{"cart unknown field", "cart:\n  max_cart: 3\n", []string{"processors.cart.max_cart (line 2): unknown field"}},
		{"cart bounds", "cart:\n  max_carts: 0\n  max_items: 5000\n", []string{"cart.max_carts: must be between 1 and 100, got 0", "cart.max_items: must be between 1 and 1000, got 5000"}},
		{"dormancy after zero", "dormancy:\n  after: 0s\n", []string{"processors.dormancy.after: must be > 0, got 0s"}},
		{"dormancy unknown kind", "dormancy:\n  kinds: [track, click]\n", []string{`dormancy.kinds: "click" is not an event kind`}},
		{"dormancy kinds not a list", "dormancy:\n  kinds: track\n", []string{`processors.dormancy.kinds (line 2): want a list, got "track"`}},
		{"dormancy listed and excluded", "dormancy:\n  events: [Email Sent]\n", []string{`dormancy.exclude: "Email Sent" is also in events`}},
		{"dormancy empty target", "dormancy:\n  target: \"\"\n", []string{"dormancy.target: must name a channel"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := processors.Build(sections(t, tc.yaml), []string{"cart", "dormancy"})
			if err == nil {
				t.Fatal("Build succeeded, want an error")
			}
			for _, w := range tc.errs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Build error = %q\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

// TestBuildPolicy checks the policy section through the registry's
// decoder: nested sections, the strict rules and caps mappings, and
// errors naming their field.
func TestBuildPolicy(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		errs []string
	}{
		{name: "full section", yaml: `
policy:
  consent:
    required: [email, push, sms]
    default: denied
    categories: {marketing: [email, push, sms]}
  fallback_channel: email
  default_cooldown: 24h
  rules:
    cart.abandoned: {cooldown: 4h, quiet: hold}
    service.recovery: {target: call_centre, cooldown: 0s}
  caps:
    email: {max: 2, window: 24h}
    push: {max: 3}
  quiet_hours: {start: "21:00", end: "08:00", channels: [email, push, sms], action: hold}
  default_time_zone: Europe/Paris
  max_held: 5
  max_log: 50
`},
		{name: "unknown rule field", yaml: "policy:\n  rules:\n    cart.abandoned:\n      cooldwn: 1h\n",
			errs: []string{`processors.policy.rules["cart.abandoned"].cooldwn (line 4): unknown field`}},
		{name: "unknown nested field", yaml: "policy:\n  quiet_hours:\n    begin: \"21:00\"\n",
			errs: []string{"processors.policy.quiet_hours.begin (line 3): unknown field"}},
		{name: "invalid cap", yaml: "policy:\n  caps:\n    email: {max: 0}\n",
			errs: []string{"processors.policy.caps.email.max: must be >= 1, got 0"}},
		{name: "invalid quiet hours", yaml: "policy:\n  quiet_hours: {start: \"25:00\"}\n",
			errs: []string{`processors.policy.quiet_hours.start: "25:00" is not HH:MM`}},
		{name: "bad duration", yaml: "policy:\n  default_cooldown: 1d\n",
			errs: []string{`processors.policy.default_cooldown (line 2): "1d" is not a duration`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := processors.Build(sections(t, tc.yaml), []string{policy.Name})
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				cfg := ps[0].(*policy.Processor).Config()
				if *cfg.Rules["cart.abandoned"].Cooldown != 4*time.Hour || cfg.Caps["push"] != (policy.Cap{Max: 3, Window: 24 * time.Hour}) ||
					len(cfg.Caps) != 2 || cfg.DefaultTimeZone != "Europe/Paris" || cfg.MaxHeld != 5 || cfg.Consent.Categories["marketing"][2] != "sms" {
					t.Errorf("config = %+v", cfg)
				}
				return
			}
			if err == nil {
				t.Fatal("Build succeeded, want an error")
			}
			for _, w := range tc.errs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Build error = %q\nwant it to contain %q", err, w)
				}
			}
		})
	}
}
