package processortest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
)

// golden is a parsed golden file.
type golden struct {
	input      string // the file up to and including the separator line
	output     string // the rest
	hasOutput  bool   // there was a separator line
	outputLine int    // the file line number of the output's first line
	settings   settings
	steps      []step
}

// settings are the runner's settings, from a settings line.
type settings struct {
	lateness time.Duration
	dropLate bool
}

// step is one input line: an event, an advance or a merge directive.
type step struct {
	line    int
	label   string         // the event id, or #n; "advance <time>", "merge <from> into <into> @<time>"
	ev      *journey.Event // nil for a directive
	advance time.Time
	merge   *mergeStep // a merge directive
	traits  []string   // string trait values that must not leak
}

// mergeStep is a merge directive: customer from merges into customer into
// at time at.
type mergeStep struct {
	from, into string
	at         time.Time
}

// directive keys: a line holding one of them is a directive, not an event.
var (
	advanceKeys  = []string{"advance"}
	mergeKeys    = []string{"merge"}
	settingsKeys = []string{"lateness", "late"}
)

// parse splits a golden file and decodes its steps.
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
	events := 0
	for i, l := range lines[:in] {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		s, err := g.decodeLine(l, events)
		if err != nil {
			return golden{}, fmt.Errorf("line %d: %w", i+1, err)
		}
		if s == nil { // settings
			continue
		}
		s.line = i + 1
		if s.ev != nil {
			events++
		}
		g.steps = append(g.steps, *s)
	}
	if events == 0 {
		return golden{}, errors.New("no events in the input section")
	}
	return g, nil
}

// decodeLine decodes one input line: an event, an advance directive, or a
// settings line (then it returns nil). events is how many events precede it.
func (g *golden) decodeLine(line string, events int) (*step, error) {
	// Sniff the first value's keys; decodeStrict then checks the line.
	var keys map[string]json.RawMessage
	if err := json.NewDecoder(strings.NewReader(line)).Decode(&keys); err != nil {
		return nil, err
	}
	has := func(ks []string) bool {
		return slices.ContainsFunc(ks, func(k string) bool { _, ok := keys[k]; return ok })
	}
	switch {
	case has(advanceKeys):
		var d struct {
			Advance string `json:"advance"`
		}
		if err := decodeStrict(line, &d); err != nil {
			return nil, fmt.Errorf("advance directive: %w", err)
		}
		at, err := time.Parse(time.RFC3339Nano, d.Advance)
		if err != nil {
			return nil, fmt.Errorf("advance: %w", err)
		}
		at = at.UTC()
		return &step{label: "advance " + at.Format(time.RFC3339Nano), advance: at}, nil
	case has(mergeKeys):
		var d struct {
			Merge string `json:"merge"`
			Into  string `json:"into"`
			Time  string `json:"time"`
		}
		if err := decodeStrict(line, &d); err != nil {
			return nil, fmt.Errorf("merge directive: %w", err)
		}
		if d.Merge == "" || d.Into == "" || d.Merge == d.Into {
			return nil, errors.New(`merge directive: "merge" and "into" must name two different customers`)
		}
		at, err := time.Parse(time.RFC3339Nano, d.Time)
		if err != nil {
			return nil, fmt.Errorf("merge: time: %w", err)
		}
		at = at.UTC()
		return &step{
			label: fmt.Sprintf("merge %s into %s @%s", d.Merge, d.Into, at.Format(time.RFC3339Nano)),
			merge: &mergeStep{from: d.Merge, into: d.Into, at: at},
		}, nil
	case has(settingsKeys):
		if len(g.steps) > 0 {
			return nil, errors.New("a settings line (lateness, late) must come before the first event or directive")
		}
		var d struct {
			Lateness *string `json:"lateness"`
			Late     *string `json:"late"`
		}
		if err := decodeStrict(line, &d); err != nil {
			return nil, fmt.Errorf("settings: %w", err)
		}
		if d.Lateness != nil {
			l, err := time.ParseDuration(*d.Lateness)
			if err != nil || l < 0 {
				return nil, fmt.Errorf("lateness: %q is not a duration >= 0 (want e.g. 5m)", *d.Lateness)
			}
			g.settings.lateness = l
		}
		if d.Late != nil {
			switch *d.Late {
			case "fold":
				g.settings.dropLate = false
			case "drop":
				g.settings.dropLate = true
			default:
				return nil, fmt.Errorf(`late: %q is not "fold" or "drop"`, *d.Late)
			}
		}
		return nil, nil
	}
	s, err := decodeEvent(line)
	if err != nil {
		return nil, err
	}
	s.label = s.ev.ID
	if s.label == "" {
		s.label = fmt.Sprintf("#%d", events+1)
	}
	return s, nil
}

// decodeStrict decodes one JSON value, refusing unknown fields and
// trailing values.
func decodeStrict(line string, v any) error {
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value on the line")
	}
	return nil
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
	RecordTime  string          `json:"record_time"`
}

var kinds = []journey.Kind{
	journey.KindTrack, journey.KindIdentify, journey.KindPage, journey.KindScreen,
	journey.KindAlias, journey.KindGroup, journey.KindCloudEvent,
}

func decodeEvent(line string) (*step, error) {
	var j eventJSON
	if err := decodeStrict(line, &j); err != nil {
		return nil, err
	}
	if j.Kind == "" {
		j.Kind = journey.KindTrack
	}
	if !slices.Contains(kinds, j.Kind) {
		return nil, fmt.Errorf("unknown kind %q", j.Kind)
	}
	if j.Time == "" {
		return nil, errors.New("time is missing")
	}
	tm, err := time.Parse(time.RFC3339Nano, j.Time)
	if err != nil {
		return nil, fmt.Errorf("time: %w", err)
	}
	var rt time.Time
	if j.RecordTime != "" {
		if rt, err = time.Parse(time.RFC3339Nano, j.RecordTime); err != nil {
			return nil, fmt.Errorf("record_time: %w", err)
		}
	}
	customer := j.Customer
	if customer == "" {
		customer = j.UserID
	}
	if customer == "" {
		customer = j.AnonymousID
	}
	if customer == "" {
		return nil, errors.New("no customer, user_id or anonymous_id")
	}
	return &step{
		ev: &journey.Event{
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
			Source:      journey.Source{Time: rt.UTC()},
		},
		traits: stringValues(j.Traits, nil),
	}, nil
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
