package policy_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/policy"
)

// warmState returns the encoding of a customer with a realistic history:
// consent for three channels, a time zone, a week of contacts on several
// rules, two held triggers and a full suppression log.
func warmState(b *testing.B, p *policy.Processor) []byte {
	st := p.NewState()
	var out journey.Output
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	ev := &journey.Event{ID: "ajs-1", Kind: journey.KindIdentify, CustomerID: "user-1042", Time: start,
		TimeZone: "Europe/Paris", Consent: map[string]bool{"email": true, "push": true, "sms": true}}
	if _, err := p.Fold(st, ev, &out); err != nil {
		b.Fatal(err)
	}
	rules := []string{"interest.category", "cart.abandoned", "service.recovery", "engagement.tier", "dormancy.winback"}
	channels := []string{"email", "push", "sms", "call_centre"}
	for i := range 60 {
		at := start.Add(time.Duration(i) * 2 * time.Hour)
		tr := journey.Trigger{
			ID: journey.TriggerID(rules[i%len(rules)], "user-1042", fmt.Sprint(i)), Rule: rules[i%len(rules)],
			CustomerID: "user-1042", Channel: channels[i%len(channels)], At: at, Reason: "r",
			Causes: []string{fmt.Sprintf("ajs-next-%016x", i)}, Payload: map[string]any{"category": "Footwear/Boots", "views": 3},
		}
		if _, err := p.Admit(st, tr, at, journey.PolicyEnv{}, &out); err != nil {
			b.Fatal(err)
		}
	}
	data, err := st.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkAdmit is the per-trigger hot path on a warm state: decode the
// stored state, admit one trigger (daytime: it runs every check), encode
// the state.
func BenchmarkAdmit(b *testing.B) {
	p := mustNew(b, policy.DefaultConfig())
	data := warmState(b, p)
	at := time.Date(2026, 11, 6, 12, 0, 0, 0, time.UTC)
	tr := journey.Trigger{
		ID: journey.TriggerID("promo", "user-1042", "x"), Rule: "promo", CustomerID: "user-1042",
		Channel: journey.PreferredChannel, At: at, Reason: "r", Causes: []string{"ajs-next-ffffffffffffffff"},
	}
	env := journey.PolicyEnv{Preferred: func(time.Time) string { return "push" }}
	var out journey.Output
	b.ReportAllocs()
	for b.Loop() {
		st := p.NewState()
		if err := st.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
		out.Reset()
		if _, err := p.Admit(st, tr, at, env, &out); err != nil {
			b.Fatal(err)
		}
		if len(out.Triggers) != 1 {
			b.Fatalf("not admitted: %+v", out.Suppressed)
		}
		if _, err := st.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data)), "state-bytes")
}

// BenchmarkFold is the per-event cost for every event a customer sends:
// a page view carrying the time zone and consent, as Segment's browser
// library sends them.
func BenchmarkFold(b *testing.B) {
	p := mustNew(b, policy.DefaultConfig())
	data := warmState(b, p)
	ev := &journey.Event{ID: "ajs-2", Kind: journey.KindPage, CustomerID: "user-1042", Time: time.Date(2026, 11, 6, 12, 0, 0, 0, time.UTC),
		TimeZone: "Europe/Paris", Consent: map[string]bool{"email": true, "push": true, "sms": true}}
	var out journey.Output
	b.ReportAllocs()
	for b.Loop() {
		st := p.NewState()
		if err := st.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Fold(st, ev, &out); err != nil {
			b.Fatal(err)
		}
		if _, err := st.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}
