package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/processors/processortest"

	"go.yaml.in/yaml/v3"

	"github.com/journey-dev/journey/processors/policy"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*policy.Config)
		want   []string // substrings of the error; none when valid
	}{
		{"defaults", func(*policy.Config) {}, nil},
		{"opt-out, categories, rules", func(c *policy.Config) {
			c.Consent.Default = policy.ConsentGrant
			c.Consent.Categories = map[string][]string{"marketing": {"email", "push"}}
			c.Rules = policy.Rules{"cart.abandoned": {Cooldown: ptr(time.Hour), Quiet: policy.QuietDrop, Target: "preferred"}}
		}, nil},
		{"holdout 100%", func(c *policy.Config) { c.Rules = policy.Rules{"r": {Holdout: 1}} },
			[]string{"policy.rules.r.holdout: must be a share from 0% to under 100%, got 1"}},
		{"negative ttl", func(c *policy.Config) { c.Rules = policy.Rules{"r": {TTL: -time.Hour}} },
			[]string{"policy.rules.r.ttl: must be >= 0, got -1h0m0s"}},
		{"quiet hours off", func(c *policy.Config) {
			c.QuietHours = policy.QuietHours{Start: "00:00", End: "00:00", Channels: nil, Action: policy.QuietHold}
		}, nil},
		{"no caps, no required consent", func(c *policy.Config) { c.Caps, c.Consent.Required = nil, nil }, nil},
		{"cap max zero", func(c *policy.Config) { c.Caps["email"] = policy.Cap{Max: 0, Window: time.Hour} },
			[]string{"policy.caps.email.max: must be >= 1, got 0"}},
		{"cap max huge", func(c *policy.Config) { c.Caps["email"] = policy.Cap{Max: 101, Window: time.Hour} },
			[]string{"policy.caps.email.max: must be <= 100, got 101"}},
		{"cap window zero", func(c *policy.Config) { c.Caps["sms"] = policy.Cap{Max: 1} },
			[]string{"policy.caps.sms.window: must be > 0, got 0s"}},
		{"cap on preferred", func(c *policy.Config) { c.Caps["preferred"] = policy.Cap{Max: 1, Window: time.Hour} },
			[]string{`policy.caps: "preferred" is not a channel here`}},
		{"quiet start", func(c *policy.Config) { c.QuietHours.Start = "25:00" },
			[]string{`policy.quiet_hours.start: "25:00" is not HH:MM`}},
		{"quiet end", func(c *policy.Config) { c.QuietHours.End = "8:00" },
			[]string{`policy.quiet_hours.end: "8:00" is not HH:MM`}},
		{"quiet minutes", func(c *policy.Config) { c.QuietHours.End = "08:60" },
			[]string{`policy.quiet_hours.end: "08:60" is not HH:MM`}},
		{"quiet signed", func(c *policy.Config) { c.QuietHours.End = "+8:00" },
			[]string{`policy.quiet_hours.end: "+8:00" is not HH:MM`}},
		{"quiet empty window", func(c *policy.Config) { c.QuietHours.End = "21:00" },
			[]string{"policy.quiet_hours.end: must differ from start (21:00)"}},
		{"quiet action", func(c *policy.Config) { c.QuietHours.Action = "delay" },
			[]string{`policy.quiet_hours.action: must be "hold" or "drop", got "delay"`}},
		{"quiet channels twice", func(c *policy.Config) { c.QuietHours.Channels = []string{"sms", "sms"} },
			[]string{`policy.quiet_hours.channels: "sms" is listed twice`}},
		{"consent default", func(c *policy.Config) { c.Consent.Default = "yes" },
			[]string{`policy.consent.default: must be "granted" or "denied", got "yes"`}},
		{"consent required empty name", func(c *policy.Config) { c.Consent.Required = []string{"email", ""} },
			[]string{"policy.consent.required: entry 1 must be a channel name"}},
		{"consent category without channels", func(c *policy.Config) { c.Consent.Categories = map[string][]string{"marketing": nil} },
			[]string{"policy.consent.categories.marketing: must name at least one channel"}},
		{"fallback empty", func(c *policy.Config) { c.FallbackChannel = "" },
			[]string{"policy.fallback_channel: must name a channel"}},
		{"fallback preferred", func(c *policy.Config) { c.FallbackChannel = "preferred" },
			[]string{`policy.fallback_channel: cannot be "preferred"`}},
		{"default cooldown negative", func(c *policy.Config) { c.DefaultCooldown = -time.Hour },
			[]string{"policy.default_cooldown: must be >= 0, got -1h0m0s"}},
		{"rule cooldown negative", func(c *policy.Config) { c.Rules = policy.Rules{"cart.abandoned": {Cooldown: ptr(-time.Second)}} },
			[]string{"policy.rules.cart.abandoned.cooldown: must be >= 0, got -1s"}},
		{"rule quiet", func(c *policy.Config) { c.Rules = policy.Rules{"promo": {Quiet: "later"}} },
			[]string{`policy.rules.promo.quiet: must be "hold" or "drop", got "later"`}},
		{"rule name empty", func(c *policy.Config) { c.Rules = policy.Rules{"": {}} },
			[]string{`policy.rules: rule name "" must be 1 to 128 bytes`}},
		{"default zone", func(c *policy.Config) { c.DefaultTimeZone = "Europe/Pariss" },
			[]string{"policy.default_time_zone: unknown time zone Europe/Pariss"}},
		{"default zone local", func(c *policy.Config) { c.DefaultTimeZone = "Local" },
			[]string{`policy.default_time_zone: "Local" is not an IANA time zone name`}},
		{"max held", func(c *policy.Config) { c.MaxHeld = 0 },
			[]string{"policy.max_held: must be between 1 and 100, got 0"}},
		{"max log", func(c *policy.Config) { c.MaxLog = 1001 },
			[]string{"policy.max_log: must be between 1 and 1000, got 1001"}},
		{"every error at once", func(c *policy.Config) { *c = policy.Config{} }, []string{
			"policy.consent.default:", "policy.fallback_channel:", "policy.quiet_hours.start:", "policy.quiet_hours.end:",
			"policy.quiet_hours.action:", "policy.default_time_zone:", "policy.max_held:", "policy.max_log:",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := policy.DefaultConfig()
			tc.change(&cfg)
			processortest.CheckConfig(t, cfg.Validate, func() error { _, err := policy.New(cfg); return err }, tc.want)
		})
	}
}

