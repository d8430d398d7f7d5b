package processortest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
)

// reminder is a toy absence processor: "Remind" arms the timer named by
// its "topic" property an hour later (moving it when armed), "Done"
// cancels it; when it fires, a trigger. Its flags break it in the ways
// the harness must catch.
type reminder struct {
	quietTimer bool // OnTimer reports no change
	sticky     bool // a field the encoding does not keep changes the triggers
}

type reminderState struct {
	Armed map[string]string `json:"armed,omitempty"` // topic -> the event that armed it
	Fired int               `json:"fired"`
	folds int               // since the state was loaded; not encoded
}

func (s *reminderState) MarshalBinary() ([]byte, error) {
	if len(s.Armed) == 0 && s.Fired == 0 {
		return nil, nil
	}
	return json.Marshal(s)
}

func (s *reminderState) UnmarshalBinary(b []byte) error {
	*s = reminderState{}
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, s)
}

func (r *reminder) Name() string            { return "reminder" }
func (r *reminder) StateVersion() uint32    { return 1 }
func (r *reminder) NewState() journey.State { return new(reminderState) }

func (r *reminder) Fold(st journey.State, ev *journey.Event, out *journey.Output) (bool, error) {
	s := st.(*reminderState)
	topic := ev.Str("topic")
	s.folds++
	switch ev.Name {
	case "Remind":
		if s.Armed == nil {
			s.Armed = map[string]string{}
		}
		s.Armed[topic] = ev.ID
		out.SetTimer("r:"+topic, ev.Time.Add(time.Hour))
	case "Done":
		if _, ok := s.Armed[topic]; !ok {
			return false, nil
		}
		delete(s.Armed, topic)
		out.CancelTimer("r:" + topic)
	default:
		return false, nil
	}
	return true, nil
}

func (r *reminder) OnTimer(st journey.State, customer, key string, at time.Time, out *journey.Output) (bool, error) {
	s := st.(*reminderState)
	topic := strings.TrimPrefix(key, "r:")
	cause, ok := s.Armed[topic]
	if !ok {
		return false, nil
	}
	if r.sticky && s.folds > 1 {
		return false, nil
	}
	delete(s.Armed, topic)
	s.Fired++
	out.Emit(journey.Trigger{
		ID: journey.TriggerID("reminder.due", customer, key+"@"+at.Format(time.RFC3339Nano)), Rule: "reminder.due",
		CustomerID: customer, Channel: "push", At: at, Reason: "due", Causes: []string{cause}, Payload: map[string]any{"topic": topic},
	})
	return !r.quietTimer, nil
}

// noTimerHandler hides reminder's OnTimer.
type noTimerHandler struct{ r *reminder }

func (n noTimerHandler) Name() string            { return n.r.Name() }
func (n noTimerHandler) StateVersion() uint32    { return 1 }
func (n noTimerHandler) NewState() journey.State { return n.r.NewState() }
func (n noTimerHandler) Fold(st journey.State, ev *journey.Event, out *journey.Output) (bool, error) {
	return n.r.Fold(st, ev, out)
}

// onePerDay is a toy contact policy: at most one trigger per customer per
// 24 hours (rolling); the others are suppressed.
type onePerDay struct{}

type onePerDayState struct {
	Last time.Time `json:"last,omitzero"`
}

func (s *onePerDayState) MarshalBinary() ([]byte, error) {
	if s.Last.IsZero() {
		return nil, nil
	}
	return s.Last.MarshalBinary()
}

func (s *onePerDayState) UnmarshalBinary(b []byte) error {
	*s = onePerDayState{}
	if len(b) == 0 {
		return nil
	}
	return s.Last.UnmarshalBinary(b)
}

func (onePerDay) Name() string            { return "policy" }
func (onePerDay) StateVersion() uint32    { return 1 }
func (onePerDay) NewState() journey.State { return new(onePerDayState) }
func (onePerDay) Fold(journey.State, *journey.Event, *journey.Output) (bool, error) {
	return false, nil
}
func (onePerDay) OnTimer(journey.State, string, string, time.Time, *journey.Output) (bool, error) {
	return false, nil
}
func (onePerDay) Admit(st journey.State, t journey.Trigger, now time.Time, _ journey.PolicyEnv, out *journey.Output) (bool, error) {
	s := st.(*onePerDayState)
	if !s.Last.IsZero() && now.Before(s.Last.Add(24*time.Hour)) {
		out.Suppress(t, "channel_cap")
		return false, nil
	}
	s.Last = now
	out.Admit(t)
	return true, nil
}

func TestRunEngineTimers(t *testing.T) {
	RunEngine(t, []journey.Processor{&reminder{}, onePerDay{}}, "testdata/engine")
}

