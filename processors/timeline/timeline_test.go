package timeline_test

import (
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/cart"
	"github.com/journey-dev/journey/processors/policy"
	"github.com/journey-dev/journey/processors/processortest"
	"github.com/journey-dev/journey/processors/timeline"
)

func mustNew(t testing.TB, cfg timeline.Config) *timeline.Processor {
	t.Helper()
	p, err := timeline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestGolden folds the stories of testdata: engine/ through the cart, the
// contact policy and the timeline (defaults), the others through the
// timeline alone.
func TestGolden(t *testing.T) {
	c, err := cart.New(cart.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.New(policy.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("engine", func(t *testing.T) {
		processortest.RunEngine(t, []journey.Processor{c, pol, mustNew(t, timeline.DefaultConfig())}, "testdata/engine")
	})
	t.Run("bounded", func(t *testing.T) {
		processortest.Run(t, mustNew(t, timeline.Config{MaxEvents: 3, MaxAge: 48 * time.Hour}), "testdata/bounded")
	})
	t.Run("merge", func(t *testing.T) {
		processortest.RunEngine(t, []journey.Processor{c, pol, mustNew(t, timeline.DefaultConfig())}, "testdata/merge")
	})
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*timeline.Config)
		want   []string
	}{
		{"defaults", func(*timeline.Config) {}, nil},
		{"no events", func(c *timeline.Config) { c.MaxEvents = 0 }, []string{"timeline.max_events: must be in 1..10000, got 0"}},
		{"too many events", func(c *timeline.Config) { c.MaxEvents = 10001 }, []string{"timeline.max_events: must be in 1..10000"}},
		{"no age", func(c *timeline.Config) { c.MaxAge = 0 }, []string{"timeline.max_age: must be > 0"}},
		{"both", func(c *timeline.Config) { *c = timeline.Config{} }, []string{"timeline.max_events:", "timeline.max_age:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := timeline.DefaultConfig()
			tc.change(&cfg)
			processortest.CheckConfig(t, cfg.Validate, func() error { _, err := timeline.New(cfg); return err }, tc.want)
		})
	}
}

// TestNoTraitsNoFreeText checks an event's traits and other properties
// never reach the timeline.
func TestNoTraitsNoFreeText(t *testing.T) {
	p := mustNew(t, timeline.DefaultConfig())
	st := p.NewState()
	ev := &journey.Event{ID: "e1", Kind: journey.KindTrack, Name: "Review Submitted", CustomerID: "c1", Channel: "web",
		Time:       time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC),
		Properties: map[string]any{"product_id": "p1", "rating": 4.0, "text": "secret-review-text"},
		Traits:     map[string]any{"email": "secret@example.org"}}
	processortest.Fold(t, p, st, ev)
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"secret-review-text", "secret@example.org"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("the state holds %q", secret)
		}
	}
	s := st.(*timeline.State)
	if len(s.Entries) != 1 || s.Entries[0].ProductID != "p1" || s.Entries[0].Rating == nil || *s.Entries[0].Rating != 4 {
		t.Errorf("entries = %+v, want one with product p1 and rating 4", s.Entries)
	}
}
