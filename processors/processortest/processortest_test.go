package processortest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
)

// counter is a toy processor: it counts each customer's events and emits a
// trigger on every second one. Its flags break it in the ways the harness
// must catch.
type counter struct {
	lossy    bool // the encoding drops Last
	quiet    bool // Fold reports no change
	leaky    bool // the trigger payload carries a trait value
	noisy    bool // the payload depends on something other than the events
	noChan   bool // triggers have no channel
	failFold bool // Fold returns an error
}

type counterState struct {
	N    int    `json:"n"`
	Last string `json:"last,omitempty"`
}

func (s *counterState) MarshalBinary() ([]byte, error) { return json.Marshal(s) }
func (s *counterState) UnmarshalBinary(b []byte) error {
	*s = counterState{}
	return json.Unmarshal(b, s)
}

type lossyState struct{ counterState }

func (s *lossyState) MarshalBinary() ([]byte, error) { return json.Marshal(counterState{N: s.N}) }

var calls int // for counter.noisy

func (c *counter) Name() string         { return "counter" }
func (c *counter) StateVersion() uint32 { return 1 }
func (c *counter) NewState() journey.State {
	if c.lossy {
		return new(lossyState)
	}
	return new(counterState)
}

func (c *counter) Fold(st journey.State, ev *journey.Event, out *journey.Output) (bool, error) {
	if c.failFold {
		return false, fmt.Errorf("counter: broken")
	}
	var s *counterState
	switch st := st.(type) {
	case *counterState:
		s = st
	case *lossyState:
		s = &st.counterState
	}
	s.N++
	s.Last = ev.ID
	if s.N%2 == 0 {
		tr := journey.Trigger{
			ID: journey.TriggerID("counter.even", ev.CustomerID, ev.ID), Rule: "counter.even", CustomerID: ev.CustomerID,
			Channel: "web", At: ev.Time, Reason: "even", Causes: []string{ev.ID}, Payload: map[string]any{"n": s.N},
		}
		if c.noChan {
			tr.Channel = ""
		}
		if c.leaky {
			tr.Payload["who"] = "someone@example.com"
		}
		if c.noisy {
			calls++
			tr.Payload["call"] = calls
		}
		out.Emit(tr)
	}
	return !c.quiet, nil
}

// Merge implements journey.Merger: the counts add up, into's last event
// stays (from's when into has none).
func (c *counter) Merge(into, from journey.State, _ string, _ time.Time, _ *journey.Output) (bool, error) {
	s, f := into.(*counterState), from.(*counterState)
	if f.N == 0 {
		return false, nil
	}
	s.N += f.N
	if s.Last == "" {
		s.Last = f.Last
	}
	return true, nil
}

func (c *counter) Context(st journey.State) map[string]string {
	if s, ok := st.(*counterState); ok {
		return map[string]string{"counter.n": fmt.Sprint(s.N)}
	}
	return nil
}

func TestRunCounter(t *testing.T) {
	Run(t, &counter{}, "testdata")
}

func readGolden(t *testing.T, path string) *golden {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := parse(string(data))
	if err != nil {
		t.Fatal(err)
	}
	return &g
}