// TestCheckCatchesTimers breaks the toy timer processor in each way the
// harness promises to catch and checks it reports it.
func TestCheckCatchesTimers(t *testing.T) {
	g := readGolden(t, "testdata/engine/reminders.txt")
	for _, tc := range []struct {
		name  string
		procs []journey.Processor
		want  []string
	}{
		{"timer change not reported", []journey.Processor{&reminder{quietTimer: true}}, []string{
			"timer reminder/r:bins of customer c1: reminder: OnTimer reported no change but the encoded state changed",
			"folding from the decoded state after every event differs",
		}},
		{"state kept outside the encoding", []journey.Processor{&reminder{sticky: true}}, []string{
			"folding from the decoded state after every event differs",
			"folding in random batches of",
		}},
		{"timers without a handler", []journey.Processor{noTimerHandler{&reminder{}}}, []string{
			"reminder sets timers but is not a journey.TimerHandler",
		}},
		{"two processors of one name", []journey.Processor{&reminder{}, &reminder{}}, []string{
			`journey: processor "reminder" registered twice`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, problems := check(tc.procs, g)
			all := strings.Join(problems, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems = %q\nwant one containing %q", all, w)
				}
			}
		})
	}
}

// TestBatchesDoNotChangeTimers plays the reminders with every batching of
// its first steps and checks the output never changes.
func TestBatchesDoNotChangeTimers(t *testing.T) {
	g := readGolden(t, "testdata/engine/reminders.txt")
	procs := []journey.Processor{&reminder{}, onePerDay{}}
	want := play(procs, g, nil, nil)
	if want.fatal || len(want.problems) > 0 {
		t.Fatalf("problems: %q", want.problems)
	}
	n := min(len(g.steps), 10)
	for mask := range 1 << n {
		cuts := make([]bool, len(g.steps))
		for i := range n {
			cuts[i] = mask&(1<<i) != 0
		}
		if got := play(procs, g, cuts, nil); got.text != want.text {
			t.Fatalf("batches %v:\n%s", batchSizes(cuts), diff(want.text, got.text, 1))
		}
	}
}

func TestParseDirectives(t *testing.T) {
	g, err := parse(`{"lateness":"5m","late":"drop"}
{"id":"e1","customer":"c1","time":"2026-11-01T10:00:00Z"}
{"advance":"2026-11-01T12:00:00+01:00"}
`)
	if err != nil {
		t.Fatal(err)
	}
	if g.settings.lateness != 5*time.Minute || !g.settings.dropLate {
		t.Errorf("settings = %+v, want lateness 5m, drop late", g.settings)
	}
	if len(g.steps) != 2 || g.steps[1].ev != nil || g.steps[1].label != "advance 2026-11-01T11:00:00Z" || g.steps[1].line != 3 {
		t.Errorf("steps = %+v, want the event then an advance to 11:00 UTC on line 3", g.steps)
	}
	for _, tc := range []struct{ name, text, want string }{
		{"settings after an event", `{"id":"e1","customer":"c1","time":"2026-11-01T10:00:00Z"}` + "\n" + `{"lateness":"5m"}`, "line 2: a settings line (lateness, late) must come before"},
		{"bad lateness", `{"lateness":"5 minutes"}`, `line 1: lateness: "5 minutes" is not a duration`},
		{"negative lateness", `{"lateness":"-5m"}`, `line 1: lateness: "-5m" is not a duration >= 0`},
		{"bad late policy", `{"late":"skip"}`, `line 1: late: "skip" is not "fold" or "drop"`},
		{"advance with an event field", `{"advance":"2026-11-01T10:00:00Z","customer":"c1"}`, `line 1: advance directive: json: unknown field "customer"`},
		{"bad advance time", `{"advance":"noon"}`, "line 1: advance:"},
		{"only directives", `{"lateness":"5m"}` + "\n" + `{"advance":"2026-11-01T10:00:00Z"}`, "no events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(tc.text)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parse error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestLateDropped checks the drop policy's output.
func TestLateDropped(t *testing.T) {
	g, err := parse(`{"late":"drop"}
{"id":"e2","name":"Remind","customer":"c1","time":"2026-11-01T10:00:00Z","props":{"topic":"a"}}
{"id":"e1","name":"Remind","customer":"c1","time":"2026-11-01T09:00:00Z","props":{"topic":"b"}}
`)
	if err != nil {
		t.Fatal(err)
	}
	text, problems := check([]journey.Processor{&reminder{}}, &g)
	if len(problems) > 0 {
		t.Fatalf("problems: %q", problems)
	}
	if !strings.Contains(text, "\ne1 (late, dropped)\n\n") {
		t.Errorf("output:\n%s\nwant e1 late and dropped, with nothing under it", text)
	}
}
