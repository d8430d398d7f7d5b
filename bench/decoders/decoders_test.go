//go:build journey_decoders

package decoders

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bytedance/sonic"
	gojson "github.com/goccy/go-json"
	gojsonv2 "github.com/goccy/go-json/v2"
	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
	segjson "github.com/segmentio/encoding/json"
)

// library is a JSON library's Unmarshal.
type library struct {
	name      string
	unmarshal func([]byte, any) error
}

// intoAny is l's Unmarshal into an any.
func (l library) intoAny(b []byte, v *any) error { return l.unmarshal(b, v) }

// libraries are the candidates, each configured to give what
// encoding/json gives (sonic's ConfigStd validates strings and copies
// them, as the decoder needs).
var libraries = []library{
	{"encoding_json", json.Unmarshal},
	{"goccy", gojson.Unmarshal},
	{"segmentio", segjson.Unmarshal},
	{"sonic", sonic.ConfigStd.Unmarshal},
}

// structLibraries are the libraries of the struct route: libraries and
// goccy's v2 API, which matches member names case-sensitively and refuses
// duplicate names and invalid UTF-8 (the record then takes the general
// path, with goccy's v1 map decoding); with v1's merge semantics, so that
// a member replaces the Absent in its field.
func structLibraries() []library {
	return append(slices.Clone(libraries), library{"goccy_v2", func(b []byte, v any) error {
		return gojsonv2.Unmarshal(b, v, gojson.MergeWithLegacySemantics(true))
	}})
}

// The decoder's clock and the default record time of the golden files
// (pkg/ingest's tests use the same).
var (
	now        = time.Date(2025, 11, 20, 12, 0, 0, 0, time.UTC)
	recordTime = time.Date(2025, 11, 20, 11, 0, 0, 0, time.UTC)
)

func newDecoder(tb testing.TB) *ingest.Decoder {
	tb.Helper()
	d, err := ingest.NewDecoder(ingest.Config{
		TopicChannels: map[string]string{
			"web.events": "web", "app.events": "app", "callcentre.events": "call_centre",
		},
		CloudEventTypes: map[string]string{
			"com.shop.product.viewed": "Product Viewed",
			"com.shop.contact.ended":  "Contact Ended",
			"com.shop.order.done":     "Order Completed",
		},
		Now: func() time.Time { return now },
	})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// goldenCase is a record of pkg/ingest's golden files.
type goldenCase struct {
	where string // file:line
	name  string // the bench name, for bench.txt's cases
	rec   ingest.Record
}

// readGolden reads the records of pkg/ingest/testdata/decode/*.txt (the
// format TestGolden documents), ignoring the expected output: the
// reference here is the hand-written parser's own result.
func readGolden(tb testing.TB) []goldenCase {
	tb.Helper()
	files, err := filepath.Glob("../../pkg/ingest/testdata/decode/*.txt")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no golden files: %v", err)
	}
	var cases []goldenCase
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 4<<20)
		var (
			cur   *goldenCase
			name  string
			value []string
			state = "start"
		)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			switch state {
			case "start":
				if s, ok := strings.CutPrefix(line, "# bench "); ok {
					name = s
				}
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				cur = &goldenCase{where: filepath.Base(file) + ":" + strconv.Itoa(n), name: name}
				cur.rec = directive(tb, cur.where, line)
				name, value, state = "", nil, "headers"
			case "headers", "value":
				if line == "----" {
					cur.rec.Value = []byte(strings.Join(value, "\n"))
					cases = append(cases, *cur)
					state = "want"
					continue
				}
				if h, ok := strings.CutPrefix(line, "header "); ok && state == "headers" {
					k, v, _ := strings.Cut(h, ": ")
					cur.rec.Headers = append(cur.rec.Headers, ingest.Header{Key: k, Value: []byte(v)})
					continue
				}
				state = "value"
				if q, ok := strings.CutPrefix(line, "quoted "); ok {
					if line, err = strconv.Unquote(q); err != nil {
						tb.Fatalf("%s: %v", cur.where, err)
					}
				}
				value = append(value, line)
			case "want":
				if line == "" {
					state = "start"
				}
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			tb.Fatal(err)
		}
	}
	return cases
}