// section is how the registry decodes the map fields: yaml.v3's Decode
// into the field, which calls Rules.UnmarshalYAML and Caps.UnmarshalYAML.
type section struct {
	Rules policy.Rules `yaml:"rules"`
	Caps  policy.Caps  `yaml:"caps"`
}

func TestDecodeRulesAndCaps(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want func(t *testing.T, s section)
		errs []string
	}{
		{name: "full", yaml: `
rules:
  cart.abandoned: {cooldown: 24h, quiet: hold}
  service.recovery:
    target: call_centre
    cooldown: 0s
  promo: &p {quiet: drop}
  promo.copy: *p
caps:
  email: {max: 2, window: 24h}
  sms: {max: 1}
`, want: func(t *testing.T, s section) {
			if c := s.Rules["cart.abandoned"]; c.Cooldown == nil || *c.Cooldown != 24*time.Hour || c.Quiet != "hold" || c.Target != "" {
				t.Errorf("cart.abandoned = %+v", c)
			}
			if r := s.Rules["service.recovery"]; r.Cooldown == nil || *r.Cooldown != 0 || r.Target != "call_centre" {
				t.Errorf("service.recovery = %+v", r)
			}
			if p := s.Rules["promo.copy"]; p.Quiet != "drop" || p.Cooldown != nil {
				t.Errorf("promo.copy (an alias) = %+v", p)
			}
			if s.Caps["email"] != (policy.Cap{Max: 2, Window: 24 * time.Hour}) || s.Caps["sms"] != (policy.Cap{Max: 1, Window: 24 * time.Hour}) {
				t.Errorf("caps = %+v", s.Caps)
			}
		}},
		{name: "ttl and holdout", yaml: "rules:\n  a: {ttl: 2h, holdout: 10%}\n  b: {holdout: 0.025}\n", want: func(t *testing.T, s section) {
			if a, b := s.Rules["a"], s.Rules["b"]; a.TTL != 2*time.Hour || a.Holdout != 0.10 || b.Holdout != 0.025 || b.TTL != 0 {
				t.Errorf("a = %+v, b = %+v", a, b)
			}
		}},
		{name: "bad holdout", yaml: "rules:\n  a: {holdout: ten}\n",
			errs: []string{`["a"].holdout (line 2): want a share such as 10% or 0.1, got "ten"`}},
		{name: "unknown rule field", yaml: "rules:\n  cart.abandoned:\n    cooldwn: 1h\n",
			errs: []string{`["cart.abandoned"].cooldwn (line 3): unknown field`}},
		{name: "bad duration", yaml: "rules:\n  cart.abandoned: {cooldown: 1d}\n",
			errs: []string{`["cart.abandoned"].cooldown (line 2): "1d" is not a duration`}},
		{name: "number for a duration", yaml: "caps:\n  email: {max: 2, window: 86400}\n",
			errs: []string{`["email"].window (line 2): "86400" is not a duration`}},
		{name: "wrong type", yaml: "caps:\n  email: {max: two}\n",
			errs: []string{`["email"].max (line 2): "two" is not a valid value`}},
		{name: "list for a string", yaml: "rules:\n  r: {target: [email]}\n",
			errs: []string{`["r"].target (line 2): want a single value`}},
		{name: "unknown cap field", yaml: "caps:\n  email: {max: 2, per: 24h}\n",
			errs: []string{`["email"].per (line 2): unknown field`}},
		{name: "rule not a mapping", yaml: "rules:\n  r: 1h\n",
			errs: []string{`["r"] (line 2): want a mapping of fields`}},
		{name: "rules not a mapping", yaml: "rules: [a, b]\n",
			errs: []string{"line 1: want a mapping of rule names to their settings"}},
		{name: "empty rule", yaml: "rules:\n  r:\n",
			errs: []string{`["r"] (line 2): empty value`}},
		{name: "empty field", yaml: "caps:\n  email:\n    max:\n",
			errs: []string{`["email"].max (line 3): empty value`}},
		{name: "rule twice", yaml: "rules:\n  r: {quiet: drop}\n  r: {quiet: hold}\n",
			errs: []string{`["r"] (line 3): rule given twice`}},
		{name: "field twice", yaml: "rules:\n  r: {quiet: drop, quiet: hold}\n",
			errs: []string{`["r"].quiet (line 2): field given twice`}},
		{name: "several errors", yaml: "rules:\n  a: {x: 1}\ncaps:\n  email: {y: 2}\n",
			errs: []string{`["a"].x (line 2): unknown field`, `["email"].y (line 4): unknown field`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s section
			err := yaml.Unmarshal([]byte(tc.yaml), &s)
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				tc.want(t, s)
				return
			}
			if err == nil {
				t.Fatalf("decoded %+v, want an error", s)
			}
			for _, w := range tc.errs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error = %q\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

// TestDecodeReplacesDefaults checks that caps given in YAML replace the
// default caps as a whole.
func TestDecodeReplacesDefaults(t *testing.T) {
	cfg := policy.DefaultConfig()
	if err := yaml.Unmarshal([]byte("caps:\n  email: {max: 5}\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Caps) != 1 || cfg.Caps["email"].Max != 5 {
		t.Errorf("caps = %+v, want only email", cfg.Caps)
	}
}

func TestConfigIsCopied(t *testing.T) {
	cfg := policy.DefaultConfig()
	cfg.Rules = policy.Rules{"r": {Cooldown: ptr(time.Hour)}}
	p := mustNew(t, cfg)
	cfg.Caps["email"] = policy.Cap{Max: 50, Window: time.Hour}
	*cfg.Rules["r"].Cooldown = time.Minute
	cfg.QuietHours.Channels[0] = "web"
	got := p.Config()
	if got.Caps["email"].Max != 2 || *got.Rules["r"].Cooldown != time.Hour || got.QuietHours.Channels[0] != "email" {
		t.Errorf("the processor shares its config with the caller: %+v", got)
	}
}
