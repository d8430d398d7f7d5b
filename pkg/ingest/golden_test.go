package ingest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata/decode/*.txt")

// TestGolden decodes the records in testdata/decode/*.txt and compares the
// result with the expected output written below each one. With -update it
// rewrites the expected output instead.
//
// A file is a sequence of cases separated by blank lines:
//
//	# Comment lines, kept as they are.
//	decode topic=web.events partition=0 offset=7 time=2025-11-20T11:00:00Z
//	header ce_id: abc
//	{"the": "record value", "on": "one or more lines"}
//	----
//	the decoded event as JSON, or "error <reason>: <message>"
//
// The decode line's arguments are optional; time defaults to the test
// record time and time=none leaves the record without one. A value line
// starting with "quoted " holds a Go-quoted string, for bytes that are not
// text. The decoder's clock reads 2025-11-20T12:00:00Z.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/decode/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	d := newDecoder(t)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			cases := readGolden(t, file)
			var out bytes.Buffer
			for i, c := range cases {
				got := render(d.Decode(c.rec))
				if i > 0 {
					out.WriteString("\n")
				}
				out.WriteString(c.input)
				out.WriteString(got + "\n")
				if !*update && got != c.want {
					t.Errorf("%s:%d: got\n%s\nwant\n%s", file, c.line, got, c.want)
				}
			}
			if *update {
				if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

type goldenCase struct {
	line  int    // of the decode directive
	input string // the case's text up to and including "----"
	rec   ingest.Record
	want  string
}

func readGolden(t testing.TB, file string) []goldenCase {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		cases []goldenCase
		cur   *goldenCase
		input strings.Builder
		value []string
		want  []string
		state = "start" // start, headers, value, want
		n     = 0
	)
	flush := func() {
		if cur != nil {
			cur.want = strings.Join(want, "\n")
			cases = append(cases, *cur)
		}
		cur, value, want, state = nil, nil, nil, "start"
		input.Reset()
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch state {
		case "start":
			if line == "" && input.Len() == 0 {
				continue
			}
			input.WriteString(line + "\n")
			if strings.HasPrefix(line, "#") || line == "" {
				continue
			}
			cur = &goldenCase{line: n, rec: directive(t, file, n, line)}
			state = "headers"
		case "headers", "value":
			input.WriteString(line + "\n")
			if line == "----" {
				cur.input = input.String()
				cur.rec.Value = []byte(strings.Join(value, "\n"))
				state = "want"
				continue
			}
			if k, v, ok := strings.Cut(strings.TrimPrefix(line, "header "), ": "); state == "headers" && ok && strings.HasPrefix(line, "header ") {
				cur.rec.Headers = append(cur.rec.Headers, ingest.Header{Key: k, Value: []byte(v)})
				continue
			}
			state = "value"
			if q, ok := strings.CutPrefix(line, "quoted "); ok {
				s, err := strconv.Unquote(q)
				if err != nil {
					t.Fatalf("%s:%d: %v", file, n, err)
				}
				line = s
			}
			value = append(value, line)
		case "want":
			if line == "" {
				flush()
				continue
			}
			want = append(want, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if state == "headers" || state == "value" {
		t.Fatalf("%s: case at line %d has no ----", file, cur.line)
	}
	flush()
	return cases
}

// directive parses "decode topic=... partition=... offset=... time=...".
func directive(t testing.TB, file string, n int, line string) ingest.Record {
	t.Helper()
	fields := strings.Fields(line)
	if len(fields) == 0 || fields[0] != "decode" {
		t.Fatalf("%s:%d: want a decode line, got %q", file, n, line)
	}
	r := ingest.Record{Topic: "web.events", Time: recordTime}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		var err error
		switch k {
		case "topic":
			r.Topic = v
		case "partition":
			r.Partition, err = strconv.Atoi(v)
		case "offset":
			r.Offset, err = strconv.ParseInt(v, 10, 64)
		case "time":
			if v == "none" {
				r.Time = time.Time{}
			} else {
				r.Time, err = time.Parse(time.RFC3339Nano, v)
			}
		default:
			err = fmt.Errorf("unknown argument %q", k)
		}
		if err != nil {
			t.Fatalf("%s:%d: %v", file, n, err)
		}
	}
	return r
}

// goldenEvent is journey.Event in a stable, readable JSON form.
type goldenEvent struct {
	ID          string          `json:"id"`
	Kind        journey.Kind    `json:"kind"`
	Name        string          `json:"name,omitempty"`
	CustomerID  string          `json:"customer_id"`
	UserID      string          `json:"user_id,omitempty"`
	AnonymousID string          `json:"anonymous_id,omitempty"`
	PreviousID  string          `json:"previous_id,omitempty"`
	Channel     string          `json:"channel,omitempty"`
	Time        string          `json:"time"`
	TimeZone    string          `json:"time_zone,omitempty"`
	Consent     map[string]bool `json:"consent,omitempty"`
	Properties  map[string]any  `json:"properties,omitempty"`
	Traits      map[string]any  `json:"traits,omitempty"`
	Source      string          `json:"source"`
}

func render(ev journey.Event, err error) string {
	if err != nil {
		var ie *ingest.Error
		if !errors.As(err, &ie) {
			return "error (not an *ingest.Error): " + err.Error()
		}
		return "error " + string(ie.Reason) + ": " + ie.Msg
	}
	g := goldenEvent{
		ID: ev.ID, Kind: ev.Kind, Name: ev.Name, CustomerID: ev.CustomerID, UserID: ev.UserID,
		AnonymousID: ev.AnonymousID, PreviousID: ev.PreviousID, Channel: ev.Channel,
		Time: ev.Time.Format(time.RFC3339Nano), TimeZone: ev.TimeZone, Consent: ev.Consent,
		Properties: ev.Properties, Traits: ev.Traits,
		Source: fmt.Sprintf("%s/%d@%d", ev.Source.Topic, ev.Source.Partition, ev.Source.Offset),
	}
	if ev.Time.Location() != time.UTC {
		g.Time += " (not UTC)"
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(g); err != nil {
		return "error (unencodable event): " + err.Error()
	}
	return strings.TrimSuffix(b.String(), "\n")
}
