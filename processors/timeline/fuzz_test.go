package timeline_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/timeline"
)

// FuzzUnmarshalBinary checks that decoding arbitrary bytes never panics,
// and that a state it accepts encodes canonically and can be folded into,
// observe decisions and merge. The seed corpus is in
// testdata/fuzz/FuzzUnmarshalBinary.
func FuzzUnmarshalBinary(f *testing.F) {
	p, err := timeline.New(timeline.Config{MaxEvents: 5, MaxAge: 24 * time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	ev := &journey.Event{ID: "fz", Kind: journey.KindPage, Name: "Home", CustomerID: "c1", Time: at, Properties: map[string]any{"cart_id": "k1", "score": 2.5}}
	tr := journey.Trigger{ID: "t1", Rule: "r", Channel: "email", Causes: []string{"fz"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		var st timeline.State
		if err := st.UnmarshalBinary(data); err != nil {
			return
		}
		enc, err := st.MarshalBinary()
		if err != nil {
			t.Fatalf("a decoded state does not encode: %v", err)
		}
		var again timeline.State
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("the encoding of a decoded state does not decode: %v", err)
		}
		if enc2, _ := again.MarshalBinary(); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%x\n%x", enc, enc2)
		}
		var out journey.Output
		if _, err := p.Fold(&st, ev, &out); err != nil {
			t.Fatalf("Fold on a decoded state: %v", err)
		}
		d := journey.Decisions{Held: []journey.Trigger{tr}, Suppressed: []journey.Suppression{{Trigger: tr, Reason: "cooldown"}}}
		if _, err := p.ObserveTriggers(&st, d, at); err != nil {
			t.Fatalf("ObserveTriggers on a decoded state: %v", err)
		}
		if _, err := p.Merge(&st, &again, "c1", at, &out); err != nil {
			t.Fatalf("Merge of decoded states: %v", err)
		}
		if _, err := st.MarshalBinary(); err != nil {
			t.Fatalf("a folded decoded state does not encode: %v", err)
		}
	})
}
