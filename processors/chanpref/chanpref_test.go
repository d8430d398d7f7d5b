package chanpref_test

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/chanpref"
	"github.com/journey-dev/journey/processors/processortest"
)

func mustNew(t testing.TB, cfg chanpref.Config) *chanpref.Processor {
	t.Helper()
	p, err := chanpref.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func fast() chanpref.Config {
	c := chanpref.DefaultConfig()
	c.HalfLife = 24 * time.Hour
	return c
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		dir string
		cfg chanpref.Config
	}{
		{"testdata/defaults", chanpref.DefaultConfig()},
		{"testdata/fast", fast()},
		{"testdata/merge", chanpref.DefaultConfig()},
	} {
		t.Run(strings.TrimPrefix(tc.dir, "testdata/"), func(t *testing.T) {
			processortest.Run(t, mustNew(t, tc.cfg), tc.dir)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	many := map[string]string{}
	for i := range 17 {
		many[fmt.Sprintf("Event %d", i)] = fmt.Sprintf("ch%d", i)
	}
	for _, tc := range []struct {
		name   string
		change func(*chanpref.Config)
		want   []string // substrings of the error; none for a valid config
	}{
		{"defaults", func(*chanpref.Config) {}, nil},
		{"a default turned off", func(c *chanpref.Config) { c.Responses["Email Opened"] = "" }, nil},
		{"every response off", func(c *chanpref.Config) { c.Responses = map[string]string{"Email Opened": ""} }, []string{"chanpref.responses: must map at least one event to a channel"}},
		{"no responses", func(c *chanpref.Config) { c.Responses = nil }, []string{"chanpref.responses: must map at least one event to a channel"}},
		{"preferred", func(c *chanpref.Config) { c.Responses["Call Answered"] = "preferred" }, []string{`chanpref.responses["Call Answered"]: "preferred" is not a channel`}},
		{"empty event name", func(c *chanpref.Config) { c.Responses[""] = "sms" }, []string{"chanpref.responses: event names must be 1 to 256 bytes, got 0"}},
		{"channel too long", func(c *chanpref.Config) { c.Responses["SMS Link Clicked"] = strings.Repeat("s", 65) }, []string{`chanpref.responses["SMS Link Clicked"]: channel must be at most 64 bytes`}},
		{"too many channels", func(c *chanpref.Config) { c.Responses = many }, []string{"chanpref.responses: at most 16 distinct channels, got 17"}},
		{"half_life zero", func(c *chanpref.Config) { c.HalfLife = 0 }, []string{"chanpref.half_life: must be > 0, got 0s"}},
		{"min_score zero", func(c *chanpref.Config) { c.MinScore = 0 }, []string{"chanpref.min_score: must be > 0 and <= 1000, got 0"}},
		{"min_score NaN", func(c *chanpref.Config) { c.MinScore = math.NaN() }, []string{"chanpref.min_score: must be > 0 and <= 1000, got NaN"}},
		{"every field", func(c *chanpref.Config) { *c = chanpref.Config{} }, []string{"chanpref.responses:", "chanpref.half_life:", "chanpref.min_score:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := chanpref.DefaultConfig()
			tc.change(&cfg)
			processortest.CheckConfig(t, cfg.Validate, func() error { _, err := chanpref.New(cfg); return err }, tc.want)
		})
	}
}

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func response(id, name string, at time.Time) *journey.Event {
	return &journey.Event{ID: id, Kind: journey.KindTrack, Name: name, CustomerID: "c1", Time: at}
}

func fold(t testing.TB, p *chanpref.Processor, st journey.State, events ...*journey.Event) {
	t.Helper()
	var out journey.Output
	for _, ev := range events {
		if _, err := p.Fold(st, ev, &out); err != nil {
			t.Fatal(err)
		}
	}
	if len(out.Triggers) > 0 {
		t.Fatalf("chanpref emitted %d triggers", len(out.Triggers))
	}
}

// TestPreferredChannelEvidence checks the preference fades to "" as the
// evidence decays below min_score, at the time asked about.
func TestPreferredChannelEvidence(t *testing.T) {
	p := mustNew(t, fast()) // half-life 24h, min_score 0.25
	st := p.NewState()
	if got := p.PreferredChannel(st, t0); got != "" {
		t.Fatalf("PreferredChannel of a new state = %q, want \"\"", got)
	}
	fold(t, p, st, response("e1", "Email Opened", t0))
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{t0.Add(-time.Hour), "email"}, // before the response: no decay
		{t0, "email"},
		{t0.Add(48 * time.Hour), "email"},                 // 0.25: exactly min_score
		{t0.Add(48*time.Hour + time.Second), ""},          // below it
		{t0.Add(100 * 365 * 24 * time.Hour), ""},          // decayed to nothing
		{time.Time{}, "email"},                            // the zero time decays nothing
		{time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), ""}, // beyond the state's range
	} {
		if got := p.PreferredChannel(st, tc.at); got != tc.want {
			t.Errorf("PreferredChannel(at %v) = %q, want %q", tc.at, got, tc.want)
		}
	}
	if h := p.BestHour(st, t0.Add(49*time.Hour)); h != -1 {
		t.Errorf("BestHour after the evidence faded = %d, want -1", h)
	}
	if got := p.PreferredChannel(otherState{}, t0); got != "" {
		t.Errorf("PreferredChannel of another processor's state = %q", got)
	}
}

// TestEngineRoutesPreferred checks the engine finds the processor as its
// journey.ChannelPreferrer.
func TestEngineRoutesPreferred(t *testing.T) {
	p := mustNew(t, chanpref.DefaultConfig())
	if _, ok := any(p).(journey.ChannelPreferrer); !ok {
		t.Fatal("Processor is not a journey.ChannelPreferrer")
	}
	if _, err := journey.NewEngine(p); err != nil {
		t.Fatal(err)
	}
}

// TestOrderIndependent checks the scores do not depend on the order the
// responses arrive in, beyond the last millionths.
func TestOrderIndependent(t *testing.T) {
	p := mustNew(t, chanpref.DefaultConfig())
	names := []string{"Email Opened", "Push Notification Tapped", "Call Answered", "Email Link Clicked"}
	var events []*journey.Event
	for i := range 25 {
		events = append(events, response(fmt.Sprintf("e%d", i), names[i%len(names)], t0.Add(time.Duration(i*i)*53*time.Minute)))
	}
	state := func(order []int) *chanpref.State {
		st := p.NewState().(*chanpref.State)
		for _, i := range order {
			fold(t, p, st, events[i])
		}
		return st
	}
	var fwd, back []int
	for i := range events {
		fwd = append(fwd, i)
		back = append(back, len(events)-1-i)
	}
	a, b := state(fwd), state(back)
	if len(a.Channels) != len(b.Channels) {
		t.Fatalf("%d channels in order, %d reversed", len(a.Channels), len(b.Channels))
	}
	for i := range a.Channels {
		if d := int64(a.Channels[i].Score) - int64(b.Channels[i].Score); d < -30 || d > 30 {
			t.Errorf("channel %s: %d in order, %d reversed", a.Channels[i].Name, a.Channels[i].Score, b.Channels[i].Score)
		}
	}
	if p.PreferredChannel(a, a.At) != p.PreferredChannel(b, b.At) {
		t.Error("the preferred channel depends on the order")
	}
}

// TestZoneCacheConcurrent folds on one processor from several goroutines,
// as the partition workers do (run with -race).
func TestZoneCacheConcurrent(t *testing.T) {
	p := mustNew(t, chanpref.DefaultConfig())
	zones := []string{"Europe/Paris", "America/New_York", "Asia/Tokyo", "Nowhere/Land", "UTC"}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			st := p.NewState()
			var out journey.Output
			for i := range 200 {
				ev := response(fmt.Sprintf("e%d-%d", g, i), "Email Opened", t0.Add(time.Duration(i)*time.Minute))
				ev.TimeZone = zones[(g+i)%len(zones)]
				if _, err := p.Fold(st, ev, &out); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestContextOfNewState(t *testing.T) {
	p := mustNew(t, chanpref.DefaultConfig())
	got := p.Context(p.NewState())
	if len(got) != 2 || got[chanpref.ContextChannel] != "" || got[chanpref.ContextBestHour] != "" {
		t.Errorf("Context = %v, want both fields, empty", got)
	}
}

func TestFoldWrongState(t *testing.T) {
	p := mustNew(t, chanpref.DefaultConfig())
	var out journey.Output
	if _, err := p.Fold(otherState{}, response("a", "Email Opened", t0), &out); err == nil {
		t.Fatal("Fold of another processor's state succeeded")
	}
	if _, err := p.Fold((*chanpref.State)(nil), response("a", "Email Opened", t0), &out); err == nil {
		t.Fatal("Fold of a nil state succeeded")
	}
}

type otherState struct{}

func (otherState) MarshalBinary() ([]byte, error) { return nil, nil }
func (otherState) UnmarshalBinary([]byte) error   { return nil }
