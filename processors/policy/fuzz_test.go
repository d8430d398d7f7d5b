package policy_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/policy"
)

// FuzzUnmarshalBinary checks that decoding arbitrary bytes never panics,
// and that a state it accepts encodes canonically and can be folded,
// admitted into and released from. The seed corpus is in
// testdata/fuzz/FuzzUnmarshalBinary.
func FuzzUnmarshalBinary(f *testing.F) {
	cfg := policy.DefaultConfig()
	cfg.MaxHeld, cfg.MaxLog = 3, 3
	p, err := policy.New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	at := time.Date(2026, 11, 2, 22, 0, 0, 0, time.UTC)
	events := []*journey.Event{
		{ID: "f1", Kind: journey.KindIdentify, CustomerID: "c1", Time: at, TimeZone: "Europe/Paris", Consent: map[string]bool{"email": true, "push": true}},
		{ID: "f2", Kind: journey.KindTrack, Name: policy.EventEmailUnsubscribed, CustomerID: "c1", Time: at.Add(time.Minute)},
	}
	triggers := []journey.Trigger{
		{ID: "t1", Rule: "interest", CustomerID: "c1", Channel: "push", At: at, Causes: []string{"f1"}, Payload: map[string]any{"n": 1}},
		{ID: "t2", Rule: "recovery", CustomerID: "c1", Channel: "call_centre", At: at},
		{ID: "t3", Rule: "winback", CustomerID: "c1", Channel: journey.PreferredChannel, At: at},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var st policy.State
		if err := st.UnmarshalBinary(data); err != nil {
			return
		}
		enc, err := st.MarshalBinary()
		if err != nil {
			t.Fatalf("a decoded state does not encode: %v", err)
		}
		var again policy.State
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("the encoding of a decoded state does not decode: %v", err)
		}
		if enc2, _ := again.MarshalBinary(); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%x\n%x", enc, enc2)
		}
		var out journey.Output
		for _, ev := range events {
			if _, err := p.Fold(&st, ev, &out); err != nil {
				t.Fatalf("Fold on a decoded state: %v", err)
			}
		}
		env := journey.PolicyEnv{Preferred: func(time.Time) string { return "sms" }}
		for _, tr := range triggers {
			if _, err := p.Admit(&st, tr, at.Add(2*time.Minute), env, &out); err != nil {
				t.Fatalf("Admit on a decoded state: %v", err)
			}
		}
		for len(st.Held) > 0 {
			h := st.Held[0]
			if _, err := p.OnTimer(&st, h.CustomerID, "held/"+h.ID, h.Until, &out); err != nil {
				t.Fatalf("OnTimer on a decoded state: %v", err)
			}
			if len(st.Held) > 0 && st.Held[0].ID == h.ID && !st.Held[0].Until.After(h.Until) {
				t.Fatalf("held trigger %s not released at %s", h.ID, h.Until)
			}
			if len(out.Timers) > 100 {
				t.Fatal("releasing held triggers does not end")
			}
		}
		if _, err := st.MarshalBinary(); err != nil {
			t.Fatalf("a decoded state, folded, does not encode: %v", err)
		}
		p.Context(&st)
	})
}
