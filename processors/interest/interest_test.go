package interest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/interest"
	"github.com/journey-dev/journey/processors/processortest"
)

func mustNew(t testing.TB, cfg interest.Config) *interest.Processor {
	t.Helper()
	p, err := interest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// noDecay is the configuration of the golden files written before decay:
// the defaults with half_life 0, which keeps the behaviour they pin.
func noDecay() interest.Config {
	c := interest.DefaultConfig()
	c.HalfLife = 0
	return c
}

func TestGolden(t *testing.T) {
	bounded := noDecay()
	bounded.MaxCategories = 3
	bounded.MaxViews = 4
	for _, tc := range []struct {
		dir string
		cfg interest.Config
	}{
		{"testdata/defaults", noDecay()}, // named for the defaults before decay
		{"testdata/bounded", bounded},
		{"testdata/decay", interest.DefaultConfig()},
		{"testdata/merge", noDecay()},
	} {
		t.Run(strings.TrimPrefix(tc.dir, "testdata/"), func(t *testing.T) {
			processortest.Run(t, mustNew(t, tc.cfg), tc.dir)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*interest.Config)
		want   []string // substrings of the error; none for a valid config
	}{
		{"defaults", func(*interest.Config) {}, nil},
		{"window zero", func(c *interest.Config) { c.Window = 0 }, []string{"interest.window: must be > 0"}},
		{"window negative", func(c *interest.Config) { c.Window = -time.Hour }, []string{"interest.window: must be > 0"}},
		{"threshold zero", func(c *interest.Config) { c.Threshold = 0 }, []string{"interest.threshold: must be >= 1, got 0"}},
		{"half_life negative", func(c *interest.Config) { c.HalfLife = -time.Hour }, []string{"interest.half_life: must be >= 0 (0 disables decay), got -1h0m0s"}},
		{"half_life zero", func(c *interest.Config) { c.HalfLife = 0 }, nil},
		{"no channels", func(c *interest.Config) { c.Channels = nil }, []string{"interest.channels: must name at least one channel"}},
		{"empty channel", func(c *interest.Config) { c.Channels = []string{"web", ""} }, []string{"interest.channels: entry 1 is empty"}},
		{"channel twice", func(c *interest.Config) { c.Channels = []string{"web", "app", "web"} }, []string{`interest.channels: "web" is listed twice`}},
		{"no target", func(c *interest.Config) { c.Target = "" }, []string{"interest.target: must name a channel"}},
		{"max_categories zero", func(c *interest.Config) { c.MaxCategories = 0 }, []string{"interest.max_categories: must be between 1 and 1000, got 0"}},
		{"max_categories huge", func(c *interest.Config) { c.MaxCategories = 1001 }, []string{"interest.max_categories: must be between 1 and 1000, got 1001"}},
		{"max_views zero", func(c *interest.Config) { c.MaxViews = 0 }, []string{"interest.max_views: must be between 1 and 1000, got 0"}},
		{"max_views below threshold", func(c *interest.Config) { c.Threshold, c.MaxViews = 5, 4 }, []string{"interest.max_views: must be >= threshold (5), got 4"}},
		{"max_views equal threshold", func(c *interest.Config) { c.Threshold, c.MaxViews = 4, 4 }, nil},
		{"every field", func(c *interest.Config) { *c = interest.Config{HalfLife: -1} }, []string{
			"interest.window:", "interest.threshold:", "interest.half_life:", "interest.channels:", "interest.target:",
			"interest.max_categories:", "interest.max_views:",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := interest.DefaultConfig()
			tc.change(&cfg)
			processortest.CheckConfig(t, cfg.Validate, func() error { _, err := interest.New(cfg); return err }, tc.want)
		})
	}
}

func view(id, customer, category, product string, at time.Time) *journey.Event {
	return &journey.Event{
		ID: id, Kind: journey.KindTrack, Name: interest.EventProductViewed,
		CustomerID: customer, Channel: "web", Time: at,
		Properties: map[string]any{"category": category, "product_id": product},
	}
}

// TestTriggerID pins how a trigger id is derived, independently of the
// golden files' hex.
func TestTriggerID(t *testing.T) {
	p := mustNew(t, interest.DefaultConfig())
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var events []*journey.Event
	for i, id := range []string{"a", "b", "c"} {
		events = append(events, view(id, "cust-1", "boots", "p1", t0.Add(time.Duration(i)*time.Minute)))
	}
	tr := processortest.Fold(t, p, p.NewState(), events...)
	if len(tr) != 1 {
		t.Fatalf("got %d triggers, want 1", len(tr))
	}
	if got, want := tr[0].ID, journey.TriggerID(interest.Rule, "cust-1", "c"); got != want {
		t.Errorf("trigger id = %s, want TriggerID(rule, customer, causing event) = %s", got, want)
	}
}

// TestPayloadProductsBounded checks the payload keeps the five most recent
// distinct products.
func TestPayloadProductsBounded(t *testing.T) {
	cfg := interest.DefaultConfig()
	cfg.Threshold = 8
	p := mustNew(t, cfg)
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	products := []string{"p1", "p2", "p3", "p4", "p5", "p6", "p6", "p7"}
	var events []*journey.Event
	for i, prod := range products {
		events = append(events, view(string(rune('a'+i)), "c1", "boots", prod, t0.Add(time.Duration(i)*time.Minute)))
	}
	tr := processortest.Fold(t, p, p.NewState(), events...)
	if len(tr) != 1 {
		t.Fatalf("got %d triggers, want 1", len(tr))
	}
	got := tr[0].Payload["product_ids"].([]string)
	if want := []string{"p7", "p6", "p5", "p4", "p3"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("product_ids = %v, want %v", got, want)
	}
	if n := len(tr[0].Causes); n != 8 {
		t.Errorf("%d causes, want 8", n)
	}
}

// TestBoundedOverManyEvents folds far more views than the bounds allow and
// checks the state stays within them.
func TestBoundedOverManyEvents(t *testing.T) {
	cfg := interest.DefaultConfig()
	cfg.MaxCategories, cfg.MaxViews = 10, 5
	p := mustNew(t, cfg)
	st := p.NewState().(*interest.State)
	var out journey.Output
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for i := range 5000 {
		ev := view(string(rune(0x4e00+i)), "c1", "cat-"+string(rune('a'+i%37)), "p", t0.Add(time.Duration(i)*time.Minute))
		if _, err := p.Fold(st, ev, &out); err != nil {
			t.Fatal(err)
		}
		out.Reset()
	}
	if n := len(st.Categories); n != cfg.MaxCategories {
		t.Errorf("%d categories kept, want %d", n, cfg.MaxCategories)
	}
	for _, c := range st.Categories {
		if len(c.Views) > cfg.MaxViews {
			t.Errorf("category %s keeps %d views, want <= %d", c.Name, len(c.Views), cfg.MaxViews)
		}
	}
}

// TestConfigChangeShrinksState checks that a state written under larger
// bounds is brought within smaller ones by the next fold.
func TestConfigChangeShrinksState(t *testing.T) {
	big := mustNew(t, interest.DefaultConfig())
	st := big.NewState().(*interest.State)
	var out journey.Output
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for i := range 40 {
		cat := []string{"boots", "bags", "hats", "belts"}[i%4]
		if _, err := big.Fold(st, view(string(rune('A'+i)), "c1", cat, "p", t0.Add(time.Duration(i)*time.Minute)), &out); err != nil {
			t.Fatal(err)
		}
	}
	cfg := interest.DefaultConfig()
	cfg.MaxCategories, cfg.MaxViews = 2, 3
	small := mustNew(t, cfg)
	if _, err := small.Fold(st, view("last", "c1", "boots", "p", t0.Add(time.Hour)), &out); err != nil {
		t.Fatal(err)
	}
	if len(st.Categories) != 2 {
		t.Fatalf("%d categories, want 2", len(st.Categories))
	}
	for _, c := range st.Categories {
		if len(c.Views) > 3 {
			t.Errorf("category %s keeps %d views, want <= 3", c.Name, len(c.Views))
		}
	}
}

func TestFoldWrongState(t *testing.T) {
	p := mustNew(t, interest.DefaultConfig())
	var out journey.Output
	if _, err := p.Fold(otherState{}, view("a", "c1", "boots", "p1", time.Now()), &out); err == nil {
		t.Fatal("Fold of another processor's state succeeded")
	}
	if _, err := p.Fold((*interest.State)(nil), view("a", "c1", "boots", "p1", time.Now()), &out); err == nil {
		t.Fatal("Fold of a nil state succeeded")
	}
}

type otherState struct{}

func (otherState) MarshalBinary() ([]byte, error) { return nil, nil }
func (otherState) UnmarshalBinary([]byte) error   { return nil }

// TestUnencodableTimeIgnored checks an event time the state cannot hold
// is ignored instead of making the state fail to encode.
func TestUnencodableTimeIgnored(t *testing.T) {
	p := mustNew(t, interest.DefaultConfig())
	st := p.NewState()
	var out journey.Output
	for _, at := range []time.Time{{}, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)} {
		changed, err := p.Fold(st, view("a", "c1", "boots", "p1", at), &out)
		if err != nil || changed {
			t.Errorf("Fold at %v = %v, %v; want no change", at, changed, err)
		}
	}
	if _, err := st.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
}
