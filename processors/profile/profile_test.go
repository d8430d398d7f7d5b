package profile_test

import (
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/processortest"
	"github.com/journey-dev/journey/processors/profile"
)

func mustNew(t testing.TB, cfg profile.Config) *profile.Processor {
	t.Helper()
	p, err := profile.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGolden(t *testing.T) {
	processortest.Run(t, mustNew(t, profile.DefaultConfig()), "testdata/defaults")
	processortest.Run(t, mustNew(t, profile.DefaultConfig()), "testdata/merge")
	processortest.Run(t, mustNew(t, profile.Config{MaxEventNames: 2, MaxChannels: 2, MaxAnonymousIDs: 2}), "testdata/bounded")
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*profile.Config)
		want   []string
	}{
		{"defaults", func(*profile.Config) {}, nil},
		{"max_event_names zero", func(c *profile.Config) { c.MaxEventNames = 0 }, []string{"profile.max_event_names: must be between 1 and 1000, got 0"}},
		{"max_event_names huge", func(c *profile.Config) { c.MaxEventNames = 1001 }, []string{"profile.max_event_names: must be between 1 and 1000, got 1001"}},
		{"max_channels negative", func(c *profile.Config) { c.MaxChannels = -1 }, []string{"profile.max_channels: must be between 1 and 100, got -1"}},
		{"max_anonymous_ids zero", func(c *profile.Config) { c.MaxAnonymousIDs = 0 }, []string{"profile.max_anonymous_ids: must be between 1 and 100, got 0"}},
		{"every field", func(c *profile.Config) { *c = profile.Config{} }, []string{
			"profile.max_event_names:", "profile.max_channels:", "profile.max_anonymous_ids:",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := profile.DefaultConfig()
			tc.change(&cfg)
			processortest.CheckConfig(t, cfg.Validate, func() error { _, err := profile.New(cfg); return err }, tc.want)
		})
	}
}

func TestContextOfNewState(t *testing.T) {
	p := mustNew(t, profile.DefaultConfig())
	got := p.Context(p.NewState())
	want := map[string]string{"last_channel": "", "last_seen": "", "identified": "false"}
	if len(got) != len(want) {
		t.Fatalf("Context = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Context[%s] = %q, want %q", k, got[k], v)
		}
	}
}

func TestFoldWrongState(t *testing.T) {
	p := mustNew(t, profile.DefaultConfig())
	ev := &journey.Event{ID: "e", Kind: journey.KindPage, CustomerID: "c", Time: time.Now()}
	if _, err := p.Fold((*profile.State)(nil), ev, &journey.Output{}); err == nil {
		t.Fatal("Fold of a nil state succeeded")
	}
}
