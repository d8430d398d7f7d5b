package policy

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The context fields are exactly json.Marshal of the allowed channels and
// of a map channel -> last contact, as they were first written.
func TestContextIsMarshal(t *testing.T) {
	p, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	chans := []string{"email", "push", "sms", "web", "call_centre", "<x&y>"}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for range 500 {
		s := &State{}
		for range rng.IntN(5) {
			s.Consent = append(s.Consent, ChannelConsent{Channel: chans[rng.IntN(len(chans))], Granted: rng.IntN(2) == 0, At: t0})
		}
		for range rng.IntN(6) { // duplicates too: the last wins in a map
			at := t0.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
			s.Channels = append(s.Channels, ChannelContact{Channel: chans[rng.IntN(len(chans))], Last: at})
		}
		got := p.Context(s)
		want := []string{}
		for _, ch := range p.cfg.Consent.Required {
			if p.consented(s, ch) {
				want = append(want, ch)
			}
		}
		for _, c := range s.Consent {
			if c.Granted && !slices.Contains(want, c.Channel) {
				want = append(want, c.Channel)
			}
		}
		slices.Sort(want)
		allowed, _ := json.Marshal(want)
		last := make(map[string]time.Time, len(s.Channels))
		for _, c := range s.Channels {
			last[c.Channel] = c.Last
		}
		lj, _ := json.Marshal(last)
		if got[ContextConsent] != string(allowed) || got[ContextLastContact] != string(lj) {
			t.Fatalf("got %v\nwant consent %s, last contact %s", got, allowed, lj)
		}
	}
}