// TestCheckCatches breaks the toy processor in each way the harness
// promises to catch and checks it reports it.
func TestCheckCatches(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *counter
		want string
	}{
		{"lossy encoding", &counter{lossy: true}, "MarshalBinary -> UnmarshalBinary changed the state"},
		{"lossy encoding, reloaded", &counter{lossy: true}, "folding from the decoded state after every event differs"},
		{"change not reported", &counter{quiet: true}, "Fold reported no change but the encoded state changed"},
		{"personal data", &counter{leaky: true}, "carries a trait value (personal data)"},
		{"not deterministic", &counter{noisy: true}, "folding is not deterministic"},
		{"trigger without channel", &counter{noChan: true}, "has no Channel"},
		{"fold error", &counter{failFold: true}, "event e1: journey: fold failed: processor counter: counter: broken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, problems := check([]journey.Processor{tc.p}, readGolden(t, "testdata/counter.txt"))
			all := strings.Join(problems, "\n")
			if !strings.Contains(all, tc.want) {
				t.Errorf("problems = %q, want one containing %q", all, tc.want)
			}
		})
	}
	if _, problems := check([]journey.Processor{&counter{}}, readGolden(t, "testdata/counter.txt")); len(problems) > 0 {
		t.Errorf("the sound counter has problems: %q", problems)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"unknown field", `{"id":"e1","customer":"c1","time":"2026-11-01T10:00:00Z","prop":{}}`, `line 1: json: unknown field "prop"`},
		{"no time", `{"id":"e1","customer":"c1"}`, "line 1: time is missing"},
		{"bad time", `{"id":"e1","customer":"c1","time":"yesterday"}`, "line 1: time:"},
		{"no customer", `{"id":"e1","time":"2026-11-01T10:00:00Z"}`, "line 1: no customer"},
		{"bad kind", `{"id":"e1","kind":"click","customer":"c1","time":"2026-11-01T10:00:00Z"}`, `line 1: unknown kind "click"`},
		{"two values", `{"customer":"c1","time":"2026-11-01T10:00:00Z"} {}`, "line 1: more than one JSON value"},
		{"not JSON", "# fine\nevent e1 at 10:00", "line 2:"},
		{"no events", "# nothing\n----\n", "no events"},
		{"merge into itself", `{"merge":"c1","into":"c1","time":"2026-11-01T10:00:00Z"}`, "line 1: merge directive: \"merge\" and \"into\" must name two different customers"},
		{"merge without time", `{"merge":"a1","into":"c1"}`, "line 1: merge: time:"},
		{"merge unknown field", `{"merge":"a1","to":"c1","time":"2026-11-01T10:00:00Z"}`, `line 1: merge directive: json: unknown field "to"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(tc.text)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parse error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	g, err := parse(`{"user_id":"u1","anonymous_id":"a1","time":"2026-11-01T11:00:00+01:00"}` + "\n")
	if err != nil {
		t.Fatal(err)
	}
	ev := g.steps[0].ev
	if ev.CustomerID != "u1" || ev.Kind != journey.KindTrack || ev.Time.Location().String() != "UTC" || ev.Time.Hour() != 10 {
		t.Errorf("event = %+v, want customer u1, kind track, 10:00 UTC", ev)
	}
	if g.steps[0].label != "#1" || g.hasOutput {
		t.Errorf("label %q, hasOutput %v; want #1, false", g.steps[0].label, g.hasOutput)
	}
}

// TestUpdate checks -update writes the output section of a file that has
// none, keeping its input, and that the result then passes.
func TestUpdate(t *testing.T) {
	dir := t.TempDir()
	input := "# a comment\n" + `{"id":"e1","customer":"c1","time":"2026-11-01T10:00:00Z"}` + "\n" +
		`{"id":"e2","customer":"c1","time":"2026-11-01T10:01:00Z"}` // no final newline
	path := filepath.Join(dir, "new.txt")
	if err := os.WriteFile(path, []byte(input), 0o644); err != nil {
		t.Fatal(err)
	}
	old := *update
	*update = true
	Run(t, &counter{}, dir)
	*update = old

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), input+"\n----\ne1\ne2\n  trigger counter.even -> web\n") {
		t.Errorf("updated file:\n%s", data)
	}
	Run(t, &counter{}, dir)
}

func TestDiff(t *testing.T) {
	want := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n"
	got := "a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nk\nl\n"
	d := diff(want, got, 10)
	wantDiff := "@@ line 10 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n" +
		"@@ line 18 @@\n i\n j\n k\n+l\n"
	if d != wantDiff {
		t.Errorf("diff =\n%s\nwant\n%s", d, wantDiff)
	}
	if d := diff("same\n", "same\n", 1); d != "" {
		t.Errorf("diff of equal texts = %q", d)
	}
}

func TestIndentJSON(t *testing.T) {
	got, err := indentJSON([]byte(`{"b":1,"a":{"x":[1,2],"y":"z"},"c":[{"k":true}],"d":[],"e":{}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "b": 1,
  "a": {
    "x": [1,2],
    "y": "z"
  },
  "c": [
    {"k":true}
  ],
  "d": [],
  "e": {}
}`
	if got != want {
		t.Errorf("indentJSON =\n%s\nwant\n%s", got, want)
	}
}

// TestChecksRunWithoutTraits checks the per-step checks run on a file
// whose events carry no traits (they once ran only when some did).
func TestChecksRunWithoutTraits(t *testing.T) {
	g, err := parse(`{"id":"e1","customer":"c1","time":"2026-11-01T10:00:00Z"}` + "\n")
	if err != nil {
		t.Fatal(err)
	}
	_, problems := check([]journey.Processor{&counter{quiet: true}}, &g)
	if all := strings.Join(problems, "\n"); !strings.Contains(all, "Fold reported no change but the encoded state changed") {
		t.Errorf("problems = %q, want the unreported change", all)
	}
}
