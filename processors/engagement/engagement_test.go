package engagement_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/engagement"
	"github.com/journey-dev/journey/processors/processortest"
)

func mustNew(t testing.TB, cfg engagement.Config) *engagement.Processor {
	t.Helper()
	p, err := engagement.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// custom is the configuration of testdata/custom: round numbers and a one
// day half-life, so the golden files can be checked by hand.
func custom() engagement.Config {
	return engagement.Config{
		Weights:    map[string]float64{"Ten": 10, "Four": 4, "Point": 1, "Half": 0.5, "Big": 25, "Off": 0, "Order Completed": 10},
		HalfLife:   24 * time.Hour,
		Tiers:      []string{"low", "mid", "high"},
		Boundaries: []float64{10, 20},
		Hysteresis: 0.1,
		Target:     "push",
	}
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		dir string
		cfg engagement.Config
	}{
		{"testdata/defaults", engagement.DefaultConfig()},
		{"testdata/custom", custom()},
		{"testdata/merge", custom()},
	} {
		t.Run(strings.TrimPrefix(tc.dir, "testdata/"), func(t *testing.T) {
			processortest.Run(t, mustNew(t, tc.cfg), tc.dir)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*engagement.Config)
		want   []string // substrings of the error; none for a valid config
	}{
		{"defaults", func(*engagement.Config) {}, nil},
		{"custom", func(c *engagement.Config) { *c = custom() }, nil},
		{"no weights", func(c *engagement.Config) { c.Weights = nil }, []string{"engagement.weights: must weigh at least one event"}},
		{"all weights zero", func(c *engagement.Config) { c.Weights = map[string]float64{"a": 0} }, []string{"engagement.weights: every weight is 0"}},
		{"negative weight", func(c *engagement.Config) { c.Weights["page"] = -1 }, []string{`engagement.weights["page"]: must be between 0 and 1000, got -1`}},
		{"NaN weight", func(c *engagement.Config) { c.Weights["page"] = math.NaN() }, []string{`engagement.weights["page"]: must be between 0 and 1000, got NaN`}},
		{"huge weight", func(c *engagement.Config) { c.Weights["page"] = 1001 }, []string{`engagement.weights["page"]: must be between 0 and 1000`}},
		{"empty event name", func(c *engagement.Config) { c.Weights[""] = 1 }, []string{"engagement.weights: event names must be 1 to 256 bytes, got 0"}},
		{"half_life zero", func(c *engagement.Config) { c.HalfLife = 0 }, []string{"engagement.half_life: must be > 0, got 0s"}},
		{"half_life negative", func(c *engagement.Config) { c.HalfLife = -time.Hour }, []string{"engagement.half_life: must be > 0, got -1h0m0s"}},
		{"one tier", func(c *engagement.Config) { c.Tiers, c.Boundaries = []string{"all"}, nil }, []string{"engagement.tiers: must name between 2 and 16 tiers, got 1"}},
		{"tier twice", func(c *engagement.Config) { c.Tiers = []string{"a", "b", "a"} }, []string{`engagement.tiers: "a" is listed twice`}},
		{"empty tier", func(c *engagement.Config) { c.Tiers = []string{"a", "", "c"} }, []string{"engagement.tiers: entry 1 must be 1 to 64 bytes"}},
		{"boundaries short", func(c *engagement.Config) { c.Boundaries = []float64{5} }, []string{"engagement.boundaries: must hold one score per tier after the first (2), got 1"}},
		{"boundaries not increasing", func(c *engagement.Config) { c.Boundaries = []float64{30, 30} }, []string{"engagement.boundaries: must be strictly increasing, got 30 after 30"}},
		{"boundary zero", func(c *engagement.Config) { c.Boundaries = []float64{0, 30} }, []string{"engagement.boundaries: entry 0 must be > 0"}},
		{"hysteresis negative", func(c *engagement.Config) { c.Hysteresis = -0.1 }, []string{"engagement.hysteresis: must be >= 0 and < 1"}},
		{"hysteresis one", func(c *engagement.Config) { c.Hysteresis = 1 }, []string{"engagement.hysteresis: must be >= 0 and < 1 (a fraction of the boundary), got 1"}},
		{"hysteresis zero", func(c *engagement.Config) { c.Hysteresis = 0 }, nil},
		{"no target", func(c *engagement.Config) { c.Target = "" }, []string{"engagement.target: must name a channel"}},
		{"every field", func(c *engagement.Config) { *c = engagement.Config{Hysteresis: 2} }, []string{
			"engagement.weights:", "engagement.half_life:", "engagement.tiers:", "engagement.hysteresis:", "engagement.target:",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := engagement.DefaultConfig()
			tc.change(&cfg)
			processortest.CheckConfig(t, cfg.Validate, func() error { _, err := engagement.New(cfg); return err }, tc.want)
		})
	}
}

func track(id, name string, at time.Time) *journey.Event {
	return &journey.Event{ID: id, Kind: journey.KindTrack, Name: name, CustomerID: "cust-1", Channel: "web", Time: at}
}

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

// TestTriggerID pins how a trigger id is derived, independently of the
// golden files' hex.
func TestTriggerID(t *testing.T) {
	p := mustNew(t, engagement.DefaultConfig())
	tr := processortest.Fold(t, p, p.NewState(), track("o1", "Order Completed", t0))
	if len(tr) != 1 {
		t.Fatalf("got %d triggers, want 1", len(tr))
	}
	if got, want := tr[0].ID, journey.TriggerID(engagement.Rule, "cust-1", "o1"); got != want {
		t.Errorf("trigger id = %s, want TriggerID(rule, customer, causing event) = %s", got, want)
	}
	if tr[0].Reason != engagement.ReasonUp || tr[0].Payload["from"] != "at_risk" || tr[0].Payload["to"] != "active" {
		t.Errorf("trigger = %+v, want tier_up from at_risk to active", tr[0])
	}
}

// TestOrderIndependent checks the score does not depend on the order the
// events arrive in, beyond the last millionth of a point.
func TestOrderIndependent(t *testing.T) {
	p := mustNew(t, engagement.DefaultConfig())
	names := []string{"Product Viewed", "Order Completed", "Product Shared", "Comment Posted", "page"}
	var events []*journey.Event
	for i := range 20 {
		events = append(events, track(fmt.Sprintf("e%d", i), names[i%len(names)], t0.Add(time.Duration(i*i)*37*time.Minute)))
	}
	score := func(order []int) engagement.Points {
		st := p.NewState().(*engagement.State)
		var out journey.Output
		for _, i := range order {
			if _, err := p.Fold(st, events[i], &out); err != nil {
				t.Fatal(err)
			}
		}
		return st.Score
	}
	var fwd, back, mixed []int
	for i := range events {
		fwd = append(fwd, i)
		back = append(back, len(events)-1-i)
		mixed = append(mixed, (i*7)%len(events))
	}
	a, b, c := score(fwd), score(back), score(mixed)
	for _, x := range []engagement.Points{b, c} {
		if d := int64(a) - int64(x); d < -20 || d > 20 {
			t.Errorf("scores %d (in order) and %d (reordered) differ by more than 20 millionths", a, x)
		}
	}
}

// TestBounded folds many events and checks the state stays within its
// bounds, and that an event older than everything remembered is not
// counted.
func TestBounded(t *testing.T) {
	p := mustNew(t, engagement.DefaultConfig())
	st := p.NewState().(*engagement.State)
	var out journey.Output
	for i := range 1000 {
		if _, err := p.Fold(st, track(fmt.Sprintf("e%d", i), "Product Viewed", t0.Add(time.Duration(i)*time.Minute)), &out); err != nil {
			t.Fatal(err)
		}
	}
	if len(st.Seen) != 32 {
		t.Errorf("%d seen ids kept, want 32", len(st.Seen))
	}
	if want := t0.Add(967 * time.Minute); !st.Floor.Equal(want) {
		t.Errorf("floor = %v, want %v", st.Floor, want)
	}
	data, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 500 {
		t.Errorf("state is %d bytes, want <= 500", len(data))
	}
	for _, id := range []string{"e10", "late"} {
		if changed, _ := p.Fold(st, track(id, "Order Completed", t0.Add(967*time.Minute)), &out); changed {
			t.Errorf("event %s at the floor was counted", id)
		}
	}
}

// TestConfigChangeRebaselines checks a stored tier the configuration no
// longer has is replaced without a trigger.
func TestConfigChangeRebaselines(t *testing.T) {
	old := mustNew(t, custom())
	st := old.NewState().(*engagement.State)
	processortest.Fold(t, old, st, track("b", "Big", t0))
	if st.Tier != "high" {
		t.Fatalf("tier = %q, want high", st.Tier)
	}
	p := mustNew(t, engagement.DefaultConfig())
	if tr := processortest.Fold(t, p, st, track("v", "Product Viewed", t0.Add(time.Minute))); len(tr) != 0 {
		t.Errorf("got %d triggers, want none", len(tr))
	}
	if st.Tier != "active" {
		t.Errorf("tier = %q, want active (score %v)", st.Tier, st.Score.Float())
	}
}

func TestContextOfNewState(t *testing.T) {
	p := mustNew(t, engagement.DefaultConfig())
	got := p.Context(p.NewState())
	want := map[string]string{engagement.ContextScore: "0.0", engagement.ContextTier: "", engagement.ContextAt: ""}
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
	p := mustNew(t, engagement.DefaultConfig())
	var out journey.Output
	if _, err := p.Fold(otherState{}, track("a", "page", t0), &out); err == nil {
		t.Fatal("Fold of another processor's state succeeded")
	}
	if _, err := p.Fold((*engagement.State)(nil), track("a", "page", t0), &out); err == nil {
		t.Fatal("Fold of a nil state succeeded")
	}
}

type otherState struct{}

func (otherState) MarshalBinary() ([]byte, error) { return nil, nil }
func (otherState) UnmarshalBinary([]byte) error   { return nil }

func TestPointsJSON(t *testing.T) {
	for p, want := range map[engagement.Points]string{0: "0", 1: "0.000001", 12_500_000: "12.5", 30_000_000: "30", 1_234_567: "1.234567"} {
		got, _ := p.MarshalJSON()
		if string(got) != want {
			t.Errorf("Points(%d) = %s, want %s", p, got, want)
		}
	}
}
