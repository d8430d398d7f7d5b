package generate_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/generate"
	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
)

// start is the event time of the first record in these tests.
var start = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// run generates n records, one every step of event time from start.
func run(t *testing.T, cfg generate.Config, n int, step time.Duration) []generate.Message {
	t.Helper()
	g, err := generate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ms := make([]generate.Message, n)
	for i := range ms {
		ms[i] = g.Next(start.Add(time.Duration(i) * step))
	}
	return ms
}

func equal(a, b generate.Message) bool {
	return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) && a.Time.Equal(b.Time) &&
		a.Name == b.Name && slices.EqualFunc(a.Headers, b.Headers, func(x, y generate.Header) bool {
		return x.Key == y.Key && bytes.Equal(x.Value, y.Value)
	})
}

// TestSameSeedSameEvents: the records are a function of the seed and the
// times, byte for byte; another seed gives others.
func TestSameSeedSameEvents(t *testing.T) {
	cfg := generate.Config{Customers: 300, Seed: 42}
	a := run(t, cfg, 5000, 20*time.Millisecond)
	b := run(t, cfg, 5000, 20*time.Millisecond)
	for i := range a {
		if !equal(a[i], b[i]) {
			t.Fatalf("record %d differs with the same seed:\n%s %s\n%s %s", i, a[i].Key, a[i].Value, b[i].Key, b[i].Value)
		}
	}
	cfg.Seed = 43
	c := run(t, cfg, 5000, 20*time.Millisecond)
	same := 0
	for i := range a {
		if equal(a[i], c[i]) {
			same++
		}
	}
	if same > len(a)/100 {
		t.Fatalf("seeds 42 and 43 give %d identical records of %d", same, len(a))
	}
}

// TestEveryRecordDecodes: journey's decoder accepts every record (no dead
// letter), the record key is the customer (or none, for a few: journey
// routes them), and the mix covers the
// envelopes, call types, channels and events the processors read.
func TestEveryRecordDecodes(t *testing.T) {
	dec, err := ingest.NewDecoder(ingest.Config{
		CloudEventTypes: generate.CloudEventTypes(),
		Now:             func() time.Time { return start },
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20_000
	ms := run(t, generate.Config{Customers: 500, Seed: 7}, n, 50*time.Millisecond)
	names := map[string]int{}
	kinds := map[journey.Kind]int{}
	channels := map[string]int{}
	ids := map[string]bool{}
	envelopes := map[string]int{}
	anonymous, unkeyed := 0, 0
	for i, m := range ms {
		rec := ingest.Record{Topic: "journey.events", Partition: 0, Offset: int64(i), Key: m.Key, Value: m.Value, Time: m.Time}
		for _, h := range m.Headers {
			rec.Headers = append(rec.Headers, ingest.Header{Key: h.Key, Value: h.Value})
		}
		ev, err := dec.Decode(rec)
		if err != nil {
			t.Fatalf("record %d rejected: %v\nkey %s\nheaders %v\n%s", i, err, m.Key, m.Headers, m.Value)
		}
		if m.Key == nil {
			unkeyed++
		} else if ev.CustomerID != string(m.Key) {
			t.Fatalf("record %d: customer %q, key %q", i, ev.CustomerID, m.Key)
		}
		if !ev.Time.Equal(m.Time) {
			t.Fatalf("record %d: event time %v, want %v", i, ev.Time, m.Time)
		}
		if ids[ev.ID] {
			t.Fatalf("record %d: id %q repeated", i, ev.ID)
		}
		ids[ev.ID] = true
		if ev.UserID == "" {
			anonymous++
		}
		names[ev.Name]++
		kinds[ev.Kind]++
		channels[ev.Channel]++
		switch {
		case len(m.Headers) == 0:
			envelopes["segment"]++
		case bytes.Contains(m.Value, []byte(`"specversion"`)):
			envelopes["cloudevents structured"]++
		default:
			envelopes["cloudevents binary"]++
		}
	}
	t.Logf("events: %v", names)
	t.Logf("channels: %v; envelopes: %v; anonymous: %d", channels, envelopes, anonymous)
	for _, k := range []journey.Kind{journey.KindTrack, journey.KindIdentify, journey.KindPage, journey.KindScreen, journey.KindAlias} {
		if kinds[k] == 0 {
			t.Errorf("no %s call", k)
		}
	}
	if kinds[journey.KindCloudEvent] != 0 {
		t.Errorf("%d CloudEvents of an unmapped type", kinds[journey.KindCloudEvent])
	}
	for _, ch := range []string{"web", "app", "email", "call_centre", "store", "social", "survey"} {
		if channels[ch] == 0 {
			t.Errorf("no event on channel %s", ch)
		}
	}
	for _, e := range []string{"segment", "cloudevents structured", "cloudevents binary"} {
		if envelopes[e] == 0 {
			t.Errorf("no %s record", e)
		}
	}
	if share := float64(unkeyed) / n; share < 0.02 || share > 0.08 {
		t.Errorf("%.1f%% of records keyed by nothing, want about 5%%", 100*share)
	}
	if anonymous == 0 {
		t.Error("no anonymous events")
	}
	for _, name := range []string{
		"Product Viewed", "Product Added", "Cart Viewed", "Checkout Started", "Order Completed", "Product Reviewed",
		"Product Liked", "Product Shared", "Comment Posted", "Email Opened", "Email Link Clicked", "Email Unsubscribed",
		"Push Notification Received", "Push Notification Tapped", "Application Opened",
		"Contact Started", "Contact Ended", "Call Answered", "Complaint Submitted", "Survey Submitted",
	} {
		if names[name] == 0 {
			t.Errorf("no %q event", name)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []generate.Config{{Customers: -1}, {Think: -time.Second}, {Away: -time.Second}} {
		if _, err := generate.New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

func ExampleGenerator() {
	g, err := generate.New(generate.Config{Customers: 10, Seed: 1})
	if err != nil {
		panic(err)
	}
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	m := g.Next(at)
	fmt.Println(m.Name, len(m.Key) > 0, m.Time.Equal(at))
	// Output: page true true
}
