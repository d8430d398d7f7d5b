package recovery_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/recovery"
)

// FuzzUnmarshalBinary checks that decoding arbitrary bytes never panics,
// and that a state it accepts encodes canonically and can be folded into.
// The seed corpus is in testdata/fuzz/FuzzUnmarshalBinary.
func FuzzUnmarshalBinary(f *testing.F) {
	p, err := recovery.New(recovery.DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	ev := func(id, name string, d time.Duration, props map[string]any) *journey.Event {
		return &journey.Event{ID: id, Kind: journey.KindTrack, Name: name, CustomerID: "c1", Time: at.Add(d), Properties: props}
	}
	events := []*journey.Event{
		ev("fz1", recovery.EventProductReviewed, 0, map[string]any{"product_id": "p1", "rating": 1.0}),
		ev("fz2", recovery.EventContactEnded, time.Hour, map[string]any{"contact_id": "k1", "outcome": "failed"}),
		ev("fz3", recovery.EventContactEnded, 2*time.Hour, map[string]any{"contact_id": "k2", "outcome": "abandoned"}),
		ev("fz4", recovery.EventContactEnded, -time.Hour, map[string]any{"contact_id": "k3", "outcome": "failed"}),
		ev("fz5", recovery.EventSurveySubmitted, 48*time.Hour, map[string]any{"score": 2.0, "scale": 5.0}),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var st recovery.State
		if err := st.UnmarshalBinary(data); err != nil {
			return
		}
		enc, err := st.MarshalBinary()
		if err != nil {
			t.Fatalf("a decoded state does not encode: %v", err)
		}
		var again recovery.State
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("the encoding of a decoded state does not decode: %v", err)
		}
		if enc2, _ := again.MarshalBinary(); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%x\n%x", enc, enc2)
		}
		var out journey.Output
		for _, e := range events {
			if _, err := p.Fold(&st, e, &out); err != nil {
				t.Fatalf("Fold on a decoded state: %v", err)
			}
			if _, err := st.MarshalBinary(); err != nil {
				t.Fatalf("a folded decoded state does not encode: %v", err)
			}
		}
		p.Context(&st)
	})
}
