package recovery_test

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/processortest"
	"github.com/journey-dev/journey/processors/recovery"
)

func mustNew(t testing.TB, cfg recovery.Config) *recovery.Processor {
	t.Helper()
	p, err := recovery.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tight is the configuration of testdata/tight.
func tight() recovery.Config {
	c := recovery.DefaultConfig()
	c.Signals = []string{recovery.ReasonComplaint, recovery.ReasonLowRating, recovery.ReasonFailedContacts}
	c.Debounce = 0
	c.FailedContacts, c.FailedContactsWindow = 2, time.Hour
	c.MaxSignals = 3
	c.Target = "agent_desktop"
	return c
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		dir string
		cfg recovery.Config
	}{
		{"testdata/defaults", recovery.DefaultConfig()},
		{"testdata/tight", tight()},
		{"testdata/merge", tight()},
	} {
		t.Run(strings.TrimPrefix(tc.dir, "testdata/"), func(t *testing.T) {
			processortest.Run(t, mustNew(t, tc.cfg), tc.dir)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*recovery.Config)
		want   []string // substrings of the error; none for a valid config
	}{
		{"defaults", func(*recovery.Config) {}, nil},
		{"tight", func(c *recovery.Config) { *c = tight() }, nil},
		{"no target", func(c *recovery.Config) { c.Target = "" }, []string{"recovery.target: must name a channel"}},
		{"preferred target", func(c *recovery.Config) { c.Target = journey.PreferredChannel }, nil},
		{"no signals", func(c *recovery.Config) { c.Signals = nil }, []string{"recovery.signals: must name at least one signal (low_survey_score, complaint, low_rating, failed_contacts, spam_report)"}},
		{"unknown signal", func(c *recovery.Config) { c.Signals = []string{"complaints"} }, []string{`recovery.signals: unknown signal "complaints" (known: low_survey_score,`}},
		{"signal twice", func(c *recovery.Config) { c.Signals = []string{"complaint", "complaint"} }, []string{`recovery.signals: "complaint" is listed twice`}},
		{"survey_scale zero", func(c *recovery.Config) { c.SurveyScale = 0 }, []string{"recovery.survey_scale: must be > 0, got 0"}},
		{"low_survey_score at the scale", func(c *recovery.Config) { c.LowSurveyScore = 10 }, []string{"recovery.low_survey_score: must be >= 0 and < survey_scale (10), got 10"}},
		{"low_survey_score negative", func(c *recovery.Config) { c.LowSurveyScore = -1 }, []string{"recovery.low_survey_score: must be >= 0"}},
		{"low_survey_score on a 5 scale", func(c *recovery.Config) { c.LowSurveyScore, c.SurveyScale = 3, 5 }, nil},
		{"low_rating 5", func(c *recovery.Config) { c.LowRating = 5 }, []string{"recovery.low_rating: must be >= 1 and < 5, got 5"}},
		{"low_rating 0", func(c *recovery.Config) { c.LowRating = 0 }, []string{"recovery.low_rating: must be >= 1 and < 5, got 0"}},
		{"low_rating NaN", func(c *recovery.Config) { c.LowRating = math.NaN() }, []string{"recovery.low_rating: must be >= 1 and < 5, got NaN"}},
		{"failed_contacts zero", func(c *recovery.Config) { c.FailedContacts = 0 }, []string{"recovery.failed_contacts: must be between 1 and 20, got 0"}},
		{"failed_contacts huge", func(c *recovery.Config) { c.FailedContacts = 21 }, []string{"recovery.failed_contacts: must be between 1 and 20, got 21"}},
		{"window zero", func(c *recovery.Config) { c.FailedContactsWindow = 0 }, []string{"recovery.failed_contacts_window: must be > 0, got 0s"}},
		{"debounce negative", func(c *recovery.Config) { c.Debounce = -time.Second }, []string{"recovery.debounce: must be >= 0, got -1s"}},
		{"debounce zero", func(c *recovery.Config) { c.Debounce = 0 }, nil},
		{"history zero", func(c *recovery.Config) { c.History = 0 }, []string{"recovery.history: must be > 0, got 0s"}},
		{"history below debounce", func(c *recovery.Config) { c.History = time.Hour }, []string{"recovery.history: must be >= debounce (24h0m0s), got 1h0m0s"}},
		{"max_signals zero", func(c *recovery.Config) { c.MaxSignals = 0 }, []string{"recovery.max_signals: must be between 1 and 100, got 0"}},
		{"every field", func(c *recovery.Config) { *c = recovery.Config{Debounce: -1} }, []string{
			"recovery.target:", "recovery.signals:", "recovery.survey_scale:", "recovery.low_rating:", "recovery.failed_contacts:",
			"recovery.failed_contacts_window:", "recovery.debounce:", "recovery.history:", "recovery.max_signals:",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := recovery.DefaultConfig()
			tc.change(&cfg)
			processortest.CheckConfig(t, cfg.Validate, func() error { _, err := recovery.New(cfg); return err }, tc.want)
		})
	}
}

var t0 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

func review(id string, rating float64, at time.Time) *journey.Event {
	return &journey.Event{
		ID: id, Kind: journey.KindTrack, Name: recovery.EventProductReviewed, CustomerID: "cust-1", Channel: "web", Time: at,
		Properties: map[string]any{"product_id": "p1", "rating": rating},
	}
}

// TestTriggerID pins how a trigger id is derived, independently of the
// golden files' hex.
func TestTriggerID(t *testing.T) {
	p := mustNew(t, recovery.DefaultConfig())
	tr := processortest.Fold(t, p, p.NewState(), review("r1", 1, t0))
	if len(tr) != 1 {
		t.Fatalf("got %d triggers, want 1", len(tr))
	}
	if got, want := tr[0].ID, journey.TriggerID(recovery.Rule, "cust-1", "r1"); got != want {
		t.Errorf("trigger id = %s, want TriggerID(rule, customer, causing event) = %s", got, want)
	}
	if tr[0].Channel != "call_centre" || tr[0].Reason != recovery.Reason || !slices.Equal(tr[0].Causes, []string{"r1"}) {
		t.Errorf("trigger = %+v", tr[0])
	}
}

// TestNegativeZero checks a rating of -0 (valid JSON) folds into a state
// that encodes: the encoding refuses -0.
func TestNegativeZero(t *testing.T) {
	p := mustNew(t, recovery.DefaultConfig())
	st := p.NewState()
	processortest.Fold(t, p, st, review("r1", math.Copysign(0, -1), t0))
	data, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.NewState().UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
}

// TestBounded folds many signals and failed contacts and checks the state
// stays within its bounds.
func TestBounded(t *testing.T) {
	p := mustNew(t, recovery.DefaultConfig())
	st := p.NewState().(*recovery.State)
	var events []*journey.Event
	for i := range 500 {
		at := t0.Add(time.Duration(i) * 7 * time.Hour)
		events = append(events, review(string(rune('a'+i%26))+strings.Repeat("x", i%5)+string(rune(0x4e00+i)), 1, at),
			&journey.Event{
				ID: "c" + string(rune(0x4e00+i)), Kind: journey.KindTrack, Name: recovery.EventContactEnded, CustomerID: "cust-1", Time: at.Add(time.Hour),
				Properties: map[string]any{"contact_id": "call" + string(rune(0x4e00+i)), "outcome": "failed"},
			})
	}
	processortest.Fold(t, p, st, events...)
	if len(st.Signals) > 10 || len(st.Contacts) >= 3 {
		t.Errorf("%d signals and %d contacts kept, want <= 10 and < 3", len(st.Signals), len(st.Contacts))
	}
}

func TestContextOfNewState(t *testing.T) {
	p := mustNew(t, recovery.DefaultConfig())
	if got := p.Context(p.NewState()); len(got) != 1 || got[recovery.ContextLast] != "{}" {
		t.Errorf("Context = %v, want recovery.last = {}", got)
	}
}

func TestFoldWrongState(t *testing.T) {
	p := mustNew(t, recovery.DefaultConfig())
	var out journey.Output
	if _, err := p.Fold(otherState{}, review("r", 1, t0), &out); err == nil {
		t.Fatal("Fold of another processor's state succeeded")
	}
	if _, err := p.Fold((*recovery.State)(nil), review("r", 1, t0), &out); err == nil {
		t.Fatal("Fold of a nil state succeeded")
	}
}

type otherState struct{}

func (otherState) MarshalBinary() ([]byte, error) { return nil, nil }
func (otherState) UnmarshalBinary([]byte) error   { return nil }