// directive parses "decode topic=... partition=... offset=... time=...".
func directive(tb testing.TB, where, line string) ingest.Record {
	r := ingest.Record{Topic: "web.events", Time: recordTime}
	fields := strings.Fields(line)
	if len(fields) == 0 || fields[0] != "decode" {
		tb.Fatalf("%s: want a decode line, got %q", where, line)
	}
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
		}
		if err != nil {
			tb.Fatalf("%s: %v", where, err)
		}
	}
	return r
}

// benchCases are bench.txt's named records, in file order.
func benchCases(tb testing.TB) []goldenCase {
	var out []goldenCase
	for _, c := range readGolden(tb) {
		if c.name != "" {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		tb.Fatal("no bench cases")
	}
	return out
}

// sameOutcome reports how got differs from want ("" for not at all): the
// same event, or a rejection for the same reason. Format errors are
// compared by reason only: their messages name the parser's byte offset.
func sameOutcome(want journey.Event, werr error, got journey.Event, gerr error) string {
	if (werr == nil) != (gerr == nil) {
		return "hand-written: " + errString(werr) + "; library: " + errString(gerr)
	}
	if werr != nil {
		var we, ge *ingest.Error
		if !errors.As(werr, &we) || !errors.As(gerr, &ge) || we.Reason != ge.Reason ||
			we.Reason != ingest.ReasonFormat && we.Msg != ge.Msg {
			return "hand-written: " + errString(werr) + "; library: " + errString(gerr)
		}
		return ""
	}
	if !want.Time.Equal(got.Time) || want.Time.Location() != got.Time.Location() {
		return "time " + want.Time.String() + " vs " + got.Time.String()
	}
	want.Time, got.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(want, got) {
		return "events differ:\n hand-written " + strconv.Quote(fmtEvent(want)) + "\n library      " + strconv.Quote(fmtEvent(got))
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func fmtEvent(ev journey.Event) string {
	b, _ := json.Marshal(ev)
	return string(b)
}

// decodeFunc is a way of decoding a record.
type decodeFunc func(ingest.Record) (journey.Event, error)

// impl is a decoder under test: a name and its decodeFunc.
type impl struct {
	name   string
	decode decodeFunc
}

// impls are the ways of decoding timed and checked: the decoder as
// shipped, its general path with the hand-written parser, and with each
// library the general path (library/map) and a Segment fast path over the
// library's struct decoding (library/struct, falling back to the general
// path as the hand-written fast path does).
func impls(d *ingest.Decoder) []impl {
	out := []impl{{"handwritten", d.Decode}, {"handwritten_general", d.WithoutFastPath().Decode}}
	for _, lib := range libraries {
		general := d.WithUnmarshal(lib.intoAny)
		out = append(out, impl{lib.name + "_map", general.Decode})
	}
	goccy := d.WithUnmarshal(libraries[1].intoAny)
	for _, lib := range structLibraries() {
		general := d.WithUnmarshal(lib.intoAny)
		if lib.name == "goccy_v2" {
			general = goccy
		}
		out = append(out, impl{lib.name + "_struct", func(r ingest.Record) (journey.Event, error) {
			if !segmentCandidate(r) {
				return general.Decode(r)
			}
			e := ingest.NewSegmentEnvelope()
			if lib.unmarshal(r.Value, e) == nil {
				if ev, ok := d.DecodeSegmentEnvelope(r, e); ok {
					return ev, nil
				}
			}
			return general.Decode(r)
		}})
	}
	return out
}

// segmentCandidate reports whether Decode would try its Segment fast path
// on r: no CloudEvents headers.
func segmentCandidate(r ingest.Record) bool {
	for _, h := range r.Headers {
		k := strings.ToLower(h.Key)
		if k == "ce_specversion" || k == "content-type" && strings.Contains(strings.ToLower(string(h.Value)), "cloudevents") {
			return false
		}
	}
	return true
}

// TestSameEvents decodes every golden record with the hand-written parser
// and with each library: the same events, the same rejections.
func TestSameEvents(t *testing.T) {
	d := newDecoder(t)
	cases := readGolden(t)
	for _, im := range impls(d)[1:] {
		t.Run(im.name, func(t *testing.T) {
			for _, c := range cases {
				want, werr := d.Decode(c.rec)
				got, gerr := im.decode(c.rec)
				if diff := sameOutcome(want, werr, got, gerr); diff != "" {
					t.Errorf("%s: %s", c.where, diff)
				}
			}
		})
	}
}

// TestSameValues parses every golden record's value with the hand-written
// parser and with each library: the same values, the same failures.
func TestSameValues(t *testing.T) {
	d := newDecoder(t)
	cases := readGolden(t)
	for _, lib := range libraries {
		t.Run(lib.name, func(t *testing.T) {
			for _, c := range cases {
				want, werr := d.ParseJSON(c.rec.Value)
				var got any
				gerr := lib.intoAny(c.rec.Value, &got)
				if (werr == nil) != (gerr == nil) {
					t.Errorf("%s: hand-written: %v; library: %v", c.where, werr, gerr)
					continue
				}
				if werr == nil && !reflect.DeepEqual(want, got) {
					t.Errorf("%s: values differ:\n hand-written %#v\n library      %#v", c.where, want, got)
				}
			}
		})
	}
}

// BenchmarkDecode times each of impls on pkg/ingest's bench inputs.
func BenchmarkDecode(b *testing.B) {
	d := newDecoder(b)
	for _, c := range benchCases(b) {
		for _, im := range impls(d) {
			b.Run("input="+c.name+"/impl="+im.name, func(b *testing.B) {
				want, werr := d.Decode(c.rec)
				got, gerr := im.decode(c.rec)
				if diff := sameOutcome(want, werr, got, gerr); werr != nil || diff != "" {
					b.Fatalf("%v %s", werr, diff)
				}
				b.SetBytes(int64(len(c.rec.Value)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := im.decode(c.rec); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkParse times the parse alone: each bench input's value into an
// any, by the hand-written parser and by each library.
func BenchmarkParse(b *testing.B) {
	d := newDecoder(b)
	parsers := append([]library{{"handwritten", func(b []byte, v any) (err error) {
		*v.(*any), err = d.ParseJSON(b)
		return err
	}}}, libraries...)
	for _, c := range benchCases(b) {
		for _, p := range parsers {
			b.Run("input="+c.name+"/impl="+p.name, func(b *testing.B) {
				b.SetBytes(int64(len(c.rec.Value)))
				b.ReportAllocs()
				for b.Loop() {
					var v any
					if err := p.intoAny(c.rec.Value, &v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestStructPath checks that the struct route takes the bench's Segment
// records itself (no fallback), so that its timings are its own.
func TestStructPath(t *testing.T) {
	d := newDecoder(t)
	for _, c := range benchCases(t) {
		if !segmentCandidate(c.rec) {
			continue
		}
		for _, lib := range structLibraries() {
			e := ingest.NewSegmentEnvelope()
			if err := lib.unmarshal(c.rec.Value, e); err != nil {
				t.Fatalf("%s %s: %v", c.name, lib.name, err)
			}
			if _, ok := d.DecodeSegmentEnvelope(c.rec, e); !ok {
				t.Errorf("%s %s: the struct route refused the record", c.name, lib.name)
			}
		}
	}
}

// TestStructDivergence logs the records on which a library's struct
// decoding gives another outcome than the hand-written decoder: its
// matching of member names is case-insensitive, and a repeated context
// is merged rather than replaced.
func TestStructDivergence(t *testing.T) {
	d := newDecoder(t)
	for _, v := range []string{
		`{"type":"track","event":"x","MessageId":"m1","userId":"u"}`,
		`{"type":"track","event":"x","messageId":"m1","userId":"u","context":{"channel":"app"},"context":{"timezone":"UTC"}}`,
	} {
		r := ingest.Record{Topic: "web.events", Value: []byte(v), Time: recordTime}
		want, werr := d.Decode(r)
		for _, im := range impls(d)[2:] {
			got, gerr := im.decode(r)
			if diff := sameOutcome(want, werr, got, gerr); diff != "" {
				t.Logf("%s: %s: %s", im.name, v, diff)
			}
		}
	}
}
