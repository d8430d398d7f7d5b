package dormancy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/dormancy"
	"github.com/journey-dev/journey/processors/processortest"
)

func mustNew(t testing.TB, cfg dormancy.Config) *dormancy.Processor {
	t.Helper()
	p, err := dormancy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGolden(t *testing.T) {
	custom := dormancy.Config{
		After:  48 * time.Hour,
		Target: "push",
		Kinds:  []journey.Kind{journey.KindTrack},
		Events: []string{"Order Completed", "Application Opened"},
	}
	for _, tc := range []struct {
		dir string
		cfg dormancy.Config
	}{
		{"testdata/defaults", dormancy.DefaultConfig()},
		{"testdata/custom", custom},
		{"testdata/merge", dormancy.DefaultConfig()},
	} {
		t.Run(strings.TrimPrefix(tc.dir, "testdata/"), func(t *testing.T) {
			processortest.Run(t, mustNew(t, tc.cfg), tc.dir)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*dormancy.Config)
		want   []string // substrings of the error; none for a valid config
	}{
		{"defaults", func(*dormancy.Config) {}, nil},
		{"after zero", func(c *dormancy.Config) { c.After = 0 }, []string{"dormancy.after: must be > 0, got 0s"}},
		{"after negative", func(c *dormancy.Config) { c.After = -time.Hour }, []string{"dormancy.after: must be > 0, got -1h0m0s"}},
		{"after too long", func(c *dormancy.Config) { c.After = 87601 * time.Hour }, []string{"dormancy.after: must be at most 87600h0m0s"}},
		{"no target", func(c *dormancy.Config) { c.Target = "" }, []string{"dormancy.target: must name a channel"}},
		{"no kinds", func(c *dormancy.Config) { c.Kinds = nil }, []string{"dormancy.kinds: must name at least one event kind"}},
		{"unknown kind", func(c *dormancy.Config) { c.Kinds = []journey.Kind{"track", "click"} }, []string{`dormancy.kinds: "click" is not an event kind`}},
		{"kind twice", func(c *dormancy.Config) { c.Kinds = []journey.Kind{"page", "page"} }, []string{`dormancy.kinds: "page" is listed twice`}},
		{"identify only", func(c *dormancy.Config) { c.Kinds = []journey.Kind{"identify"} }, nil},
		{"empty event", func(c *dormancy.Config) { c.Events = []string{"Order Completed", ""} }, []string{"dormancy.events: entry 1 is empty"}},
		{"event twice", func(c *dormancy.Config) { c.Events = []string{"A", "B", "A"} }, []string{`dormancy.events: "A" is listed twice`}},
		{"empty exclusion", func(c *dormancy.Config) { c.Exclude = []string{""} }, []string{"dormancy.exclude: entry 0 is empty"}},
		{"exclusion twice", func(c *dormancy.Config) { c.Exclude = append(c.Exclude, "Email Delivered") }, []string{`dormancy.exclude: "Email Delivered" is listed twice`}},
		{"both listed and excluded", func(c *dormancy.Config) { c.Events = []string{"Email Sent"} }, []string{`dormancy.exclude: "Email Sent" is also in events`}},
		{"no exclusions", func(c *dormancy.Config) { c.Exclude = nil }, nil},
		{"every field", func(c *dormancy.Config) { *c = dormancy.Config{Exclude: []string{""}} }, []string{
			"dormancy.after:", "dormancy.target:", "dormancy.kinds:", "dormancy.exclude:",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := dormancy.DefaultConfig()
			tc.change(&cfg)
			processortest.CheckConfig(t, cfg.Validate, func() error { _, err := dormancy.New(cfg); return err }, tc.want)
		})
	}
}

func TestEngagement(t *testing.T) {
	p := mustNew(t, dormancy.DefaultConfig())
	for _, tc := range []struct {
		kind journey.Kind
		name string
		want bool
	}{
		{journey.KindTrack, "Product Viewed", true},
		{journey.KindTrack, "Email Opened", true},
		{journey.KindTrack, "Email Link Clicked", true},
		{journey.KindTrack, "Push Notification Tapped", true},
		{journey.KindPage, "", true},
		{journey.KindScreen, "Home", true},
		{journey.KindTrack, "Email Delivered", false},
		{journey.KindTrack, "Push Notification Received", false},
		{journey.KindTrack, "Email Marked as Spam", false},
		{journey.KindIdentify, "", false},
		{journey.KindAlias, "", false},
		{journey.KindCloudEvent, "com.example.thing", false},
	} {
		if got := p.Engagement(&journey.Event{Kind: tc.kind, Name: tc.name}); got != tc.want {
			t.Errorf("Engagement(%s %q) = %v, want %v", tc.kind, tc.name, got, tc.want)
		}
	}
}

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

func page(id, customer string, at time.Time) *journey.Event {
	return &journey.Event{ID: id, Kind: journey.KindPage, Name: "Home", CustomerID: customer, Channel: "web", Time: at}
}

// TestTriggerID pins how a trigger id is derived, independently of the
// golden files' hex.
func TestTriggerID(t *testing.T) {
	e, err := journey.NewEngine(mustNew(t, dormancy.DefaultConfig()))
	if err != nil {
		t.Fatal(err)
	}
	r := journey.NewRunner(e, func(string, journey.Processor, journey.State) (bool, error) { return false, nil })
	r.Timers = new(journey.MemTimers)
	var out journey.Output
	if err := r.Apply(page("e1", "cust-1", t0), &out); err != nil {
		t.Fatal(err)
	}
	if err := r.Advance(t0.Add(30*24*time.Hour), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Triggers) != 1 {
		t.Fatalf("got %d triggers, want 1", len(out.Triggers))
	}
	tr := out.Triggers[0]
	if want := journey.TriggerID(dormancy.Rule, "cust-1", "dormant@2026-12-01T10:00:00Z"); tr.ID != want {
		t.Errorf("trigger id = %s, want TriggerID(rule, customer, dormant@<fire time>) = %s", tr.ID, want)
	}
	if tr.Payload["days"] != int64(30) || tr.Payload["last_engaged"] != "2026-11-01T10:00:00Z" {
		t.Errorf("payload = %v", tr.Payload)
	}
}

// TestOnTimer checks a timer that no longer means anything changes
// nothing, and one earlier than the deadline is moved to it.
func TestOnTimer(t *testing.T) {
	p := mustNew(t, dormancy.DefaultConfig())
	st := p.NewState()
	var out journey.Output
	if changed, err := p.OnTimer(st, "c1", dormancy.TimerKey, t0, &out); err != nil || changed {
		t.Fatalf("OnTimer of a customer who never engaged = %v, %v; want no change", changed, err)
	}
	if _, err := p.Fold(st, page("e1", "c1", t0), &out); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if changed, err := p.OnTimer(st, "c1", "cart:k1", t0.Add(1000*time.Hour), &out); err != nil || changed || len(out.Timers) != 0 {
		t.Fatalf("another key: OnTimer = %v, %v, %v; want no change", changed, err, out.Timers)
	}
	changed, err := p.OnTimer(st, "c1", dormancy.TimerKey, t0.Add(time.Hour), &out)
	if err != nil || changed {
		t.Fatalf("early timer: OnTimer = %v, %v; want no change", changed, err)
	}
	if want := (journey.TimerOp{Key: dormancy.TimerKey, At: t0.Add(720 * time.Hour)}); len(out.Timers) != 1 || out.Timers[0] != want {
		t.Errorf("early timer: timer ops %v, want %v", out.Timers, want)
	}
}

func TestWrongState(t *testing.T) {
	p := mustNew(t, dormancy.DefaultConfig())
	var out journey.Output
	for _, st := range []journey.State{otherState{}, (*dormancy.State)(nil)} {
		if _, err := p.Fold(st, page("e1", "c1", t0), &out); err == nil {
			t.Errorf("Fold of %T succeeded", st)
		}
		if _, err := p.OnTimer(st, "c1", dormancy.TimerKey, t0, &out); err == nil {
			t.Errorf("OnTimer of %T succeeded", st)
		}
		if p.Context(st) != nil {
			t.Errorf("Context of %T is not nil", st)
		}
	}
}

type otherState struct{}

func (otherState) MarshalBinary() ([]byte, error) { return nil, nil }
func (otherState) UnmarshalBinary([]byte) error   { return nil }

// TestUnencodableTimeIgnored checks an event time the state cannot hold
// (or whose deadline it cannot) is ignored.
func TestUnencodableTimeIgnored(t *testing.T) {
	p := mustNew(t, dormancy.DefaultConfig())
	st := p.NewState()
	var out journey.Output
	for _, at := range []time.Time{{}, time.Date(9999, 12, 20, 0, 0, 0, 0, time.UTC), time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if changed, err := p.Fold(st, page("e1", "c1", at), &out); err != nil || changed {
			t.Errorf("Fold at %v = %v, %v; want no change", at, changed, err)
		}
	}
}

func TestLongEventIDNotKept(t *testing.T) {
	p := mustNew(t, dormancy.DefaultConfig())
	st := p.NewState().(*dormancy.State)
	var out journey.Output
	if _, err := p.Fold(st, page(strings.Repeat("x", 257), "c1", t0), &out); err != nil {
		t.Fatal(err)
	}
	if st.EventID != "" || !st.LastEngaged.Equal(t0) {
		t.Errorf("state = %+v, want the engagement without its id", st)
	}
}

// TestMarshalRejectsUnengaged checks a state the decoder would refuse is
// refused when encoded too.
func TestMarshalRejectsUnengaged(t *testing.T) {
	st := &dormancy.State{Deadline: t0}
	if _, err := st.MarshalBinary(); err == nil {
		t.Fatal("MarshalBinary of an armed state with no engagement succeeded")
	}
}
