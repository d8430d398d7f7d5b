package ingest_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/ingest"
)

// FuzzDecode decodes a record made of a value and one header, and checks
// the decoder's contract: no panic; either an *ingest.Error with a known
// Reason and a message, or an event with an id, a customer and a UTC time
// within bounds, whose numbers are float64, and whose properties meet its
// event schema (conform.go); and the same answer twice.
//
// The seed corpus is in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	d := newDecoder(f)
	eventSchemas := compileEventSchemas(f)
	maxTime := now.Add(ingest.DefaultMaxFuture)
	f.Fuzz(func(t *testing.T, value []byte, hkey string, hval []byte) {
		r := ingest.Record{Topic: "web.events", Partition: 1, Offset: 2, Value: value, Time: recordTime}
		if hkey != "" {
			r.Headers = []ingest.Header{{Key: hkey, Value: hval}}
		}
		if hkey == "" {
			checkFast(t, d, r)
		}
		ev, err := d.Decode(r)
		again, err2 := d.Decode(r)
		if !reflect.DeepEqual(ev, again) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("two decodes differ: %+v, %v / %+v, %v", ev, err, again, err2)
		}
		if err != nil {
			var ie *ingest.Error
			if !errors.As(err, &ie) {
				t.Fatalf("error %T %v is not an *ingest.Error", err, err)
			}
			if !slices.Contains(ingest.Reasons(), ie.Reason) {
				t.Fatalf("unknown reason %q", ie.Reason)
			}
			if ie.Msg == "" {
				t.Fatal("empty message")
			}
			return
		}
		if ev.ID == "" || ev.CustomerID == "" || ev.Time.IsZero() {
			t.Fatalf("incomplete event %+v", ev)
		}
		if ev.Time.Location() != time.UTC || ev.Time.After(maxTime) || ev.Time.Before(time.Unix(0, 0)) {
			t.Fatalf("event time %v", ev.Time)
		}
		checkNumbers(t, ev.Properties)
		checkNumbers(t, ev.Traits)
		if s := eventSchemas[ev.Name]; s != nil && ev.Kind == "track" && ev.Properties != nil {
			if err := s.Validate(toJSONValue(t, ev.Properties)); err != nil {
				t.Fatalf("properties of %q fail its schema: %v", ev.Name, err)
			}
		}
	})
}

// checkNumbers fails t when v holds a value of a type JSON decoding into
// `any` does not give, float64 being the only number type.
func checkNumbers(t *testing.T, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			checkNumbers(t, e)
		}
	case []any:
		for _, e := range v {
			checkNumbers(t, e)
		}
	case string, float64, bool, nil:
	default:
		t.Fatalf("a %T in the event", v)
	}
}
