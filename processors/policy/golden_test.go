package policy_test

import (
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/policy"
	"github.com/journey-dev/journey/processors/processortest"
)

func ptr[T any](v T) *T { return &v }

// rulesConfig is the configuration of testdata/rules: per-rule settings,
// opt-out consent with a marketing category, quiet hours on push only.
func rulesConfig() policy.Config {
	cfg := policy.DefaultConfig()
	cfg.Consent.Default = policy.ConsentGrant
	cfg.Consent.Categories = map[string][]string{"marketing": {"email", "push", "sms"}, "advertising": {"push"}}
	cfg.Rules = policy.Rules{
		"cart.abandoned":   {Cooldown: ptr(2 * time.Hour)},
		"promo.flash":      {Quiet: policy.QuietDrop, Cooldown: ptr(time.Duration(0))},
		"service.recovery": {Target: "call_centre", Cooldown: ptr(time.Duration(0))},
		"winback":          {Target: journey.PreferredChannel},
	}
	cfg.QuietHours.Channels = []string{"push"}
	return cfg
}

// boundedConfig is the configuration of testdata/bounded: tiny bounds,
// no cooldown, opt-out consent.
func boundedConfig() policy.Config {
	cfg := policy.DefaultConfig()
	cfg.Consent.Default = policy.ConsentGrant
	cfg.DefaultCooldown = 0
	cfg.Caps = policy.Caps{"email": {Max: 1, Window: time.Hour}}
	cfg.MaxHeld = 1
	cfg.MaxLog = 2
	return cfg
}

// consentConfig is the configuration of testdata/consent: opt-out
// consent, so a refusal lost would let a trigger through.
func consentConfig() policy.Config {
	cfg := policy.DefaultConfig()
	cfg.Consent.Default = policy.ConsentGrant
	return cfg
}

// TestGolden runs the policy behind a toy trigger emitter and a toy
// channel preference (see helpers_test.go) over the golden files.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		dir string
		cfg policy.Config
	}{
		{"testdata/defaults", policy.DefaultConfig()},
		{"testdata/rules", rulesConfig()},
		{"testdata/bounded", boundedConfig()},
		{"testdata/merge", policy.DefaultConfig()},
		{"testdata/consent", consentConfig()},
	} {
		procs := []journey.Processor{emitter{}, preference{}, mustNew(t, tc.cfg)}
		processortest.RunEngine(t, procs, tc.dir)
	}
}
