// Package processortest runs a journey.Processor over golden files: event
// sequences written by hand and the triggers, state and context the
// processor produced for them, regenerated with -update.
//
// # Golden files
//
// Run folds every dir/*.txt file through the processor, one sub-test per
// file. A file is an input section, a line holding exactly "----", and the
// expected output:
//
//	# Three views of boots within the window reach the threshold.
//	{"id":"v1","name":"Product Viewed","customer":"c1","channel":"web","time":"2026-11-01T10:00:00Z","props":{"category":"boots"}}
//	{"id":"v2","name":"Product Viewed","customer":"c1","channel":"app","time":"2026-11-01T11:00:00Z","props":{"category":"boots"}}
//	----
//	v1
//	v2
//	  trigger interest.category -> email
//	    id       5d0c…
//	    ...
//
//	customer c1
//	  context
//	    interest.top = [...]
//	  state
//	    {...}
//
// The input section holds one event per line as a compact JSON object;
// blank lines and lines starting with # (comments) are ignored. Fields,
// all optional except time and a customer:
//
//	id            Event.ID
//	kind          Event.Kind: track (the default), identify, page, screen, alias, group, cloudevent
//	name          Event.Name
//	customer      Event.CustomerID; defaults to user_id, else anonymous_id
//	user_id       Event.UserID
//	anonymous_id  Event.AnonymousID
//	previous_id   Event.PreviousID
//	channel       Event.Channel
//	time          Event.Time, RFC 3339 (converted to UTC)
//	timezone      Event.TimeZone
//	consent       Event.Consent, an object of channel -> bool
//	props         Event.Properties; numbers decode as float64, as from ingest
//	traits        Event.Traits
//
// Unknown fields are an error, so a typo cannot silently drop a property.
//
// The output section is generated: one line per event, named by its id (or
// #n, its position, when it has none), followed by " (no change)" when Fold
// reported that the state did not change, then the triggers the event
// emitted, indented under it. After the events, each customer in order of
// first appearance: the Context fields when the processor is a
// journey.ContextSource, then the final state as JSON (json.Marshal of the
// State value, so states need exported, JSON-friendly fields or a
// MarshalJSON method), indented, with objects and arrays that hold only
// scalars kept on one line.
//
// # Updating
//
// go test ./processors/... -update rewrites the output section of every
// golden file from what the code produced, keeping the input section as it
// is. A file without a "----" line gets one. Review the diff before
// committing it. Every test binary under processors/ must define the flag,
// so every test package there imports this package (a blank import will
// do).
//
// # Checks
//
// Besides comparing the output, Run fails a file when:
//
//   - after any event, MarshalBinary then UnmarshalBinary into NewState()
//     gives a state whose JSON differs, or whose encoding is not byte for
//     byte the same (encodings must be canonical, see below);
//   - Fold returned changed == false but the encoded state changed;
//   - the output differs when the file is folded again (determinism), or
//     when the state is replaced by its decoded copy after every event, as
//     a store that reloads state would do (encoding loss);
//   - a trigger lacks an ID, Rule, CustomerID, Channel or At, or its payload
//     does not marshal to JSON;
//   - a string value of four or more bytes from any event's traits (personal
//     data) appears in a trigger's payload or reason, a context field, the
//     state's JSON or its encoding;
//   - Fold returns an error.
package processortest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
)

var update = flag.Bool("update", false, "rewrite the output section of golden files under processors/ from what the code produces")

// separator divides a golden file's input from its expected output.
const separator = "----"

// Run checks p against every dir/*.txt golden file, one sub-test per file,
// as described in the package comment. With -update it rewrites the files'
// output sections instead of comparing them.
func Run(t *testing.T, p journey.Processor, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("processortest: no golden files in %s", dir)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			runFile(t, p, path)
		})
	}
}

func runFile(t *testing.T, p journey.Processor, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := parse(string(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	got, problems := check(p, g.events)
	for _, pr := range problems {
		t.Errorf("%s: %s", path, pr)
	}
	if *update {
		if got != g.output {
			if err := os.WriteFile(path, []byte(g.input+got), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: updated", path)
		}
		return
	}
	if !g.hasOutput {
		t.Fatalf("%s: no %q line and no expected output; run go test ./processors/... -update", path, separator)
	}
	if got != g.output {
		t.Errorf("%s: output differs (-want +got); if the change is intended, run go test ./processors/... -update\n%s",
			path, diff(g.output, got, g.outputLine))
	}
}

// golden is a parsed golden file.
type golden struct {
	input      string // the file up to and including the separator line
	output     string // the rest
	hasOutput  bool   // there was a separator line
	outputLine int    // the file line number of the output's first line
	events     []event
}

// event is one input line.
type event struct {
	label  string // the event id, or #n
	line   int
	ev     journey.Event
	traits []string // string trait values that must not leak
}

// parse splits a golden file and decodes its events.
func parse(text string) (golden, error) {
	var g golden
	lines := strings.SplitAfter(text, "\n")
	in := len(lines)
	for i, l := range lines {
		if strings.TrimRight(l, "\r\n") == separator {
			in = i
			g.hasOutput = true
			break
		}
	}
	if g.hasOutput {
		g.input = strings.Join(lines[:in+1], "")
		g.output = strings.Join(lines[in+1:], "")
		g.outputLine = in + 2
	} else {
		g.input = text
		if text != "" && !strings.HasSuffix(text, "\n") {
			g.input += "\n"
		}
		g.input += separator + "\n"
	}
	for i, l := range lines[:in] {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		e, err := decodeEvent(l)
		if err != nil {
			return golden{}, fmt.Errorf("line %d: %w", i+1, err)
		}
		e.line = i + 1
		e.label = e.ev.ID
		if e.label == "" {
			e.label = fmt.Sprintf("#%d", len(g.events)+1)
		}
		g.events = append(g.events, e)
	}
	if len(g.events) == 0 {
		return golden{}, errors.New("no events in the input section")
	}
	return g, nil
}

// eventJSON is the input line format; see the package comment.
type eventJSON struct {
	ID          string          `json:"id"`
	Kind        journey.Kind    `json:"kind"`
	Name        string          `json:"name"`
	Customer    string          `json:"customer"`
	UserID      string          `json:"user_id"`
	AnonymousID string          `json:"anonymous_id"`
	PreviousID  string          `json:"previous_id"`
	Channel     string          `json:"channel"`
	Time        string          `json:"time"`
	TimeZone    string          `json:"timezone"`
	Consent     map[string]bool `json:"consent"`
	Props       map[string]any  `json:"props"`
	Traits      map[string]any  `json:"traits"`
}

var kinds = []journey.Kind{
	journey.KindTrack, journey.KindIdentify, journey.KindPage, journey.KindScreen,
	journey.KindAlias, journey.KindGroup, journey.KindCloudEvent,
}

func decodeEvent(line string) (event, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	var j eventJSON
	if err := dec.Decode(&j); err != nil {
		return event{}, err
	}
	if dec.More() {
		return event{}, errors.New("more than one JSON value on the line")
	}
	if j.Kind == "" {
		j.Kind = journey.KindTrack
	}
	if !slices.Contains(kinds, j.Kind) {
		return event{}, fmt.Errorf("unknown kind %q", j.Kind)
	}
	if j.Time == "" {
		return event{}, errors.New("time is missing")
	}
	tm, err := time.Parse(time.RFC3339Nano, j.Time)
	if err != nil {
		return event{}, fmt.Errorf("time: %w", err)
	}
	customer := j.Customer
	if customer == "" {
		customer = j.UserID
	}
	if customer == "" {
		customer = j.AnonymousID
	}
	if customer == "" {
		return event{}, errors.New("no customer, user_id or anonymous_id")
	}
	e := event{ev: journey.Event{
		ID:          j.ID,
		Kind:        j.Kind,
		Name:        j.Name,
		CustomerID:  customer,
		UserID:      j.UserID,
		AnonymousID: j.AnonymousID,
		PreviousID:  j.PreviousID,
		Channel:     j.Channel,
		Time:        tm.UTC(),
		TimeZone:    j.TimeZone,
		Consent:     j.Consent,
		Properties:  j.Props,
		Traits:      j.Traits,
	}}
	e.traits = stringValues(j.Traits, nil)
	return e, nil
}

// stringValues appends the string values of length >= 4 found anywhere in v.
func stringValues(v any, out []string) []string {
	switch v := v.(type) {
	case string:
		if len(v) >= 4 {
			out = append(out, v)
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = stringValues(v[k], out)
		}
	case []any:
		for _, e := range v {
			out = stringValues(e, out)
		}
	}
	return out
}

// check folds events three times — in memory, in memory again, and
// replacing the state by its decoded copy after every event — and returns
// the output of the first run and every problem found.
func check(p journey.Processor, events []event) (string, []string) {
	var traits []string
	for _, e := range events {
		traits = append(traits, e.traits...)
	}
	first := fold(p, events, false, traits)
	problems := first.problems
	if first.fatal {
		return first.text, problems
	}
	if again := fold(p, events, false, nil); again.text != first.text {
		problems = append(problems, "folding is not deterministic: a second run gave (-first +second)\n"+diff(first.text, again.text, 1))
	}
	if reload := fold(p, events, true, nil); reload.text != first.text {
		problems = append(problems, "folding from the decoded state after every event differs from folding in memory (-memory +decoded)\n"+
			diff(first.text, reload.text, 1)+strings.Join(reload.problems, "\n"))
	}
	return first.text, problems
}

type result struct {
	text     string
	problems []string
	fatal    bool // folding stopped early
}

// fold runs events through p. With reload, each customer's state is
// replaced by its decoded copy after every event. traits, when not nil, are
// the values that must not leak; checks run only when it is not nil.
func fold(p journey.Processor, events []event, reload bool, traits []string) result {
	var (
		r       result
		b       strings.Builder
		states  = map[string]journey.State{}
		order   []string
		out     journey.Output
		checked = traits != nil
	)
	problem := func(e *event, format string, args ...any) {
		r.problems = append(r.problems, fmt.Sprintf("line %d (%s): ", e.line, e.label)+fmt.Sprintf(format, args...))
	}
	for i := range events {
		e := &events[i]
		st, ok := states[e.ev.CustomerID]
		if !ok {
			st = p.NewState()
			states[e.ev.CustomerID] = st
			order = append(order, e.ev.CustomerID)
		}
		var before []byte
		if checked {
			var err error
			if before, err = st.MarshalBinary(); err != nil {
				problem(e, "MarshalBinary before Fold: %v", err)
				r.fatal = true
				break
			}
		}
		ev := e.ev // a copy: a processor mutating the event must not change the next run
		out.Reset()
		changed, err := p.Fold(st, &ev, &out)
		if err != nil {
			problem(e, "Fold: %v", err)
			r.fatal = true
			break
		}
		b.WriteString(e.label)
		if !changed {
			b.WriteString(" (no change)")
		}
		b.WriteByte('\n')
		for j := range out.Triggers {
			writeTrigger(&b, &out.Triggers[j])
		}
		enc, err := st.MarshalBinary()
		if err != nil {
			problem(e, "MarshalBinary: %v", err)
			r.fatal = true
			break
		}
		dec := p.NewState()
		if err := dec.UnmarshalBinary(enc); err != nil {
			problem(e, "UnmarshalBinary of the state just marshalled: %v", err)
			r.fatal = true
			break
		}
		if checked {
			if !changed && !bytes.Equal(before, enc) {
				problem(e, "Fold reported no change but the encoded state changed")
			}
			checkRoundTrip(st, dec, enc, func(f string, a ...any) { problem(e, f, a...) })
			for j := range out.Triggers {
				checkTrigger(&out.Triggers[j], traits, func(f string, a ...any) { problem(e, f, a...) })
			}
			sj, _ := json.Marshal(st)
			for _, v := range traits {
				if bytes.Contains(sj, []byte(v)) || bytes.Contains(enc, []byte(v)) {
					problem(e, "a trait value (personal data) is in the state")
				}
			}
		}
		if reload {
			states[e.ev.CustomerID] = dec
		}
	}
	for _, c := range order {
		st := states[c]
		fmt.Fprintf(&b, "\ncustomer %s\n", c)
		if cs, ok := p.(journey.ContextSource); ok {
			fields := cs.Context(st)
			b.WriteString("  context\n")
			keys := make([]string, 0, len(fields))
			for k := range fields {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, "    %s = %s\n", k, fields[k])
				if checked {
					for _, v := range traits {
						if strings.Contains(fields[k], v) {
							r.problems = append(r.problems, fmt.Sprintf("customer %s: a trait value (personal data) is in context field %s", c, k))
						}
					}
				}
			}
		}
		b.WriteString("  state\n")
		j, err := json.Marshal(st)
		if err != nil {
			r.problems = append(r.problems, fmt.Sprintf("customer %s: json.Marshal of the state: %v", c, err))
			continue
		}
		ind, err := indentJSON(j, "    ")
		if err != nil {
			r.problems = append(r.problems, fmt.Sprintf("customer %s: formatting the state's JSON: %v", c, err))
			continue
		}
		fmt.Fprintf(&b, "    %s\n", ind)
	}
	r.text = b.String()
	return r
}

// checkRoundTrip reports when dec, decoded from enc, the encoding of st,
// differs from st in JSON or encodes to other bytes.
func checkRoundTrip(st, dec journey.State, enc []byte, problem func(string, ...any)) {
	want, err := json.Marshal(st)
	if err != nil {
		problem("json.Marshal of the state: %v", err)
		return
	}
	got, err := json.Marshal(dec)
	if err != nil {
		problem("json.Marshal of the decoded state: %v", err)
		return
	}
	if !bytes.Equal(want, got) {
		problem("MarshalBinary -> UnmarshalBinary changed the state:\n  before %s\n  after  %s", want, got)
	}
	again, err := dec.MarshalBinary()
	if err != nil {
		problem("MarshalBinary of the decoded state: %v", err)
		return
	}
	if !bytes.Equal(enc, again) {
		problem("the encoding is not canonical: the decoded state encodes to other bytes\n  first  %x\n  second %x", enc, again)
	}
}

// checkTrigger reports what a trigger sink would reject and personal data
// in the trigger.
func checkTrigger(tr *journey.Trigger, traits []string, problem func(string, ...any)) {
	for _, f := range []struct {
		name  string
		empty bool
	}{
		{"ID", tr.ID == ""},
		{"Rule", tr.Rule == ""},
		{"CustomerID", tr.CustomerID == ""},
		{"Channel", tr.Channel == ""},
		{"At", tr.At.IsZero()},
	} {
		if f.empty {
			problem("trigger %s has no %s", tr.Rule, f.name)
		}
	}
	pj, err := json.Marshal(tr.Payload)
	if err != nil {
		problem("trigger %s: payload does not marshal to JSON: %v", tr.Rule, err)
	}
	for _, v := range traits {
		if bytes.Contains(pj, []byte(v)) || strings.Contains(tr.Reason, v) {
			problem("trigger %s carries a trait value (personal data)", tr.Rule)
		}
	}
}

func writeTrigger(b *strings.Builder, tr *journey.Trigger) {
	causes, _ := json.Marshal(tr.Causes)
	if tr.Causes == nil {
		causes = []byte("[]")
	}
	payload, err := json.Marshal(tr.Payload)
	if err != nil {
		payload = []byte("!" + err.Error())
	}
	if tr.Payload == nil {
		payload = []byte("{}")
	}
	fmt.Fprintf(b, "  trigger %s -> %s\n", tr.Rule, tr.Channel)
	fmt.Fprintf(b, "    id       %s\n", tr.ID)
	fmt.Fprintf(b, "    customer %s\n", tr.CustomerID)
	fmt.Fprintf(b, "    at       %s\n", tr.At.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(b, "    reason   %s\n", tr.Reason)
	fmt.Fprintf(b, "    causes   %s\n", causes)
	fmt.Fprintf(b, "    payload  %s\n", payload)
}
